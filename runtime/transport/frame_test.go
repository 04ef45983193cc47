package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// splitReader returns its data in chunks whose sizes cycle through sizes,
// as a TCP stream may.
type splitReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])%17 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// readAll reads frames until an error, returning the payloads and the error.
func readAll(r io.Reader, limit int) ([][]byte, error) {
	fr := &frameReader{r: r}
	var out [][]byte
	for {
		b, err := fr.next(limit)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

func seedStream(tb testing.TB) []byte {
	var s []byte
	for _, f := range []*wire.Frame{
		{Kind: wire.KindHello, Hello: wire.Hello{Topology: "t", Worker: 1}},
		{Kind: wire.KindCredit, Credit: wire.Credit{N: 8}},
		{Kind: wire.KindBatch, Batch: *tupleBatch(1, 3)},
	} {
		b, err := wire.AppendFrame(beginFrame(nil), f)
		if err != nil {
			tb.Fatal(err)
		}
		s = append(s, finishFrame(b)...)
	}
	return s
}

// FuzzFrameReader reads a stream of frames whole and split at arbitrary
// points: both must give the same frames and the same kind of error, never
// panic, and never return a frame above the limit. Frames that decode must
// round-trip through the wire codec.
func FuzzFrameReader(f *testing.F) {
	s := seedStream(f)
	f.Add(s, []byte{1, 2, 3})
	f.Add(s[:len(s)-3], []byte{5})
	f.Add(append(lengthHeader(0xffffffff), 1, 2), []byte{1})
	f.Add(append(lengthHeader(0), s...), []byte{0})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		const limit = 1 << 12
		whole, errWhole := readAll(bytes.NewReader(data), limit)
		split, errSplit := readAll(&splitReader{data: data, sizes: splits}, limit)
		if len(whole) != len(split) {
			t.Fatalf("%d frames whole, %d split", len(whole), len(split))
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("frame %d differs when split", i)
			}
			if len(whole[i]) > limit || len(whole[i]) == 0 {
				t.Fatalf("frame %d of %d bytes passed limit %d", i, len(whole[i]), limit)
			}
			var fr wire.Frame
			if err := wire.DecodeFrame(whole[i], &fr); err == nil {
				b, err := wire.AppendFrame(nil, &fr)
				if err != nil {
					t.Fatalf("re-encode: %v", err)
				}
				var again wire.Frame
				if err := wire.DecodeFrame(b, &again); err != nil {
					t.Fatalf("decode re-encoded frame: %v", err)
				}
			}
		}
		for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, ErrFrameTooLarge, ErrProtocol} {
			if errors.Is(errWhole, target) != errors.Is(errSplit, target) {
				t.Fatalf("errors differ: whole %v, split %v", errWhole, errSplit)
			}
		}
	})
}

func TestFrameReaderLarge(t *testing.T) {
	// A frame above directAlloc is read incrementally and must arrive whole.
	payload := bytes.Repeat([]byte{0xab}, 3*directAlloc+5)
	stream := append(lengthHeader(uint32(len(payload))), payload...)
	got, err := readAll(&splitReader{data: stream, sizes: []byte{200}}, 4*directAlloc)
	if !errors.Is(err, io.EOF) || len(got) != 1 || !bytes.Equal(got[0], payload) {
		t.Fatalf("got %d frames, err %v", len(got), err)
	}
	// A stream that ends inside the large frame.
	got, err = readAll(bytes.NewReader(stream[:len(stream)-1]), 4*directAlloc)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 0 {
		t.Fatalf("truncated: got %d frames, err %v", len(got), err)
	}
}
