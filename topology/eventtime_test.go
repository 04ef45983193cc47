package topology

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventTimeValidation(t *testing.T) {
	b := NewBuilder("et")
	b.SetSpout("s", SpoutFunc(nil).Factory(), 1).Output("ts", "v").EventTime(EventTime{Field: "when"})
	b.SetBolt("b", BoltFunc(nil).Factory(), 1).ShuffleFrom("s").Output("x").EventTime(EventTime{})
	_, err := b.Build()
	if !errors.Is(err, ErrUnknownField) || !strings.Contains(err.Error(), `"when"`) {
		t.Errorf("unknown event-time field: got %v", err)
	}
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "neither a field nor an extractor") {
		t.Errorf("empty event time: got %v", err)
	}
}

func TestEventTimeOf(t *testing.T) {
	et := &EventTime{Field: "ts"}
	at := time.UnixMilli(1_700_000_000_000)
	for _, v := range []any{at, at.UnixMilli(), int32(0)} {
		got, ok := et.TimeOf(Fields{"k", "ts"}, Values{"x", v})
		if !ok {
			t.Fatalf("TimeOf(%T) not ok", v)
		}
		if _, isInt := v.(int32); !isInt && !got.Equal(at) {
			t.Errorf("TimeOf(%T) = %v, want %v", v, got, at)
		}
	}
	if _, ok := et.TimeOf(Fields{"k", "ts"}, Values{"x", "noon"}); ok {
		t.Error("a string event time was accepted")
	}
}
