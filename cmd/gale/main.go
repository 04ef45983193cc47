// Command gale is the gale CLI: `gale dev` runs a complete topology on
// embedded defaults; the cluster commands (node, submit, list, status,
// rebalance, kill, members) follow.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gale:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var level string
	root := &cobra.Command{
		Use:           "gale",
		Short:         "gale is a real-time stream processing engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn or error (env GALE_LOG_LEVEL)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return envDefaults(cmd)
	}
	root.AddCommand(newDevCmd(&level))
	root.AddCommand(newNodeCmd(&level), newSubmitCmd(), newListCmd(), newStatusCmd(),
		newKillCmd(), newRebalanceCmd(), newMembersCmd())
	return root
}

// envDefaults sets every flag not given on the command line from its
// environment variable: GALE_ plus the flag name in upper case, with dashes
// as underscores (--metrics-addr is GALE_METRICS_ADDR).
func envDefaults(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "GALE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// newLogger makes the CLI's logger: text on stderr at the given level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
