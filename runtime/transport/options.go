package transport

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// Peer identifies the remote end of a connection, from its handshake.
type Peer struct {
	Worker int    // the peer's worker index
	Epoch  uint64 // the assignment epoch it runs under
	Addr   string // its remote network address
	// Session is the topology session the peer belongs to (Options.Session).
	Session uint64
}

// Handler receives each batch frame a [Server] reads, in the order the peer
// sent them. It is called from one goroutine per connection, so calls for
// one peer never overlap; calls for different peers may.
//
// Handler may block (to push tuples into a full task queue, for example):
// while it does, the connection grants the peer no more credit, so the
// remote sender blocks too. That is how backpressure crosses processes. It
// must return promptly once ctx is cancelled, which happens when the server
// is closed.
//
// Tuples arrive decoded: Tuple.Values holds the values, decoded on the
// goroutine that calls Handler (into chunks the garbage collector need not
// scan: see runtime/internal/wire, flat.go); they may be kept, and must not
// be modified. Tuple.Raw holds the same values still encoded, valid only
// until Handler returns: the frame's buffer is then read into again (unless
// a value still refers to it), so a Handler that forwards tuples from Raw
// must do so before it returns.
//
// With [Options.LazyValues] values are only validated and Values is nil:
// a Handler that reads single values through Raw's typed accessors
// (StringAt, Int64At, ...) decodes nothing it does not read, and Raw may be
// kept.
//
// b and its Items slice are reused once Handler returns; what the items
// reference (streams, values, edges, and with LazyValues raw values) is
// not, and may be kept.
type Handler func(ctx context.Context, from Peer, b *wire.Batch)

// Options configures a [Server], a [Client] or a [Transport]. The zero value
// of every field but Topology (and Handler, for servers) is a usable default.
// Options must not change after they are passed in.
type Options struct {
	// Topology is the topology name, sent in the handshake and checked by
	// the peer's Accept.
	Topology string
	// Worker is this process's worker index, sent in the handshake.
	Worker int
	// Epoch is the assignment epoch this worker runs under. By default a
	// peer with an older epoch is refused (fencing), see Accept.
	Epoch uint64
	// Session is the run of the topology this worker belongs to (see
	// wire.Hello.Session); the default Accept refuses a peer of another.
	Session uint64
	// Token is an optional shared secret, sent in the handshake and required
	// to match by the default Accept. Use TLS too: without it the token
	// travels in clear text.
	Token string

	// Accept checks the peer's Hello. A server calls it on each incoming
	// handshake and refuses the connection (the client gets [ErrRefused])
	// if it returns an error; a client calls it on the server's reply and
	// retries later if it fails. Default: [DefaultAccept] of these options.
	Accept func(h wire.Hello) error

	// Handler receives the batches a server reads. Required for a
	// [Server] and a [Transport]; unused by a [Client].
	Handler Handler
	// LazyValues makes a server leave tuple values encoded (Tuple.Values
	// nil, Tuple.Raw validated), for a Handler that reads them through
	// Raw's typed accessors or a wire.ValueDecoder. Default: values are
	// decoded before the Handler is called (see Handler).
	LazyValues bool

	// TLS enables TLS when set. A server uses it as is, so set ClientAuth to
	// tls.RequireAndVerifyClientCert and ClientCAs for mutual TLS; a client
	// uses a clone with ServerName set from the address when it is empty.
	TLS *tls.Config

	// MaxFrameSize is the largest frame, in bytes, sent or accepted. The
	// length of an incoming frame is checked before anything is allocated.
	// Default 16 MiB.
	MaxFrameSize int
	// CreditWindow is the number of batch frames a server lets each peer
	// have in flight: received but not yet handled. It bounds the
	// receiver's memory at CreditWindow × MaxFrameSize per connection, and
	// the sender's at as much per peer. Default 32.
	CreditWindow int

	// DialTimeout bounds connecting. Default 5s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the TLS and Hello exchange. Default 5s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a connection, and the flush on
	// Close. Default 10s.
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// attempts to reconnect a dropped link; each wait is jittered between
	// half and all of the current step. Defaults 50ms and 5s.
	ReconnectMin, ReconnectMax time.Duration

	// Logger receives the transport's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the transport's metrics (see the package
	// documentation). Several servers and clients may share one: the
	// collectors are registered once and shared. Default: none exported.
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultMaxFrameSize = 16 << 20
	DefaultCreditWindow = 32
)

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.CreditWindow == 0 {
		o.CreditWindow = DefaultCreditWindow
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = 50 * time.Millisecond
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Accept == nil {
		o.Accept = DefaultAccept(o)
	}
	return o
}

// validate reports every invalid field at once.
func (o *Options) validate(server bool) error {
	var errs []error
	if o.Topology == "" {
		errs = append(errs, errors.New("Topology is empty"))
	}
	if server && o.Handler == nil {
		errs = append(errs, errors.New("Handler is nil"))
	}
	if o.MaxFrameSize < 64 || o.MaxFrameSize > 1<<30 {
		errs = append(errs, fmt.Errorf("MaxFrameSize %d outside [64, 1 GiB]", o.MaxFrameSize))
	}
	if o.CreditWindow < 1 || o.CreditWindow > 1<<16 {
		errs = append(errs, fmt.Errorf("CreditWindow %d outside [1, 65536]", o.CreditWindow))
	}
	if o.ReconnectMin > o.ReconnectMax {
		errs = append(errs, fmt.Errorf("ReconnectMin %v > ReconnectMax %v", o.ReconnectMin, o.ReconnectMax))
	}
	if len(errs) > 0 {
		return fmt.Errorf("transport: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// DefaultAccept returns the check used when [Options.Accept] is nil: the
// peer must run the same topology, present the same token (compared in
// constant time) and run under an epoch no older than o.Epoch, so a worker
// of an older assignment cannot talk to the current ones.
func DefaultAccept(o Options) func(h wire.Hello) error {
	return func(h wire.Hello) error {
		if h.Topology != o.Topology {
			return fmt.Errorf("topology %q, want %q", h.Topology, o.Topology)
		}
		if subtle.ConstantTimeCompare([]byte(h.Token), []byte(o.Token)) != 1 {
			return errors.New("wrong token")
		}
		if h.Epoch < o.Epoch {
			return fmt.Errorf("stale epoch %d < %d", h.Epoch, o.Epoch)
		}
		if h.Session != o.Session {
			return fmt.Errorf("%w: session %d, want %d", ErrOtherSession, h.Session, o.Session)
		}
		return nil
	}
}

func (o *Options) hello() wire.Hello {
	return wire.Hello{Topology: o.Topology, Worker: o.Worker, Epoch: o.Epoch, Token: o.Token, Session: o.Session}
}
