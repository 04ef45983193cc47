// Command sessions is a click-stream pipeline: simulated users browse a shop,
// their clicks arrive in event-time order (with a little disorder), and an
// exactly-once topology groups each user's clicks into sessions — runs of
// clicks less than 30 minutes apart — with session windows kept in keyed
// state. Each closed session is printed with its length, pages and whether it
// reached the checkout; at the end the example checks the sessions and clicks
// it found against what the simulation generated.
//
//	go run ./examples/sessions
//	go run ./examples/sessions -users 500 -v
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gale-stream/gale/bolts/window"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/topology"
)

// Gap closes a session: a user's clicks further apart than this start a new
// one. The simulation keeps clicks within a session 1–10 minutes apart and
// sessions 1–6 hours apart, so the true sessions are known.
const Gap = 30 * time.Minute

type config struct {
	users   int
	seed    uint64
	verbose bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.users, "users", 200, "simulated users")
	flag.Uint64Var(&cfg.seed, "seed", 1, "simulation seed")
	flag.BoolVar(&cfg.verbose, "v", false, "print every session")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(context.Background(), cfg, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

// click is one simulated event.
type click struct {
	user string
	page string
	at   time.Time
}

var pages = []string{"/", "/search", "/products/1", "/products/2", "/products/3", "/products/4", "/cart", "/help"}

// simulate returns every click of every user in arrival order — event time
// with up to a minute of disorder — and the number of sessions generated.
func simulate(users int, seed uint64) ([]click, int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	var clicks []click
	sessions := 0
	for u := range users {
		user := fmt.Sprintf("user-%03d", u)
		at := start.Add(time.Duration(rng.IntN(120)) * time.Minute)
		for range 1 + rng.IntN(4) {
			sessions++
			n := 1 + rng.IntN(12)
			for i := range n {
				page := pages[rng.IntN(len(pages))]
				if i == n-1 && rng.IntN(4) == 0 {
					page = "/checkout"
				}
				clicks = append(clicks, click{user: user, page: page, at: at})
				at = at.Add(time.Duration(1+rng.IntN(10)) * time.Minute)
			}
			at = at.Add(time.Duration(1+rng.IntN(6)) * time.Hour)
		}
	}
	// Arrival order: by event time plus up to a minute of jitter.
	jitter := make([]time.Duration, len(clicks))
	for i := range jitter {
		jitter[i] = time.Duration(rng.Int64N(int64(time.Minute)))
	}
	idx := make([]int, len(clicks))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return clicks[a].at.Add(jitter[a]).Compare(clicks[b].at.Add(jitter[b]))
	})
	out := make([]click, len(clicks))
	for i, j := range idx {
		out[i] = clicks[j]
	}
	return out, sessions
}

// replaySpout emits the simulated clicks in arrival order. It is replayable,
// so exactly-once restores can rewind it.
type replaySpout struct {
	clicks []click
	pos    int
	done   chan struct{}
}

func (s *replaySpout) Open(context.Context, *topology.Context) error { return nil }
func (s *replaySpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	for range 64 {
		if s.pos == len(s.clicks) {
			if s.done != nil {
				close(s.done)
				s.done = nil
			}
			return nil
		}
		c := s.clicks[s.pos]
		out.Emit(topology.Values{c.user, c.page, c.at.UnixMilli()}, nil)
		s.pos++
	}
	return nil
}
func (s *replaySpout) Ack(any)      {}
func (s *replaySpout) Fail(any)     {}
func (s *replaySpout) Close() error { return nil }
func (s *replaySpout) Snapshot(uint64) ([]byte, error) {
	return fmt.Appendf(nil, "%d", s.pos), nil
}
func (s *replaySpout) Restore(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%d", &s.pos)
	return err
}
func (s *replaySpout) CheckpointComplete(uint64) {}

// Session is the accumulator of one session: stored in keyed state, so its
// fields are exported for msgpack.
type Session struct {
	Clicks    int      `msgpack:"c"`
	Pages     []string `msgpack:"p"` // distinct pages, in first-visit order
	Converted bool     `msgpack:"x"`
}

// sessionAgg folds clicks into a Session.
type sessionAgg struct{}

func (sessionAgg) Init() Session { return Session{} }
func (sessionAgg) Add(s Session, t topology.Tuple) Session {
	s.Clicks++
	page := t.String("page")
	if !slices.Contains(s.Pages, page) {
		s.Pages = append(s.Pages, page)
	}
	s.Converted = s.Converted || page == "/checkout"
	return s
}
func (sessionAgg) Merge(a, b Session) Session {
	a.Clicks += b.Clicks
	for _, p := range b.Pages {
		if !slices.Contains(a.Pages, p) {
			a.Pages = append(a.Pages, p)
		}
	}
	a.Converted = a.Converted || b.Converted
	return a
}
func (sessionAgg) Result(s Session) topology.Values {
	return topology.Values{int64(s.Clicks), int64(len(s.Pages)), s.Converted}
}

// report collects the closed sessions.
type report struct {
	mu        sync.Mutex
	sessions  int
	clicks    int64
	converted int
	longest   time.Duration
	out       io.Writer
	verbose   bool
}

func (r *report) factory() topology.BoltFactory {
	return topology.BasicFunc(func(_ context.Context, t topology.Tuple, _ topology.BasicEmitter) error {
		start, end := time.UnixMilli(t.Int64(window.StartField)), time.UnixMilli(t.Int64(window.EndField))
		length := end.Sub(start) - Gap // a session window ends a gap after its last click
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sessions++
		r.clicks += t.Int64("clicks")
		if t.Bool("converted") {
			r.converted++
		}
		r.longest = max(r.longest, length)
		if r.verbose {
			fmt.Fprintf(r.out, "%s  %s  %3d clicks  %2d pages  %6v  converted=%v\n",
				t.String("user"), start.UTC().Format("15:04"), t.Int64("clicks"), t.Int64("pages"), length, t.Bool("converted"))
		}
		return nil
	}).Factory()
}

func run(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	clicks, wantSessions := simulate(cfg.users, cfg.seed)
	rep := &report{out: out, verbose: cfg.verbose}
	done := make(chan struct{})
	b := topology.NewBuilder("sessions")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 200 * time.Millisecond})
	b.SetSpout("clicks", func() topology.Spout { return &replaySpout{clicks: clicks, done: done} }, 1).
		Output("user", "page", "ts").
		EventTime(topology.EventTime{Field: "ts", OutOfOrderness: time.Minute, Interval: 20 * time.Millisecond})
	b.SetBolt("sessions", window.New(window.Config{
		KeyFields:    []string{"user"},
		Assigner:     window.Session(Gap),
		TimeField:    "ts",
		InputFields:  []string{"user", "page", "ts"},
		Aggregation:  window.Aggregate[Session](sessionAgg{}),
		OutputFields: []string{"clicks", "pages", "converted"},
	}), 2).FieldsFrom("clicks", "user")
	b.SetBolt("report", rep.factory(), 1).GlobalFrom("sessions")
	topo, err := b.Build()
	if err != nil {
		return err
	}
	l, err := runtime.Start(ctx, topo, runtime.Options{Logger: logger})
	if err != nil {
		return err
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	// Stopping ends the input: the watermark jumps to the end of time and
	// every open session closes.
	if err := l.Stop(context.Background()); err != nil {
		return err
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	fmt.Fprintf(out, "%d clicks of %d users: %d sessions, %.1f clicks per session, longest %v, %.0f%% reached the checkout\n",
		len(clicks), cfg.users, rep.sessions, float64(rep.clicks)/float64(max(rep.sessions, 1)), rep.longest,
		100*float64(rep.converted)/float64(max(rep.sessions, 1)))
	if rep.sessions != wantSessions || rep.clicks != int64(len(clicks)) {
		return fmt.Errorf("found %d sessions with %d clicks, the simulation made %d sessions with %d clicks",
			rep.sessions, rep.clicks, wantSessions, len(clicks))
	}
	fmt.Fprintf(out, "check: %d sessions and %d clicks, as simulated\n", wantSessions, len(clicks))
	return nil
}
