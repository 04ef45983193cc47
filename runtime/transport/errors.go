package transport

import "errors"

var (
	// ErrClosed is returned by calls on a closed [Server], [Client] or
	// [Transport].
	ErrClosed = errors.New("transport: closed")
	// ErrRefused means the peer refused our handshake (wrong topology or
	// token, or our assignment epoch is stale). It is permanent: the client
	// stops reconnecting.
	ErrRefused = errors.New("transport: handshake refused")
	// ErrFrameTooLarge means a frame exceeds [Options.MaxFrameSize]. Senders
	// get it before anything is written; receivers close the connection.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrProtocol means the peer broke the protocol: a malformed frame, an
	// unexpected frame kind, or more frames than it had credit for.
	ErrProtocol = errors.New("transport: protocol violation")
	// ErrHandshake means the handshake did not complete: a wrong first
	// frame, a timeout, a TLS failure, or the peer's Hello did not pass
	// [Options.Accept] on the dialing side.
	ErrHandshake = errors.New("transport: handshake failed")
	// ErrOtherSession is the reason the default Accept gives for a peer
	// from another session of the topology (see [Options.Session]).
	ErrOtherSession = errors.New("transport: peer belongs to another session")
)
