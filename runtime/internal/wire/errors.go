package wire

import "errors"

var (
	// ErrTruncated means the input ended inside a value, or a declared
	// length (of an array, map, string or binary) exceeds the bytes that
	// remain.
	ErrTruncated = errors.New("wire: truncated input")
	// ErrMalformed means the input is not a valid encoding of the expected
	// message: a wrong msgpack type, an out-of-range number, an unknown kind.
	ErrMalformed = errors.New("wire: malformed input")
	// ErrTooDeep means values are nested more than [MaxDepth] levels.
	ErrTooDeep = errors.New("wire: values nested too deeply")
	// ErrType means a typed accessor of [RawValues] found a value of
	// another type, or no value at that index.
	ErrType = errors.New("wire: value has another type")
	// ErrUnsupported means a value could not be encoded, even by the msgpack
	// fallback (a channel or a function, for example).
	ErrUnsupported = errors.New("wire: unsupported value")
)
