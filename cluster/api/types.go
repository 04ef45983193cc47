package api

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Headers of a submission.
const (
	HeaderSHA256    = "X-Gale-Sha256"
	HeaderSignature = "X-Gale-Signature"
)

var (
	// ErrUnauthorized is a 401: the token is missing or wrong.
	ErrUnauthorized = errors.New("api: unauthorized (wrong or missing token)")
	// ErrNotFound is a 404: for example an unknown topology.
	ErrNotFound = errors.New("api: not found")
	// ErrConflict is a 409: a topology of that name is already running.
	ErrConflict = errors.New("api: conflict")
	// ErrBadRequest is a 400 or 422: the request or the binary was refused.
	ErrBadRequest = errors.New("api: bad request")
	// ErrUnreachable means the node could not be reached.
	ErrUnreachable = errors.New("api: node unreachable")
)

// Error is an error response of the API.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's explanation.
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, http.StatusText(e.Status))
}

// Unwrap maps the status to a sentinel, for errors.Is.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		return ErrBadRequest
	}
	return nil
}

type errorBody struct {
	Error string `json:"error"`
}

// Topology summarizes a submitted topology.
type Topology struct {
	Name         string      `json:"name"`
	BinarySHA256 string      `json:"binary_sha256"`
	Workers      int         `json:"workers"`
	Version      uint64      `json:"version"`
	UpdatedBy    string      `json:"updated_by"`
	Components   []Component `json:"components"`
	// Placed is how many of its workers the current assignment places.
	Placed int `json:"placed"`
}

// Component is a component of a topology.
type Component struct {
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
}

// Status is the status of one topology.
type Status struct {
	Topology
	// Epoch is the assignment epoch the status was read under.
	Epoch uint64 `json:"epoch"`
	// Assigned lists the workers, by index.
	Assigned []Worker `json:"assigned"`
}

// Worker is one worker of a topology: where it is placed and, when its node
// answered, its process.
type Worker struct {
	Index int    `json:"index"`
	Node  string `json:"node"`
	// Since is the worker's fencing token.
	Since uint64 `json:"since"`
	// Tasks is how many tasks it runs.
	Tasks int `json:"tasks"`
	// Process is the state of its process on its node (with its figures
	// when asked for), or nil if the node did not answer.
	Process *WorkerInfo `json:"process,omitempty"`
	// Error says why Process is missing.
	Error string `json:"error,omitempty"`
}

// Member is a cluster member.
type Member struct {
	ID         string    `json:"id"`
	GossipAddr string    `json:"gossip_addr"`
	State      string    `json:"state"`
	APIAddr    string    `json:"api_addr,omitempty"`
	DataAddr   string    `json:"data_addr,omitempty"`
	Slots      int       `json:"slots"`
	Version    string    `json:"version,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	// Coordinator marks the member that coordinates.
	Coordinator bool `json:"coordinator,omitempty"`
}

// Members is the answer of GET /v1/members.
type Members struct {
	// Self is the id of the node that answered.
	Self    string   `json:"self"`
	Epoch   uint64   `json:"epoch"`
	Members []Member `json:"members"`
}

func hexSum(b [32]byte) string { return hex.EncodeToString(b[:]) }
