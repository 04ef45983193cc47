package ckptstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// EnvNodeAPI is the environment variable through which a node tells its
// workers the URL of its API (on loopback), where their checkpoint storage
// lives.
const EnvNodeAPI = "GALE_NODE_API"

// PathPrefix is where the checkpoint endpoints live on a node's API.
const PathPrefix = "/v1/checkpoints/"

// Limits of request bodies; [Config.MaxFileSize] defaults to
// DefaultMaxFileSize.
const (
	DefaultMaxFileSize = 1 << 30
	MaxManifestSize    = 16 << 20
	// maxListSize bounds a peer's listing read into memory.
	maxListSize = 64 << 20
)

// replicaParam marks a request from a peer node: operate on the local copy
// only, without replicating again or asking other nodes.
const replicaParam = "replica"

// fileEntry is one element of the JSON list of GET .../files.
type fileEntry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type putResult struct {
	Size int64 `json:"size"`
}

type errorBody struct {
	Error string `json:"error"`
}

// nsPath is the path of a namespace's endpoints, ending in a slash.
func nsPath(topology, namespace string) string {
	return PathPrefix + url.PathEscape(topology) + "/" + url.PathEscape(namespace) + "/"
}

// filePath is the path of a stored file: each element of the
// slash-separated name is escaped on its own.
func filePath(topology, namespace, name string) string {
	els := strings.Split(name, "/")
	for i, el := range els {
		els[i] = url.PathEscape(el)
	}
	return nsPath(topology, namespace) + "files/" + strings.Join(els, "/")
}

func manifestPath(topology, namespace string, id uint64) string {
	return nsPath(topology, namespace) + "manifests/" + strconv.FormatUint(id, 10)
}

// checkName applies state.DirStorage's rules for names (slash-separated
// elements of letters, digits, '.', '_' and '-', none "." or "..", at most
// 512 bytes) so that a bad name is refused before anything is read or sent;
// DirStorage checks again before it touches the disk.
func checkName(kind, name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: invalid %s name %q", ErrRefused, kind, name)
	}
	for el := range strings.SplitSeq(name, "/") {
		if !safeElement(el) {
			return fmt.Errorf("%w: invalid %s name %q", ErrRefused, kind, name)
		}
	}
	return nil
}

// checkNamespace accepts the names state.DirSpace accepts for namespaces:
// one element of a file name.
func checkNamespace(name string) error {
	if !safeElement(name) || len(name) > 512 {
		return fmt.Errorf("%w: invalid checkpoint namespace %q", ErrRefused, name)
	}
	return nil
}

func safeElement(el string) bool {
	if el == "" || el == "." || el == ".." {
		return false
	}
	for _, c := range el {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkTopology accepts the names topology.Builder accepts (no '/', '\\',
// ':', white space or control characters, at most 128 bytes), except "."
// and "..".
func checkTopology(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 128 || strings.ContainsAny(name, "/\\:") {
		return fmt.Errorf("%w: invalid topology name %q", ErrRefused, name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: invalid topology name %q", ErrRefused, name)
		}
	}
	return nil
}

// topologyDir is the directory a topology's checkpoints live in: its name
// when that is a safe file name, else "~" and the name in hex ('~' is not a
// safe character, so the two forms cannot collide).
func topologyDir(name string) string {
	if safeElement(name) {
		return name
	}
	return "~" + hex.EncodeToString([]byte(name))
}

type accessKey struct{}

// RestrictToWorker marks a request context as coming from a worker (it
// showed its topology's worker token, not the cluster token): the server
// refuses it the replica operations, which skip replication.
func RestrictToWorker(ctx context.Context) context.Context {
	return context.WithValue(ctx, accessKey{}, true)
}

func workerOnly(ctx context.Context) bool {
	v, _ := ctx.Value(accessKey{}).(bool)
	return v
}

// errorMessage reads the reason from an error response: the error field of
// its JSON body, or the body's text.
func errorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		return eb.Error
	}
	return strings.TrimSpace(string(b))
}
