package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

const testTopology = "test-topo"

// received collects what a server's handler was given.
type received struct {
	mu      sync.Mutex
	batches []wire.Batch
	peers   []Peer
	notify  chan struct{}
}

func newReceived() *received { return &received{notify: make(chan struct{}, 1)} }

func (r *received) handler(ctx context.Context, from Peer, b *wire.Batch) {
	cp := wire.Batch{Items: append([]wire.Item(nil), b.Items...)}
	r.mu.Lock()
	r.batches = append(r.batches, cp)
	r.peers = append(r.peers, from)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", p)
	return len(p), nil
}

func baseOptions(t *testing.T, reg prometheus.Registerer) Options {
	return Options{
		Topology:     testTopology,
		Logger:       testLogger(t),
		Registerer:   reg,
		ReconnectMin: 5 * time.Millisecond,
		ReconnectMax: 50 * time.Millisecond,
	}
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, addr string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tupleBatch(seq, n int) *wire.Batch {
	var b wire.Batch
	for i := range n {
		b.AddTuple(wire.Tuple{Dest: int32(i % 4), SourceTask: 1, Stream: "default",
			Values: []any{"word", int64(seq), int64(i)}})
	}
	return &b
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// rawFrame encodes f with its length header.
func rawFrame(t *testing.T, f *wire.Frame) []byte {
	t.Helper()
	b, err := wire.AppendFrame(beginFrame(nil), f)
	if err != nil {
		t.Fatal(err)
	}
	return finishFrame(b)
}

// rawHandshake connects to addr with a plain TCP connection and completes
// the handshake by hand, for tests that then misbehave.
func rawHandshake(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(rawFrame(t, &wire.Frame{Kind: wire.KindHello, Hello: wire.Hello{Topology: testTopology}})); err != nil {
		t.Fatal(err)
	}
	fr := &frameReader{r: nc}
	for _, want := range []wire.Kind{wire.KindHello, wire.KindCredit} {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := fr.next(handshakeFrameLimit)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		var f wire.Frame
		if err := wire.DecodeFrame(b, &f); err != nil || f.Kind != want {
			t.Fatalf("handshake: got %v frame (%v), want %v", f.Kind, err, want)
		}
	}
	return nc
}

// expectClosed checks that the server closes nc within a few seconds.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("server did not close the connection")
		}
		return
	}
}

func lengthHeader(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// testCerts returns TLS configs for mutual TLS on 127.0.0.1, signed by a CA
// made for the test: one for the server, one for a client with a
// certificate, and one for a client without.
func testCerts(t *testing.T) (server, client, anonymous *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gale test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{leaf(2, "worker-server", x509.ExtKeyUsageServerAuth)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{leaf(3, "worker-client", x509.ExtKeyUsageClientAuth)},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}
	anonymous = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	return server, client, anonymous
}

var _ = io.EOF
