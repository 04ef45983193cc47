package binstore

import "errors"

var (
	// ErrNotFound means the store holds no binary with that hash.
	ErrNotFound = errors.New("binstore: binary not found")
	// ErrHashMismatch means content does not hash to the expected sha256.
	ErrHashMismatch = errors.New("binstore: sha256 mismatch")
	// ErrNotExecutable means the file is not an executable for this
	// platform.
	ErrNotExecutable = errors.New("binstore: not an executable for this platform")
	// ErrNotTopology means the binary did not print a valid topology spec.
	ErrNotTopology = errors.New("binstore: not a gale topology binary")
	// ErrTooLarge means the binary exceeds the size limit.
	ErrTooLarge = errors.New("binstore: binary too large")
	// ErrBadSignature means a signature is missing or does not verify
	// against the trusted key.
	ErrBadSignature = errors.New("binstore: missing or invalid signature")
)
