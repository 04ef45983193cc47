package ckptstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gale-stream/gale/state"
)

// Space is the checkpoint space of one topology, stored by a node (the
// worker's own, on loopback) that replicates it to its peers. Create it
// with [NewSpace].
type Space struct {
	base     string
	token    string
	topology string
	hc       *http.Client
	// incarnation, when set, prefixes every namespace: INCARNATION.NAME.
	incarnation string
}

var _ state.CheckpointSpace = (*Space)(nil)

// NewSpace returns the checkpoint space of topology on the node whose API
// is at apiURL (a URL, or a bare host:port), authenticating with token (the
// cluster token, or the worker token of the topology's assignment; none
// when empty). A nil httpClient means one without an overall timeout:
// every call is bounded by its context.
func NewSpace(apiURL, token, topology string, httpClient *http.Client) *Space {
	base := strings.TrimRight(apiURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &Space{base: base, token: token, topology: topology, hc: httpClient}
}

// Namespace returns the storage of one namespace. It does not talk to the
// node: a namespace exists once something is written to it.
func (s *Space) Namespace(_ context.Context, name string) (state.CheckpointStorage, error) {
	if err := checkTopology(s.topology); err != nil {
		return nil, err
	}
	if s.incarnation != "" {
		if strings.Contains(s.incarnation, ".") {
			return nil, fmt.Errorf("%w: invalid incarnation %q", ErrRefused, s.incarnation)
		}
		name = s.incarnation + "." + name
	}
	if err := checkNamespace(name); err != nil {
		return nil, err
	}
	return &Storage{sp: s, ns: name}, nil
}

// WithIncarnation returns the space of one submission of the topology
// (cluster.TopologyInfo.Incarnation): its namespaces are stored as
// INCARNATION.NAME, apart from other submissions' under the same name, and
// [Server.Prune] deletes them once the submission is dead. inc must be
// letters and digits.
func (s *Space) WithIncarnation(inc string) *Space {
	c := *s
	c.incarnation = inc
	return &c
}

// Storage is one namespace of a [Space]: a state.CheckpointStorage over the
// node's HTTP API. Its methods are safe for concurrent use. Errors wrap
// state.ErrNotFound for a missing object, and ErrUnreachable,
// ErrUnauthorized, ErrRefused or ErrUnavailable, naming the node.
type Storage struct {
	sp *Space
	ns string
}

var _ state.CheckpointStorage = (*Storage)(nil)

// do sends a request and returns the response of a 2xx answer, which the
// caller closes.
func (st *Storage) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, st.sp.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("ckptstore: %w", err)
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if st.sp.token != "" {
		req.Header.Set("Authorization", "Bearer "+st.sp.token)
	}
	resp, err := st.sp.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, st.sp.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg := errorMessage(resp)
	var kind error
	switch resp.StatusCode {
	case http.StatusNotFound:
		kind = state.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		kind = ErrUnauthorized
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		kind = ErrRefused
	case http.StatusServiceUnavailable:
		kind = ErrUnavailable
	default:
		kind = errors.New("ckptstore: node error")
	}
	return nil, fmt.Errorf("%w: node %s answered %d: %s", kind, st.sp.base, resp.StatusCode, msg)
}

func (st *Storage) object(kind, name string) string {
	return fmt.Sprintf("%s %s of %s/%s", kind, name, st.sp.topology, st.ns)
}

// PutFile implements state.CheckpointStorage, streaming r to the node; it
// returns once the node and its replicas hold the file.
func (st *Storage) PutFile(ctx context.Context, name string, r io.Reader) (int64, error) {
	if err := checkName("file", name); err != nil {
		return 0, err
	}
	resp, err := st.do(ctx, http.MethodPut, filePath(st.sp.topology, st.ns, name), readerOnly{r}, -1)
	if err != nil {
		return 0, fmt.Errorf("ckptstore: put %s: %w", st.object("file", name), err)
	}
	defer resp.Body.Close()
	var res putResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, fmt.Errorf("ckptstore: put %s: bad answer from %s: %w", st.object("file", name), st.sp.base, err)
	}
	return res.Size, nil
}

// readerOnly hides a reader's other methods (WriterTo, a Len), so the
// transport streams exactly what Read yields.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// OpenFile implements state.CheckpointStorage; the body streams from the
// node, which fetches the file from a peer first when it lacks it.
func (st *Storage) OpenFile(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName("file", name); err != nil {
		return nil, err
	}
	resp, err := st.do(ctx, http.MethodGet, filePath(st.sp.topology, st.ns, name), nil, 0)
	if err != nil {
		return nil, fmt.Errorf("ckptstore: open %s: %w", st.object("file", name), err)
	}
	return resp.Body, nil
}

// ListFiles implements state.CheckpointStorage: what every alive node holds
// of the namespace.
func (st *Storage) ListFiles(ctx context.Context) ([]state.FileInfo, error) {
	var listed []fileEntry
	if err := st.getJSON(ctx, nsPath(st.sp.topology, st.ns)+"files", &listed); err != nil {
		return nil, fmt.Errorf("ckptstore: list files of %s/%s: %w", st.sp.topology, st.ns, err)
	}
	out := make([]state.FileInfo, 0, len(listed))
	for _, f := range listed {
		out = append(out, state.FileInfo{Name: f.Name, Size: f.Size})
	}
	return out, nil
}

func (st *Storage) getJSON(ctx context.Context, path string, out any) error {
	resp, err := st.do(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxListSize)).Decode(out); err != nil {
		return fmt.Errorf("bad answer from %s: %w", st.sp.base, err)
	}
	return nil
}

// DeleteFile implements state.CheckpointStorage.
func (st *Storage) DeleteFile(ctx context.Context, name string) error {
	if err := checkName("file", name); err != nil {
		return err
	}
	resp, err := st.do(ctx, http.MethodDelete, filePath(st.sp.topology, st.ns, name), nil, 0)
	if err != nil {
		return fmt.Errorf("ckptstore: delete %s: %w", st.object("file", name), err)
	}
	return resp.Body.Close()
}

// PutManifest implements state.CheckpointStorage; it returns once the node
// and its replicas hold the manifest.
func (st *Storage) PutManifest(ctx context.Context, id uint64, data []byte) error {
	resp, err := st.do(ctx, http.MethodPut, manifestPath(st.sp.topology, st.ns, id), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("ckptstore: put %s: %w", st.object("manifest", fmt.Sprint(id)), err)
	}
	return resp.Body.Close()
}

// GetManifest implements state.CheckpointStorage.
func (st *Storage) GetManifest(ctx context.Context, id uint64) ([]byte, error) {
	resp, err := st.do(ctx, http.MethodGet, manifestPath(st.sp.topology, st.ns, id), nil, 0)
	if err != nil {
		return nil, fmt.Errorf("ckptstore: get %s: %w", st.object("manifest", fmt.Sprint(id)), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err == nil && len(b) > MaxManifestSize {
		err = fmt.Errorf("larger than %d bytes", MaxManifestSize)
	}
	if err != nil {
		return nil, fmt.Errorf("ckptstore: get %s from %s: %w", st.object("manifest", fmt.Sprint(id)), st.sp.base, err)
	}
	return b, nil
}

// ListManifests implements state.CheckpointStorage: the ids every alive
// node holds, ascending.
func (st *Storage) ListManifests(ctx context.Context) ([]uint64, error) {
	var ids []uint64
	if err := st.getJSON(ctx, nsPath(st.sp.topology, st.ns)+"manifests", &ids); err != nil {
		return nil, fmt.Errorf("ckptstore: list manifests of %s/%s: %w", st.sp.topology, st.ns, err)
	}
	return ids, nil
}

// DeleteManifest implements state.CheckpointStorage.
func (st *Storage) DeleteManifest(ctx context.Context, id uint64) error {
	resp, err := st.do(ctx, http.MethodDelete, manifestPath(st.sp.topology, st.ns, id), nil, 0)
	if err != nil {
		return fmt.Errorf("ckptstore: delete %s: %w", st.object("manifest", fmt.Sprint(id)), err)
	}
	return resp.Body.Close()
}
