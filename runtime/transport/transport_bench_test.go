package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/wire"
)

// benchBatchSize is the number of tuples per frame in BenchmarkTransport.
const benchBatchSize = 256

// benchTuple is the tuple both sub-benchmarks move: [string, int64, int64].
type benchTuple struct {
	word  string
	count int64
	ts    int64
}

func benchTuples() []benchTuple {
	out := make([]benchTuple, benchBatchSize)
	for i := range out {
		out[i] = benchTuple{word: fmt.Sprintf("word-%03d", i%100), count: int64(i * 7919), ts: 1_795_000_000_000_000_000 + int64(i)}
	}
	return out
}

// checksum is what both receivers compute over each frame's tuples, and
// compare with the sender's, so that neither can skip reading a value.
func checksum(word string, count, ts int64) int64 {
	return int64(len(word)) + int64(word[len(word)-1]) + count ^ ts
}

func batchChecksum(ts []benchTuple) int64 {
	var sum int64
	for _, t := range ts {
		sum += checksum(t.word, t.count, t.ts)
	}
	return sum
}

// BenchmarkTransport measures tuples per second between two endpoints over
// loopback TCP, both in this process:
//
//   - wire-baseline: the practical limit. Each tuple is encoded by hand as a
//     msgpack [string, int64, int64] into a bufio.Writer, in length-prefixed
//     frames of benchBatchSize tuples; the receiver reads each frame into a
//     new buffer and decodes it into structs, strings aliasing the buffer.
//     No flow control, no envelope, no interface values.
//   - gale: the same tuples, the values of each in an []any as a runtime tuple
//     holds them, written into frames of benchBatchSize by
//     wire.BatchWriter as a worker sends them (runtime/worker.go,
//     sendRemote), sent by a Client to a Server with credit flow control,
//     and received as a worker receives them (remote.handle): the server
//     validates each frame and leaves the values encoded
//     (Options.LazyValues), and the Handler reads every value through the
//     typed accessors of wire.RawValues, as the typed getters of a tuple
//     from another worker do (runtime/raw.go).
//   - gale-values: the same, but the server decodes every value into the
//     []any a bolt's Values() returns, and the Handler reads them back
//     through type assertions. A worker pays this only for the tuples whose
//     bolts call Values().
//
// Throughput counts from the first send until the receiver has read the
// last tuple.
//
//	go test -run '^$' -bench Transport ./runtime/...
func BenchmarkTransport(b *testing.B) {
	b.Run("wire-baseline", func(b *testing.B) { benchPipe(b, newBaselinePipe(b)) })
	b.Run("gale", func(b *testing.B) { benchPipe(b, newGalePipe(b, true)) })
	b.Run("gale-values", func(b *testing.B) { benchPipe(b, newGalePipe(b, false)) })
}

// BenchmarkGaleVsWire runs the wire baseline and gale of BenchmarkTransport
// in turn inside every iteration, ratioFrames frames each over links set
// up once, so that a change in the machine's load hits both alike; it
// reports each one's tuples/s over the whole run and gale's as a fraction
// of the baseline's. (Its name leaves it out of -bench Transport, whose
// -benchtime would count its iterations of 2 × ratioFrames frames.)
//
//	go test -run '^$' -bench GaleVsWire -count 5 ./runtime/transport/
func BenchmarkGaleVsWire(b *testing.B) {
	const ratioFrames = 2000
	base, gale := newBaselinePipe(b), newGalePipe(b, true)
	var tBase, tGale time.Duration
	for b.Loop() {
		tBase += base.run(b, ratioFrames)
		tGale += gale.run(b, ratioFrames)
	}
	base.close(b)
	gale.close(b)
	n := float64(b.N * ratioFrames * benchBatchSize)
	b.ReportMetric(n/tBase.Seconds(), "baseline-tuples/s")
	b.ReportMetric(n/tGale.Seconds(), "gale-tuples/s")
	b.ReportMetric(tBase.Seconds()/tGale.Seconds(), "gale/baseline")
}

// pipe is one of the benchmark's links: a sender and a receiver in this
// process, connected over loopback TCP.
type pipe struct {
	send    func() error // sends one frame of benchBatchSize tuples
	flush   func() error // pushes out what send buffered
	stop    func() error // closes both ends; the receiver's error, if any
	decoded atomic.Int64 // tuples the receiver has read
	bad     atomic.Int64 // frames the receiver read wrong
}

// run sends frames frames and waits until the receiver has read them.
func (p *pipe) run(b *testing.B, frames int) time.Duration {
	start := time.Now()
	want := p.decoded.Load() + int64(frames*benchBatchSize)
	for range frames {
		if err := p.send(); err != nil {
			b.Fatal(err)
		}
	}
	p.wait(b, want)
	return time.Since(start)
}

// wait flushes the sender and waits until the receiver has read n tuples.
func (p *pipe) wait(b *testing.B, n int64) {
	if err := p.flush(); err != nil {
		b.Fatal(err)
	}
	for p.decoded.Load() < n {
		time.Sleep(50 * time.Microsecond)
	}
}

func (p *pipe) close(b *testing.B) {
	if err := p.stop(); err != nil {
		b.Fatal(err)
	}
	if p.bad.Load() != 0 {
		b.Fatalf("%d frames decoded wrong", p.bad.Load())
	}
}

// benchPipe measures one pipe: throughput counts from the first send until
// the receiver has read the last tuple.
func benchPipe(b *testing.B, p *pipe) {
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuTime()
	sent := 0
	for b.Loop() {
		if err := p.send(); err != nil {
			b.Fatal(err)
		}
		sent += benchBatchSize
	}
	p.wait(b, int64(sent))
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	p.close(b)
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "tuples/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent), "cpu-ns/tuple")
}

// newBaselinePipe is the wire baseline: see BenchmarkTransport.
func newBaselinePipe(b *testing.B) *pipe {
	tuples := benchTuples()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	p := &pipe{}
	want := batchChecksum(tuples)
	recvDone := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			recvDone <- err
			return
		}
		defer nc.Close()
		br := bufio.NewReaderSize(nc, 64<<10)
		out := make([]benchTuple, benchBatchSize)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				if err == io.EOF {
					err = nil
				}
				recvDone <- err
				return
			}
			buf := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(br, buf); err != nil {
				recvDone <- err
				return
			}
			n, err := baselineDecode(buf, out)
			if err != nil {
				recvDone <- err
				return
			}
			if batchChecksum(out[:n]) != want {
				p.bad.Add(1)
			}
			p.decoded.Add(int64(n))
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(nc, 64<<10)
	frame := make([]byte, 0, 64<<10)
	p.send = func() error {
		frame = append(frame[:0], 0, 0, 0, 0)
		for i := range tuples {
			frame = baselineEncode(frame, &tuples[i])
		}
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		_, err := bw.Write(frame)
		return err
	}
	p.flush = bw.Flush
	p.stop = func() error {
		nc.Close()
		return <-recvDone
	}
	return p
}

// cpuTime returns the CPU time this process has used, user and system. The
// machine may be shared, so CPU per tuple is reported next to throughput: it
// does not depend on how many cores the benchmark got.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baselineEncode appends t as the msgpack array [str, int64, int64].
func baselineEncode(dst []byte, t *benchTuple) []byte {
	dst = append(dst, 0x93)
	if len(t.word) < 32 {
		dst = append(dst, 0xa0|byte(len(t.word)))
	} else {
		dst = append(dst, 0xd9, byte(len(t.word)))
	}
	dst = append(dst, t.word...)
	dst = binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(t.count))
	dst = binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(t.ts))
	return dst
}

// baselineDecode decodes what baselineEncode wrote, into out.
func baselineDecode(buf []byte, out []benchTuple) (int, error) {
	n := 0
	for len(buf) > 0 {
		if n == len(out) || len(buf) < 2 || buf[0] != 0x93 {
			return n, fmt.Errorf("bad tuple at %d", n)
		}
		var sl int
		switch c := buf[1]; {
		case c&0xe0 == 0xa0:
			sl, buf = int(c&0x1f), buf[2:]
		case c == 0xd9 && len(buf) > 2:
			sl, buf = int(buf[2]), buf[3:]
		default:
			return n, fmt.Errorf("bad string at %d", n)
		}
		if len(buf) < sl+18 || buf[sl] != 0xd3 || buf[sl+9] != 0xd3 {
			return n, fmt.Errorf("truncated tuple %d", n)
		}
		t := &out[n]
		t.word = ""
		if sl > 0 {
			t.word = unsafe.String(&buf[0], sl)
		}
		t.count = int64(binary.BigEndian.Uint64(buf[sl+1:]))
		t.ts = int64(binary.BigEndian.Uint64(buf[sl+10:]))
		buf = buf[sl+18:]
		n++
	}
	return n, nil
}

// newGalePipe is gale, or gale-values unless lazy: see BenchmarkTransport.
func newGalePipe(b *testing.B, lazy bool) *pipe {
	tuples := benchTuples()
	// The sender holds each tuple's values as a runtime tuple does, and
	// writes them into the frame as a worker does (runtime/worker.go,
	// sendRemote).
	vals := make([][]any, len(tuples))
	for i, t := range tuples {
		vals[i] = []any{t.word, t.count, t.ts}
	}
	write := func(w *wire.BatchWriter) error {
		for _, v := range vals {
			if err := w.Tuple(3, 1, "default", v, nil); err != nil {
				return err
			}
		}
		return nil
	}
	p := &pipe{}
	want := batchChecksum(tuples)
	opts := Options{
		Topology:   "bench",
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.DiscardHandler),
		LazyValues: lazy,
		Handler: func(_ context.Context, _ Peer, b *wire.Batch) {
			var sum int64
			for i := range b.Items {
				wt := &b.Items[i].Tuple
				if lazy {
					word, err1 := wt.Raw.StringAt(0)
					count, err2 := wt.Raw.Int64At(1)
					ts, err3 := wt.Raw.Int64At(2)
					if err1 != nil || err2 != nil || err3 != nil {
						p.bad.Add(1)
						continue
					}
					sum += checksum(word, count, ts)
					continue
				}
				vals := wt.Values
				if len(vals) != 3 {
					p.bad.Add(1)
					continue
				}
				word, ok1 := vals[0].(string)
				count, ok2 := vals[1].(int64)
				ts, ok3 := vals[2].(int64)
				if !ok1 || !ok2 || !ok3 {
					p.bad.Add(1)
					continue
				}
				sum += checksum(word, count, ts)
			}
			if sum != want {
				p.bad.Add(1)
			}
			p.decoded.Add(int64(len(b.Items)))
		},
	}
	srv, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		b.Fatal(err)
	}
	c, err := Dial(b.Context(), srv.Addr().String(), opts)
	if err != nil {
		srv.Close()
		b.Fatal(err)
	}
	ctx := b.Context()
	p.send = func() error { return c.SendWith(ctx, write) }
	p.flush = func() error { return nil } // Send writes at once
	p.stop = func() error {
		return errors.Join(c.Close(), srv.Close())
	}
	return p
}
