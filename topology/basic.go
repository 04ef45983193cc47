package topology

import "context"

// BasicEmitter is the emitter of a [BasicBolt]: everything it emits is
// anchored to the input being executed.
type BasicEmitter interface {
	Emit(values Values)
	EmitStream(stream StreamID, values Values)
	EmitDirect(task TaskID, stream StreamID, values Values)
	ReportError(err error)
}

// BasicBolt is a bolt that never acks or fails by hand, as Storm's
// IBasicBolt: every emit is anchored to the input, the input is acked when
// Execute returns nil and failed when it returns an error or panics. Wrap it
// with [Basic] to use it as a [Bolt].
type BasicBolt interface {
	Prepare(ctx context.Context, tc *Context) error
	Execute(ctx context.Context, t Tuple, out BasicEmitter) error
	Cleanup() error
}

// Basic turns a [BasicBolt] into a [Bolt].
func Basic(b BasicBolt) Bolt { return &basicBolt{b: b} }

// BasicFunc adapts a function to a stateless [BasicBolt].
type BasicFunc func(ctx context.Context, t Tuple, out BasicEmitter) error

func (f BasicFunc) Prepare(context.Context, *Context) error { return nil }
func (f BasicFunc) Execute(ctx context.Context, t Tuple, out BasicEmitter) error {
	return f(ctx, t, out)
}
func (f BasicFunc) Cleanup() error { return nil }

// Factory returns a factory whose bolts all run the same function, which must
// therefore be safe to call from several goroutines.
func (f BasicFunc) Factory() BoltFactory { return func() Bolt { return Basic(f) } }

type basicBolt struct {
	b  BasicBolt
	em basicEmitter
}

// SingleAnchorEmitter is implemented by emitters that can emit anchored to
// one tuple without the slice a variadic call allocates. The runtime's
// emitter implements it; [BasicBolt] uses it when present, since anchoring
// to the one input is what a basic bolt does on every emit.
type SingleAnchorEmitter interface {
	EmitAnchored(stream StreamID, values Values, anchor Tuple)
}

// StringEmitter is implemented by the [BasicEmitter] of a [BasicBolt].
// EmitString(stream, s) does what EmitStream(stream, Values{s}) does, on a
// stream of one field, but without boxing s into an interface and
// allocating the Values for it: for a bolt that emits many small strings,
// such as a splitter, those two allocations are most of what a tuple costs.
// The receiver gets an ordinary [Tuple]. Check for it with a type assertion
// and fall back to EmitStream.
type StringEmitter interface {
	EmitString(stream StreamID, s string)
}

// AnchoredStringEmitter is implemented by emitters that can emit a tuple of
// one string anchored to one tuple (or to none, when anchor is nil) without
// boxing the string. The runtime's emitter implements it; the emitter of a
// [BasicBolt] uses it for [StringEmitter.EmitString] when present.
type AnchoredStringEmitter interface {
	EmitStringAnchored(stream StreamID, s string, anchor Tuple)
}

func (b *basicBolt) Prepare(ctx context.Context, tc *Context) error { return b.b.Prepare(ctx, tc) }

// DeclareOutputs passes on the declarations of the wrapped bolt, so that a
// BasicBolt that declares its outputs keeps doing so once wrapped.
func (b *basicBolt) DeclareOutputs(o *Outputs) {
	if od, ok := b.b.(OutputDeclarer); ok {
		od.DeclareOutputs(o)
	}
}
func (b *basicBolt) Cleanup() error { return b.b.Cleanup() }

// Execute acks t when the wrapped bolt returns nil. On an error (or a panic,
// which the runtime recovers) it leaves t alone, and the runtime fails it.
func (b *basicBolt) Execute(ctx context.Context, t Tuple, out Emitter) error {
	b.em.out, b.em.in = out, t
	b.em.fast, _ = out.(SingleAnchorEmitter)
	b.em.fastStr, _ = out.(AnchoredStringEmitter)
	err := b.b.Execute(ctx, t, &b.em)
	b.em = basicEmitter{}
	if err != nil {
		return err
	}
	out.Ack(t)
	return nil
}

type basicEmitter struct {
	out     Emitter
	fast    SingleAnchorEmitter   // out, when it implements it
	fastStr AnchoredStringEmitter // out, when it implements it
	in      Tuple
}

func (e *basicEmitter) EmitString(stream StreamID, s string) {
	if e.fastStr != nil {
		e.fastStr.EmitStringAnchored(stream, s, e.in)
		return
	}
	e.EmitStream(stream, Values{s})
}

func (e *basicEmitter) Emit(values Values) { e.EmitStream(DefaultStream, values) }
func (e *basicEmitter) EmitStream(stream StreamID, values Values) {
	if e.fast != nil {
		e.fast.EmitAnchored(stream, values, e.in)
		return
	}
	e.out.EmitStream(stream, values, e.in)
}
func (e *basicEmitter) EmitDirect(task TaskID, stream StreamID, values Values) {
	e.out.EmitDirect(task, stream, values, e.in)
}
func (e *basicEmitter) ReportError(err error) { e.out.ReportError(err) }
