package kafkaspout

import "errors"

var (
	// ErrConfig marks an invalid [Config]; the error lists every problem.
	ErrConfig = errors.New("kafkaspout: invalid config")

	// ErrAuthentication marks a connection the broker closed during or right
	// after SASL authentication. kafka-go reports a rejected password only as
	// an unexpected EOF, so this is our best reading of that symptom.
	ErrAuthentication = errors.New("kafkaspout: authentication failed? (the broker closed the connection during SASL; check mechanism, user and password)")

	// ErrSecret marks a secret (password, key) that could not be read from its
	// file or environment variable.
	ErrSecret = errors.New("kafkaspout: cannot read secret")

	// ErrSnapshot marks checkpoint state that cannot be decoded.
	ErrSnapshot = errors.New("kafkaspout: invalid snapshot")

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("kafkaspout: spout closed")
)
