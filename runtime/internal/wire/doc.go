// Package wire is the msgpack envelope that carries tuples and control
// messages between gale worker processes. Inside a worker tuples pass by
// reference; only the transport (package runtime/transport) encodes them.
//
// # Frames and items
//
// A [Frame] is the unit the transport moves: a one-byte [Kind] followed by a
// msgpack body. Four frame kinds exist:
//
//   - [KindBatch]: a [Batch], a sequence of [Item]s for the tasks of one
//     destination worker. Each item is a [Tuple], [Barrier], [Watermark],
//     [AckerMsg] or [SpoutDone]. Barriers and watermarks travel in the same
//     sequence as the tuples around them, so the order a task emitted them in
//     is the order the receiver sees. On the wire, consecutive tuples with
//     the same destination, source task, stream and tracking travel as one
//     run item ([KindRun]: kind, destination, source, stream, tracked, then
//     the list of the tuples' value lists, each followed by its edge list
//     when tracked), which names what they share once; a [Decoder] turns
//     it back into one tuple item each.
//   - [KindHello]: the handshake, first on every connection ([Hello]).
//   - [KindCredit]: flow-control credit granted by a receiver ([Credit]).
//   - [KindRefuse]: the handshake was refused ([Refuse]).
//
// Every body is a plain msgpack array whose first element, for items, is the
// item's kind, so any msgpack tool can dump a frame. Decoders read the fields
// they know and skip trailing ones, so a field can be appended to a message
// without breaking older readers.
//
// # Values
//
// Tuple values are encoded by hand, without reflection, for these types:
// nil, bool, every Go integer type, float32, float64, string, []byte,
// time.Time (the msgpack timestamp extension, -1), []any, map[string]any,
// and for speed also []string and map[string]string. Integers take the
// smallest msgpack encoding that holds them.
//
// Decoding is not type-preserving for integers and containers: every integer
// decodes as int64, except an unsigned value above math.MaxInt64, which
// decodes as uint64; arrays decode as []any and maps as map[string]any;
// times decode in UTC without a monotonic reading. The typed getters of
// [github.com/gale-stream/gale/topology.Tuple] accept every integer type for
// this reason.
//
// Any other value (a struct, a named type, a typed slice, a map with
// non-string keys) falls back to github.com/vmihailenco/msgpack/v5 and
// decodes as whatever our decoder makes of the bytes that library wrote:
// a struct becomes a map[string]any, a typed slice a []any, and a map with
// non-string keys a map[any]any (decoded by the library). Values of a type
// registered with msgpack.RegisterExt decode as that type again. The
// fallback uses reflection and is several times slower; keep hot-path
// values to the types above.
//
// # Lazy decoding
//
// A [Decoder] with [Decoder.Lazy] set validates tuple values completely but
// leaves them encoded, in [Tuple.Raw]: a [RawValues] whose typed accessors
// (StringAt, Int64At, Float64At, BoolAt, BytesAt) read one value without
// allocating, and which a [ValueDecoder] turns into []any when all of them
// are needed. A tuple whose Values are nil is encoded from its Raw bytes,
// so forwarding a received tuple costs a copy, not a re-encode. Workers
// receive this way: a tuple from another worker keeps its values encoded
// until its bolt reads them (runtime/raw.go).
//
// # Flat decoding
//
// Values decoded into []any (by an eager [Decoder] or a [ValueDecoder]) go,
// for tuples of scalars, strings, byte slices and timestamps, into chunks
// of pointer-free memory that the garbage collector does not scan: the
// []any, the boxed values and copies of the strings and bytes, all in one
// chunk whose only pointers point into itself or into static memory. That
// takes decoded tuples out of the collector's work and their stores out of
// its write barriers, which had cost as much as decoding. The rule it adds
// is the runtime's existing one: never modify a decoded value list. See
// flat.go for the argument.
//
// # Safety
//
// The [Decoder] never panics on input and checks every length against the
// bytes that remain before it allocates, so a frame claiming a billion
// elements fails at once with [ErrTruncated]. Nesting is limited to
// [MaxDepth] levels.
//
// Strings and byte slices returned by a [Decoder] alias its input instead of
// copying it (except values decoded flat, which are copied into their chunk,
// and interned stream names): [DecodeFrame] copies the input once and decodes from the copy,
// [Decoder.DecodeOwned] decodes in place from a buffer the caller hands over.
// A single retained string keeps the whole frame buffer alive.
package wire
