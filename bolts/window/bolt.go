package window

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// New returns a factory of window bolts configured by cfg (see the package
// documentation). The config is validated and copied here; an invalid one
// makes every task's Prepare fail with the problems, named by component.
// The bolts declare their output streams themselves.
func New(cfg Config) topology.BoltFactory {
	cfg.KeyFields = slices.Clone(cfg.KeyFields)
	cfg.OutputFields = slices.Clone(cfg.OutputFields)
	cfg.InputFields = slices.Clone(cfg.InputFields)
	cfg.EnsureDefaults()
	err := cfg.Validate()
	return func() topology.Bolt { return &bolt{cfg: cfg, cfgErr: err} }
}

// winKey names a window in the per-key window map.
type winKey struct {
	_msgpack struct{} `msgpack:",as_array"`
	Start    int64
	End      int64
}

// winState is what the bolt keeps per key and window.
type winState struct {
	_msgpack struct{} `msgpack:",as_array"`
	// Key is the msgpack encoding of the key fields' values, for the result.
	Key []byte
	// Acc is the aggregation's encoded accumulator (nil in full-window mode).
	Acc []byte
	// N is the number of tuples added; in full-window mode the next
	// tuple's sequence number.
	N int64
}

// tupKey names one stored tuple of a window in full-window mode.
type tupKey struct {
	_msgpack struct{} `msgpack:",as_array"`
	Start    int64
	End      int64
	Seq      int64
}

// timerKeySeed starts the keys under which each key group's timers live.
const timerKeySeed = "gale.window.timers"

type bolt struct {
	cfg    Config
	cfgErr error

	tc       *topology.Context
	log      *slog.Logger
	agg      aggregation
	full     ProcessFunc
	lateness int64 // milliseconds
	inIdx    []int // InputFields positions in the current tuple, full mode

	be      *state.Backend
	wins    *state.Map[winKey, winState]
	tups    *state.Map[tupKey, []byte]
	seq     *state.Value[int64]
	tmap    *state.Map[timerID, int64]
	wmState *state.Value[int64] // the watermark, under every group key

	maxPar    int
	groupKeys map[int][]byte // key group → key of that group holding its timers
	globalKey []byte         // the record key when KeyFields is empty

	timers timerIndex
	wm     int64 // current watermark, ms; MinInt64 before the first

	m *taskMetrics

	// per-tuple scratch
	curKey  []byte
	keyVals topology.Values
	wbuf    []Window
}

func (b *bolt) DeclareOutputs(o *topology.Outputs) {
	o.Stream(b.cfg.Stream, b.cfg.resultFields()...)
	if b.cfg.eventTime() && len(b.cfg.InputFields) > 0 {
		o.Stream(b.cfg.LateStream, b.cfg.InputFields...)
	}
}

// errorf prefixes an error with the package and the task it happened in.
func (b *bolt) errorf(format string, args ...any) error {
	return fmt.Errorf("window: topology %s component %s task %d: %w",
		b.tc.Topology, b.tc.Component, b.tc.Task, fmt.Errorf(format, args...))
}

func (b *bolt) stateErr(op string, err error) error {
	return b.errorf("%w: %s: %w", ErrState, op, err)
}

func (b *bolt) Prepare(_ context.Context, tc *topology.Context) error {
	b.tc = tc
	if b.cfgErr != nil {
		return b.errorf("%w", b.cfgErr)
	}
	b.log = tc.Logger
	if b.log == nil {
		b.log = slog.Default()
	}
	b.agg = b.cfg.Aggregation.impl
	b.full = b.agg.processor()
	b.lateness = b.cfg.AllowedLateness.Milliseconds()
	be, err := state.BackendOf(tc)
	if err != nil {
		return b.errorf("%w", err)
	}
	b.be = be
	n := b.cfg.StateName
	b.wins = state.NewMap[winKey, winState](be, n+".windows")
	b.tups = state.NewMap[tupKey, []byte](be, n+".tuples")
	b.seq = state.NewValue[int64](be, n+".seq")
	b.tmap = state.NewMap[timerID, int64](be, n+".timers")
	b.wmState = state.NewValue[int64](be, n+".watermark")

	scope := be.Scope()
	b.maxPar = scope.MaxParallelism
	b.groupKeys = groupKeys(scope.Groups, b.maxPar)
	b.globalKey = b.groupKeys[scope.Groups.Start]

	// The watermark is kept under every key group's timer key, so that a
	// task that took over key groups from several old tasks (rescaling)
	// knows how far each had come. It starts from the smallest, which may
	// let a tuple the old owner would have found late count again, but never
	// drops one the old owner would have taken.
	b.wm = math.MinInt64
	b.timers = newTimerIndex()
	if b.cfg.eventTime() || b.cfg.ProcessingTime {
		restored := false
		for g := scope.Groups.Start; g < scope.Groups.End; g++ {
			if err := be.SetCurrentKey(b.groupKeys[g]); err != nil {
				return b.stateErr("load timers", err)
			}
			switch wm, err := b.wmState.Get(); {
			case err == nil:
				if !restored || wm < b.wm {
					b.wm = wm
				}
				restored = true
			case !errors.Is(err, state.ErrNotFound):
				return b.stateErr("read watermark", err)
			}
			if err := b.tmap.Iterate(func(id timerID, due int64) bool {
				b.timers.set(id, due)
				return true
			}); err != nil {
				return b.stateErr("load timers", err)
			}
		}
	}

	m, err := newTaskMetrics(b.cfg.Registerer, tc.Topology, string(tc.Component), int(tc.Task))
	if err != nil {
		return b.errorf("register metrics: %w", err)
	}
	b.m = m
	b.log.Debug("window bolt prepared", "timers", b.timers.len(), "watermark", b.wm)
	return nil
}

// groupKeys returns, for every key group of r, the smallest-numbered key of
// the sequence timerKeySeed·0, timerKeySeed·1, … that hashes into it. The
// choice depends only on the group, so after rescaling the new owner of a
// group finds its timers under the same key.
func groupKeys(r keygroup.Range, maxPar int) map[int][]byte {
	m := make(map[int][]byte, r.Len())
	seed := keygroup.AppendKey(nil, timerKeySeed)
	for n := int64(0); len(m) < r.Len(); n++ {
		k := keygroup.AppendKey(slices.Clip(seed), n)
		if g := keygroup.Of(k, maxPar); r.Contains(g) {
			if _, ok := m[g]; !ok {
				m[g] = k
			}
		}
	}
	return m
}

func (b *bolt) Cleanup() error { return nil }

// OnWatermark fires and purges the windows whose timers are due. It
// implements topology.WatermarkHandler; processing-time and count windows
// ignore watermarks.
func (b *bolt) OnWatermark(_ context.Context, wm time.Time, out topology.Emitter) error {
	if !b.cfg.eventTime() {
		return nil
	}
	return b.advance(toMillis(wm), out)
}

// toMillis converts a watermark or event time to milliseconds since the
// epoch, mapping topology.EndOfTime to MaxInt64.
func toMillis(t time.Time) int64 {
	if !t.Before(topology.EndOfTime) {
		return math.MaxInt64
	}
	return t.UnixMilli()
}

func (b *bolt) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	if topology.IsTick(t) {
		if b.cfg.ProcessingTime {
			if err := b.advance(b.cfg.Clock().UnixMilli(), out); err != nil {
				return err
			}
		}
		out.Ack(t)
		return nil
	}
	var (
		ts    int64
		given Window
	)
	switch {
	case b.cfg.Assigner.kind == kindCount:
	case b.cfg.Assigner.kind == kindGiven:
		s, ok1 := b.fieldTime(t, b.cfg.Assigner.startField)
		e, ok2 := b.fieldTime(t, b.cfg.Assigner.endField)
		if !ok1 || !ok2 || e <= s {
			out.ReportError(b.errorf("%w: no valid window in fields %s, %s", ErrNoTime,
				b.cfg.Assigner.startField, b.cfg.Assigner.endField))
			out.Ack(t)
			return nil
		}
		given, ts = Window{s, e}, e-1
	case b.cfg.ProcessingTime:
		now := b.cfg.Clock().UnixMilli()
		if err := b.advance(now, out); err != nil {
			return err
		}
		ts = max(now, b.wm)
	default:
		var ok bool
		if b.cfg.TimeExtract != nil {
			var tm time.Time
			if tm, ok = b.cfg.TimeExtract(t); ok {
				ts = toMillis(tm)
			}
		} else {
			ts, ok = b.fieldTime(t, b.cfg.TimeField)
		}
		if !ok {
			out.ReportError(b.errorf("%w", ErrNoTime))
			out.Ack(t)
			return nil
		}
	}
	if err := b.setKey(t); err != nil {
		return err
	}
	if b.cfg.Assigner.kind == kindCount {
		if err := b.addCount(t, out); err != nil {
			return err
		}
		out.Ack(t)
		return nil
	}
	var (
		accepted bool
		err      error
	)
	if b.cfg.Assigner.kind == kindSession {
		accepted, err = b.addSession(t, ts, out)
	} else {
		ws := b.wbuf[:0]
		if b.cfg.Assigner.kind == kindGiven {
			ws = append(ws, given)
		} else {
			ws = b.cfg.Assigner.timeWindows(ts, ws)
		}
		b.wbuf = ws
		accepted, err = b.addWindows(t, ws, out)
	}
	if err != nil {
		return err
	}
	if !accepted {
		out.EmitStream(b.cfg.LateStream, t.Values(), t)
		b.m.incLate()
	}
	out.Ack(t)
	return nil
}

// fieldTime reads a time.Time or integer-milliseconds field as milliseconds.
func (b *bolt) fieldTime(t topology.Tuple, field string) (int64, bool) {
	v, ok := t.Get(field)
	if !ok {
		return 0, false
	}
	if tm, ok := v.(time.Time); ok {
		return toMillis(tm), true
	}
	return topology.ToInt64(v)
}

// setKey makes the tuple's key the backend's current key.
func (b *bolt) setKey(t topology.Tuple) error {
	b.keyVals = b.keyVals[:0]
	if len(b.cfg.KeyFields) == 0 {
		b.curKey = append(b.curKey[:0], b.globalKey...)
	} else {
		b.curKey = b.curKey[:0]
		for _, f := range b.cfg.KeyFields {
			v, ok := t.Get(f)
			if !ok {
				return b.errorf("%w %q (stream %s/%s)", ErrNoKey, f, t.Source(), t.Stream())
			}
			b.curKey = keygroup.AppendKey(b.curKey, v)
			b.keyVals = append(b.keyVals, v)
		}
	}
	if err := b.be.SetCurrentKey(b.curKey); err != nil {
		return b.stateErr("set key", err)
	}
	return nil
}

// newState returns the state of a window the current key does not have yet.
func (b *bolt) newState() (winState, error) {
	k, err := encodeValues(b.keyVals)
	if err != nil {
		return winState{}, b.stateErr("encode key", err)
	}
	return winState{Key: k}, nil
}

// addTo adds t to window w of the current key, whose state is st.
func (b *bolt) addTo(st *winState, w Window, t topology.Tuple) error {
	if b.full != nil {
		vals := t.Values()
		if len(b.cfg.InputFields) > 0 {
			proj := make(topology.Values, len(b.cfg.InputFields))
			for i, f := range b.cfg.InputFields {
				proj[i], _ = t.Get(f)
			}
			vals = proj
		}
		enc, err := encodeValues(vals)
		if err != nil {
			return b.stateErr("encode tuple", err)
		}
		if err := b.tups.Put(tupKey{Start: w.Start, End: w.End, Seq: st.N}, enc); err != nil {
			return b.stateErr("store tuple", err)
		}
		st.N++
		return nil
	}
	acc, err := b.agg.add(st.Acc, t)
	if err != nil {
		return b.stateErr("aggregate", err)
	}
	st.Acc = acc
	st.N++
	return nil
}

// due is when the timer of window w, just created or changed, is due: at
// its end if that is still ahead, otherwise when its lateness runs out.
func (b *bolt) due(w Window) int64 {
	if !isComplete(w, b.wm) {
		return w.End
	}
	return satAdd(w.End, b.lateness)
}

// addWindows adds t to every window of ws that still takes tuples, firing
// those already complete, and reports whether any took it.
func (b *bolt) addWindows(t topology.Tuple, ws []Window, out topology.Emitter) (bool, error) {
	accepted := false
	for _, w := range ws {
		if isLate(w, b.lateness, b.wm) {
			continue
		}
		accepted = true
		k := winKey{Start: w.Start, End: w.End}
		st, err := b.wins.Get(k)
		isNew := errors.Is(err, state.ErrNotFound)
		switch {
		case isNew:
			if st, err = b.newState(); err != nil {
				return false, err
			}
		case err != nil:
			return false, b.stateErr("read window", err)
		}
		if err := b.addTo(&st, w, t); err != nil {
			return false, err
		}
		if err := b.wins.Put(k, st); err != nil {
			return false, b.stateErr("write window", err)
		}
		if isNew {
			if err := b.setTimer(string(b.curKey), w, b.due(w)); err != nil {
				return false, err
			}
		}
		if isComplete(w, b.wm) {
			if err := b.fire(w, st, out); err != nil {
				return false, err
			}
		}
	}
	return accepted, nil
}

// addSession adds t to the sessions of the current key, merging those its
// window overlaps.
func (b *bolt) addSession(t topology.Tuple, ts int64, out topology.Emitter) (bool, error) {
	c := Window{ts, satAdd(ts, b.cfg.Assigner.gap)}
	if isLate(c, b.lateness, b.wm) {
		return false, nil
	}
	var (
		live   []Window
		states []winState
	)
	if err := b.wins.Iterate(func(k winKey, st winState) bool {
		live = append(live, Window{k.Start, k.End})
		states = append(states, st)
		return true
	}); err != nil {
		return false, b.stateErr("read sessions", err)
	}
	merged, absorbed := mergeSession(c, live)
	var st winState
	if len(absorbed) == 0 {
		var err error
		if st, err = b.newState(); err != nil {
			return false, err
		}
	} else {
		// Merge in start order, so full-window tuples stay in time order
		// of their sessions.
		slices.SortFunc(absorbed, func(i, j int) int { return cmp.Compare(live[i].Start, live[j].Start) })
		st = winState{Key: states[absorbed[0]].Key}
		var moved [][]byte
		for n, i := range absorbed {
			w, ws := live[i], states[i]
			if b.full != nil {
				_, vals, err := b.windowTuples(w)
				if err != nil {
					return false, err
				}
				moved = append(moved, vals...)
				if err := b.deleteTuples(w); err != nil {
					return false, err
				}
			} else if n == 0 {
				st.Acc = ws.Acc
			} else {
				acc, err := b.agg.merge(st.Acc, ws.Acc)
				if err != nil {
					return false, b.stateErr("merge sessions", err)
				}
				st.Acc = acc
			}
			st.N += ws.N
			if err := b.wins.Delete(winKey{Start: w.Start, End: w.End}); err != nil {
				return false, b.stateErr("delete session", err)
			}
			if err := b.deleteTimer(string(b.curKey), w); err != nil {
				return false, err
			}
		}
		if b.full != nil {
			for i, v := range moved {
				if err := b.tups.Put(tupKey{Start: merged.Start, End: merged.End, Seq: int64(i)}, v); err != nil {
					return false, b.stateErr("store tuple", err)
				}
			}
			st.N = int64(len(moved))
		}
	}
	if err := b.addTo(&st, merged, t); err != nil {
		return false, err
	}
	if err := b.wins.Put(winKey{Start: merged.Start, End: merged.End}, st); err != nil {
		return false, b.stateErr("write session", err)
	}
	if err := b.setTimer(string(b.curKey), merged, b.due(merged)); err != nil {
		return false, err
	}
	if isComplete(merged, b.wm) {
		if err := b.fire(merged, st, out); err != nil {
			return false, err
		}
	}
	return true, nil
}

// addCount adds t to the count windows of the current key, firing and
// dropping the one it completes.
func (b *bolt) addCount(t topology.Tuple, out topology.Emitter) error {
	n, err := b.seq.Get()
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return b.stateErr("read sequence", err)
	}
	for _, w := range b.cfg.Assigner.countWindows(n, b.wbuf[:0]) {
		k := winKey{Start: w.Start, End: w.End}
		st, err := b.wins.Get(k)
		switch {
		case errors.Is(err, state.ErrNotFound):
			if st, err = b.newState(); err != nil {
				return err
			}
		case err != nil:
			return b.stateErr("read window", err)
		}
		if err := b.addTo(&st, w, t); err != nil {
			return err
		}
		if n == w.End-1 {
			if err := b.fire(w, st, out); err != nil {
				return err
			}
			if err := b.purge(w); err != nil {
				return err
			}
			continue
		}
		if err := b.wins.Put(k, st); err != nil {
			return b.stateErr("write window", err)
		}
	}
	if err := b.seq.Set(n + 1); err != nil {
		return b.stateErr("write sequence", err)
	}
	return nil
}

// advance moves the watermark to wm (if that is ahead) and runs every timer
// due by then, in (due, key, window) order.
func (b *bolt) advance(wm int64, out topology.Emitter) error {
	if wm <= b.wm {
		return nil
	}
	b.wm = wm
	for _, k := range b.groupKeys {
		if err := b.be.SetCurrentKey(k); err != nil {
			return b.stateErr("set timer key", err)
		}
		if err := b.wmState.Set(wm); err != nil {
			return b.stateErr("write watermark", err)
		}
	}
	for {
		id, due, ok := b.timers.popDue(wm)
		if !ok {
			return nil
		}
		b.curKey = append(b.curKey[:0], id.Key...)
		if err := b.be.SetCurrentKey(b.curKey); err != nil {
			return b.stateErr("set key", err)
		}
		w := Window{id.Start, id.End}
		st, err := b.wins.Get(winKey{Start: w.Start, End: w.End})
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return b.stateErr("read window", err)
		}
		if err == nil && due == w.End {
			if err := b.fire(w, st, out); err != nil {
				return err
			}
			if cleanup := satAdd(w.End, b.lateness); cleanup > due {
				if err := b.setTimer(id.Key, w, cleanup); err != nil {
					return err
				}
				continue
			}
		}
		if err == nil {
			if err := b.purge(w); err != nil {
				return err
			}
		} else {
			b.log.Warn("window timer without window state", "window", w.String())
		}
		if err := b.deleteTimer(id.Key, w); err != nil {
			return err
		}
	}
}

// fire emits the results of window w of the current key.
func (b *bolt) fire(w Window, st winState, out topology.Emitter) error {
	key, err := decodeValues(st.Key)
	if err != nil {
		return b.stateErr("decode key", err)
	}
	var rows []topology.Values
	if b.full != nil {
		_, enc, err := b.windowTuples(w)
		if err != nil {
			return err
		}
		tuples := make([]topology.Values, len(enc))
		for i, e := range enc {
			if tuples[i], err = decodeValues(e); err != nil {
				return b.stateErr("decode tuple", err)
			}
		}
		rows = b.full(w, key, tuples)
	} else if rows, err = b.agg.result(st.Acc); err != nil {
		return b.stateErr("result", err)
	}
	for _, r := range rows {
		vals := make(topology.Values, 0, len(key)+2+len(r))
		vals = append(vals, key...)
		vals = append(vals, w.Start, w.End)
		vals = append(vals, r...)
		out.EmitStream(b.cfg.Stream, vals)
	}
	b.m.incFired()
	return nil
}

// purge deletes window w of the current key.
func (b *bolt) purge(w Window) error {
	if err := b.wins.Delete(winKey{Start: w.Start, End: w.End}); err != nil {
		return b.stateErr("delete window", err)
	}
	if b.full != nil {
		return b.deleteTuples(w)
	}
	return nil
}

// windowTuples returns the stored tuples of window w of the current key, in
// arrival order. It scans the key's tuples of every window: full-window mode
// is for the rare case.
func (b *bolt) windowTuples(w Window) ([]tupKey, [][]byte, error) {
	var keys []tupKey
	vals := map[int64][]byte{}
	if err := b.tups.Iterate(func(k tupKey, v []byte) bool {
		if k.Start == w.Start && k.End == w.End {
			keys = append(keys, k)
			vals[k.Seq] = v
		}
		return true
	}); err != nil {
		return nil, nil, b.stateErr("read tuples", err)
	}
	slices.SortFunc(keys, func(x, y tupKey) int { return cmp.Compare(x.Seq, y.Seq) })
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = vals[k.Seq]
	}
	return keys, out, nil
}

func (b *bolt) deleteTuples(w Window) error {
	keys, _, err := b.windowTuples(w)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.tups.Delete(k); err != nil {
			return b.stateErr("delete tuple", err)
		}
	}
	return nil
}

// setTimer sets the timer of window w of record key recKey to due, in the
// index and in the timer map of the key's group. It leaves recKey current.
func (b *bolt) setTimer(recKey string, w Window, due int64) error {
	id := timerID{Key: recKey, Start: w.Start, End: w.End}
	b.timers.set(id, due)
	return b.withGroupKey(recKey, func() error { return b.tmap.Put(id, due) })
}

func (b *bolt) deleteTimer(recKey string, w Window) error {
	id := timerID{Key: recKey, Start: w.Start, End: w.End}
	b.timers.delete(id)
	return b.withGroupKey(recKey, func() error { return b.tmap.Delete(id) })
}

// withGroupKey runs fn with the timer key of recKey's group current, then
// makes recKey current again.
func (b *bolt) withGroupKey(recKey string, fn func() error) error {
	g := keygroup.Of([]byte(recKey), b.maxPar)
	if err := b.be.SetCurrentKey(b.groupKeys[g]); err != nil {
		return b.stateErr("set timer key", err)
	}
	if err := fn(); err != nil {
		return b.stateErr("write timer", err)
	}
	b.curKey = append(b.curKey[:0], recKey...)
	if err := b.be.SetCurrentKey(b.curKey); err != nil {
		return b.stateErr("set key", err)
	}
	return nil
}
