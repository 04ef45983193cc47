package gen

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gale-stream/gale/topology"
)

// emitted is one Emit call seen by recordingEmitter.
type emitted struct {
	values topology.Values
	msgID  any
}

// recordingEmitter is a test double of topology.SpoutEmitter.
type recordingEmitter struct {
	emits []emitted
	errs  []error
}

func (r *recordingEmitter) Emit(v topology.Values, id any) {
	r.EmitStream(topology.DefaultStream, v, id)
}
func (r *recordingEmitter) EmitStream(s topology.StreamID, v topology.Values, id any) {
	if s != topology.DefaultStream {
		panic("unexpected stream " + s)
	}
	r.emits = append(r.emits, emitted{v, id})
}
func (r *recordingEmitter) EmitDirect(topology.TaskID, topology.StreamID, topology.Values, any) {
	panic("unexpected EmitDirect")
}
func (r *recordingEmitter) ReportError(err error) { r.errs = append(r.errs, err) }

// openTask makes and opens task index of a spout from f.
func openTask(t *testing.T, f topology.SpoutFactory, index int) *sentenceSpout {
	t.Helper()
	s := f().(*sentenceSpout)
	if err := s.Open(t.Context(), &topology.Context{Component: "sentences", Task: topology.TaskID(index + 1), Index: index}); err != nil {
		t.Fatal(err)
	}
	return s
}

// drain calls Next until it emits nothing, at most max times.
func drain(t *testing.T, s *sentenceSpout, r *recordingEmitter, max int) {
	t.Helper()
	for range max {
		before := len(r.emits)
		if err := s.Next(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if len(r.emits) == before {
			return
		}
	}
	t.Fatalf("spout still emitting after %d calls", max)
}

func sentencesOf(r *recordingEmitter) []string {
	out := make([]string, len(r.emits))
	for i, e := range r.emits {
		out[i] = e.values[0].(string)
	}
	return out
}

func TestVocabulary(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1000, 50000} {
		v := Vocabulary(n, 7)
		if len(v) != n {
			t.Fatalf("Vocabulary(%d) has %d words", n, len(v))
		}
		seen := map[string]bool{}
		for _, w := range v {
			if seen[w] {
				t.Fatalf("Vocabulary(%d) repeats %q", n, w)
			}
			seen[w] = true
			if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				t.Fatalf("word %q is not lower-case letters", w)
			}
		}
	}
	if !slices.Equal(Vocabulary(100, 3), Vocabulary(100, 3)) {
		t.Error("Vocabulary is not deterministic")
	}
	if slices.Equal(Vocabulary(100, 3), Vocabulary(100, 4)) {
		t.Error("Vocabulary ignores the seed")
	}
	if !slices.Equal(Vocabulary(100, 3)[:50], Vocabulary(50, 3)) {
		t.Error("a smaller vocabulary is not a prefix of a larger one")
	}
}

func TestSuffixIsAlphabetic(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2000 {
		s := suffix(i)
		if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") != "" || seen[s] {
			t.Fatalf("suffix(%d) = %q", i, s)
		}
		seen[s] = true
	}
}

func TestSentencesDeterministic(t *testing.T) {
	cfg := SentenceConfig{Seed: 42, Limit: 200, VocabularySize: 50, WordsPerSentence: 6}
	run := func(index int) []string {
		var r recordingEmitter
		drain(t, openTask(t, Sentences(cfg), index), &r, 100)
		return sentencesOf(&r)
	}
	a, b := run(0), run(0)
	if len(a) != 200 {
		t.Fatalf("task emitted %d sentences, want Limit 200", len(a))
	}
	if !slices.Equal(a, b) {
		t.Error("the same task index emitted different sentences")
	}
	if c := run(1); slices.Equal(a, c) {
		t.Error("tasks 0 and 1 emitted the same sentences")
	}
	vocab := map[string]bool{}
	for _, w := range Vocabulary(50, 42) {
		vocab[w] = true
	}
	for _, s := range a {
		words := strings.Split(s, " ")
		if len(words) != 6 {
			t.Fatalf("sentence %q has %d words", s, len(words))
		}
		for _, w := range words {
			if !vocab[w] {
				t.Fatalf("word %q is not in the vocabulary", w)
			}
		}
	}
}

func TestBatchAndUnreliable(t *testing.T) {
	var r recordingEmitter
	s := openTask(t, Sentences(SentenceConfig{Batch: 5, Limit: 12}), 0)
	counts := []int{}
	for range 4 {
		before := len(r.emits)
		if err := s.Next(t.Context(), &r); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(r.emits)-before)
	}
	if !slices.Equal(counts, []int{5, 5, 2, 0}) {
		t.Errorf("emits per Next = %v, want [5 5 2 0]", counts)
	}
	for _, e := range r.emits {
		if e.msgID != nil {
			t.Fatalf("unreliable spout emitted with id %v", e.msgID)
		}
	}
}

func TestExpectedMatchesEmitted(t *testing.T) {
	cfg := SentenceConfig{Seed: 9, Limit: 300, VocabularySize: 40, Batch: 16}
	const tasks = 3
	got := map[string]int64{}
	for i := range tasks {
		var r recordingEmitter
		drain(t, openTask(t, Sentences(cfg), i), &r, 1000)
		for _, s := range sentencesOf(&r) {
			for _, w := range strings.Fields(s) {
				got[w]++
			}
		}
	}
	want := Expected(cfg, tasks)
	if !maps.Equal(got, want) {
		t.Errorf("Expected differs from what the spouts emitted: %d vs %d words", len(want), len(got))
	}
	var total int64
	for _, n := range want {
		total += n
	}
	if total != tasks*300*DefaultWordsPerSentence {
		t.Errorf("Expected totals %d words, want %d", total, tasks*300*DefaultWordsPerSentence)
	}
	if Expected(SentenceConfig{}, 2) != nil {
		t.Error("Expected without a Limit is not nil")
	}
}

func TestReliableReplay(t *testing.T) {
	var r recordingEmitter
	s := openTask(t, Sentences(SentenceConfig{Seed: 1, Limit: 10, Reliable: true, Batch: 4}), 0)
	drain(t, s, &r, 10)
	if len(r.emits) != 10 {
		t.Fatalf("emitted %d, want 10", len(r.emits))
	}
	first := map[uint64]string{}
	for i, e := range r.emits {
		id, ok := e.msgID.(uint64)
		if !ok || id != uint64(i+1) {
			t.Fatalf("emit %d has id %v (%T), want uint64 %d", i, e.msgID, e.msgID, i+1)
		}
		first[id] = e.values[0].(string)
	}
	for id := uint64(1); id <= 10; id++ {
		if id%3 == 0 {
			s.Fail(id)
		} else {
			s.Ack(id)
		}
	}
	s.Fail(uint64(1)) // already acked: nothing to replay
	s.Fail("junk")    // not ours: ignored

	r.emits = nil
	drain(t, s, &r, 10)
	var replayed []uint64
	for _, e := range r.emits {
		id := e.msgID.(uint64)
		replayed = append(replayed, id)
		if e.values[0] != first[id] {
			t.Errorf("replay of %d is %q, want %q", id, e.values[0], first[id])
		}
	}
	if !slices.Equal(replayed, []uint64{3, 6, 9}) {
		t.Errorf("replayed %v, want [3 6 9]", replayed)
	}
	// Fail again, then ack: replayed once more, then nothing is left.
	s.Fail(uint64(6))
	r.emits = nil
	drain(t, s, &r, 10)
	if len(r.emits) != 1 || r.emits[0].msgID != uint64(6) {
		t.Errorf("second replay = %v", r.emits)
	}
	for _, id := range []uint64{3, 6, 9} {
		s.Ack(id)
	}
	if len(s.pending) != 0 {
		t.Errorf("%d sentences still pending after every ack", len(s.pending))
	}
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, batch = 500.0, 20
		var r recordingEmitter
		s := openTask(t, Sentences(SentenceConfig{Rate: rate, Batch: batch}), 0)
		start := time.Now()
		calls := 0
		// Call Next every millisecond of fake time for two seconds, as a
		// runtime backing off between empty calls would.
		for time.Since(start) < 2*time.Second {
			if err := s.Next(t.Context(), &r); err != nil {
				t.Fatal(err)
			}
			calls++
			time.Sleep(time.Millisecond)
		}
		n := float64(len(r.emits))
		elapsed := time.Since(start).Seconds()
		lo, hi := rate*elapsed*0.9, rate*elapsed+batch+1
		if n < lo || n > hi {
			t.Errorf("emitted %v sentences in %.2fs at rate %v, want within [%v, %v]", n, elapsed, rate, lo, hi)
		}
		if calls < 1000 {
			t.Errorf("only %d calls", calls)
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	cfg := SentenceConfig{Rate: -1, Limit: -2, Batch: -3}
	err := cfg.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v", err)
	}
	for _, f := range []string{"Rate", "Limit", "Batch"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error lacks %s: %v", f, err)
		}
	}
	s := Sentences(cfg)()
	err = s.Open(t.Context(), &topology.Context{Component: "gen", Task: 3})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "gen") || !strings.Contains(err.Error(), "task 3") {
		t.Errorf("Open = %v, want ErrInvalidConfig naming component and task", err)
	}
}

func TestDeclaresOutputs(t *testing.T) {
	b := topology.NewBuilder("t")
	b.SetSpout("sentences", Sentences(SentenceConfig{}), 2)
	b.SetBolt("sink", topology.BoltFunc(nil).Factory(), 1).FieldsFrom("sentences", Field)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := topo.Component("sentences")
	if st, ok := c.Output(topology.DefaultStream); !ok || !slices.Equal(st.Fields, topology.Fields{Field}) {
		t.Errorf("outputs = %+v", c.Outputs)
	}
}

func TestGeneratorMatchesSpout(t *testing.T) {
	cfg := SentenceConfig{Seed: 11, Limit: 50, WordsPerSentence: 4}
	var r recordingEmitter
	drain(t, openTask(t, Sentences(cfg), 2), &r, 10)
	g, err := NewGenerator(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sentencesOf(&r) {
		if got := g.Next(); got != s {
			t.Fatalf("sentence %d: generator %q, spout %q", i, got, s)
		}
	}
	if _, err := NewGenerator(SentenceConfig{Batch: -1}, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid config: err = %v", err)
	}
}
