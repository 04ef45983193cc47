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
func New(cfg Config) topology.BoltFactory { return newFactory(cfg, nil) }

// newFactory is New with a problem the caller found in its own arguments.
func newFactory(cfg Config, extra error) topology.BoltFactory {
	cfg.KeyFields = slices.Clone(cfg.KeyFields)
	cfg.OutputFields = slices.Clone(cfg.OutputFields)
	cfg.InputFields = slices.Clone(cfg.InputFields)
	cfg.EnsureDefaults()
	err := errors.Join(extra, cfg.Validate())
	return func() topology.Bolt { return &bolt{cfg: cfg, cfgErr: err} }
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

	be      *state.Backend
	wins    *state.Map[string, []byte] // winKeyOf → winState.encode, per record key
	tups    *state.Map[string, []byte] // tupKeyOf → encodeValues, per record key
	seq     *state.Value[int64]        // count windows: tuples seen, per record key
	sess    *state.Value[[]byte]       // session windows: live sessions, per record key
	tmap    *state.Map[string, int64]  // timerKeyOf → due, per group key
	wmState *state.Value[int64]        // the watermark, under every group key

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
	encBuf  []byte
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
	b.wins = state.NewMap[string, []byte](be, n+".windows")
	b.tups = state.NewMap[string, []byte](be, n+".tuples")
	b.seq = state.NewValue[int64](be, n+".seq")
	b.sess = state.NewValue[[]byte](be, n+".sessions")
	b.tmap = state.NewMap[string, int64](be, n+".timers")
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
	if b.cfg.Assigner.kind != kindCount {
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
			var bad error
			if err := b.tmap.Iterate(func(k string, due int64) bool {
				id, err := parseTimerKey(k)
				if err != nil {
					bad = err
					return false
				}
				b.timers.set(id, due)
				return true
			}); err != nil || bad != nil {
				return b.stateErr("load timers", cmp.Or(err, bad))
			}
		}
	}

	reg := b.cfg.Registerer
	if p, ok := tc.Services.(registererProvider); ok && reg == nil {
		reg = p.Registerer()
	}
	m, err := newTaskMetrics(reg, tc.Topology, string(tc.Component), int(tc.Task))
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
// implements topology.WatermarkHandler. Processing-time windows heed only
// the end of time, which follows the end of every input: no tuple can come,
// so every window fires. Count windows ignore watermarks; a count window
// still short of its tuples at the end never fires.
func (b *bolt) OnWatermark(_ context.Context, wm time.Time, out topology.Emitter) error {
	ms := toMillis(wm)
	if b.cfg.eventTime() || (b.cfg.ProcessingTime && ms == math.MaxInt64) {
		return b.advance(ms, out)
	}
	return nil
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
		if errors.Is(err, state.ErrKeyGroupOutOfRange) {
			return b.errorf("%w (subscribe the bolt with the fields grouping on %v)", err, b.cfg.KeyFields)
		}
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
		if err := b.tups.Put(tupKeyOf(w, st.N), enc); err != nil {
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
		st, found, err := b.getWin(w)
		if err != nil {
			return false, err
		}
		isNew := !found
		if isNew {
			if st, err = b.newState(); err != nil {
				return false, err
			}
		}
		if err := b.addTo(&st, w, t); err != nil {
			return false, err
		}
		if err := b.putWin(w, st); err != nil {
			return false, err
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
	live, err := b.sessions()
	if err != nil {
		return false, err
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
		var moved [][]byte
		for n, i := range absorbed {
			w := live[i]
			ws, found, err := b.getWin(w)
			if err != nil {
				return false, err
			}
			if !found {
				return false, b.stateErr("merge sessions", fmt.Errorf("%w: session %s listed but not stored", errCorrupt, w))
			}
			if n == 0 {
				st.Key = ws.Key
			}
			if b.full != nil {
				vals, err := b.windowTuples(w, ws.N)
				if err != nil {
					return false, err
				}
				moved = append(moved, vals...)
				if err := b.deleteTuples(w, ws.N); err != nil {
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
			if err := b.delWin(w); err != nil {
				return false, err
			}
			if err := b.deleteTimer(string(b.curKey), w); err != nil {
				return false, err
			}
		}
		if b.full != nil {
			for i, v := range moved {
				if err := b.tups.Put(tupKeyOf(merged, int64(i)), v); err != nil {
					return false, b.stateErr("store tuple", err)
				}
			}
			st.N = int64(len(moved))
		}
	}
	if err := b.addTo(&st, merged, t); err != nil {
		return false, err
	}
	if err := b.putWin(merged, st); err != nil {
		return false, err
	}
	kept := live[:0]
	for i, w := range live {
		if !slices.Contains(absorbed, i) {
			kept = append(kept, w)
		}
	}
	if err := b.setSessions(append(kept, merged)); err != nil {
		return false, err
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
		st, found, err := b.getWin(w)
		if err != nil {
			return err
		}
		if !found {
			if st, err = b.newState(); err != nil {
				return err
			}
		}
		if err := b.addTo(&st, w, t); err != nil {
			return err
		}
		if n == w.End-1 {
			if err := b.fire(w, st, out); err != nil {
				return err
			}
			if err := b.purge(w, st); err != nil {
				return err
			}
			continue
		}
		if err := b.putWin(w, st); err != nil {
			return err
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
		if !b.cfg.eventTime() {
			break // the clock is the processing-time watermark; nothing to keep
		}
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
		st, found, err := b.readWin(w) // its timer just left the index
		if err != nil {
			return err
		}
		if found && due == w.End {
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
		if found {
			if err := b.purge(w, st); err != nil {
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
		enc, err := b.windowTuples(w, st.N)
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
func (b *bolt) purge(w Window, st winState) error {
	if err := b.delWin(w); err != nil {
		return err
	}
	if b.cfg.Assigner.kind == kindSession {
		live, err := b.sessions()
		if err != nil {
			return err
		}
		if err := b.setSessions(slices.DeleteFunc(live, func(x Window) bool { return x == w })); err != nil {
			return err
		}
	}
	if b.full != nil {
		return b.deleteTuples(w, st.N)
	}
	return nil
}

// sessions returns the live session windows of the current key. A key's
// sessions are listed in one value, so adding a tuple costs one read rather
// than a scan of the key's windows.
func (b *bolt) sessions() ([]Window, error) {
	v, err := b.sess.Get()
	switch {
	case errors.Is(err, state.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, b.stateErr("read sessions", err)
	}
	if len(v)%16 != 0 {
		return nil, b.stateErr("read sessions", fmt.Errorf("%w: session list of %d bytes", errCorrupt, len(v)))
	}
	ws := make([]Window, 0, len(v)/16)
	for i := 0; i < len(v); i += 16 {
		w, _ := parseWinKey(string(v[i : i+16]))
		ws = append(ws, w)
	}
	return ws, nil
}

func (b *bolt) setSessions(ws []Window) error {
	if len(ws) == 0 {
		if err := b.sess.Clear(); err != nil {
			return b.stateErr("write sessions", err)
		}
		return nil
	}
	v := make([]byte, 0, 16*len(ws))
	for _, w := range ws {
		v = append(v, winKeyOf(w)...)
	}
	if err := b.sess.Set(v); err != nil {
		return b.stateErr("write sessions", err)
	}
	return nil
}

// windowTuples returns the n stored tuples of window w of the current key,
// in arrival order.
func (b *bolt) windowTuples(w Window, n int64) ([][]byte, error) {
	vals := make([][]byte, n)
	for i := range n {
		v, err := b.tups.Get(tupKeyOf(w, i))
		if err != nil {
			return nil, b.stateErr("read tuple", err)
		}
		vals[i] = v
	}
	return vals, nil
}

// getWin reads window w of the current key. A time window exists exactly
// when it has a timer, so a window the timer index does not know is not read
// from state: a new window costs no lookup that misses the cache.
func (b *bolt) getWin(w Window) (winState, bool, error) {
	if b.cfg.Assigner.kind != kindCount && !b.timers.has(b.curKey, w) {
		return winState{}, false, nil
	}
	return b.readWin(w)
}

// readWin reads window w of the current key from state.
func (b *bolt) readWin(w Window) (winState, bool, error) {
	v, err := b.wins.Get(winKeyOf(w))
	switch {
	case errors.Is(err, state.ErrNotFound):
		return winState{}, false, nil
	case err != nil:
		return winState{}, false, b.stateErr("read window", err)
	}
	st, err := decodeWinState(v)
	if err != nil {
		return winState{}, false, b.stateErr("read window", err)
	}
	return st, true, nil
}

func (b *bolt) putWin(w Window, st winState) error {
	b.encBuf = st.encode(b.encBuf[:0])
	if err := b.wins.Put(winKeyOf(w), b.encBuf); err != nil {
		return b.stateErr("write window", err)
	}
	return nil
}

func (b *bolt) delWin(w Window) error {
	if err := b.wins.Delete(winKeyOf(w)); err != nil {
		return b.stateErr("delete window", err)
	}
	return nil
}

func (b *bolt) deleteTuples(w Window, n int64) error {
	for i := range n {
		if err := b.tups.Delete(tupKeyOf(w, i)); err != nil {
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
	return b.withGroupKey(recKey, func() error { return b.tmap.Put(timerKeyOf(id), due) })
}

func (b *bolt) deleteTimer(recKey string, w Window) error {
	id := timerID{Key: recKey, Start: w.Start, End: w.End}
	b.timers.delete(id)
	return b.withGroupKey(recKey, func() error { return b.tmap.Delete(timerKeyOf(id)) })
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
		if errors.Is(err, state.ErrKeyGroupOutOfRange) {
			return b.errorf("%w (subscribe the bolt with the fields grouping on %v)", err, b.cfg.KeyFields)
		}
		return b.stateErr("set key", err)
	}
	return nil
}
