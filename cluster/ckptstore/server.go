package ckptstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/state"
)

// DefaultReplicas is how many other nodes receive every checkpoint object
// by default.
const DefaultReplicas = 2

// DefaultPeerTimeout bounds one listing or lookup on a peer.
const DefaultPeerTimeout = 10 * time.Second

// DefaultPruneAfter is the default of Config.PruneAfter.
const DefaultPruneAfter = 10 * time.Minute

// Peer is another node of the cluster, as the server sees it.
type Peer struct {
	// ID is the node id.
	ID string
	// API is the node's API: a URL or a bare host:port.
	API string
}

// Config configures a [Server]. Zero fields take the defaults in their
// comments.
type Config struct {
	// Dir is where the node keeps its copies: Dir/TOPOLOGY/NAMESPACE is a
	// state.DirStorage. Required.
	Dir string
	// Self is this node's id, for logs. Default: "".
	Self string
	// Peers returns the alive nodes other than this one that have an API.
	// It is called on every operation, so it must be cheap and safe for
	// concurrent use. Default: none (no replication).
	Peers func() []Peer
	// Replicas is how many other nodes must hold a copy of every file and
	// manifest written through this node before the write succeeds (capped
	// at the number of alive peers). Default: DefaultReplicas (2); negative
	// means none.
	Replicas int
	// Token is the cluster's API token, shown to peers. Default: none.
	Token string
	// HTTPClient talks to peers. Default: a client without an overall
	// timeout (transfers are bounded by their contexts).
	HTTPClient *http.Client
	// MaxFileSize bounds a stored file. Default: DefaultMaxFileSize (1 GiB).
	MaxFileSize int64
	// PeerTimeout bounds one listing or lookup on one peer. Default: 10s.
	PeerTimeout time.Duration
	// PruneAfter is how long a namespace of a dead submission must have
	// gone unwritten before [Server.Prune] deletes it. Default:
	// DefaultPruneAfter (10 minutes).
	PruneAfter time.Duration
	// Logger receives the server's logs. Default: slog.Default().
	Logger *slog.Logger
	// Registerer registers the server's metrics. Default: none.
	Registerer prometheus.Registerer
}

// Server is the node side of replicated checkpoint storage: it keeps a copy
// of every namespace written through it or replicated to it, replicates
// writes to peers, and finds what it lacks on them. Serve it under
// [PathPrefix] behind the API's authentication; its methods are safe for
// concurrent use.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
}

// New returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("ckptstore: Dir is required")
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = DefaultReplicas
	}
	cfg.Replicas = max(cfg.Replicas, 0)
	if cfg.Peers == nil {
		cfg.Peers = func() []Peer { return nil }
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.MaxFileSize = cmp.Or(cfg.MaxFileSize, DefaultMaxFileSize)
	cfg.PeerTimeout = cmp.Or(cfg.PeerTimeout, DefaultPeerTimeout)
	cfg.PruneAfter = cmp.Or(cfg.PruneAfter, DefaultPruneAfter)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, metrics: m, mux: http.NewServeMux()}
	ns := PathPrefix + "{topology}/{namespace}/"
	s.mux.HandleFunc("PUT "+ns+"files/{name...}", s.putFile)
	s.mux.HandleFunc("GET "+ns+"files/{name...}", s.getFile)
	s.mux.HandleFunc("DELETE "+ns+"files/{name...}", s.deleteFile)
	s.mux.HandleFunc("GET "+ns+"files", s.listFiles)
	s.mux.HandleFunc("PUT "+ns+"manifests/{id}", s.putManifest)
	s.mux.HandleFunc("GET "+ns+"manifests/{id}", s.getManifest)
	s.mux.HandleFunc("DELETE "+ns+"manifests/{id}", s.deleteManifest)
	s.mux.HandleFunc("GET "+ns+"manifests", s.listManifests)
	s.mux.HandleFunc(PathPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	return s, nil
}

// ServeHTTP serves the checkpoint endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// nsRef names a namespace of a topology.
type nsRef struct{ topology, namespace string }

func (n nsRef) String() string { return n.topology + "/" + n.namespace }

// request is what every handler starts from.
type request struct {
	ns      nsRef
	replica bool // from a peer: local copy only
	st      *localNS
	log     *slog.Logger
}

// begin parses and checks the topology, namespace and replica flag. It answers the request itself and
// returns false when something is wrong.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) (*request, bool) {
	ref := nsRef{r.PathValue("topology"), r.PathValue("namespace")}
	if err := checkTopology(ref.topology); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if err := checkNamespace(ref.namespace); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	replica := r.URL.Query().Get(replicaParam) == "1"
	if replica && workerOnly(r.Context()) {
		writeError(w, http.StatusForbidden, "replica operations are for nodes: use the cluster token")
		return nil, false
	}
	return &request{ns: ref, replica: replica, st: newLocalNS(s.cfg.Dir, ref),
		log: s.logger.With("topology", ref.topology, "namespace", ref.namespace)}, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// storageError answers an error of the storage or of replication.
func storageError(w http.ResponseWriter, err error) {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mb.Limit))
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrRefused):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := checkName("file", name); err != nil {
		storageError(w, err)
		return
	}
	if r.ContentLength > s.cfg.MaxFileSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("file of %d bytes: the limit is %d", r.ContentLength, s.cfg.MaxFileSize))
		return
	}
	ctx := r.Context()
	n, err := req.st.PutFile(ctx, name, http.MaxBytesReader(w, r.Body, s.cfg.MaxFileSize))
	if err != nil {
		storageError(w, err)
		return
	}
	if r.ContentLength >= 0 && n != r.ContentLength {
		_ = req.st.DeleteFile(context.WithoutCancel(ctx), name)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("file %s: got %d bytes, Content-Length said %d", name, n, r.ContentLength))
		return
	}
	if !req.replica {
		if err := s.replicateFile(ctx, req, name); err != nil {
			storageError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, putResult{Size: n})
}

// statter is what *os.File has, to announce a download's length.
type statter interface{ Stat() (fs.FileInfo, error) }

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := checkName("file", name); err != nil {
		storageError(w, err)
		return
	}
	f, err := s.openFile(r.Context(), req, name)
	if err != nil {
		storageError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if st, ok := f.(statter); ok {
		if fi, err := st.Stat(); err == nil {
			w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		}
	}
	_, _ = io.Copy(w, f)
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := checkName("file", name); err != nil {
		storageError(w, err)
		return
	}
	if err := req.st.DeleteFile(r.Context(), name); err != nil {
		storageError(w, err)
		return
	}
	if !req.replica {
		s.broadcastDelete(r.Context(), req, filePath(req.ns.topology, req.ns.namespace, name))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	files, err := req.st.ListFiles(r.Context())
	if err != nil {
		storageError(w, err)
		return
	}
	if !req.replica {
		if files, err = s.unionFiles(r.Context(), req, files); err != nil {
			storageError(w, err)
			return
		}
	}
	out := make([]fileEntry, 0, len(files))
	for _, f := range files {
		out = append(out, fileEntry{Name: f.Name, Size: f.Size})
	}
	writeJSON(w, http.StatusOK, out)
}

func parseID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("manifest id %q: want an unsigned integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	id, ok := parseID(w, r)
	if !ok {
		return
	}
	if r.ContentLength > MaxManifestSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("manifest of %d bytes: the limit is %d", r.ContentLength, MaxManifestSize))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxManifestSize))
	if err != nil {
		storageError(w, err)
		return
	}
	ctx := r.Context()
	if err := req.st.PutManifest(ctx, id, data); err != nil {
		storageError(w, err)
		return
	}
	if !req.replica {
		if err := s.replicateManifest(ctx, req, id, data); err != nil {
			storageError(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	id, ok := parseID(w, r)
	if !ok {
		return
	}
	data, err := s.readManifest(r.Context(), req, id)
	if err != nil {
		storageError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	id, ok := parseID(w, r)
	if !ok {
		return
	}
	if err := req.st.DeleteManifest(r.Context(), id); err != nil {
		storageError(w, err)
		return
	}
	if !req.replica {
		s.broadcastDelete(r.Context(), req, manifestPath(req.ns.topology, req.ns.namespace, id))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listManifests(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	ids, err := req.st.ListManifests(r.Context())
	if err != nil {
		storageError(w, err)
		return
	}
	if !req.replica {
		if ids, err = s.unionManifests(r.Context(), req, ids); err != nil {
			storageError(w, err)
			return
		}
	}
	if ids == nil {
		ids = []uint64{}
	}
	writeJSON(w, http.StatusOK, ids)
}
