package gen

import (
	"errors"
	"slices"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestSnapshotRestore(t *testing.T) {
	cfg := SentenceConfig{Seed: 3, Limit: 100, Batch: 10}
	f := Sentences(cfg)

	// The reference: one task emitting all 100 sentences.
	var all recordingEmitter
	drain(t, openTask(t, f, 1), &all, 100)
	want := sentencesOf(&all)

	// A task emits 30, snapshots, and is replaced by one restored from it.
	s := openTask(t, f, 1)
	var r recordingEmitter
	next := func(s *sentenceSpout) {
		if err := s.Next(t.Context(), &r); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		next(s)
	}
	snap, err := s.Snapshot(7)
	if err != nil {
		t.Fatal(err)
	}
	s.CheckpointComplete(7)
	next(s) // emitted after the snapshot: lost with the task

	restored := openTask(t, f, 1)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	r.emits = r.emits[:30]
	drain(t, restored, &r, 100)
	if got := sentencesOf(&r); !slices.Equal(got, want) {
		t.Errorf("restored run differs from the reference (%d vs %d sentences)", len(got), len(want))
	}

	// Another index's snapshot is not this task's business.
	other := openTask(t, f, 0)
	if err := other.Restore(snap); err != nil || other.emitted != 0 {
		t.Errorf("restore of another index: err %v, emitted %d", err, other.emitted)
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	s := openTask(t, Sentences(SentenceConfig{Limit: 5}), 0)
	good, _ := s.Snapshot(1)
	for _, bad := range [][]byte{nil, {}, {9, 0, 0}, {snapshotVersion}, {snapshotVersion, 0x80}, append(slices.Clone(good), 0), {snapshotVersion, 0, 6}} {
		if err := s.Restore(bad); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Restore(%v) = %v, want ErrBadSnapshot", bad, err)
		}
	}
}

func TestNoMessageIDsWithoutAcking(t *testing.T) {
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.ExactlyOnce} {
		s := Sentences(SentenceConfig{Reliable: true, Limit: 3})().(*sentenceSpout)
		if err := s.Open(t.Context(), &topology.Context{Config: topology.Config{Guarantee: g}}); err != nil {
			t.Fatal(err)
		}
		var r recordingEmitter
		drain(t, s, &r, 5)
		for _, e := range r.emits {
			if e.msgID != nil {
				t.Errorf("%v: emitted with id %v", g, e.msgID)
			}
		}
		if len(s.pending) != 0 {
			t.Errorf("%v: %d sentences kept for acks that never come", g, len(s.pending))
		}
	}
}

func FuzzRestore(f *testing.F) {
	s := Sentences(SentenceConfig{Limit: 50, VocabularySize: 10})().(*sentenceSpout)
	if err := s.Open(f.Context(), &topology.Context{}); err != nil {
		f.Fatal(err)
	}
	s.emitted = 17
	good, _ := s.Snapshot(1)
	f.Add(good)
	f.Add(good[:2])
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Sentences(SentenceConfig{Limit: 50, VocabularySize: 10})().(*sentenceSpout)
		if err := s.Open(t.Context(), &topology.Context{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(b); err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v is not ErrBadSnapshot", err)
			}
			return
		}
		// A restored position survives another snapshot and restore (the
		// bytes may differ: varints have overlong spellings).
		again, _ := s.Snapshot(2)
		s2 := Sentences(SentenceConfig{Limit: 50, VocabularySize: 10})().(*sentenceSpout)
		if err := s2.Open(t.Context(), &topology.Context{}); err != nil {
			t.Fatal(err)
		}
		if err := s2.Restore(again); err != nil || s2.emitted != s.emitted {
			t.Fatalf("snapshot %v restored to %d, re-restored to %d (%v)", b, s.emitted, s2.emitted, err)
		}
	})
}
