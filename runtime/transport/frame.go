package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// Framing: each frame is a 4-byte big-endian payload length followed by the
// payload, a wire frame (kind byte and msgpack body). A fixed-width length
// lets the sender patch it in after encoding in place, and lets the
// receiver check it against the limit with one read.
const headerSize = 4

// handshakeFrameLimit bounds the first frame of a connection, read before
// the peer is authenticated, so an unknown peer cannot make the server
// allocate MaxFrameSize.
const handshakeFrameLimit = 4 << 10

// directAlloc is the largest payload allocated in one go; larger ones grow
// as their bytes arrive, so a peer that announces a large frame and stalls
// holds little memory.
const directAlloc = 1 << 20

// frameReader reads frames from a stream.
type frameReader struct {
	r   io.Reader
	hdr [headerSize]byte
}

// buffered returns how many bytes the reader holds already read from the
// connection, or 0 if it does not buffer.
func (fr *frameReader) buffered() int {
	if br, ok := fr.r.(*bufio.Reader); ok {
		return br.Buffered()
	}
	return 0
}

// next returns the next frame's payload in a new buffer, which the caller
// owns. It returns io.EOF at a clean end of stream (between frames),
// io.ErrUnexpectedEOF inside one, [ErrFrameTooLarge] for a length above
// limit and [ErrProtocol] for an empty frame.
func (fr *frameReader) next(limit int) ([]byte, error) {
	size, err := fr.header(limit)
	if err != nil {
		return nil, err
	}
	return fr.payload(size, nil)
}

// header reads the next frame's header and returns its payload length,
// checked against limit; see next for the errors.
func (fr *frameReader) header(limit int) (int, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if n == 0 {
		return 0, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	if uint64(n) > uint64(limit) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	return int(n), nil
}

// payload reads a payload of size bytes (from header) into buf if it has
// the capacity, else into a new buffer.
func (fr *frameReader) payload(size int, buf []byte) ([]byte, error) {
	if size <= directAlloc {
		if cap(buf) < size {
			buf = wire.MakeNoZero(size) // ReadFull overwrites it all
		}
		buf = buf[:size]
		if _, err := io.ReadFull(fr.r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	buf = make([]byte, 0, directAlloc)
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), size-len(buf)))...)[:len(buf)]
		}
		m, err := fr.r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < size {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// beginFrame returns buf with room for a frame header; finishFrame fills the
// header in once the payload has been appended.
func beginFrame(buf []byte) []byte { return append(buf[:0], 0, 0, 0, 0) }

func finishFrame(buf []byte) []byte {
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-headerSize))
	return buf
}
