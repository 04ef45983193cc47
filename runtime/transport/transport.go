package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// Transport is a worker's endpoint: a [Server] for the links other workers
// open to it, and one [Client] per peer address it sends to, created on the
// first send. The runtime holds one per worker process.
type Transport struct {
	opts Options
	srv  *Server
	m    *metrics

	mu struct {
		sync.Mutex
		closed  bool
		clients map[string]*Client
	}
}

// New listens on addr and returns a transport whose server hands received
// batches to opts.Handler.
func New(addr string, opts Options) (*Transport, error) {
	opts = opts.withDefaults()
	if err := opts.validate(true); err != nil {
		return nil, err
	}
	m := newMetrics(opts.Registerer)
	srv, err := listen(addr, opts, m)
	if err != nil {
		return nil, err
	}
	t := &Transport{opts: opts, srv: srv, m: m}
	t.mu.clients = make(map[string]*Client)
	return t, nil
}

// Addr returns the address the transport listens on, to publish to peers.
func (t *Transport) Addr() net.Addr { return t.srv.Addr() }

// client returns the client for addr, creating it on first use.
func (t *Transport) client(addr string) (*Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, ErrClosed
	}
	if c, ok := t.mu.clients[addr]; ok {
		return c, nil
	}
	c, err := newClient(addr, t.opts, t.m)
	if err != nil {
		return nil, err
	}
	t.mu.clients[addr] = c
	return c, nil
}

// Send sends b to the worker listening on addr; see [Client.Send]. Sends to
// one address keep their order.
func (t *Transport) Send(ctx context.Context, addr string, b *wire.Batch) error {
	c, err := t.client(addr)
	if err != nil {
		return err
	}
	return c.Send(ctx, b)
}

// Forget closes the client for addr, if any (a peer that left the
// assignment), after draining it as [Client.Shutdown] does.
func (t *Transport) Forget(ctx context.Context, addr string) error {
	t.mu.Lock()
	c, ok := t.mu.clients[addr]
	delete(t.mu.clients, addr)
	t.mu.Unlock()
	if !ok {
		return nil
	}
	if err := c.Shutdown(ctx); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// Shutdown drains and closes every client (each waits, bounded by ctx, for
// its peer to confirm what was sent), then shuts the server down, bounded by
// ctx. Calls after the first return [ErrClosed].
func (t *Transport) Shutdown(ctx context.Context) error {
	return t.shutdown(ctx, false)
}

func (t *Transport) shutdown(ctx context.Context, abort bool) error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.mu.closed = true
	clients := t.mu.clients
	t.mu.clients = nil
	t.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for addr, c := range clients {
		wg.Go(func() {
			if err := c.Shutdown(ctx); err != nil && !errors.Is(err, ErrClosed) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("client %s: %w", addr, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := t.srv.shutdown(ctx, abort); err != nil && !abort {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close closes the transport without waiting for peers to confirm: clients
// flush what is queued, and the server drops what it has not handled.
func (t *Transport) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := t.shutdown(ctx, true)
	if errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}
