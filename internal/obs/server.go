package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is an HTTP server for [NewHandler]'s routes on its own listener.
// Start one with [Listen]; it is safe for concurrent use.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	err  error // set before done is closed

	closeOnce sync.Once
}

// Listen binds addr ("127.0.0.1:0" picks a free port; read it back with
// [Server.Addr]) and serves h on it until [Server.Shutdown] or
// [Server.Close]. A nil logger means slog.Default(); it receives a serve
// error that is not a shutdown.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("obs: listen %s: %w", addr, err)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "addr", ln.Addr().String(), "err", err)
			s.err = err
		}
	}()
	return s, nil
}

// ListenSelf is [Listen] for a process that runs its topology itself
// (`gale dev`, the examples): it serves g on /metrics and, on the discovery
// endpoint, lists its own bound address with the node and topology labels
// (either may be empty).
func ListenSelf(addr string, g prometheus.Gatherer, node, topology string, logger *slog.Logger) (*Server, error) {
	var self atomic.Pointer[func() []Target]
	h := NewHandler(g, func() []Target {
		if f := self.Load(); f != nil {
			return (*f)()
		}
		return nil
	})
	s, err := Listen(addr, h, logger)
	if err != nil {
		return nil, err
	}
	f := Self(s.Addr(), node, topology)
	self.Store(&f)
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the http:// URL of path on the server.
func (s *Server) URL(path string) string { return "http://" + s.Addr() + path }

// Shutdown stops accepting, waits for open requests until ctx ends, and
// returns once the serving goroutine has exited. It may be called more than
// once.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return errors.Join(err, s.err)
}

// Close stops the server at once, dropping open requests.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.srv.Close() })
	<-s.done
	return errors.Join(err, s.err)
}
