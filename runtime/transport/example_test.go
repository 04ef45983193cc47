package transport_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/runtime/transport"
)

// Two workers of one topology, each with a Transport; worker 0 sends a batch
// to worker 1, whose handler decodes the tuple's values.
func Example() {
	got := make(chan string, 1)
	var vd wire.ValueDecoder // one per consuming goroutine
	opts := func(worker int, h transport.Handler) transport.Options {
		return transport.Options{
			Topology: "wordcount",
			Worker:   worker,
			Epoch:    1,
			Handler:  h,
			Logger:   slog.New(slog.DiscardHandler),
		}
	}
	w1, err := transport.New("127.0.0.1:0", opts(1, func(ctx context.Context, from transport.Peer, b *wire.Batch) {
		for _, it := range b.Items {
			if it.Kind != wire.KindTuple {
				continue
			}
			vals, err := vd.Decode(it.Tuple.Raw)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- fmt.Sprintf("from worker %d task %d stream %s: %v", from.Worker, it.Tuple.SourceTask, it.Tuple.Stream, vals)
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	w0, err := transport.New("127.0.0.1:0", opts(0, func(context.Context, transport.Peer, *wire.Batch) {}))
	if err != nil {
		fmt.Println(err)
		return
	}

	var b wire.Batch
	b.AddTuple(wire.Tuple{Dest: 5, SourceTask: 2, Stream: "default", Values: []any{"gale", 3}})
	if err := w0.Send(context.Background(), w1.Addr().String(), &b); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-got)

	w0.Shutdown(context.Background())
	w1.Shutdown(context.Background())
	// Output: from worker 0 task 2 stream default: [gale 3]
}
