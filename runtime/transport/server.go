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

	wg sync.WaitGroup // acceptLoop and every connection goroutine

	mu struct {
		sync.Mutex
		closing bool
		// conns holds every accepted connection, from accept to close, so
		// Shutdown can interrupt handshakes as well as reads.
		conns map[net.Conn]struct{}
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
	s.mu.conns = make(map[net.Conn]struct{})
	s.wg.Go(s.acceptLoop)
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
	s.mu.conns[nc] = struct{}{}
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

// serverConn is one accepted connection after its handshake.
type serverConn struct {
	nc   net.Conn
	peer Peer
	log  *slog.Logger

	// work carries frames from the reader to the handler goroutine; free
	// returns them. free starts with CreditWindow frames, so a peer that
	// sends beyond its credit finds free empty, and work never fills up.
	work chan *inFrame
	free frameStack

	// share is the part of each frame, in shareMax-ths of its bytes, that
	// the reader decodes (see readInto); it grows while at least backlog
	// frames wait for the handler. Reader only.
	share, backlog int
}

const shareMax = 16

// frameStack holds a connection's free frames. It is a stack, not a queue,
// so that a link whose handler keeps up reuses the same few frames (their
// items and payload buffers stay in cache) rather than cycling through the
// whole window.
type frameStack struct {
	mu sync.Mutex
	s  []*inFrame
}

func (fs *frameStack) push(in *inFrame) {
	fs.mu.Lock()
	fs.s = append(fs.s, in)
	fs.mu.Unlock()
}

// pop returns the most recently pushed frame, or nil if there is none.
func (fs *frameStack) pop() *inFrame {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.s)
	if n == 0 {
		return nil
	}
	in := fs.s[n-1]
	fs.s[n-1] = nil
	fs.s = fs.s[:n-1]
	return in
}

// inFrame is a batch frame on its way from a connection's reader to its
// handler goroutine: the payload as read, and the frame it decodes into
// (reused, so its item slice is too). buf is a payload buffer to read the
// next frame into, when the last one could be reused.
type inFrame struct {
	raw []byte
	buf []byte
	f   wire.Frame
	cur wire.BatchCursor // how far the reader decoded f
}

// reuseLimit bounds the payload buffers a connection keeps for reuse, so
// an idle connection holds at most CreditWindow × reuseLimit.
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
		nc:   nc,
		peer: peer,
		log:  log.With("peer_worker", peer.Worker),
		work: make(chan *inFrame, s.opts.CreditWindow),

		backlog: max(2, s.opts.CreditWindow/4),
	}
	for range s.opts.CreditWindow {
		c.free.push(new(inFrame))
	}
	s.mu.Lock()
	if s.mu.closing {
		s.mu.Unlock()
		return
	}
	s.wg.Go(func() { s.handle(c) })
	s.mu.Unlock()
	s.m.conns.WithLabelValues("server").Inc()
	c.log.Info("transport peer connected")

	err = s.read(c, fr)
	close(c.work) // the handler drains what was read, then exits
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

// read reads batch frames into c.work until the connection ends. It checks
// each frame's length (before allocating it), credit and kind; the handler
// goroutine decodes it. It returns nil on a clean end of stream or when the
// server or the handler closed the connection.
func (s *Server) read(c *serverConn, fr *frameReader) error {
	dec := wire.Decoder{Lazy: s.opts.LazyValues}
	for {
		size, err := fr.header(s.opts.MaxFrameSize)
		if err == nil {
			err = s.readInto(c, fr, &dec, size)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// readInto reads a payload of size bytes, decodes part of it and queues it
// for the handler, which decodes the rest.
//
// The receiving side is two goroutines, and decoding is most of its work,
// so the two share it, each item decoded once, by one of them: the reader
// decodes the items in the first c.share/shareMax of each frame's bytes and
// the handler the rest. The share adapts to the handler's queue: it grows while frames
// pile up for the handler (which also runs the Handler, and is then the
// slower of the two) and shrinks while the handler keeps up. A burst of
// frames read back to back queues a few frames without the handler being
// slow, hence the threshold of a quarter window.
func (s *Server) readInto(c *serverConn, fr *frameReader, dec *wire.Decoder, size int) error {
	in := c.free.pop()
	if in == nil {
		// Checked before the payload is read or allocated.
		return fmt.Errorf("%w: more than %d frames without credit", ErrProtocol, s.opts.CreditWindow)
	}
	b, err := fr.payload(size, in.buf)
	in.buf = nil
	if err != nil {
		c.free.push(in)
		return err
	}
	s.m.recvFrames.Inc()
	s.m.recvBytes.Add(float64(len(b) + headerSize))
	if wire.Kind(b[0]) != wire.KindBatch {
		c.free.push(in)
		return s.unexpected(b)
	}
	in.raw = b
	err = dec.StartBatch(b, &in.f, &in.cur)
	if err == nil {
		switch q := len(c.work); {
		case q >= c.backlog && c.share < shareMax:
			c.share++ // the handler falls behind: decode more here
		case q <= 1 && c.share > 0:
			c.share-- // the handler keeps up: leave it more
		}
		err = dec.DecodeItems(&in.f, &in.cur, len(b)*c.share/shareMax)
	}
	if err != nil {
		return fmt.Errorf("decode frame of %d bytes: %w", len(b), err)
	}
	c.work <- in // never blocks: work and free share the window
	return nil
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

// handle passes frames to the handler and returns their credit. Credit
// goes back in grants of half a window, so a busy link costs one small
// write per several frames instead of one per frame (on loopback each
// write also runs the receiving end's network stack, on this goroutine's
// time); the sender still has the other half of its window and does not
// stall. When the queue runs dry
// the remainder follows within creditDelay, so a sender waiting for its
// last frames to be confirmed (Client.Shutdown) is not kept waiting.
func (s *Server) handle(c *serverConn) {
	// The handler goroutine decodes the items the reader left (see
	// readInto), values too (into the chunks of wire's flat decoding)
	// unless LazyValues.
	dec := wire.Decoder{Lazy: s.opts.LazyValues}
	failed := false
	threshold := uint32(max(1, s.opts.CreditWindow/2))
	var pending uint32
	var buf []byte
	writeFailed := false
	grant := func() {
		if pending == 0 || writeFailed {
			pending = 0
			return
		}
		buf, _ = wire.AppendFrame(beginFrame(buf), &wire.Frame{Kind: wire.KindCredit, Credit: wire.Credit{N: pending}})
		c.nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := c.nc.Write(finishFrame(buf)); err != nil {
			// The reader sees the broken connection too and reports it;
			// keep handling what was already read.
			writeFailed = true
			c.nc.Close()
		}
		pending = 0
	}
	timer := time.NewTimer(creditDelay)
	timer.Stop()
	defer timer.Stop()
	armed := false
	for {
		var in *inFrame
		select {
		case in = <-c.work:
		case <-timer.C:
			armed = false
			grant()
			continue
		}
		if in == nil {
			return // c.work closed: the reader is done
		}
		f := &in.f
		switch {
		case failed:
			// A malformed frame closed the connection; what the reader
			// had queued behind it is dropped.
		case s.ctx.Err() != nil:
			s.m.dropped.Inc()
		default:
			if err := dec.DecodeItems(f, &in.cur, -1); err != nil {
				failed = true
				s.connError(c, fmt.Errorf("decode frame of %d bytes: %w", len(in.raw), err))
				c.nc.Close() // the reader stops at once
				break
			}
			s.opts.Handler(s.ctx, c.peer, &f.Batch)
		}
		// The payload buffer is read into again if nothing decoded from it
		// refers to it but Tuple.Raw, which the Handler may not keep
		// unless LazyValues.
		if !failed && !s.opts.LazyValues && in.cur.Done() && !in.cur.Aliases() && cap(in.raw) <= reuseLimit {
			in.buf = in.raw[:0]
		}
		// Truncate without clearing: the frame is reused within the window,
		// so what it still references is bounded, and clearing it costs GC
		// write barriers on every item.
		in.raw = nil
		f.Batch.Items = f.Batch.Items[:0]
		c.free.push(in)
		pending++
		if pending >= threshold {
			grant()
		} else if !armed && len(c.work) == 0 {
			timer.Reset(creditDelay)
			armed = true
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
