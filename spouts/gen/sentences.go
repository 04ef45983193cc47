package gen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"

	"github.com/gale-stream/gale/topology"
)

// Field is the name of the field a sentence spout emits.
const Field = "sentence"

// Defaults of [SentenceConfig].
const (
	DefaultVocabularySize   = 1000
	DefaultWordsPerSentence = 10
	DefaultBatch            = 64
)

// SentenceConfig configures [Sentences]. Zero fields take the defaults named
// in their comments.
type SentenceConfig struct {
	// VocabularySize is the number of distinct words, made by [Vocabulary]
	// from Seed. Default: 1000.
	VocabularySize int

	// WordsPerSentence is the number of words in every sentence. Default: 10.
	WordsPerSentence int

	// Seed seeds the vocabulary and every task's sentence stream. Task i of
	// a component draws from a stream derived from (Seed, i), so a run is
	// reproducible whatever the timing, and tasks do not repeat each other.
	Seed int64

	// Rate is the most sentences per second each task emits, with bursts of
	// at most Batch. Default: 0, unlimited.
	Rate float64

	// Limit is the number of sentences each task emits before it falls
	// silent (replays of failed sentences do not count). Default: 0,
	// unlimited.
	Limit int64

	// Reliable makes the spout emit every sentence with a message id (a
	// uint64 sequence number per task), keep it until it is acked, and emit
	// it again, with the same id, when it fails.
	Reliable bool

	// Batch is the most sentences one Next call emits. Default: 64.
	Batch int
}

// withDefaults returns c with zero fields set to their defaults.
func (c SentenceConfig) withDefaults() SentenceConfig {
	if c.VocabularySize == 0 {
		c.VocabularySize = DefaultVocabularySize
	}
	if c.WordsPerSentence == 0 {
		c.WordsPerSentence = DefaultWordsPerSentence
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	return c
}

// Validate reports every invalid field of c at once.
func (c SentenceConfig) Validate() error {
	var errs []error
	if c.VocabularySize < 0 {
		errs = append(errs, fmt.Errorf("%w: VocabularySize is negative (%d)", ErrInvalidConfig, c.VocabularySize))
	}
	if c.WordsPerSentence < 0 {
		errs = append(errs, fmt.Errorf("%w: WordsPerSentence is negative (%d)", ErrInvalidConfig, c.WordsPerSentence))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("%w: Rate is negative (%g)", ErrInvalidConfig, c.Rate))
	}
	if c.Limit < 0 {
		errs = append(errs, fmt.Errorf("%w: Limit is negative (%d)", ErrInvalidConfig, c.Limit))
	}
	if c.Batch < 0 {
		errs = append(errs, fmt.Errorf("%w: Batch is negative (%d)", ErrInvalidConfig, c.Batch))
	}
	return errors.Join(errs...)
}

// Sentences returns a factory of spouts that emit pseudo-random sentences
// of words from a fixed vocabulary on the default stream, under the field
// [Field]. Each instance declares its output, so
//
//	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 1, Limit: 1000}), 2)
//
// needs no Output call. An invalid config makes Open fail with
// [ErrInvalidConfig].
func Sentences(cfg SentenceConfig) topology.SpoutFactory {
	cfg = cfg.withDefaults()
	var vocab []string
	if cfg.Validate() == nil {
		// Shared read-only by every task of the factory.
		vocab = Vocabulary(cfg.VocabularySize, cfg.Seed)
	}
	return func() topology.Spout {
		return &sentenceSpout{cfg: cfg, vocab: vocab, now: time.Now}
	}
}

// sentenceSpout is one task's generator. Every method runs on the task's
// goroutine, so it has no locks.
type sentenceSpout struct {
	cfg   SentenceConfig
	vocab []string
	now   func() time.Time

	index   int
	gen     *generator
	limiter *rate.Limiter // nil when unlimited
	emitted int64         // sentences emitted for the first time

	// Reliable mode: sentences emitted and not yet acked, by message id,
	// and the ids failed and awaiting replay, in failure order.
	nextID  uint64
	pending map[uint64]string
	replay  []uint64
}

// DeclareOutputs declares the default stream with the field "sentence".
func (s *sentenceSpout) DeclareOutputs(o *topology.Outputs) { o.Default(Field) }

func (s *sentenceSpout) Open(_ context.Context, tc *topology.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("gen: sentences %s task %d: %w", tc.Component, tc.Task, err)
	}
	s.index = tc.Index
	s.gen = newGenerator(s.cfg, s.vocab, tc.Index)
	// Message ids only make sense where the runtime acks: at-most-once never
	// calls Ack or Fail, and exactly-once recovers by rewinding (see
	// Snapshot), so keeping sentences for them would only leak memory.
	if g := tc.Config.Guarantee; g == topology.AtMostOnce || g == topology.ExactlyOnce {
		s.cfg.Reliable = false
	}
	if s.cfg.Rate > 0 {
		// The bucket starts full: one batch at once, then the rate.
		s.limiter = rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Batch)
	}
	if s.cfg.Reliable {
		s.pending = make(map[uint64]string)
	}
	return nil
}

func (s *sentenceSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	budget := s.cfg.Batch
	now := s.now()
	if s.limiter != nil {
		budget = min(budget, int(s.limiter.TokensAt(now)))
		if budget <= 0 {
			return nil
		}
	}
	n := 0
	// Replays first: they are owed.
	for n < budget && len(s.replay) > 0 {
		id := s.replay[0]
		s.replay = s.replay[1:]
		if sentence, ok := s.pending[id]; ok {
			out.Emit(topology.Values{sentence}, id)
			n++
		}
	}
	for n < budget && (s.cfg.Limit == 0 || s.emitted < s.cfg.Limit) {
		sentence := s.gen.next()
		s.emitted++
		n++
		if !s.cfg.Reliable {
			out.Emit(topology.Values{sentence}, nil)
			continue
		}
		s.nextID++
		s.pending[s.nextID] = sentence
		out.Emit(topology.Values{sentence}, s.nextID)
	}
	if s.limiter != nil && n > 0 {
		s.limiter.AllowN(now, n)
	}
	return nil
}

// Ack forgets an acked sentence.
func (s *sentenceSpout) Ack(msgID any) {
	if id, ok := msgID.(uint64); ok {
		delete(s.pending, id)
	}
}

// Fail queues a failed sentence for replay with the same message id.
func (s *sentenceSpout) Fail(msgID any) {
	if id, ok := msgID.(uint64); ok {
		if _, pending := s.pending[id]; pending {
			s.replay = append(s.replay, id)
		}
	}
}

func (s *sentenceSpout) Close() error { return nil }

// generator makes one task's sentences.
type generator struct {
	rng   *rand.Rand
	vocab []string
	words int
	buf   []byte // reused; each sentence costs one allocation, its string
}

func newGenerator(cfg SentenceConfig, vocab []string, index int) *generator {
	// PCG with the seed and the task index as its two words gives each task
	// an independent, reproducible stream.
	src := rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15^uint64(index))
	return &generator{rng: rand.New(src), vocab: vocab, words: cfg.WordsPerSentence}
}

func (g *generator) next() string {
	g.buf = g.buf[:0]
	for i := range g.words {
		if i > 0 {
			g.buf = append(g.buf, ' ')
		}
		g.buf = append(g.buf, g.vocab[g.rng.IntN(len(g.vocab))]...)
	}
	return string(g.buf)
}

// skip draws one sentence's words without building it.
func (g *generator) skip() {
	for range g.words {
		g.rng.IntN(len(g.vocab))
	}
}

// Expected returns how many times each word occurs in the sentences that
// tasks tasks of a [Sentences] spout with cfg emit in all, each emitting its
// cfg.Limit sentences once. It is what an exactly-once word count must end
// with; under at-least-once, replays can only add to it. It returns nil when
// cfg has no Limit or is invalid.
func Expected(cfg SentenceConfig, tasks int) map[string]int64 {
	cfg = cfg.withDefaults()
	if cfg.Limit <= 0 || cfg.Validate() != nil {
		return nil
	}
	vocab := Vocabulary(cfg.VocabularySize, cfg.Seed)
	counts := make(map[string]int64, len(vocab))
	for i := range tasks {
		g := newGenerator(cfg, vocab, i)
		for range cfg.Limit {
			for range cfg.WordsPerSentence {
				counts[vocab[g.rng.IntN(len(vocab))]]++
			}
		}
	}
	return counts
}
