package cluster

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"
)

// MetaMaxSize is the largest encoded [NodeMeta]: memberlist's limit.
const MetaMaxSize = memberlist.MetaMaxSize

// NodeMeta is what a node publishes about itself through gossip.
type NodeMeta struct {
	// ID is the node id, equal to its memberlist name.
	ID string
	// APIAddr is the host:port of the node's HTTP API, or empty.
	APIAddr string
	// DataAddr is the host:port workers on other nodes connect to, or empty.
	DataAddr string
	// Slots is the number of workers the node runs when capacity suffices.
	Slots int
	// Version is the gale version the node runs.
	Version string
	// StartedAt is when the node started; the oldest alive node coordinates.
	// It travels with nanosecond precision and no location.
	StartedAt time.Time
}

// wireMeta is NodeMeta on the wire: a msgpack map with short keys, so an
// older node skips fields a newer one adds.
type wireMeta struct {
	ID        string `msgpack:"i"`
	APIAddr   string `msgpack:"a,omitempty"`
	DataAddr  string `msgpack:"d,omitempty"`
	Slots     int    `msgpack:"s"`
	Version   string `msgpack:"v,omitempty"`
	StartedAt int64  `msgpack:"t"` // unix nanoseconds
}

// EncodeNodeMeta encodes m. It fails if the encoding is longer than
// [MetaMaxSize] or m is not valid (empty id, negative slots).
func EncodeNodeMeta(m NodeMeta) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	b, err := msgpack.Marshal(wireMeta{
		ID: m.ID, APIAddr: m.APIAddr, DataAddr: m.DataAddr,
		Slots: m.Slots, Version: m.Version, StartedAt: m.StartedAt.UnixNano(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrBadMeta, err)
	}
	if len(b) > MetaMaxSize {
		return nil, fmt.Errorf("%w: node %q: %d bytes encoded, limit %d", ErrBadMeta, m.ID, len(b), MetaMaxSize)
	}
	return b, nil
}

// DecodeNodeMeta decodes metadata encoded by [EncodeNodeMeta]. It never
// panics; input longer than [MetaMaxSize] is refused before decoding, and
// every error wraps [ErrBadMeta].
func DecodeNodeMeta(b []byte) (NodeMeta, error) {
	if len(b) > MetaMaxSize {
		return NodeMeta{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadMeta, len(b), MetaMaxSize)
	}
	var w wireMeta
	if err := unmarshal(b, &w); err != nil {
		return NodeMeta{}, fmt.Errorf("%w: %v", ErrBadMeta, err)
	}
	m := NodeMeta{
		ID: w.ID, APIAddr: w.APIAddr, DataAddr: w.DataAddr,
		Slots: w.Slots, Version: w.Version, StartedAt: time.Unix(0, w.StartedAt).UTC(),
	}
	if err := m.validate(); err != nil {
		return NodeMeta{}, err
	}
	return m, nil
}

func (m NodeMeta) validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: empty node id", ErrBadMeta)
	case m.Slots < 0:
		return fmt.Errorf("%w: node %q: %d slots", ErrBadMeta, m.ID, m.Slots)
	}
	return nil
}
