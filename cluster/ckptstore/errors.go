package ckptstore

import "errors"

var (
	// ErrUnavailable is returned when too few nodes could be reached: a
	// write that could not be replicated to every replica it needs, or a
	// read or listing that some alive node did not answer. The operation
	// can be retried once membership has settled.
	ErrUnavailable = errors.New("ckptstore: replicas unavailable")

	// ErrUnauthorized is returned by the client when the node refused its
	// token (401) or the operation (403).
	ErrUnauthorized = errors.New("ckptstore: unauthorized")

	// ErrUnreachable is returned by the client when the node's API could
	// not be reached.
	ErrUnreachable = errors.New("ckptstore: node unreachable")

	// ErrRefused is returned by the client when the node refused a request
	// as malformed or too large (400, 413).
	ErrRefused = errors.New("ckptstore: request refused")
)
