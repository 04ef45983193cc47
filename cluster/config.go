package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a [Node]. The zero value of every field means "use the
// default" named in its comment; [Start] fills defaults in, validates the
// result with [Config.Validate], and keeps a copy.
type Config struct {
	// NodeID is the node's unique id in the cluster, also its memberlist
	// name. Default: the host name.
	NodeID string

	// BindAddr is the host:port gossip listens on, for UDP and TCP alike.
	// Port 0 picks a free port (read it back with [Node.GossipAddr]).
	// Default: 127.0.0.1:0, which only reaches this machine; a real cluster
	// sets it, for example to 0.0.0.0:7946.
	BindAddr string

	// AdvertiseAddr is the host:port other nodes reach this node's gossip
	// at, when it differs from BindAddr (NAT, containers). Default: the bind
	// address, or the first private address when binding 0.0.0.0.
	AdvertiseAddr string

	// Seeds are host:port gossip addresses of nodes to join. Joining any one
	// of them is enough. Default: none, which starts a new cluster.
	Seeds []string

	// APIAddr and DataAddr are published in the node metadata: the HTTP API
	// and the address workers on other nodes connect to. Default: empty.
	APIAddr  string
	DataAddr string

	// Slots is how many workers this node runs when the cluster has
	// capacity; it is also the node's weight in placement. 0 means the
	// default, 4 (Storm's four ports per supervisor); set NoWorkers for a
	// node that runs none.
	Slots int

	// NoWorkers makes the node a member that runs no workers (Slots 0), for
	// example an API-only node. Default: false.
	NoWorkers bool

	// Version is the gale version published in the metadata. Default: "dev".
	Version string

	// ClusterLabel is memberlist's Label: it is put on every packet and
	// stream and checked on receipt (as authenticated data when gossip is
	// encrypted), so nodes of two clusters never merge even when their
	// addresses and keys mix up. Default: "gale".
	ClusterLabel string

	// GossipKey is the AES key (16, 24 or 32 bytes) that encrypts and
	// authenticates gossip. Required unless Insecure is set.
	GossipKey []byte

	// ExtraGossipKeys are further keys accepted for decryption but not used
	// to send. They make a rolling key rotation possible (see the package
	// doc). Default: none.
	ExtraGossipKeys [][]byte

	// Insecure allows gossip in the clear when GossipKey is empty. Only for
	// development. Default: false.
	Insecure bool

	// Logger receives the node's logs and memberlist's. Default:
	// slog.Default().
	Logger *slog.Logger

	// Registerer registers the node's metrics. Default: nil, no metrics.
	Registerer prometheus.Registerer

	// Memberlist, if set, adjusts the memberlist configuration after it is
	// built from memberlist.DefaultLANConfig and before this Config's own
	// fields (name, addresses, label, keys, delegates, logger) are applied,
	// which it cannot override. [LocalGossip] is one such function.
	// Default: nil, LAN defaults.
	Memberlist func(*memberlist.Config)

	// ReconcileInterval is how often the node re-checks membership and the
	// assignment even when no event arrived, and announces its epoch and
	// topology digest again (so a node that missed an announcement catches
	// up within about one interval). Default: 1s.
	ReconcileInterval time.Duration

	// SettleTime is how long membership must stay unchanged before the
	// coordinator publishes an assignment for it, so that nodes joining or
	// failing together cost one epoch rather than one each. A change keeps
	// waiting at most ten times as long while membership keeps moving.
	// Changes of the topologies alone are published at once. Negative
	// means no wait. Default: 1s.
	SettleTime time.Duration
}

// Defaults of [Config].
const (
	DefaultBindAddr          = "127.0.0.1:0"
	DefaultSlots             = 4
	DefaultVersion           = "dev"
	DefaultClusterLabel      = "gale"
	DefaultReconcileInterval = time.Second
	DefaultSettleTime        = time.Second
)

// LocalGossip sets memberlist's loopback timings (memberlist's
// DefaultLocalConfig): faster probes and gossip for tests and `gale dev`.
func LocalGossip(c *memberlist.Config) {
	l := memberlist.DefaultLocalConfig()
	c.TCPTimeout = l.TCPTimeout
	c.IndirectChecks = l.IndirectChecks
	c.RetransmitMult = l.RetransmitMult
	c.SuspicionMult = l.SuspicionMult
	c.PushPullInterval = l.PushPullInterval
	c.ProbeTimeout = l.ProbeTimeout
	c.ProbeInterval = l.ProbeInterval
	c.GossipInterval = l.GossipInterval
	c.GossipToTheDeadTime = l.GossipToTheDeadTime
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.NodeID == "" {
		c.NodeID, _ = os.Hostname()
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	if c.Slots == 0 && !c.NoWorkers {
		c.Slots = DefaultSlots
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.ClusterLabel == "" {
		c.ClusterLabel = DefaultClusterLabel
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.SettleTime == 0 {
		c.SettleTime = DefaultSettleTime
	}
	return c
}

// Validate reports every problem of c in one error wrapping
// [ErrInvalidConfig]. It does not fill in defaults; call it on
// [Config.WithDefaults] to check what [Start] would run with.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.NodeID == "" {
		bad("NodeID is empty")
	}
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		bad("BindAddr %q: %v", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			bad("AdvertiseAddr %q: %v", c.AdvertiseAddr, err)
		}
	}
	for _, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			bad("seed %q: %v", s, err)
		}
	}
	if c.Slots < 0 {
		bad("Slots is %d", c.Slots)
	}
	if c.NoWorkers && c.Slots != 0 {
		bad("NoWorkers with %d Slots", c.Slots)
	}
	if len(c.ClusterLabel) > memberlist.LabelMaxSize {
		bad("ClusterLabel is %d bytes, limit %d", len(c.ClusterLabel), memberlist.LabelMaxSize)
	}
	switch {
	case len(c.GossipKey) == 0 && !c.Insecure:
		bad("GossipKey is required (16, 24 or 32 bytes) unless Insecure is set for development")
	case len(c.GossipKey) == 0 && len(c.ExtraGossipKeys) > 0:
		bad("ExtraGossipKeys without a GossipKey")
	case len(c.GossipKey) > 0:
		if err := memberlist.ValidateKey(c.GossipKey); err != nil {
			bad("GossipKey: %v", err)
		}
	}
	for i, k := range c.ExtraGossipKeys {
		if err := memberlist.ValidateKey(k); err != nil {
			bad("ExtraGossipKeys[%d]: %v", i, err)
		}
	}
	if c.ReconcileInterval < 0 {
		bad("ReconcileInterval is %v", c.ReconcileInterval)
	}
	meta := NodeMeta{ID: c.NodeID, APIAddr: c.APIAddr, DataAddr: c.DataAddr, Slots: c.Slots, Version: c.Version, StartedAt: time.Now()}
	if c.NodeID != "" && c.Slots >= 0 {
		if _, err := EncodeNodeMeta(meta); err != nil {
			bad("node metadata: %v", err)
		}
	}
	return errors.Join(errs...)
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	if host != "" && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	return host, port, nil
}
