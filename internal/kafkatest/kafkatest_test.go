package kafkatest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProduceWatermarksConsume(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := Start(t, Config{Topics: map[string]int32{"t": 3}})
	if err := c.ProduceN(ctx, "t", 3, 10, 16); err != nil {
		t.Fatal(err)
	}
	hw, err := c.HighWatermarks(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if hw[p] != 10 {
			t.Fatalf("partition %d: high watermark %d, want 10", p, hw[p])
		}
	}
	got, err := c.Consume(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if len(got[p]) != 10 {
			t.Fatalf("partition %d: consumed %d, want 10", p, len(got[p]))
		}
		for i, r := range got[p] {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", p, i, r.Offset)
			}
		}
	}
	com, err := c.Committed(ctx, "nobody", "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(com) != 0 {
		t.Fatalf("committed offsets of an unknown group: %v", com)
	}
}

func TestDownUpKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := Start(t, Config{Topics: map[string]int32{"t": 1}, DataDir: t.TempDir()})
	addr := c.Addr()
	if err := c.ProduceN(ctx, "t", 1, 5, 8); err != nil {
		t.Fatal(err)
	}
	c.Down()
	if _, err := c.HighWatermarks(ctx, "t"); err == nil {
		t.Fatal("high watermarks of a down cluster: no error")
	}
	if err := c.Up(); err != nil {
		t.Fatal(err)
	}
	if c.Addr() != addr {
		t.Fatalf("address after restart %s, want %s", c.Addr(), addr)
	}
	hw, err := c.HighWatermarks(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if hw[0] != 5 {
		t.Fatalf("high watermark after restart %d, want 5", hw[0])
	}
}

func TestSASL(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := Start(t, Config{Topics: map[string]int32{"t": 1}, Users: []User{{Mechanism: ScramSHA256, Name: "u", Password: "p"}}})
	if err := c.ProduceN(ctx, "t", 1, 3, 8); err != nil {
		t.Fatal(err)
	}
	hw, err := c.HighWatermarks(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if hw[0] != 3 {
		t.Fatalf("high watermark %d, want 3", hw[0])
	}
}

func TestTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	files, err := GenerateTLS(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	c := Start(t, Config{Topics: map[string]int32{"t": 1}, TLS: files})
	if err := c.ProduceN(ctx, "t", 1, 3, 8); err != nil {
		t.Fatal(err)
	}
	hw, err := c.HighWatermarks(ctx, "t")
	if err != nil || hw[0] != 3 {
		t.Fatalf("high watermark %v, %v; want 3", hw, err)
	}
}
