package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

func TestSendReceive(t *testing.T) {
	t.Run("decoded", func(t *testing.T) { testSendReceive(t, false) })
	t.Run("lazy", func(t *testing.T) { testSendReceive(t, true) })
}

// testSendReceive sends batches of every item kind and checks what the
// handler got, after a garbage collection: the received values are kept
// past the handler, and must survive it intact.
func testSendReceive(t *testing.T, lazy bool) {
	reg := prometheus.NewPedanticRegistry()
	rec := newReceived()
	opts := baseOptions(t, reg)
	var rawMismatch atomic.Int64
	opts.Handler = func(ctx context.Context, from Peer, b *wire.Batch) {
		// During the call, Raw holds the values Values holds.
		for _, it := range b.Items {
			if it.Kind != wire.KindTuple || it.Tuple.Values == nil {
				continue
			}
			var vd wire.ValueDecoder
			if raw, err := vd.Decode(it.Tuple.Raw); err != nil || fmt.Sprint(raw) != fmt.Sprint(it.Tuple.Values) {
				rawMismatch.Add(1)
			}
		}
		rec.handler(ctx, from, b)
	}
	opts.Worker = 1
	opts.LazyValues = lazy
	srv := startServer(t, opts)
	copts := baseOptions(t, reg)
	copts.Worker = 2
	c := dial(t, srv.Addr().String(), copts)

	ts := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	const n = 200
	for i := range n {
		b := tupleBatch(i, 1+i%5)
		b.AddBarrier(wire.Barrier{Checkpoint: uint64(i), SourceTask: 1, Dest: 2})
		b.AddWatermark(wire.Watermark{Time: ts.UnixNano() + int64(i), SourceTask: 1, Dest: 2})
		b.AddAcker(wire.AckerMsg{Op: wire.AckerAck, Root: uint64(i), Value: 7, SpoutTask: 1, Dest: 9})
		b.AddSpoutDone(wire.SpoutDone{Root: uint64(i), Ok: true, Dest: 1})
		if err := c.Send(t.Context(), b); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	waitFor(t, "all batches", func() bool { return rec.count() == n })
	for range 2 {
		runtime.GC()
	}
	if n := rawMismatch.Load(); n != 0 {
		t.Fatalf("%d tuples whose Raw did not match Values during the Handler", n)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, b := range rec.batches {
		want := 1 + i%5 + 4
		if len(b.Items) != want {
			t.Fatalf("batch %d has %d items, want %d", i, len(b.Items), want)
		}
		tu := b.Items[0].Tuple
		// Raw may be kept past the Handler only with LazyValues (the
		// payload buffer is reused otherwise); the handler checked it.
		word, seq := "word", int64(i)
		if lazy {
			word, _ = tu.Raw.StringAt(0)
			seq, _ = tu.Raw.Int64At(1)
		}
		if b.Items[0].Kind != wire.KindTuple || tu.Stream != "default" || word != "word" ||
			seq != int64(i) || tu.SourceTask != 1 || (tu.Values == nil) != lazy {
			t.Fatalf("batch %d: first item %+v", i, b.Items[0])
		}
		for j, it := range b.Items[:len(b.Items)-4] {
			vals := it.Tuple.Values
			if lazy {
				var vd wire.ValueDecoder
				var err error
				if vals, err = vd.Decode(it.Tuple.Raw); err != nil {
					t.Fatalf("batch %d item %d: decode: %v", i, j, err)
				}
			}
			if len(vals) != 3 || vals[0] != "word" || vals[1] != int64(i) || vals[2] != int64(j) {
				t.Fatalf("batch %d item %d: values %v", i, j, vals)
			}
		}
		last := b.Items[len(b.Items)-4:]
		if last[0].Barrier.Checkpoint != uint64(i) || last[1].Watermark.Time != ts.UnixNano()+int64(i) ||
			last[2].Acker.Root != uint64(i) || last[3].SpoutDone.Root != uint64(i) {
			t.Fatalf("batch %d: control items out of order: %+v", i, last)
		}
		if p := rec.peers[i]; p.Worker != 2 {
			t.Fatalf("peer = %+v, want worker 2", p)
		}
	}
	m := srv.m
	if got := counterValue(t, m.sentFrames); got != n {
		t.Errorf("sent frames = %v, want %d", got, n)
	}
	if got := counterValue(t, m.recvFrames); got != n {
		t.Errorf("received frames = %v, want %d", got, n)
	}
	if s, r := counterValue(t, m.sentBytes), counterValue(t, m.recvBytes); s != r || s == 0 {
		t.Errorf("sent bytes %v, received bytes %v: want equal and non-zero", s, r)
	}
	if got := testutil.ToFloat64(m.conns.WithLabelValues("server")); got != 1 {
		t.Errorf("server connections = %v, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %+v", err, problems)
	}
}

// TestFlowControl checks that a slow handler bounds what a sender has in
// flight by the credit window, and that Send blocks (respecting ctx) when
// the window is used up.
func TestFlowControl(t *testing.T) {
	const window = 4
	reg := prometheus.NewRegistry()
	gate := make(chan struct{})
	var sent, handled atomic.Int64
	var violations atomic.Int64
	opts := baseOptions(t, reg)
	opts.CreditWindow = window
	opts.Handler = func(ctx context.Context, _ Peer, b *wire.Batch) {
		// Credit returned so far is what was handled; the sender may have
		// at most window more.
		if s, h := sent.Load(), handled.Load(); s > h+window {
			violations.Add(1)
			t.Errorf("sender has %d frames out with %d handled, window %d", s, h, window)
		}
		select {
		case <-gate:
		case <-ctx.Done():
		}
		handled.Add(1)
	}
	srv := startServer(t, opts)
	c := dial(t, srv.Addr().String(), baseOptions(t, reg))

	const total = 40
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if err := c.Send(t.Context(), tupleBatch(i, 3)); err != nil {
				done <- err
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()
	// The handler holds frame 1; frames 2..window wait; the sender blocks.
	waitFor(t, "window to fill", func() bool { return sent.Load() == window })
	time.Sleep(100 * time.Millisecond)
	if got := sent.Load(); got != window {
		t.Fatalf("sender sent %d frames with a stuck handler, want exactly the window %d", got, window)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	err := c.Send(ctx, tupleBatch(0, 1))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send without credit = %v, want DeadlineExceeded", err)
	}
	for range total {
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all handled", func() bool { return handled.Load() == total })
	if violations.Load() != 0 {
		t.Fatalf("%d window violations", violations.Load())
	}
	if bp := counterValue(t, srv.m.backpressure); bp < 0.1 {
		t.Fatalf("backpressure = %vs, want at least the 0.15 s the sender was blocked", bp)
	}
}

func TestBadInput(t *testing.T) {
	junk := make([]byte, 4096)
	rand.Read(junk)
	// A small length, an unknown frame kind, then garbage.
	junk[0], junk[1], junk[2], junk[3], junk[4] = 0, 0, 0, 100, 0x77
	tests := []struct {
		name string
		hand bool // complete the handshake first
		send func(t *testing.T) []byte
		kind string
	}{
		{"garbage", false, func(*testing.T) []byte { return junk }, errKindHandshake},
		{"oversized-hello", false, func(*testing.T) []byte { return lengthHeader(1 << 30) }, errKindHandshake},
		{"not-hello", false, func(t *testing.T) []byte {
			return rawFrame(t, &wire.Frame{Kind: wire.KindCredit, Credit: wire.Credit{N: 1}})
		}, errKindHandshake},
		{"oversized-frame", true, func(*testing.T) []byte { return lengthHeader(1<<20 + 1) }, errKindFrameTooLarge},
		{"max-length", true, func(*testing.T) []byte { return lengthHeader(0xffffffff) }, errKindFrameTooLarge},
		{"empty-frame", true, func(*testing.T) []byte { return lengthHeader(0) }, errKindProtocol},
		{"malformed-batch", true, func(*testing.T) []byte {
			return append(lengthHeader(6), byte(wire.KindBatch), 0xdd, 0xff, 0xff, 0xff, 0xff)
		}, errKindMalformed},
		{"garbage-after-hello", true, func(*testing.T) []byte { return append(lengthHeader(uint32(len(junk))), junk...) }, errKindMalformed},
		{"unexpected-kind", true, func(t *testing.T) []byte {
			return rawFrame(t, &wire.Frame{Kind: wire.KindHello})
		}, errKindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			rec := newReceived()
			stuck := make(chan struct{})
			defer close(stuck)
			opts := baseOptions(t, reg)
			opts.MaxFrameSize = 1 << 20
			opts.CreditWindow = 2
			opts.Handler = func(ctx context.Context, p Peer, b *wire.Batch) {
				if p.Worker == 666 {
					select { // the misbehaving peer's handler never finishes
					case <-stuck:
					case <-ctx.Done():
					}
					return
				}
				rec.handler(ctx, p, b)
			}
			srv := startServer(t, opts)
			addr := srv.Addr().String()

			var nc net.Conn
			if tt.hand {
				nc = rawHandshake(t, addr)
			} else {
				var err error
				if nc, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
			}
			nc.Write(tt.send(t))
			expectClosed(t, nc)
			waitFor(t, "error counted", func() bool { return counterValue(t, srv.m.errors[tt.kind]) == 1 })

			// The server still serves well-behaved peers.
			c := dial(t, addr, baseOptions(t, reg))
			if err := c.Send(t.Context(), tupleBatch(1, 2)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "good batch", func() bool { return rec.count() == 1 })
		})
	}
}

func TestHandshakeRefused(t *testing.T) {
	tests := []struct {
		name   string
		client func(o *Options)
		server func(o *Options)
	}{
		{"wrong-topology", func(o *Options) { o.Topology = "other" }, nil},
		{"wrong-token", func(o *Options) { o.Token = "guess" }, func(o *Options) { o.Token = "secret" }},
		{"missing-token", nil, func(o *Options) { o.Token = "secret" }},
		{"stale-epoch", func(o *Options) { o.Epoch = 4 }, func(o *Options) { o.Epoch = 5 }},
		{"other-session", func(o *Options) { o.Session = 7 }, func(o *Options) { o.Session = 8 }},
		{"custom-accept", nil, func(o *Options) {
			o.Accept = func(h wire.Hello) error {
				if h.Worker != 7 {
					return fmt.Errorf("worker %d is not expected here", h.Worker)
				}
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			sopts := baseOptions(t, reg)
			sopts.Handler = newReceived().handler
			if tt.server != nil {
				tt.server(&sopts)
			}
			srv := startServer(t, sopts)
			copts := baseOptions(t, reg)
			if tt.client != nil {
				tt.client(&copts)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := Dial(ctx, srv.Addr().String(), copts)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Dial = %v, want ErrRefused", err)
			}
			waitFor(t, "refusals counted", func() bool { return counterValue(t, srv.m.errors[errKindRefused]) == 2 })
		})
	}
	t.Run("matching", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		sopts := baseOptions(t, reg)
		sopts.Handler = newReceived().handler
		sopts.Token, sopts.Epoch = "secret", 5
		srv := startServer(t, sopts)
		copts := baseOptions(t, reg)
		copts.Token, copts.Epoch = "secret", 5
		dial(t, srv.Addr().String(), copts)
	})
}

// TestClientFencesStaleServer checks that a client of a newer epoch does not
// send to a server of an older one, and keeps retrying.
func TestClientFencesStaleServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	sopts := baseOptions(t, reg)
	sopts.Handler = newReceived().handler
	sopts.Epoch = 3
	srv := startServer(t, sopts)
	copts := baseOptions(t, reg)
	copts.Epoch = 4
	c, err := NewClient(srv.Addr().String(), copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "handshake failures", func() bool { return counterValue(t, srv.m.errors[errKindHandshake]) >= 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, tupleBatch(0, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a stale server = %v, want DeadlineExceeded", err)
	}
}

// TestReconnect drops the server under a client with unconfirmed frames,
// starts a new one on the same address, and checks that the client counts
// the loss, reconnects and delivers again.
func TestReconnect(t *testing.T) {
	reg := prometheus.NewRegistry()
	entered := make(chan struct{}, 8)
	opts := baseOptions(t, reg)
	opts.Handler = func(ctx context.Context, _ Peer, _ *wire.Batch) {
		entered <- struct{}{}
		<-ctx.Done() // stuck until the server closes
	}
	srv1, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv1.Addr().String()
	c := dial(t, addr, baseOptions(t, reg))
	for i := range 3 {
		if err := c.Send(t.Context(), tupleBatch(i, 2)); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	// Frames 2 and 3 wait behind the stuck handler, in the socket or
	// already in the connection's read buffer; the latter are read and
	// dropped once the server closes.
	if err := srv1.Close(); err != nil {
		t.Fatal(err)
	}
	m := srv1.m
	waitFor(t, "lost frames counted", func() bool { return counterValue(t, m.lostFrames) == 3 })
	if recv, dropped := counterValue(t, m.recvFrames), counterValue(t, m.dropped); recv-dropped != 1 {
		t.Errorf("received %v frames and dropped %v, want all but the one in the handler dropped", recv, dropped)
	}

	rec := newReceived()
	opts.Handler = rec.handler
	var srv2 *Server
	waitFor(t, "listen on the old address", func() bool {
		srv2, err = Listen(addr, opts)
		return err == nil
	})
	defer srv2.Close()
	if err := c.Send(t.Context(), tupleBatch(9, 2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after reconnect", func() bool { return rec.count() == 1 })
	if got := counterValue(t, m.reconnects); got != 1 {
		t.Fatalf("reconnects = %v, want 1", got)
	}
}

// TestSendWhileDisconnected checks that Send blocks, counting backpressure,
// until a server comes up.
func TestSendWhileDisconnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	c, err := NewClient(addr, baseOptions(t, reg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err = c.Send(ctx, tupleBatch(0, 1))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with no server = %v, want DeadlineExceeded", err)
	}
	rec := newReceived()
	opts := baseOptions(t, reg)
	opts.Handler = rec.handler
	var srv *Server
	waitFor(t, "listen", func() bool { srv, err = Listen(addr, opts); return err == nil })
	defer srv.Close()
	if err := c.Send(t.Context(), tupleBatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return rec.count() == 1 })
	m := srv.m
	if counterValue(t, m.errors[errKindDial]) < 1 || counterValue(t, m.backpressure) < 0.05 {
		t.Fatalf("dial errors %v, backpressure %v: want >= 1 and >= 0.05 s",
			counterValue(t, m.errors[errKindDial]), counterValue(t, m.backpressure))
	}
}

func TestMutualTLS(t *testing.T) {
	serverTLS, clientTLS, anonTLS := testCerts(t)
	reg := prometheus.NewRegistry()
	rec := newReceived()
	opts := baseOptions(t, reg)
	opts.Handler = rec.handler
	opts.TLS = serverTLS
	srv := startServer(t, opts)

	copts := baseOptions(t, reg)
	copts.TLS = clientTLS
	c := dial(t, srv.Addr().String(), copts)
	for i := range 10 {
		if err := c.Send(t.Context(), tupleBatch(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "batches over TLS", func() bool { return rec.count() == 10 })

	// Without a client certificate, and in clear text, the server refuses.
	for _, cfg := range []*tls.Config{anonTLS, nil} {
		copts := baseOptions(t, reg)
		copts.TLS = cfg
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := Dial(ctx, srv.Addr().String(), copts)
		cancel()
		if err == nil {
			t.Fatalf("Dial with TLS config %v succeeded", cfg)
		}
	}
	waitFor(t, "handshake errors", func() bool { return counterValue(t, srv.m.errors[errKindHandshake]) >= 2 })
}

// TestShutdownDrains checks that a client's Shutdown waits until the server
// has handled everything it sent.
func TestShutdownDrains(t *testing.T) {
	reg := prometheus.NewRegistry()
	var handled atomic.Int64
	opts := baseOptions(t, reg)
	opts.CreditWindow = 8
	opts.Handler = func(ctx context.Context, _ Peer, b *wire.Batch) {
		time.Sleep(time.Millisecond)
		handled.Add(int64(len(b.Items)))
	}
	srv := startServer(t, opts)
	c, err := Dial(t.Context(), srv.Addr().String(), baseOptions(t, reg))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := c.Send(t.Context(), tupleBatch(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != 500 {
		t.Fatalf("handled %d tuples when Shutdown returned, want 500", got)
	}
	if err := c.Send(t.Context(), tupleBatch(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Shutdown = %v, want ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if got := counterValue(t, srv.m.lostFrames); got != 0 {
		t.Fatalf("lost frames = %v after a clean shutdown", got)
	}
}

func TestFrameTooLargeToSend(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := baseOptions(t, reg)
	opts.Handler = newReceived().handler
	srv := startServer(t, opts)
	copts := baseOptions(t, reg)
	copts.MaxFrameSize = 1024
	c := dial(t, srv.Addr().String(), copts)
	b := tupleBatch(0, 1)
	b.Items[0].Tuple.Values = []any{strings.Repeat("x", 2000)}
	if err := c.Send(t.Context(), b); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Send = %v, want ErrFrameTooLarge", err)
	}
	bad := tupleBatch(0, 1)
	bad.Items[0].Tuple.Values = []any{make(chan int)}
	if err := c.Send(t.Context(), bad); !errors.Is(err, wire.ErrUnsupported) {
		t.Fatalf("Send = %v, want wire.ErrUnsupported", err)
	}
	if err := c.Send(t.Context(), tupleBatch(0, 1)); err != nil {
		t.Fatalf("Send after rejected frames: %v", err)
	}
}

func TestTransportBothWays(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	recA, recB := newReceived(), newReceived()
	optsA := baseOptions(t, reg)
	optsA.Worker, optsA.Handler = 0, recA.handler
	optsB := baseOptions(t, reg)
	optsB.Worker, optsB.Handler = 1, recB.handler
	a, err := New("127.0.0.1:0", optsA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("127.0.0.1:0", optsB)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := a.Send(t.Context(), b.Addr().String(), tupleBatch(i, 3)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(t.Context(), a.Addr().String(), tupleBatch(i, 4)); err != nil {
			t.Fatal(err)
		}
	}
	// Each side's Shutdown waits for its own sends to be handled, but the
	// other side's sends to it may still be in flight, so wait for both.
	waitFor(t, "20 batches each way", func() bool { return recA.count() == 20 && recB.count() == 20 })
	if err := a.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if recB.peers[0].Worker != 0 || recA.peers[0].Worker != 1 {
		t.Fatalf("peers: A saw %+v, B saw %+v", recA.peers[0], recB.peers[0])
	}
	if err := a.Send(t.Context(), b.Addr().String(), tupleBatch(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Shutdown = %v, want ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close after Shutdown = %v, want ErrClosed", err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %+v", err, problems)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := Listen("127.0.0.1:0", Options{MaxFrameSize: 10, CreditWindow: -1})
	if err == nil {
		t.Fatal("Listen with invalid options succeeded")
	}
	for _, want := range []string{"Topology", "Handler", "MaxFrameSize", "CreditWindow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestConcurrentSenders runs several clients, each shared by several
// goroutines, against one server with a small window, and checks that every
// batch arrives once and that each goroutine's batches keep their order.
func TestConcurrentSenders(t *testing.T) {
	const clients, senders, perSender = 3, 4, 60
	reg := prometheus.NewRegistry()
	type key struct{ worker, sender int64 }
	var mu sync.Mutex
	last := make(map[key]int64)
	total := 0
	var disorder atomic.Int64
	opts := baseOptions(t, reg)
	opts.CreditWindow = 4
	opts.Handler = func(_ context.Context, from Peer, b *wire.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for i := range b.Items {
			r := b.Items[i].Tuple.Raw
			sender, _ := r.Int64At(1)
			seq, _ := r.Int64At(2)
			k := key{int64(from.Worker), sender}
			if prev, ok := last[k]; ok && seq != prev+1 {
				disorder.Add(1)
			}
			last[k] = seq
			total++
		}
	}
	srv := startServer(t, opts)
	var wg sync.WaitGroup
	for w := range clients {
		copts := baseOptions(t, reg)
		copts.Worker = w
		c := dial(t, srv.Addr().String(), copts)
		for s := range senders {
			wg.Go(func() {
				for i := range perSender {
					var b wire.Batch
					b.AddTuple(wire.Tuple{Dest: 1, SourceTask: 1, Stream: "default", Values: []any{"x", int64(s), int64(i)}})
					if err := c.Send(t.Context(), &b); err != nil {
						t.Errorf("worker %d sender %d: %v", w, s, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := clients * senders * perSender
	waitFor(t, "every batch", func() bool { mu.Lock(); defer mu.Unlock(); return total == want })
	if d := disorder.Load(); d != 0 {
		t.Fatalf("%d batches out of order", d)
	}
	if got := testutil.ToFloat64(srv.m.conns.WithLabelValues("server")); got != clients {
		t.Fatalf("server connections = %v, want %d", got, clients)
	}
}

// TestPeerIgnoringCredit checks that a peer sending far beyond its credit
// while the handler is stuck makes the server read no further than the
// frame it is handling: what the peer sent waits in its own socket buffers,
// and the server's memory stays one frame.
func TestPeerIgnoringCredit(t *testing.T) {
	reg := prometheus.NewRegistry()
	stuck := make(chan struct{})
	entered := make(chan struct{}, 1)
	opts := baseOptions(t, reg)
	opts.CreditWindow = 2
	opts.Handler = func(ctx context.Context, _ Peer, _ *wire.Batch) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-stuck:
		case <-ctx.Done():
		}
	}
	srv := startServer(t, opts)
	nc := rawHandshake(t, srv.Addr().String())
	frame := rawFrame(t, &wire.Frame{Kind: wire.KindBatch, Batch: *tupleBatch(0, 1)})
	go func() { // may block once the socket buffers fill; ends when nc closes
		for range 200 {
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
	}()
	<-entered
	time.Sleep(100 * time.Millisecond) // let more frames arrive, if they were going to be read
	if got := counterValue(t, srv.m.recvFrames); got != 1 {
		t.Fatalf("server read %v frames while its handler was stuck, want 1", got)
	}
	close(stuck)
	waitFor(t, "every frame handled", func() bool { return counterValue(t, srv.m.recvFrames) == 200 })
}

// TestSlowHandlerKeepsLink checks that a handler blocked for several write
// timeouts, with more frames on their way than the socket buffers hold (so
// the client's write blocks), does not break the link: the server's
// heartbeat keeps extending the client's write deadline.
func TestSlowHandlerKeepsLink(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := newReceived()
	release := make(chan struct{})
	var once sync.Once
	opts := baseOptions(t, reg)
	opts.WriteTimeout = 200 * time.Millisecond
	opts.MaxFrameSize = 8 << 20
	opts.Handler = func(ctx context.Context, p Peer, b *wire.Batch) {
		once.Do(func() {
			select { // the first frame takes five write timeouts
			case <-release:
			case <-ctx.Done():
			}
		})
		rec.handler(ctx, p, b)
	}
	srv := startServer(t, opts)
	c := dial(t, srv.Addr().String(), opts)
	// 16 frames of 4 MiB: far more than loopback's socket buffers.
	big := strings.Repeat("x", 4<<20)
	sent := make(chan error, 1)
	go func() {
		for i := range 16 {
			b := tupleBatch(i, 1)
			b.Items[0].Tuple.Values[0] = big
			if err := c.Send(t.Context(), b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	time.Sleep(5 * opts.WriteTimeout)
	close(release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every frame handled", func() bool { return rec.count() == 16 })
	if n := counterValue(t, c.m.reconnects) + counterValue(t, c.m.lostFrames); n != 0 {
		t.Fatalf("reconnects + lost frames = %v, want 0", n)
	}
}

// TestHungServerTimesOut checks the other side of the heartbeat: a server
// that granted credit but neither reads nor answers is given up on after
// the write timeout, and the frames it did not confirm are counted lost.
func TestHungServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hello := rawFrame(t, &wire.Frame{Kind: wire.KindHello, Hello: wire.Hello{Topology: testTopology}})
	credit := rawFrame(t, &wire.Frame{Kind: wire.KindCredit, Credit: wire.Credit{N: 32}})
	var conns []net.Conn // written by the accept loop until done closes
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
			// Handshake, grant credit, then never read again.
			fr := &frameReader{r: nc}
			if _, err := fr.next(handshakeFrameLimit); err != nil {
				continue
			}
			nc.Write(hello)
			nc.Write(credit)
		}
	}()
	defer func() {
		ln.Close()
		<-done
		for _, nc := range conns {
			nc.Close()
		}
	}()
	reg := prometheus.NewRegistry()
	opts := baseOptions(t, reg)
	opts.WriteTimeout = 200 * time.Millisecond
	opts.MaxFrameSize = 8 << 20
	c := dial(t, ln.Addr().String(), opts)
	big := strings.Repeat("x", 4<<20)
	for i := range 16 {
		b := tupleBatch(i, 1)
		b.Items[0].Tuple.Values[0] = big
		if err := c.Send(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "lost frames counted", func() bool { return counterValue(t, c.m.lostFrames) > 0 })
}
