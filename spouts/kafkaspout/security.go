package kafkaspout

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security configures how clients connect to the brokers: TLS, SASL, or both.
// The zero value is a plaintext, unauthenticated connection. The Kafka sink
// (package bolts/kafkasink) uses the same type.
//
// Secrets are never values in the config: a password is read from a file or
// an environment variable, so it does not end up in flags, process listings,
// topology specs or logs.
type Security struct {
	// TLS enables TLS when not nil.
	TLS *TLS
	// SASL enables SASL authentication when not nil.
	SASL *SASL
}

// TLS configures TLS to the brokers.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates. Default: the system pool.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (PEM), for
	// brokers that require client authentication. Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked against the broker certificate.
	// Default: the host of the broker address.
	ServerName string
	// InsecureSkipVerify disables certificate verification. For tests only.
	InsecureSkipVerify bool
}

// SASL mechanisms.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// SASL configures SASL authentication. Exactly one of PasswordFile and
// PasswordEnv must be set.
type SASL struct {
	// Mechanism is [MechanismPlain], [MechanismScramSHA256] or
	// [MechanismScramSHA512].
	Mechanism string
	// Username is the SASL user.
	Username string
	// PasswordFile is a file holding the password; one trailing newline is
	// removed.
	PasswordFile string
	// PasswordEnv is the name of an environment variable holding the password.
	PasswordEnv string
}

func (s *Security) validate() []error {
	if s == nil {
		return nil
	}
	var errs []error
	if t := s.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("security: TLS CertFile and KeyFile must be set together"))
	}
	if a := s.SASL; a != nil {
		switch a.Mechanism {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		default:
			errs = append(errs, fmt.Errorf("security: unknown SASL mechanism %q (want %s, %s or %s)", a.Mechanism, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512))
		}
		if a.Username == "" {
			errs = append(errs, errors.New("security: SASL Username is empty"))
		}
		if (a.PasswordFile == "") == (a.PasswordEnv == "") {
			errs = append(errs, errors.New("security: set exactly one of SASL PasswordFile and PasswordEnv"))
		}
	}
	return errs
}

// password reads the SASL password from its file or environment variable.
func (a *SASL) password() (string, error) {
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("%w: SASL password file: %w", ErrSecret, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	v, ok := os.LookupEnv(a.PasswordEnv)
	if !ok {
		return "", fmt.Errorf("%w: environment variable %s (SASL password) is not set", ErrSecret, a.PasswordEnv)
	}
	return v, nil
}

func (a *SASL) mechanism() (sasl.Mechanism, error) {
	pw, err := a.password()
	if err != nil {
		return nil, err
	}
	switch a.Mechanism {
	case MechanismPlain:
		return plain.Mechanism{Username: a.Username, Password: pw}, nil
	case MechanismScramSHA256:
		return scram.Mechanism(scram.SHA256, a.Username, pw)
	case MechanismScramSHA512:
		return scram.Mechanism(scram.SHA512, a.Username, pw)
	}
	return nil, fmt.Errorf("%w: unknown SASL mechanism %q", ErrConfig, a.Mechanism)
}

func (t *TLS) config() (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS CA file: %w", ErrSecret, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA file %s holds no PEM certificate", ErrSecret, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate: %w", ErrSecret, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// TransportMetadataTTL is how often a kafka-go transport made by
// [Security.Transport] refreshes its cached cluster metadata. kafka-go
// routes requests by that cache, serves Metadata requests from it, and does
// not refresh it when a broker answers "not leader", so this bounds how long
// a partition whose leader moved stalls, and how late new partitions are
// seen. One small metadata request per second per task is cheap.
const TransportMetadataTTL = time.Second

// Transport returns a kafka-go transport that connects as s says. The
// caller owns it and should call CloseIdleConnections when done.
func (s *Security) Transport(clientID string, dialTimeout time.Duration) (*kafka.Transport, error) {
	tr := &kafka.Transport{ClientID: clientID, DialTimeout: dialTimeout, MetadataTTL: TransportMetadataTTL}
	if s == nil {
		return tr, nil
	}
	if s.TLS != nil {
		c, err := s.TLS.config()
		if err != nil {
			return nil, err
		}
		tr.TLS = c
	}
	if s.SASL != nil {
		m, err := s.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		tr.SASL = m
	}
	return tr, nil
}

// ExplainError turns the unexpected EOF with which kafka-go reports a
// rejected SASL login into an error marked [ErrAuthentication]. Other errors
// are returned unchanged.
func (s *Security) ExplainError(err error) error {
	if err == nil || s == nil || s.SASL == nil {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: user %q, mechanism %s: %w", ErrAuthentication, s.SASL.Username, s.SASL.Mechanism, err)
	}
	return err
}
