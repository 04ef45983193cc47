package kafkaspout

import (
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Decoder turns a record's key or value bytes into the tuple value. b is a
// private copy that the spout never modifies, so the result may refer to it.
// A decoder may be called again for the same record when it is replayed. A
// returned error counts as a failure of the record (see [FailurePolicy]).
type Decoder func(b []byte) (any, error)

// Bytes keeps the bytes as they are ([]byte). It is the default.
func Bytes(b []byte) (any, error) { return b, nil }

// String converts the bytes to a string.
func String(b []byte) (any, error) { return string(b), nil }

// JSON decodes a JSON document into the generic Go form (map[string]any,
// []any, float64, string, bool or nil). An empty or nil payload decodes to nil.
func JSON(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("kafkaspout: decode JSON: %w", err)
	}
	return v, nil
}

// Msgpack decodes a msgpack document into the generic Go form. An empty or
// nil payload decodes to nil.
func Msgpack(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("kafkaspout: decode msgpack: %w", err)
	}
	return v, nil
}
