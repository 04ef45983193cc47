package window_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gale-stream/gale/bolts/window"
	"github.com/gale-stream/gale/topology"
)

// A click stream counted per page in one-minute event-time windows, ranked
// per minute, with late clicks sent to their own bolt.
func Example() {
	clicks := topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil })
	lateSink := topology.BasicFunc(func(context.Context, topology.Tuple, topology.BasicEmitter) error { return nil })

	b := topology.NewBuilder("clicks")
	b.SetSpout("clicks", clicks.Factory(), 2).
		Output("page", "user", "ts").
		EventTime(topology.EventTime{Field: "ts", OutOfOrderness: 5 * time.Second})
	b.SetBolt("counts", window.Count(window.Config{
		KeyFields:       []string{"page"},
		Assigner:        window.Tumbling(time.Minute),
		TimeField:       "ts",
		AllowedLateness: 10 * time.Second,
		InputFields:     []string{"page", "user", "ts"},
	}), 4).FieldsFrom("clicks", "page")
	b.SetBolt("top", window.TopN(3, window.CountField, window.Config{
		KeyFields:       []string{"page"},
		AllowedLateness: 10 * time.Second,
	}), 1).GlobalFrom("counts")
	b.SetBolt("late", lateSink.Factory(), 1).Subscribe("counts", window.DefaultLateStream, topology.Shuffle())

	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []topology.ComponentID{"counts", "top"} {
		c, _ := topo.Component(id)
		for _, s := range c.Outputs {
			fmt.Println(id, s.ID, s.Fields)
		}
	}
	// Output:
	// counts default [page window_start window_end count]
	// counts late [page user ts]
	// top default [window_start window_end rank page count]
	// top late [page window_start window_end count]
}
