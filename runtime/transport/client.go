package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// Client is a link to one peer worker's [Server]. It connects in the
// background, reconnects with backoff when the connection drops, and sends
// batches within the credit the server grants. Send may be called from any
// number of goroutines.
//
// # What a dropped connection loses
//
// Frames that Send accepted but the server had not confirmed (by returning
// their credit) when the connection dropped may or may not have been
// handled; they are not resent. They are counted in
// gale_transport_lost_frames_total (an upper bound), and the runtime's
// acking (at-least-once) or checkpoint rollback (exactly-once) replays them.
// At-most-once topologies lose them.
type Client struct {
	addr string
	opts Options
	m    *metrics
	log  *slog.Logger

	closing chan struct{} // closed by Shutdown
	// ctx is cancelled by Shutdown, to abort a dial in progress.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		conn    *clientConn   // nil while disconnected
		changed chan struct{} // closed and replaced when conn or err changes
		err     error         // permanent failure (ErrRefused) or ErrClosed
	}
}

// NewClient returns a client for the server at addr and starts connecting in
// the background. Sends block until the first connection is up.
func NewClient(addr string, opts Options) (*Client, error) {
	return newClient(addr, opts, nil)
}

// Dial is [NewClient] followed by waiting, bounded by ctx, for the first
// connection. It fails if the server refuses the handshake.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	c, err := NewClient(addr, opts)
	if err != nil {
		return nil, err
	}
	if err := c.WaitConnected(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newClient(addr string, opts Options, m *metrics) (*Client, error) {
	opts = opts.withDefaults()
	if err := opts.validate(false); err != nil {
		return nil, err
	}
	if m == nil {
		m = newMetrics(opts.Registerer)
	}
	if opts.TLS != nil && opts.TLS.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("transport: address %q: %w", addr, err)
		}
		opts.TLS = opts.TLS.Clone()
		opts.TLS.ServerName = host
	}
	c := &Client{addr: addr, opts: opts, m: m, closing: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.log = opts.Logger.With("topology", opts.Topology, "worker", opts.Worker, "peer_addr", addr)
	c.mu.changed = make(chan struct{})
	c.wg.Go(c.run)
	return c, nil
}

// Addr returns the peer's address.
func (c *Client) Addr() string { return c.addr }

// setState changes the connection or the permanent error and wakes waiters.
// Call with c.mu held.
func (c *Client) setStateLocked(conn *clientConn, err error) {
	c.mu.conn = conn
	if err != nil && c.mu.err == nil {
		c.mu.err = err
	}
	close(c.mu.changed)
	c.mu.changed = make(chan struct{})
}

// state returns the current connection (nil if none), the permanent error,
// and a channel closed at the next change.
func (c *Client) state() (*clientConn, error, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.conn, c.mu.err, c.mu.changed
}

// WaitConnected blocks until the client is connected, it failed for good
// ([ErrRefused], [ErrClosed]), or ctx is done.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		cc, err, changed := c.state()
		if err != nil {
			return err
		}
		if cc != nil {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("transport: connect to %s: %w", c.addr, ctx.Err())
		}
	}
}

// run connects, waits for the connection to drop, and reconnects with
// jittered exponential backoff until the client closes or is refused.
func (c *Client) run() {
	step := c.opts.ReconnectMin
	everConnected := false
	for {
		cc, err := c.connect()
		if err != nil {
			select {
			case <-c.closing:
				return // the dial was aborted by Shutdown
			default:
			}
			if errors.Is(err, ErrRefused) {
				c.m.errors[errKindRefused].Inc()
				c.log.Error("transport peer refused us, giving up", "err", err)
				c.mu.Lock()
				c.setStateLocked(nil, err)
				c.mu.Unlock()
				return
			}
			kind := errKindDial
			if errors.Is(err, ErrHandshake) {
				kind = errKindHandshake
			}
			c.m.errors[kind].Inc()
			c.log.Warn("transport connect failed", "err", err, "retry_in", step)
			if !c.backoff(&step) {
				return
			}
			continue
		}
		connectedAt := time.Now()
		if everConnected {
			c.m.reconnects.Inc()
		}
		everConnected = true
		c.mu.Lock()
		if c.mu.err != nil {
			// Shutdown ran while we connected and did not see cc.
			c.mu.Unlock()
			cc.graceful.Store(true)
			cc.fail(ErrClosed)
			cc.wg.Wait()
			return
		}
		c.setStateLocked(cc, nil)
		c.mu.Unlock()
		c.m.conns.WithLabelValues("client").Inc()
		c.log.Info("transport connected", "peer_worker", cc.peer.Worker)

		select {
		case <-cc.done:
		case <-c.closing:
			<-cc.done // Shutdown drains and closes it
		}
		cc.wg.Wait()
		c.mu.Lock()
		c.setStateLocked(nil, nil)
		c.mu.Unlock()
		c.m.conns.WithLabelValues("client").Dec()
		if lost := cc.unconfirmed(); lost > 0 && !cc.graceful.Load() {
			c.m.lostFrames.Add(float64(lost))
			c.log.Warn("transport connection lost with unconfirmed frames", "frames", lost, "err", cc.err)
		} else if !cc.graceful.Load() {
			c.log.Warn("transport connection lost", "err", cc.err)
		}
		select {
		case <-c.closing:
			return
		default:
		}
		// A link that dropped soon after connecting (a peer that keeps
		// rejecting our frames, say) is retried with backoff, not in a
		// tight loop; one that was up for a while reconnects at once.
		if time.Since(connectedAt) >= stableAfter {
			step = c.opts.ReconnectMin
		} else if !c.backoff(&step) {
			return
		}
	}
}

// stableAfter is how long a connection must last for the reconnect backoff
// to start over.
const stableAfter = time.Second

// backoff waits a jittered step (between half and all of *step), then
// doubles *step up to ReconnectMax. It returns false if the client closed.
func (c *Client) backoff(step *time.Duration) bool {
	wait := *step/2 + rand.N(*step/2+1)
	*step = min(2**step, c.opts.ReconnectMax)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closing:
		return false
	}
}

// connect dials, runs the handshake and starts the connection's goroutines.
func (c *Client) connect() (*clientConn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", c.addr, err)
	}
	if c.opts.TLS != nil {
		nc = tls.Client(nc, c.opts.TLS)
	}
	cc, err := c.handshake(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cc.wg.Go(cc.readLoop)
	return cc, nil
}

// handshake sends our Hello and reads the server's Hello and initial credit.
func (c *Client) handshake(nc net.Conn) (*clientConn, error) {
	nc.SetDeadline(time.Now().Add(c.opts.HandshakeTimeout))
	hello, _ := wire.AppendFrame(beginFrame(nil), &wire.Frame{Kind: wire.KindHello, Hello: c.opts.hello()})
	if _, err := nc.Write(finishFrame(hello)); err != nil {
		return nil, fmt.Errorf("%w: %s: write hello: %w", ErrHandshake, c.addr, err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	fr := &frameReader{r: br}
	var f wire.Frame
	b, err := fr.next(handshakeFrameLimit)
	if err == nil {
		err = wire.DecodeFrame(b, &f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read reply: %w", ErrHandshake, c.addr, err)
	}
	switch f.Kind {
	case wire.KindRefuse:
		return nil, fmt.Errorf("%w by %s: %s", ErrRefused, c.addr, f.Refuse.Reason)
	case wire.KindHello:
	default:
		return nil, fmt.Errorf("%w: %s: reply is %v, want hello", ErrHandshake, c.addr, f.Kind)
	}
	if err := c.opts.Accept(f.Hello); err != nil {
		return nil, fmt.Errorf("%w: %s (worker %d): %w", ErrHandshake, c.addr, f.Hello.Worker, err)
	}
	peer := Peer{Worker: f.Hello.Worker, Epoch: f.Hello.Epoch, Session: f.Hello.Session, Addr: c.addr}
	b, err = fr.next(handshakeFrameLimit)
	if err == nil {
		err = wire.DecodeFrame(b, &f)
	}
	if err == nil && f.Kind != wire.KindCredit {
		err = fmt.Errorf("%w: %v frame, want credit", ErrProtocol, f.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read credit: %w", ErrHandshake, c.addr, err)
	}
	nc.SetDeadline(time.Time{})
	cc := &clientConn{
		c:    c,
		nc:   nc,
		fr:   fr,
		peer: peer,
		done: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	cc.credit.n = int64(f.Credit.N)
	cc.out.idle.L = &cc.out.Mutex
	return cc, nil
}

// clientConn is one established connection of a Client.
type clientConn struct {
	c    *Client
	nc   net.Conn
	fr   *frameReader
	peer Peer
	wg   sync.WaitGroup // readLoop

	// out holds encoded frames, each already paid for with credit (so
	// never more than the window), waiting for the goroutine writing.
	out struct {
		sync.Mutex
		queue   []*[]byte
		spare   []*[]byte   // the previous queue's array, for reuse
		writing bool        // a Send is writing the queue
		bufs    net.Buffers // the writing Send's scratch
		idle    sync.Cond   // signalled when writing ends; uses the mutex
	}

	credit struct {
		sync.Mutex
		n int64 // frames we may still send
	}
	wake chan struct{} // signalled when credit arrives (capacity 1)

	// outstanding counts frames queued or sent but not yet confirmed by a
	// returned credit. Written by Send and readLoop.
	outstanding atomic.Int64
	// graceful is set when Shutdown closed the connection after draining.
	graceful atomic.Bool

	once sync.Once
	done chan struct{} // closed by fail
	err  error         // why the connection ended; written once before done closes
}

// fail ends the connection (once) and records why.
func (cc *clientConn) fail(err error) {
	cc.once.Do(func() {
		cc.err = err
		close(cc.done)
		cc.nc.Close()
	})
}

func (cc *clientConn) unconfirmed() int64 { return max(cc.outstanding.Load(), 0) }

// acquire takes one credit, blocking until the server grants one, the
// connection ends, or ctx is done.
func (cc *clientConn) acquire(ctx context.Context) error {
	for {
		cc.credit.Lock()
		if cc.credit.n > 0 {
			cc.credit.n--
			more := cc.credit.n > 0
			cc.credit.Unlock()
			if more {
				cc.signal() // let the next waiter in
			}
			return nil
		}
		cc.credit.Unlock()
		select {
		case <-cc.wake:
		case <-cc.done:
			return errConnDone
		case <-ctx.Done():
			return ctx.Err()
		case <-cc.c.closing:
			return ErrClosed
		}
	}
}

var errConnDone = errors.New("transport: connection ended")

func (cc *clientConn) signal() {
	select {
	case cc.wake <- struct{}{}:
	default:
	}
}

// readLoop reads credit frames until the connection ends.
func (cc *clientConn) readLoop() {
	var dec wire.Decoder
	var f wire.Frame
	for {
		b, err := cc.fr.next(handshakeFrameLimit)
		if err == nil {
			err = dec.DecodeOwned(b, &f)
		}
		if err == nil && f.Kind != wire.KindCredit {
			err = fmt.Errorf("%w: %v frame from server", ErrProtocol, f.Kind)
		}
		if err != nil {
			cc.fail(err)
			return
		}
		// The server is alive and reading, or handling a frame that keeps
		// it from reading (see Server.heartbeatLoop): a write blocked
		// behind it is not a dead link.
		cc.nc.SetWriteDeadline(time.Now().Add(cc.c.opts.WriteTimeout))
		cc.outstanding.Add(-int64(f.Credit.N))
		cc.credit.Lock()
		cc.credit.n += int64(f.Credit.N)
		cc.credit.Unlock()
		cc.signal()
	}
}

// maxGather bounds the frames written by one gathered write.
const maxGather = 64

// write queues a frame for writing and, unless another Send is writing
// already, writes it and whatever others queue meanwhile, with one vectored
// write (writev on TCP) per round, until the queue is empty. Senders thus
// take turns at the connection with no writer goroutine between them: a
// lone sender writes its own frames, and frames queued back to back by
// several share a system call and are not copied into a buffer first.
func (cc *clientConn) write(bp *[]byte) {
	o := &cc.out
	o.Lock()
	o.queue = append(o.queue, bp)
	if o.writing {
		o.Unlock()
		return
	}
	o.writing = true
	if o.bufs == nil {
		o.bufs = make(net.Buffers, 0, maxGather)
	}
	bufs := o.bufs
	for len(o.queue) > 0 {
		batch := o.queue
		if len(batch) > maxGather {
			batch = batch[:maxGather]
		}
		o.queue, o.spare = append(o.spare[:0], o.queue[len(batch):]...), o.queue[:0]
		o.Unlock()
		err := cc.writeFrames(batch, bufs)
		o.Lock()
		if err != nil {
			// The frames still queued were paid for on this connection
			// and count as unconfirmed; they are dropped with it.
			for _, bp := range o.queue {
				putBuf(bp)
			}
			o.queue = o.queue[:0]
			o.writing = false
			o.idle.Broadcast()
			o.Unlock()
			cc.fail(err)
			return
		}
	}
	o.writing = false
	o.idle.Broadcast()
	o.Unlock()
}

// writeFrames writes batch with one vectored write and recycles its
// buffers.
func (cc *clientConn) writeFrames(batch []*[]byte, bufs net.Buffers) error {
	bufs = bufs[:0]
	size := 0
	for _, bp := range batch {
		bufs = append(bufs, *bp)
		size += len(*bp)
	}
	cc.nc.SetWriteDeadline(time.Now().Add(cc.c.opts.WriteTimeout))
	w := bufs // WriteTo consumes its receiver
	_, err := w.WriteTo(cc.nc)
	cc.c.m.sentFrames.Add(float64(len(batch)))
	cc.c.m.sentBytes.Add(float64(size))
	for i, bp := range batch {
		putBuf(bp)
		batch[i] = nil
	}
	clear(bufs)
	return err
}

// waitWrites waits until no Send is writing to the connection.
func (cc *clientConn) waitWrites() {
	o := &cc.out
	o.Lock()
	for o.writing {
		o.idle.Wait()
	}
	o.Unlock()
}

var writerPool = sync.Pool{New: func() any { return new(wire.BatchWriter) }}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > 1<<20 {
		return // let rare huge buffers go
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// Send encodes b and sends it as one frame, blocking while the peer has
// granted no credit or while the link is reconnecting, until ctx is done.
// Time spent blocked counts in gale_transport_backpressure_seconds_total.
// b may be reused as soon as Send returns.
//
// A nil error means the frame was queued on a live connection, not that the
// peer handled it; see [Client] for what a dropped connection loses. Errors:
// ctx.Err(), [ErrClosed], [ErrRefused], [ErrFrameTooLarge], or an encoding
// error wrapping wire.ErrUnsupported.
func (c *Client) Send(ctx context.Context, b *wire.Batch) error {
	return c.SendWith(ctx, func(w *wire.BatchWriter) error {
		for i := range b.Items {
			if err := w.Item(&b.Items[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// SendWith is [Client.Send] for a sender that writes its items into the
// frame itself: write is called once, synchronously, with a
// wire.BatchWriter begun on the frame's buffer. An error from write
// abandons the frame and is returned, wrapped.
func (c *Client) SendWith(ctx context.Context, write func(*wire.BatchWriter) error) error {
	bp := getBuf()
	w := writerPool.Get().(*wire.BatchWriter)
	w.Begin(beginFrame(*bp))
	err := write(w)
	buf := w.Finish()
	writerPool.Put(w) // Begin resets all it refers to
	if err != nil {
		putBuf(bp)
		return fmt.Errorf("transport: send to %s: %w", c.addr, err)
	}
	*bp = buf
	if len(buf)-headerSize > c.opts.MaxFrameSize {
		putBuf(bp)
		return fmt.Errorf("%w: %d bytes to %s, limit %d (send smaller batches)",
			ErrFrameTooLarge, len(buf)-headerSize, c.addr, c.opts.MaxFrameSize)
	}
	finishFrame(buf)
	if err := c.sendFrame(ctx, bp); err != nil {
		putBuf(bp)
		return err
	}
	return nil
}

func (c *Client) sendFrame(ctx context.Context, bp *[]byte) error {
	var blockedSince time.Time
	defer func() {
		if !blockedSince.IsZero() {
			c.m.backpressure.Add(time.Since(blockedSince).Seconds())
		}
	}()
	for {
		cc, err, changed := c.state()
		if err != nil {
			return err
		}
		select {
		case <-c.closing:
			return ErrClosed
		default:
		}
		if cc == nil {
			if blockedSince.IsZero() {
				blockedSince = time.Now()
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			case <-c.closing:
				return ErrClosed
			}
		}
		if !cc.tryAcquire() {
			if blockedSince.IsZero() {
				blockedSince = time.Now()
			}
			if err := cc.acquire(ctx); err != nil {
				if err == errConnDone {
					continue // wait for the next connection
				}
				return err
			}
		}
		select {
		case <-cc.done:
			continue // wait for the next connection
		default:
		}
		cc.outstanding.Add(1)
		cc.write(bp)
		return nil
	}
}

// tryAcquire takes one credit if one is available.
func (cc *clientConn) tryAcquire() bool {
	cc.credit.Lock()
	defer cc.credit.Unlock()
	if cc.credit.n > 0 {
		cc.credit.n--
		return true
	}
	return false
}

// Shutdown stops the client: new sends fail with [ErrClosed], queued frames
// are written, and it waits, bounded by ctx, until the server has confirmed
// every frame sent (so it has handled them), then closes the connection and
// waits for the client's goroutines. It returns ctx.Err() if the server did
// not confirm in time. Calls after the first return [ErrClosed].
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.mu.err == ErrClosed {
		c.mu.Unlock()
		c.wg.Wait()
		return ErrClosed
	}
	cc := c.mu.conn
	c.setStateLocked(cc, ErrClosed)
	c.mu.err = ErrClosed // even after a refusal
	close(c.closing)
	c.mu.Unlock()
	c.cancel()

	var err error
	if cc != nil {
		err = cc.drain(ctx)
	}
	c.wg.Wait()
	c.log.Info("transport client closed")
	return err
}

// drain waits for the Send writing, if any, to flush what is queued
// (bounded by the write deadline, not by ctx, so Close with an expired
// context still flushes), then
// for the server to confirm every outstanding frame, then closes the
// connection.
func (cc *clientConn) drain(ctx context.Context) error {
	defer cc.fail(ErrClosed)
	cc.waitWrites()
	for cc.outstanding.Load() > 0 {
		select {
		case <-cc.wake:
		case <-cc.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cc.graceful.Store(true)
	return nil
}

// Close is [Client.Shutdown] bounded by [Options.WriteTimeout].
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
	defer cancel()
	return c.Shutdown(ctx)
}
