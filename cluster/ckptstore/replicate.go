package ckptstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/gale-stream/gale/state"
)

// order returns the peers in the namespace's rendezvous order (highest
// random weight first): the first Replicas of them receive its writes, and
// as long as membership does not change, the same peers keep receiving
// them. Every node computes the same order from the same peers.
func order(ref nsRef, peers []Peer) []Peer {
	type scored struct {
		p     Peer
		score uint64
	}
	sc := make([]scored, 0, len(peers))
	for _, p := range peers {
		sc = append(sc, scored{p, xxhash.Sum64String(ref.topology + "\x00" + ref.namespace + "\x00" + p.ID)})
	}
	slices.SortFunc(sc, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.p.ID, b.p.ID))
	})
	out := make([]Peer, len(sc))
	for i, x := range sc {
		out[i] = x.p
	}
	return out
}

// peerError is a peer's answer other than success.
type peerError struct {
	peer   string
	status int
	msg    string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("node %s: %s (%d %s)", e.peer, e.msg, e.status, http.StatusText(e.status))
}

func (e *peerError) Unwrap() error {
	if e.status == http.StatusNotFound {
		return state.ErrNotFound
	}
	return nil
}

// peerDo sends a replica request to a peer and returns the response of a
// 2xx answer, which the caller closes; any other answer is a *peerError.
// A body with a known size is sent with that Content-Length, and reopened
// by getBody when the transport needs it again.
func (s *Server) peerDo(ctx context.Context, p Peer, method, path string, body io.Reader, size int64, getBody func() (io.ReadCloser, error)) (*http.Response, error) {
	base := strings.TrimRight(p.API, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path+"?"+replicaParam+"=1", body)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", p.ID, err)
	}
	if body != nil {
		req.ContentLength = size
		req.GetBody = getBody
	}
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", p.ID, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg := errorMessage(resp)
	return nil, &peerError{peer: p.ID, status: resp.StatusCode, msg: msg}
}

// peerCall is peerDo for requests whose answer body does not matter.
func (s *Server) peerCall(ctx context.Context, p Peer, method, path string, body io.Reader, size int64, getBody func() (io.ReadCloser, error)) error {
	resp, err := s.peerDo(ctx, p, method, path, body, size, getBody)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// peerJSON GETs a peer's JSON answer into out, within PeerTimeout.
func (s *Server) peerJSON(ctx context.Context, p Peer, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PeerTimeout)
	defer cancel()
	resp, err := s.peerDo(ctx, p, http.MethodGet, path, nil, 0, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxListSize)).Decode(out); err != nil {
		return fmt.Errorf("node %s: bad listing: %w", p.ID, err)
	}
	return nil
}

// replicate runs push on peers in the namespace's rendezvous order until
// min(Replicas, peers) of them acknowledged, moving on to the next peer
// when one fails. It returns the peers that acknowledged, and an error
// wrapping ErrUnavailable when too few did.
func (s *Server) replicate(ctx context.Context, req *request, what string, push func(context.Context, Peer) error) ([]Peer, error) {
	peers := order(req.ns, s.cfg.Peers())
	need := min(s.cfg.Replicas, len(peers))
	if need == 0 {
		return nil, nil
	}
	type result struct {
		p   Peer
		err error
	}
	ch := make(chan result, len(peers))
	next := 0
	launch := func() {
		p := peers[next]
		next++
		go func() { ch <- result{p, push(ctx, p)} }()
	}
	for range need {
		launch()
	}
	var acked []Peer
	var errs []error
	// Every push launched is received before returning, so none outlives
	// the request.
	for inflight := need; inflight > 0; {
		res := <-ch
		inflight--
		if res.err == nil {
			acked = append(acked, res.p)
			s.metrics.replicaWrites.WithLabelValues("ok").Inc()
			continue
		}
		s.metrics.replicaWrites.WithLabelValues("error").Inc()
		errs = append(errs, res.err)
		if ctx.Err() == nil {
			req.log.Warn("ckptstore: replica write failed", "object", what, "peer", res.p.ID, "err", res.err)
		}
		if next < len(peers) && ctx.Err() == nil {
			launch()
			inflight++
		}
	}
	if len(acked) < need {
		return acked, fmt.Errorf("%w: %s of %s replicated to %d of %d nodes: %w", ErrUnavailable, what, req.ns, len(acked), need, errors.Join(errs...))
	}
	return acked, nil
}

// rollback deletes, best effort, what a failed write left locally and on
// the peers that acknowledged it.
func (s *Server) rollback(ctx context.Context, req *request, path string, local func(context.Context) error, acked []Peer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PeerTimeout)
	defer cancel()
	if err := local(ctx); err != nil {
		req.log.Warn("ckptstore: rollback failed", "path", path, "err", err)
	}
	for _, p := range acked {
		if err := s.peerCall(ctx, p, http.MethodDelete, path, nil, 0, nil); err != nil {
			req.log.Warn("ckptstore: rollback failed", "path", path, "peer", p.ID, "err", err)
		}
	}
}

// minTransferRate is the slowest a transfer between nodes may go: a peer
// that accepts a connection and then stalls fails the transfer after
// PeerTimeout plus the time this rate needs for the file, instead of
// holding up a checkpoint forever.
const minTransferRate = 4 << 20 // bytes per second

func (s *Server) transferTimeout(size int64) time.Duration {
	if size < 0 {
		size = s.cfg.MaxFileSize
	}
	return s.cfg.PeerTimeout + time.Duration(size/minTransferRate)*time.Second
}

// pushFile copies the local copy of a file to a peer.
func (s *Server) pushFile(ctx context.Context, req *request, p Peer, name string) error {
	open := func() (io.ReadCloser, error) { return req.st.OpenFile(ctx, name) }
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	size := int64(-1)
	if st, ok := f.(statter); ok {
		if fi, err := st.Stat(); err == nil {
			size = fi.Size()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.transferTimeout(size))
	defer cancel()
	err = s.peerCall(ctx, p, http.MethodPut, filePath(req.ns.topology, req.ns.namespace, name), f, size, open)
	if err == nil && size > 0 {
		s.metrics.replicatedBytes.Add(float64(size))
	}
	return err
}

// replicateFile copies a file just written locally to its replicas; when
// too few acknowledge, it deletes the file everywhere it was written.
func (s *Server) replicateFile(ctx context.Context, req *request, name string) error {
	acked, err := s.replicate(ctx, req, "file "+name, func(ctx context.Context, p Peer) error {
		return s.pushFile(ctx, req, p, name)
	})
	if err != nil {
		s.rollback(ctx, req, filePath(req.ns.topology, req.ns.namespace, name),
			func(ctx context.Context) error { return req.st.DeleteFile(ctx, name) }, acked)
	}
	return err
}

// replicateManifest copies a manifest just written locally to its
// replicas. When the manifest is a state.Manifest, each replica first gets
// the files it references that it lacks (after a membership change, a new
// replica holds none of the older files an incremental checkpoint still
// references), so that a manifest on a node implies its files there. When
// too few acknowledge, it deletes the manifest everywhere it was written:
// a manifest marks a complete checkpoint.
func (s *Server) replicateManifest(ctx context.Context, req *request, id uint64, data []byte) error {
	var m state.Manifest
	var files []state.ManifestFile
	if json.Unmarshal(data, &m) == nil {
		files = m.Files
	}
	path := manifestPath(req.ns.topology, req.ns.namespace, id)
	if err := s.ensureLocalFiles(ctx, req, files); err != nil {
		s.rollback(ctx, req, path, func(ctx context.Context) error { return req.st.DeleteManifest(ctx, id) }, nil)
		return err
	}
	acked, err := s.replicate(ctx, req, fmt.Sprintf("manifest %d", id), func(ctx context.Context, p Peer) error {
		if err := s.ensureFiles(ctx, req, p, files); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, s.transferTimeout(int64(len(data))))
		defer cancel()
		err := s.peerCall(ctx, p, http.MethodPut, path, strings.NewReader(string(data)), int64(len(data)), func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(string(data))), nil
		})
		if err == nil {
			s.metrics.replicatedBytes.Add(float64(len(data)))
		}
		return err
	})
	if err != nil {
		s.rollback(ctx, req, path, func(ctx context.Context) error { return req.st.DeleteManifest(ctx, id) }, acked)
	}
	return err
}

// ensureLocalFiles fetches from peers the files of files this node lacks
// (a worker that moved here writes a manifest referencing files its former
// node wrote).
func (s *Server) ensureLocalFiles(ctx context.Context, req *request, files []state.ManifestFile) error {
	local, err := req.st.ListFiles(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]int64, len(local))
	for _, f := range local {
		have[f.Name] = f.Size
	}
	for _, f := range files {
		if size, ok := have[f.Path]; ok && size == f.Size || checkName("file", f.Path) != nil {
			continue
		}
		if err := s.fetchFile(ctx, req, f.Path); err != nil {
			return fmt.Errorf("file %s of the manifest: %w", f.Path, err)
		}
	}
	return nil
}

// ensureFiles copies to p every file of files that p lacks (or holds with
// another size); ensureLocalFiles made sure this node has them.
func (s *Server) ensureFiles(ctx context.Context, req *request, p Peer, files []state.ManifestFile) error {
	if len(files) == 0 {
		return nil
	}
	var listed []fileEntry
	if err := s.peerJSON(ctx, p, nsPath(req.ns.topology, req.ns.namespace)+"files", &listed); err != nil {
		return err
	}
	have := make(map[string]int64, len(listed))
	for _, f := range listed {
		have[f.Name] = f.Size
	}
	copied := 0
	for _, f := range files {
		if size, ok := have[f.Path]; ok && size == f.Size {
			continue
		}
		if checkName("file", f.Path) != nil {
			continue
		}
		if err := s.pushFile(ctx, req, p, f.Path); err != nil {
			return err
		}
		copied++
	}
	if copied > 0 {
		req.log.Info("ckptstore: gave a replica the files of a manifest it lacked", "peer", p.ID, "files", copied)
	}
	return nil
}

// broadcastDelete sends a delete to every alive peer, not only the
// namespace's replicas: copies may be anywhere the namespace was read or
// replicated before membership changed. It is best effort: a peer that
// misses it keeps a stale copy, which listings may show again until the
// Store's retention deletes it once more.
func (s *Server) broadcastDelete(ctx context.Context, req *request, path string) {
	var wg sync.WaitGroup
	for _, p := range s.cfg.Peers() {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.PeerTimeout)
			defer cancel()
			if err := s.peerCall(ctx, p, http.MethodDelete, path, nil, 0, nil); err != nil {
				req.log.Warn("ckptstore: delete on a peer failed", "path", path, "peer", p.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// unionFiles adds to local what every alive peer holds of the namespace. A
// peer that does not answer fails the listing: what it alone holds could
// be the newest checkpoint.
func (s *Server) unionFiles(ctx context.Context, req *request, local []state.FileInfo) ([]state.FileInfo, error) {
	sizes := make(map[string]int64, len(local))
	for _, f := range local {
		sizes[f.Name] = f.Size
	}
	var mu sync.Mutex
	err := s.eachPeer(ctx, func(ctx context.Context, p Peer) error {
		var listed []fileEntry
		if err := s.peerJSON(ctx, p, nsPath(req.ns.topology, req.ns.namespace)+"files", &listed); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, f := range listed {
			if _, ok := sizes[f.Name]; !ok {
				sizes[f.Name] = f.Size
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: list files of %s: %w", ErrUnavailable, req.ns, err)
	}
	out := make([]state.FileInfo, 0, len(sizes))
	for name, size := range sizes {
		out = append(out, state.FileInfo{Name: name, Size: size})
	}
	slices.SortFunc(out, func(a, b state.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// unionManifests adds to local the manifest ids every alive peer holds.
func (s *Server) unionManifests(ctx context.Context, req *request, local []uint64) ([]uint64, error) {
	ids := slices.Clone(local)
	var mu sync.Mutex
	err := s.eachPeer(ctx, func(ctx context.Context, p Peer) error {
		var listed []uint64
		if err := s.peerJSON(ctx, p, nsPath(req.ns.topology, req.ns.namespace)+"manifests", &listed); err != nil {
			return err
		}
		mu.Lock()
		ids = append(ids, listed...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: list manifests of %s: %w", ErrUnavailable, req.ns, err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// eachPeer runs f on every alive peer concurrently and joins the errors.
func (s *Server) eachPeer(ctx context.Context, f func(context.Context, Peer) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range s.cfg.Peers() {
		wg.Go(func() {
			if err := f(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// openFile opens the local copy of a file, first fetching it from a peer
// when this node has none (a worker that moved here reads what its former
// node wrote). Replica requests see the local copy only.
func (s *Server) openFile(ctx context.Context, req *request, name string) (io.ReadCloser, error) {
	f, err := req.st.OpenFile(ctx, name)
	if err == nil || req.replica || !errors.Is(err, state.ErrNotFound) {
		return f, err
	}
	if err := s.fetchFile(ctx, req, name); err != nil {
		return nil, err
	}
	return req.st.OpenFile(ctx, name)
}

// fetch asks the peers, in the namespace's rendezvous order (its replicas
// first, then everyone), for an object, and calls keep with the first
// copy found. It returns an error wrapping state.ErrNotFound when every
// peer answered that it has none, and ErrUnavailable when some peer could
// not say.
func (s *Server) fetch(ctx context.Context, req *request, path, what string, keep func(*http.Response) error) error {
	var errs []error
	for _, p := range order(req.ns, s.cfg.Peers()) {
		err := func() error {
			// The lookup is bounded; the transfer that follows only by ctx.
			lctx, cancel := context.WithCancel(ctx)
			defer cancel()
			t := time.AfterFunc(s.cfg.PeerTimeout, cancel)
			resp, err := s.peerDo(lctx, p, http.MethodGet, path, nil, 0, nil)
			if !t.Stop() && err == nil {
				resp.Body.Close()
				return fmt.Errorf("node %s: lookup timed out", p.ID)
			}
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			transfer := time.AfterFunc(s.transferTimeout(resp.ContentLength), cancel)
			defer transfer.Stop()
			if err := keep(resp); err != nil {
				return fmt.Errorf("node %s: %w", p.ID, err)
			}
			return nil
		}()
		if err == nil {
			s.metrics.fetches.WithLabelValues("ok").Inc()
			req.log.Debug("ckptstore: fetched from a peer", "object", what, "peer", p.ID)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, state.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		s.metrics.fetches.WithLabelValues("error").Inc()
		return fmt.Errorf("%w: %s of %s is not on this node and some nodes did not answer: %w", ErrUnavailable, what, req.ns, errors.Join(errs...))
	}
	s.metrics.fetches.WithLabelValues("not_found").Inc()
	return fmt.Errorf("ckptstore: %s of %s is on no alive node: %w", what, req.ns, state.ErrNotFound)
}

// fetchFile copies a file from a peer into the local copy, checking its
// length.
func (s *Server) fetchFile(ctx context.Context, req *request, name string) error {
	return s.fetch(ctx, req, filePath(req.ns.topology, req.ns.namespace, name), "file "+name, func(resp *http.Response) error {
		n, err := req.st.PutFile(ctx, name, resp.Body)
		if err != nil {
			return err
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			_ = req.st.DeleteFile(context.WithoutCancel(ctx), name)
			return fmt.Errorf("file %s: got %d bytes of %d", name, n, resp.ContentLength)
		}
		return nil
	})
}

// readManifest returns the local copy of a manifest, first fetching it
// from a peer when this node has none.
func (s *Server) readManifest(ctx context.Context, req *request, id uint64) ([]byte, error) {
	data, err := req.st.GetManifest(ctx, id)
	if err == nil || req.replica || !errors.Is(err, state.ErrNotFound) {
		return data, err
	}
	err = s.fetch(ctx, req, manifestPath(req.ns.topology, req.ns.namespace, id), fmt.Sprintf("manifest %d", id), func(resp *http.Response) error {
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
		if err != nil {
			return err
		}
		if len(b) > MaxManifestSize || resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
			return fmt.Errorf("manifest %d: got %d bytes, announced %d", id, len(b), resp.ContentLength)
		}
		data = b
		return req.st.PutManifest(ctx, id, b)
	})
	return data, err
}
