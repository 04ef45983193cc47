package kafkaspout

import (
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

func TestTLS(t *testing.T) {
	ctx := t.Context()
	files, err := kafkatest.GenerateTLS(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	other, err := kafkatest.GenerateTLS(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}, TLS: files})
	if err := c.ProduceN(ctx, "t", 1, 5, 10); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  *TLS
		ok   bool
	}{
		{"ca and client certificate", &TLS{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}, true},
		{"no client certificate", &TLS{CAFile: files.CAFile}, false},
		{"unknown CA", &TLS{CAFile: other.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}, false},
		{"client certificate of another CA", &TLS{CAFile: files.CAFile, CertFile: other.ClientCertFile, KeyFile: other.ClientKeyFile}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConfig(c, "t")
			cfg.Security = &Security{TLS: tt.tls}
			cfg.OpenTimeout = 300 * time.Millisecond
			tc := testContext("tls"+string(rune('a'+i)), 0, 1, topology.AtLeastOnce, 100)
			if !tt.ok {
				s := New(cfg)().(*Spout)
				if err := s.Open(ctx, tc); err == nil {
					_ = s.Close()
					t.Fatal("Open succeeded")
				} else {
					t.Logf("error: %v", err)
				}
				return
			}
			s := openSpout(t, cfg, tc)
			got := 0
			pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) { got++; s.Ack(e.id) }, func() bool { return got == 5 })
		})
	}
}
