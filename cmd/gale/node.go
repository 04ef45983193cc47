package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gale-stream/gale"
	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/cluster/daemon"
)

func newNodeCmd(level *string) *cobra.Command {
	var (
		cfg        daemon.Config
		gossipKey  string
		trustedKey string
		replicas   int
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a cluster node: membership, submission API, binary store and workers",
		Long: `node runs one gale cluster node until interrupted. It joins the cluster through
--seeds (gossip addresses; none starts a new cluster), serves the submission API
on --api-addr (loopback by default; set --token before exposing it), keeps
submitted binaries in --data-dir, and runs the workers the coordinator assigns to
it. With --trusted-key it accepts only binaries signed by that ed25519 key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(*level)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if replicas < 0 {
				return fmt.Errorf("--checkpoint-replicas %d: want 0 or more", replicas)
			}
			cfg.CheckpointReplicas = replicas
			if replicas == 0 {
				cfg.CheckpointReplicas = -1 // daemon.Config: negative is none, 0 the default
			}
			if gossipKey != "" {
				k, err := decodeKey(gossipKey)
				if err != nil {
					return fmt.Errorf("--gossip-key: %w", err)
				}
				cfg.GossipKey = k
			}
			if trustedKey != "" {
				k, err := gale.ReadPublicKey(trustedKey)
				if err != nil {
					return fmt.Errorf("--trusted-key: %w", err)
				}
				cfg.TrustedKey = k
			}
			if cfg.DataDir == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("--data-dir not set and no home directory: %w", err)
				}
				cfg.DataDir = filepath.Join(home, ".gale")
			}
			out := cmd.OutOrStdout()
			return daemon.Run(cmd.Context(), cfg, func(info daemon.Info) {
				fmt.Fprintf(out, "gale node %s: api %s, gossip %s, metrics %s, data %s\n", info.ID, info.API, info.GossipAddr, info.Metrics, cfg.DataDir)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeID, "id", "", "node id (default: the host name) (env GALE_ID)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "binaries and worker state (default ~/.gale) (env GALE_DATA_DIR)")
	f.StringVar(&cfg.APIAddr, "api-addr", daemon.DefaultAPIAddr, "HTTP API address; port 0 picks one (env GALE_API_ADDR)")
	f.StringVar(&cfg.AdvertiseAPIAddr, "advertise-api-addr", "", "API address published to peers (default: the bound one) (env GALE_ADVERTISE_API_ADDR)")
	f.StringVar(&cfg.GossipAddr, "gossip-addr", daemon.DefaultGossipAddr, "gossip bind address (env GALE_GOSSIP_ADDR)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", daemon.DefaultMetricsAddr, "Prometheus /metrics and /prometheus/sd (cluster-wide discovery); \"off\" disables (env GALE_METRICS_ADDR)")
	f.StringVar(&cfg.DataAddr, "data-addr", daemon.DefaultDataAddr, "first port of the range this node's workers listen on for each other (env GALE_DATA_ADDR)")
	f.StringSliceVar(&cfg.Seeds, "seeds", nil, "gossip addresses of nodes to join (env GALE_SEEDS)")
	f.StringVar(&cfg.Token, "token", "", "bearer token required by the API and sent to peers (env GALE_TOKEN)")
	f.StringVar(&trustedKey, "trusted-key", "", "ed25519 public key file: accept only binaries signed by it (env GALE_TRUSTED_KEY)")
	f.IntVar(&cfg.Slots, "slots", 0, "worker slots (default 4) (env GALE_SLOTS)")
	f.StringVar(&gossipKey, "gossip-key", "", "AES key (16, 24 or 32 bytes, hex or base64) encrypting gossip (env GALE_GOSSIP_KEY)")
	f.BoolVar(&cfg.Insecure, "insecure", false, "allow unencrypted gossip (development only) (env GALE_INSECURE)")
	f.BoolVar(&cfg.LocalGossip, "local-gossip", false, "fast loopback gossip timings (tests, one machine) (env GALE_LOCAL_GOSSIP)")
	f.DurationVar(&cfg.JoinTimeout, "join-timeout", daemon.DefaultJoinTimeout, "how long to retry joining the seeds (env GALE_JOIN_TIMEOUT)")
	f.IntVar(&replicas, "checkpoint-replicas", ckptstore.DefaultReplicas, "other nodes that must hold a copy of every checkpoint file written through this node before the write succeeds (capped at the alive nodes; 0 keeps checkpoints on this node only) (env GALE_CHECKPOINT_REPLICAS)")
	f.DurationVar(&cfg.WorkerGrace, "worker-grace", 0, "time a worker has to stop after SIGTERM (default 10s) (env GALE_WORKER_GRACE)")
	return cmd
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return nil, fmt.Errorf("neither hex nor base64")
}
