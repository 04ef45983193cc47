package transport

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Error kinds, the values of the kind label of gale_transport_errors_total.
const (
	errKindFrameTooLarge = "frame_too_large" // a frame over MaxFrameSize
	errKindMalformed     = "malformed"       // a frame that does not decode
	errKindProtocol      = "protocol"        // wrong frame kind, credit overrun
	errKindHandshake     = "handshake"       // handshake failed or timed out
	errKindRefused       = "refused"         // a Hello refused by Accept
	errKindIO            = "io"              // a connection failed or dropped
	errKindDial          = "dial"            // connecting failed
)

var errKinds = []string{errKindFrameTooLarge, errKindMalformed, errKindProtocol,
	errKindHandshake, errKindRefused, errKindIO, errKindDial}

// metrics are the transport's collectors. They carry no peer label: the
// number of peers is unbounded over a cluster's life, and the per-peer view
// belongs in logs.
type metrics struct {
	sentFrames   prometheus.Counter
	sentBytes    prometheus.Counter
	recvFrames   prometheus.Counter
	recvBytes    prometheus.Counter
	reconnects   prometheus.Counter
	lostFrames   prometheus.Counter
	dropped      prometheus.Counter
	backpressure prometheus.Counter
	conns        *prometheus.GaugeVec
	errors       map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "transport", Name: name, Help: help,
		}))
	}
	m := &metrics{
		sentFrames: counter("sent_frames_total", "Batch frames written to peers."),
		sentBytes:  counter("sent_bytes_total", "Bytes of batch frames written to peers, headers included."),
		recvFrames: counter("received_frames_total", "Batch frames read from peers."),
		recvBytes:  counter("received_bytes_total", "Bytes of batch frames read from peers, headers included."),
		reconnects: counter("reconnects_total", "Connections re-established after a link dropped."),
		lostFrames: counter("lost_frames_total",
			"Batch frames sent on a connection that dropped before the receiver confirmed them (an upper bound of the loss; acking or checkpoints replay them)."),
		dropped: counter("dropped_frames_total",
			"Batch frames received but not handled because the server closed first."),
		backpressure: counter("backpressure_seconds_total",
			"Time senders spent blocked waiting for credit or for a connection."),
	}
	m.conns = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "gale", Subsystem: "transport", Name: "connections",
		Help: "Open connections by role: client (outbound) or server (inbound).",
	}, []string{"role"}))
	errs := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "gale", Subsystem: "transport", Name: "errors_total",
		Help: "Connection errors by kind; each closes the connection it happened on.",
	}, []string{"kind"}))
	m.errors = make(map[string]prometheus.Counter, len(errKinds))
	for _, k := range errKinds {
		m.errors[k] = errs.WithLabelValues(k)
	}
	return m
}

// register registers c with reg, or returns the collector already registered
// under the same description, so servers and clients can share a registerer.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with another package's metric is a bug
	}
	return c
}
