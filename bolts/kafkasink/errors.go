package kafkasink

import "errors"

var (
	// ErrConfig marks an invalid [Config]; the error lists every problem.
	ErrConfig = errors.New("kafkasink: invalid config")
	// ErrEncode marks a tuple whose fields cannot be turned into a record.
	ErrEncode = errors.New("kafkasink: cannot encode tuple")
	// ErrWrite marks a batch the brokers did not acknowledge.
	ErrWrite = errors.New("kafkasink: write failed")
)
