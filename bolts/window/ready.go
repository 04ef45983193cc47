package window

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/topology"
)

// Output fields of the ready bolts.
const (
	CountField = "count"
	SumField   = "sum"
	RankField  = "rank"
)

// CountAggregator counts the tuples of a window. Its result is one int64
// field.
type CountAggregator struct{}

func (CountAggregator) Init() int64                         { return 0 }
func (CountAggregator) Add(n int64, _ topology.Tuple) int64 { return n + 1 }
func (CountAggregator) Merge(a, b int64) int64              { return a + b }
func (CountAggregator) Result(n int64) topology.Values      { return topology.Values{n} }

// SumAcc is the accumulator of [SumAggregator]: integers add exactly in I
// until the first float, after which the sum is F.
type SumAcc struct {
	I     int64   `msgpack:"i"`
	F     float64 `msgpack:"f"`
	Float bool    `msgpack:"x"`
}

// SumAggregator sums one numeric field. The result is an int64 while every
// value was an integer, a float64 otherwise. Tuples whose field is missing or
// not a number add nothing.
type SumAggregator struct{ Field string }

func (SumAggregator) Init() SumAcc { return SumAcc{} }

func (s SumAggregator) Add(acc SumAcc, t topology.Tuple) SumAcc {
	v, ok := t.Get(s.Field)
	if !ok {
		return acc
	}
	return addNumber(acc, v)
}

func addNumber(acc SumAcc, v any) SumAcc {
	if i, ok := topology.ToInt64(v); ok {
		if acc.Float {
			acc.F += float64(i)
		} else {
			acc.I += i
		}
		return acc
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		return acc
	}
	if !acc.Float {
		acc.Float, acc.F = true, float64(acc.I)
	}
	acc.F += f
	return acc
}

func (SumAggregator) Merge(a, b SumAcc) SumAcc {
	switch {
	case a.Float && b.Float:
		return SumAcc{F: a.F + b.F, Float: true}
	case a.Float:
		return SumAcc{F: a.F + float64(b.I), Float: true}
	case b.Float:
		return SumAcc{F: float64(a.I) + b.F, Float: true}
	}
	return SumAcc{I: a.I + b.I}
}

func (SumAggregator) Result(acc SumAcc) topology.Values {
	if acc.Float {
		return topology.Values{acc.F}
	}
	return topology.Values{acc.I}
}

// Count returns a window bolt that counts the tuples of each key and window:
// cfg with Aggregation = Aggregate(CountAggregator{}) and OutputFields =
// [CountField]. Results are (key fields..., window_start, window_end, count).
func Count(cfg Config) topology.BoltFactory {
	cfg.Aggregation = Aggregate[int64](CountAggregator{})
	cfg.OutputFields = []string{CountField}
	return New(cfg)
}

// Sum returns a window bolt that sums field per key and window: results are
// (key fields..., window_start, window_end, sum).
func Sum(field string, cfg Config) topology.BoltFactory {
	cfg.Aggregation = Aggregate[SumAcc](SumAggregator{Field: field})
	cfg.OutputFields = []string{SumField}
	return New(cfg)
}

// TopN returns a bolt that ranks, per window, the n keys with the largest
// valueField, from the results of a keyed window bolt upstream (a [Count] or
// [Sum] whose results carry cfg.KeyFields, [StartField], [EndField] and
// valueField). Subscribe it with the global grouping; it keeps one set of
// windows for all keys.
//
// The windows are those of the upstream results ([Given]): a window fires
// when the watermark passes its end, which is after the upstream bolt
// emitted that window's results, because the runtime forwards a watermark
// only after the bolt handled it. When the upstream bolt re-fires a window
// (allowed lateness), the newer value of a key replaces the older, and TopN
// re-fires too if its own AllowedLateness (set it to the upstream's) keeps
// the window.
//
// n must be at least 1. Each firing emits up to n tuples (window_start, window_end, rank, key
// fields..., valueField), rank 1 first; ties rank by key encoding. Of cfg,
// TopN uses KeyFields (the ranked key), AllowedLateness, Stream, LateStream,
// StateName and Registerer; the rest it sets itself. The window's tuples are
// kept (full-window mode): one per key and window, as many as the upstream
// emits.
func TopN(n int, valueField string, cfg Config) topology.BoltFactory {
	keyFields := slices.Clone(cfg.KeyFields)
	in := slices.Concat(keyFields, []string{StartField, EndField, valueField})
	nk := len(keyFields)
	c := cfg
	c.KeyFields = nil
	c.Assigner = Given(StartField, EndField)
	c.TimeField, c.TimeExtract, c.ProcessingTime = "", nil, false
	c.InputFields = in
	c.OutputFields = slices.Concat([]string{RankField}, keyFields, []string{valueField})
	c.Aggregation = ProcessAll(func(_ Window, _ topology.Values, tuples []topology.Values) []topology.Values {
		return topN(n, nk, tuples)
	})
	var errs []error
	if n < 1 {
		errs = append(errs, fmt.Errorf("%w: TopN needs n of at least 1, not %d", ErrInvalidConfig, n))
	}
	if nk == 0 {
		errs = append(errs, fmt.Errorf("%w: TopN needs the key fields it ranks", ErrInvalidConfig))
	}
	if valueField == "" {
		errs = append(errs, fmt.Errorf("%w: TopN needs a value field", ErrInvalidConfig))
	}
	return newFactory(c, errors.Join(errs...))
}

// topN ranks tuples of (key fields (nk of them)..., start, end, value),
// keeping the last value of each key.
func topN(n, nk int, tuples []topology.Values) []topology.Values {
	type entry struct {
		enc   []byte
		key   topology.Values
		value SumAcc
	}
	last := map[string]int{}
	var entries []entry
	for _, tv := range tuples {
		if len(tv) < nk+3 {
			continue
		}
		var enc []byte
		for _, v := range tv[:nk] {
			enc = keygroup.AppendKey(enc, v)
		}
		e := entry{enc: enc, key: tv[:nk], value: addNumber(SumAcc{}, tv[nk+2])}
		if i, ok := last[string(enc)]; ok {
			entries[i] = e
			continue
		}
		last[string(enc)] = len(entries)
		entries = append(entries, e)
	}
	num := func(a SumAcc) float64 {
		if a.Float {
			return a.F
		}
		return float64(a.I)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if !a.value.Float && !b.value.Float {
			if c := cmp.Compare(b.value.I, a.value.I); c != 0 {
				return c
			}
		} else if c := cmp.Compare(num(b.value), num(a.value)); c != 0 {
			return c
		}
		return bytes.Compare(a.enc, b.enc)
	})
	rows := make([]topology.Values, 0, min(n, len(entries)))
	for i, e := range entries {
		if i == n {
			break
		}
		row := topology.Values{int64(i + 1)}
		row = append(row, e.key...)
		row = append(row, SumAggregator{}.Result(e.value)...)
		rows = append(rows, row)
	}
	return rows
}
