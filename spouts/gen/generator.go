package gen

// Generator makes, outside any topology, the sentences that task index of a
// [Sentences] spout with the same config emits for the first time, in the
// same order. Benchmark baselines and checkers use it to see the exact
// input without running the spout. A Generator is not safe for concurrent
// use.
type Generator struct {
	g *generator
}

// NewGenerator returns the generator of task index. It fails with
// [ErrInvalidConfig] on an invalid cfg.
func NewGenerator(cfg SentenceConfig, index int) (*Generator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Generator{g: newGenerator(cfg, Vocabulary(cfg.VocabularySize, cfg.Seed), index)}, nil
}

// Next returns the next sentence. It ignores the config's Limit.
func (g *Generator) Next() string { return g.g.next() }
