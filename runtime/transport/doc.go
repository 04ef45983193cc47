// Package transport carries tuples between gale worker processes over TCP:
// length-prefixed frames of the msgpack envelope in runtime/internal/wire,
// with credit-based flow control, frame limits, a fencing handshake,
// reconnection and optional mutual TLS.
//
// # Pieces
//
// A [Server] accepts links from other workers and hands every batch frame to
// the [Handler]. A [Client] is the link to one peer: it connects in the
// background, reconnects with jittered exponential backoff, and sends
// batches. A [Transport] bundles a worker's server with a client per peer
// address, created on first send; it is what the runtime uses.
//
// # Protocol
//
// Every frame is a 4-byte big-endian payload length, then the payload: a
// [wire.Frame] (a kind byte and a msgpack body). A length above
// [Options.MaxFrameSize] (16 MiB by default) is rejected before anything is
// allocated; the first frame of a connection, read before the peer is
// authenticated, may not exceed 4 KiB.
//
//  1. The client sends a Hello: topology, worker index, assignment epoch and
//     optional token.
//  2. The server checks it with [Options.Accept] ([DefaultAccept]: same
//     topology, same token, epoch not older than its own). It answers with
//     a Refuse carrying the reason (the client stops for good with
//     [ErrRefused]), or with its own Hello followed by a Credit frame
//     granting [Options.CreditWindow] frames.
//  3. The client checks the server's Hello with its own Accept, so a worker
//     of a newer assignment does not send to a stale one; on failure it
//     retries later, in case a current worker takes over the address.
//  4. The client sends Batch frames, one per credit; the server sends
//     Credit frames back as its handler finishes with batches.
//
// # Flow control and backpressure
//
// The server serves each connection on one goroutine, which reads a frame
// (checking its length first), decodes it (values too, unless
// [Options.LazyValues]; see [Handler]) and calls the Handler, then reads
// the next: a frame is decoded and handled on the core that read it, with
// no handoff between goroutines. It returns a frame's credit only after
// the Handler has returned, in grants of half a window (the rest within a
// millisecond once no frame is waiting), so a busy link sends one credit
// frame per several batches. A sender without credit blocks in
// [Client.Send] (until its context is done), so a handler that blocks on a
// full task queue stops the remote senders after at most CreditWindow
// frames. The server reads nothing while its Handler blocks, so it holds
// one frame per link however a peer behaves; frames a peer sends beyond
// what the server has read wait in the socket buffers, and, when they are
// more than those hold, in the peer's write. A write is given up after
// [Options.WriteTimeout] to detect a dead peer, so a server whose Handler
// has blocked for a quarter of that sends a heartbeat (a credit frame,
// perhaps for no frames) every quarter, and a client extends its write
// deadline on every frame it receives. Time senders spend blocked is
// exported as backpressure.
//
// # Failures
//
// A connection that sends garbage, a malformed frame, an oversized length
// or an unexpected frame kind is closed, the
// error is logged (with the peer's address) and counted by kind; other
// connections are unaffected. A dropped link reconnects with backoff
// ([Options.ReconnectMin] to [Options.ReconnectMax], jittered). Frames in
// flight on a dropped link are not resent: see [Client] for what is lost and
// how it is counted; the runtime's acking and checkpoints replay it.
//
// # Metrics
//
// All carry the gale_transport_ prefix: sent_frames_total, sent_bytes_total,
// received_frames_total, received_bytes_total, reconnects_total,
// lost_frames_total, dropped_frames_total, backpressure_seconds_total,
// errors_total{kind} with kind one of frame_too_large, malformed, protocol,
// handshake, refused, io, dial, and connections{role} with role client or
// server. No label names a peer, so cardinality stays fixed.
//
// # Goroutines and shutdown
//
// A Server runs an accept loop, a heartbeat loop and, per connection, one
// goroutine (and a timer that may grant the last credits); a Client runs a
// connection manager plus, per connection, a reader of credits, and Send
// calls write to the connection themselves, taking turns. Each goroutine
// is started by and waited for by its owner: [Server.Shutdown] and
// [Client.Shutdown] return only after every one has exited.
// Client.Shutdown flushes queued frames and waits (bounded by its context)
// for the server to confirm them, so a clean shutdown of the sender loses
// nothing. No goroutine holds two of the package's locks at once, and none
// is held while calling the Handler; the one held during I/O serializes a
// server connection's credit writes, which its goroutine, its timer and
// the heartbeat may each make.
package transport
