package main

import (
	"github.com/spf13/cobra"

	"github.com/gale-stream/gale/internal/devmode"
)

func newDevCmd(level *string) *cobra.Command {
	var cfg devmode.Config
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a Kafka → windowed counts → Kafka topology on an embedded broker",
		Long: `dev starts, in this process and on loopback, an embedded Kafka-protocol broker
with a topic of click events fed at a steady rate, and an exactly-once topology
that counts clicks per page in event-time windows (keyed state, checkpointed)
and writes the counts to another topic. It prints a line a second and serves
Prometheus metrics. With --brokers it uses a real Kafka cluster instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(*level)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			return devmode.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Brokers, "brokers", nil, "Kafka bootstrap brokers (default: an embedded broker) (env GALE_BROKERS)")
	f.StringVar(&cfg.Topic, "topic", "clicks", "topic of click events (env GALE_TOPIC)")
	f.StringVar(&cfg.OutTopic, "out-topic", "page-counts", "topic the windowed counts go to (env GALE_OUT_TOPIC)")
	f.IntVar(&cfg.Rate, "rate", 2000, "click events produced per second; -1 produces none (env GALE_RATE)")
	f.DurationVar(&cfg.Window, "window", 0, "tumbling window size (default 10s) (env GALE_WINDOW)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9464", "where /metrics is served (env GALE_METRICS_ADDR)")
	f.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: run until interrupted) (env GALE_DURATION)")
	f.StringVar(&cfg.StateDir, "state-dir", "", "keyed state and checkpoints (default: a temporary directory) (env GALE_STATE_DIR)")
	return cmd
}
