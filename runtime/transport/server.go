package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// Server accepts connections from other workers and hands the batches they
// send to [Options.Handler], granting each peer credit as its batches are
// handled.
type Server struct {
	opts Options
	ln   net.Listener
	m    *metrics
	log  *slog.Logger

	// ctx is passed to the handler; cancel aborts handlers on Close.
	ctx    context.Context
	cancel context.CancelFunc

	wg   sync.WaitGroup // acceptLoop, heartbeatLoop and every connection goroutine
	stop chan struct{}  // closed by Shutdown, stops heartbeatLoop

	mu struct {
		sync.Mutex
		closing bool
		// conns holds every accepted connection, from accept to close, so
		// Shutdown can interrupt handshakes as well as reads; the value is
		// the connection once its handshake is done.
		conns map[net.Conn]*serverConn
	}
}

// Listen listens on addr (host:port; use 127.0.0.1:0 in tests) and serves
// connections until [Server.Close] or [Server.Shutdown].
func Listen(addr string, opts Options) (*Server, error) {
	return listen(addr, opts, nil)
}

func listen(addr string, opts Options, m *metrics) (*Server, error) {
	opts = opts.withDefaults()
	if err := opts.validate(true); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", addr, err)
	}
	if m == nil {
		m = newMetrics(opts.Registerer)
	}
	s := &Server{opts: opts, ln: ln, m: m}
	s.log = opts.Logger.With("topology", opts.Topology, "worker", opts.Worker, "listen", ln.Addr().String())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[net.Conn]*serverConn)
	s.stop = make(chan struct{})
	s.wg.Go(s.acceptLoop)
	s.wg.Go(s.heartbeatLoop)
	s.log.Info("transport listening")
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// spawnConn registers nc and starts serving it on a goroutine owned by s,
// unless s is closing.
func (s *Server) spawnConn(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closing {
		return false
	}
	s.mu.conns[nc] = nil
	s.wg.Go(func() { s.serve(nc) })
	return true
}

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.mu.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("transport accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.spawnConn(nc) {
			nc.Close()
			return
		}
	}
}

// serverConn is one accepted connection after its handshake. One goroutine
// reads its frames, decodes them and calls the Handler, in turn; credit
// goes back from that goroutine or, for the last frames before a pause,
// from a timer (see handled).
type serverConn struct {
	nc   net.Conn
	peer Peer
	log  *slog.Logger

	// threshold is the pending credit worth a grant of its own.
	threshold uint32
	// handling is when the Handler was called for the frame it is
	// handling now (unix nanoseconds), or 0 between frames.
	handling atomic.Int64

	credit struct {
		sync.Mutex
		// pending counts handled frames whose credit is not yet granted.
		pending uint32
		buf     []byte // the credit frame, reused
		timer   *time.Timer
		armed   bool // timer will grant pending
		closed  bool // the connection ended: grant nothing more
	}
}

// reuseLimit bounds the payload buffer a connection keeps for reuse.
const reuseLimit = 64 << 10

// serve runs the handshake, then reads frames until the connection fails or
// the server closes.
func (s *Server) serve(raw net.Conn) {
	defer func() {
		raw.Close()
		s.mu.Lock()
		delete(s.mu.conns, raw)
		s.mu.Unlock()
	}()
	nc := raw
	log := s.log.With("peer_addr", nc.RemoteAddr().String())
	if s.opts.TLS != nil {
		nc = tls.Server(nc, s.opts.TLS)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	fr := &frameReader{r: br}
	peer, err := s.handshake(nc, fr)
	if err != nil {
		kind := errKindHandshake
		if errors.Is(err, ErrRefused) {
			kind = errKindRefused
		}
		s.m.errors[kind].Inc()
		log.Warn("transport handshake failed", "err", err)
		return
	}
	c := &serverConn{
		nc:        nc,
		peer:      peer,
		log:       log.With("peer_worker", peer.Worker),
		threshold: uint32(max(1, s.opts.CreditWindow/2)),
	}
	c.credit.timer = time.AfterFunc(time.Hour, func() { s.flushCredit(c) })
	c.credit.timer.Stop()
	defer func() {
		c.credit.Lock()
		c.credit.closed = true
		c.credit.timer.Stop()
		c.credit.Unlock()
	}()
	s.mu.Lock()
	s.mu.conns[raw] = c
	s.mu.Unlock()
	s.m.conns.WithLabelValues("server").Inc()
	c.log.Info("transport peer connected")

	err = s.read(c, fr)
	s.mu.Lock()
	closing := s.mu.closing
	s.mu.Unlock()
	s.m.conns.WithLabelValues("server").Dec()
	switch {
	case err == nil, closing:
		c.log.Info("transport peer disconnected")
	default:
		s.connError(c, err)
	}
}

// connError counts and logs the error that ended connection c.
func (s *Server) connError(c *serverConn, err error) {
	kind := errKindIO
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		kind = errKindFrameTooLarge
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrTruncated), errors.Is(err, wire.ErrTooDeep):
		kind = errKindMalformed
	case errors.Is(err, ErrProtocol):
		kind = errKindProtocol
	}
	s.m.errors[kind].Inc()
	c.log.Warn("transport connection closed", "kind", kind, "err", err)
}

// handshake reads the peer's Hello, checks it with Accept and replies with
// our Hello and the initial credit, or with a Refuse.
func (s *Server) handshake(nc net.Conn, fr *frameReader) (Peer, error) {
	peer := Peer{Addr: nc.RemoteAddr().String()}
	nc.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	b, err := fr.next(handshakeFrameLimit)
	if err != nil {
		return peer, fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	var f wire.Frame
	if err := wire.DecodeFrame(b, &f); err != nil {
		return peer, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if f.Kind != wire.KindHello {
		return peer, fmt.Errorf("%w: first frame is %v, want hello", ErrHandshake, f.Kind)
	}
	peer.Worker, peer.Epoch, peer.Session = f.Hello.Worker, f.Hello.Epoch, f.Hello.Session
	if err := s.opts.Accept(f.Hello); err != nil {
		reply, _ := wire.AppendFrame(beginFrame(nil), &wire.Frame{Kind: wire.KindRefuse, Refuse: wire.Refuse{Reason: err.Error()}})
		nc.Write(finishFrame(reply)) // best effort: the peer learns why
		return peer, fmt.Errorf("%w: worker %d epoch %d: %w", ErrRefused, f.Hello.Worker, f.Hello.Epoch, err)
	}
	reply, _ := wire.AppendFrame(beginFrame(nil), &wire.Frame{Kind: wire.KindHello, Hello: s.opts.hello()})
	reply = finishFrame(reply)
	credit := len(reply)
	reply, _ = wire.AppendFrame(append(reply, 0, 0, 0, 0), &wire.Frame{Kind: wire.KindCredit, Credit: wire.Credit{N: uint32(s.opts.CreditWindow)}})
	finishFrame(reply[credit:])
	if _, err := nc.Write(reply); err != nil {
		return peer, fmt.Errorf("%w: write reply: %w", ErrHandshake, err)
	}
	nc.SetDeadline(time.Time{})
	return peer, nil
}

// read reads batch frames, decodes them and hands them to the Handler until
// the connection ends. It checks each frame's length and credit before
// reading (or allocating) its payload. It returns nil on a clean end of
// stream or when the server closed the connection.
//
// Reading, decoding and handling take turns on this one goroutine: a
// frame's bytes are decoded and handled on the core that read them, and no
// handoff to another goroutine is paid per frame. While the Handler blocks,
// nothing is read, so TCP's flow control holds the sender back as well as
// the credit does.
func (s *Server) read(c *serverConn, fr *frameReader) error {
	dec := wire.Decoder{Lazy: s.opts.LazyValues}
	var f wire.Frame
	var buf []byte // a payload buffer to read into again, when one can be
	for {
		size, err := fr.header(s.opts.MaxFrameSize)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		b, err := fr.payload(size, buf)
		buf = nil
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.m.recvFrames.Inc()
		s.m.recvBytes.Add(float64(len(b) + headerSize))
		if wire.Kind(b[0]) != wire.KindBatch {
			return s.unexpected(b)
		}
		if err := dec.DecodeOwned(b, &f); err != nil {
			return fmt.Errorf("decode frame of %d bytes: %w", len(b), err)
		}
		if s.ctx.Err() != nil {
			s.m.dropped.Inc()
		} else {
			c.handling.Store(time.Now().UnixNano())
			s.opts.Handler(s.ctx, c.peer, &f.Batch)
			c.handling.Store(0)
		}
		// The payload buffer is read into again if nothing decoded from it
		// refers to it but Tuple.Raw, which the Handler may not keep
		// unless LazyValues.
		if !s.opts.LazyValues && !dec.Aliases() && cap(b) <= reuseLimit {
			buf = b[:0]
		}
		// Truncate without clearing: the items are reused by the next
		// frame, and clearing them costs GC write barriers on every item.
		f.Batch.Items = f.Batch.Items[:0]
		s.handled(c, fr.buffered() >= headerSize)
	}
}

// unexpected returns the error for a frame payload b of another kind than
// batch.
func (s *Server) unexpected(b []byte) error {
	var f wire.Frame
	if err := wire.DecodeFrame(b, &f); err != nil {
		return fmt.Errorf("decode frame of %d bytes: %w", len(b), err)
	}
	return fmt.Errorf("%w: unexpected %v frame", ErrProtocol, f.Kind)
}

// creditDelay bounds how long the server holds back credit for frames it
// has handled when no more frames are waiting.
const creditDelay = time.Millisecond

// handled counts a handled frame's credit and grants what is pending in
// grants of half a window, so a busy link costs one small write per several
// frames instead of one per frame (on loopback each write also runs the
// receiving end's network stack, on this goroutine's time); the sender
// still has the other half of its window and does not stall. When no
// further frame is waiting (more is false), the timer grants the remainder
// within creditDelay, so a sender waiting for its last frames to be
// confirmed (Client.Shutdown) is not kept waiting.
func (s *Server) handled(c *serverConn, more bool) {
	c.credit.Lock()
	defer c.credit.Unlock()
	c.credit.pending++
	if c.credit.pending >= c.threshold {
		s.grantLocked(c)
		return
	}
	if !more && !c.credit.armed {
		c.credit.armed = true
		c.credit.timer.Reset(creditDelay)
	}
}

// flushCredit grants what is pending; the timer calls it.
func (s *Server) flushCredit(c *serverConn) {
	c.credit.Lock()
	defer c.credit.Unlock()
	c.credit.armed = false
	s.grantLocked(c)
}

// grantLocked writes a credit frame for the pending frames, if any. Call
// with c.credit held.
func (s *Server) grantLocked(c *serverConn) {
	if c.credit.pending > 0 {
		s.writeCreditLocked(c)
	}
}

// writeCreditLocked writes a credit frame for the pending frames, even
// none. Call with c.credit held.
func (s *Server) writeCreditLocked(c *serverConn) {
	if c.credit.closed {
		return
	}
	n := c.credit.pending
	c.credit.pending = 0
	c.credit.buf, _ = wire.AppendFrame(beginFrame(c.credit.buf), &wire.Frame{Kind: wire.KindCredit, Credit: wire.Credit{N: n}})
	c.nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	if _, err := c.nc.Write(finishFrame(c.credit.buf)); err != nil {
		// The reader sees the broken connection too and reports it.
		c.credit.closed = true
		c.nc.Close()
	}
}

// heartbeatLoop keeps peers alive whose frames wait behind a slow Handler.
//
// The connection goroutine reads the next frame only after the Handler has
// returned, so while it blocks (on a full task queue, say, which is how
// backpressure works), frames the peer has credit for stay in the socket
// buffers, and a peer with more of them than those hold finds its write
// blocked. Its write deadline (Options.WriteTimeout) is there to detect a
// dead peer, not a busy one: so every quarter of it, a connection whose
// Handler has been running that long sends a credit frame (for the frames
// handled so far, perhaps none), and the client extends its write deadline
// on every frame it receives.
func (s *Server) heartbeatLoop() {
	every := s.opts.WriteTimeout / 4
	t := time.NewTicker(every)
	defer t.Stop()
	var conns []*serverConn
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			conns = conns[:0]
			s.mu.Lock()
			for _, c := range s.mu.conns {
				if c != nil {
					conns = append(conns, c)
				}
			}
			s.mu.Unlock()
			for _, c := range conns {
				if h := c.handling.Load(); h != 0 && now.UnixNano()-h >= int64(every) {
					c.credit.Lock()
					s.writeCreditLocked(c)
					c.credit.Unlock()
				}
			}
			clear(conns)
		}
	}
}

// Shutdown stops accepting, closes every connection, and waits until the
// batches already read have been handled, or until ctx is done: then it
// cancels the handlers' context, drops what is left (counted in
// gale_transport_dropped_frames_total) and returns ctx.Err() once every
// goroutine has exited. Peers see their connection drop and reconnect to
// whichever server replaces this one.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.shutdown(ctx, false)
}

// shutdown implements Shutdown; abort says the caller cancelled ctx on
// purpose (Close), so dropping frames is expected rather than warned about.
func (s *Server) shutdown(ctx context.Context, abort bool) error {
	s.mu.Lock()
	if s.mu.closing {
		s.mu.Unlock()
		s.wg.Wait()
		return ErrClosed
	}
	s.mu.closing = true
	close(s.stop)
	for nc := range s.mu.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.ln.Close()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		if !abort {
			s.log.Warn("transport shutdown deadline passed, dropping unhandled frames")
		}
		s.cancel()
		<-done
	}
	s.cancel()
	s.log.Info("transport server closed")
	return err
}

// Close closes the server at once: unhandled batches are dropped, and
// handlers see their context cancelled. It waits for every goroutine of the
// server to exit. Calls after the first return [ErrClosed].
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.cancel()
	err := s.shutdown(ctx, true)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
