package kafkaspout

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Brokers: []string{"b:9092"}, Topics: []string{"t"}}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"minimal", ok, nil},
		{"pattern", Config{Brokers: []string{"b"}, TopicPattern: regexp.MustCompile("^t")}, nil},
		{"nothing", Config{}, []string{"Brokers is empty", "exactly one of Topics and TopicPattern"}},
		{"both topic kinds", Config{Brokers: []string{"b"}, Topics: []string{"t"}, TopicPattern: regexp.MustCompile("x")}, []string{"exactly one of Topics"}},
		{"skip needs retries", Config{Brokers: []string{"b"}, Topics: []string{"t"}, OnFailure: Skip}, []string{"MaxRetries must be at least 1"}},
		{"dead letter needs topic", Config{Brokers: []string{"b"}, Topics: []string{"t"}, OnFailure: DeadLetter, MaxRetries: 2}, []string{"DeadLetterTopic is required"}},
		{"map needs fields", Config{Brokers: []string{"b"}, Topics: []string{"t"}, Map: func(*Record) (topology.Values, error) { return nil, nil }}, []string{"Map and OutputFields"}},
		{"fallback committed", Config{Brokers: []string{"b"}, Topics: []string{"t"}, Fallback: StartPosition{Kind: StartCommitted, Time: ok.Start.Time.Add(1)}}, []string{"Fallback must not be Committed"}},
		{"sasl", Config{Brokers: []string{"b"}, Topics: []string{"t"}, Security: &Security{SASL: &SASL{Mechanism: "MD5"}}}, []string{"unknown SASL mechanism", "Username is empty", "PasswordFile and PasswordEnv"}},
		{"tls half", Config{Brokers: []string{"b"}, Topics: []string{"t"}, Security: &Security{TLS: &TLS{CertFile: "c"}}}, []string{"CertFile and KeyFile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDecoders(t *testing.T) {
	if v, err := String([]byte("hi")); err != nil || v != "hi" {
		t.Fatalf("String: %v %v", v, err)
	}
	v, err := JSON([]byte(`{"a":1,"b":[true]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["a"] != 1.0 || m["b"].([]any)[0] != true {
		t.Fatalf("JSON: %v", v)
	}
	if _, err := JSON([]byte("{")); err == nil {
		t.Fatal("JSON of broken input: no error")
	}
	mp := []byte{0x81, 0xa1, 'k', 0x07} // {"k": 7}
	v, err = Msgpack(mp)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := v.(map[string]any)["k"].(int8); n != 7 {
		t.Fatalf("Msgpack: %#v", v)
	}
	if _, err := Msgpack([]byte{0xc1}); err == nil {
		t.Fatal("Msgpack of broken input: no error")
	}
	if v, err := JSON(nil); v != nil || err != nil {
		t.Fatalf("JSON(nil) = %v, %v", v, err)
	}
}
