package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gale-stream/gale/cluster/api"
)

func newRebalanceCmd() *cobra.Command {
	var (
		cf          clientFlags
		workers     int
		parallelism map[string]int
	)
	cmd := &cobra.Command{
		Use:   "rebalance NAME",
		Short: "Change a topology's number of workers or its components' parallelism, and place it again",
		Long: `Rebalance changes a running topology's number of workers and, with --parallelism,
the number of tasks of some of its components (up to the topology's max
parallelism), then places it again. Every worker restarts; keyed state moves
with its key groups to the tasks that now own them (for exactly-once
topologies, from the last complete checkpoint).`,
		Example: `  gale rebalance wc --workers 3
  gale rebalance wc --parallelism count=8,split=4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := cf.client().RebalanceWith(cmd.Context(), args[0], api.RebalanceOptions{Workers: workers, Parallelism: parallelism})
			if err != nil {
				return cf.explain(err, args[0])
			}
			var comps []string
			for _, c := range t.Components {
				comps = append(comps, fmt.Sprintf("%s=%d", c.Name, c.Parallelism))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebalanced %s: %d workers, parallelism %s (version %d)\n", t.Name, t.Workers, strings.Join(comps, ","), t.Version)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().IntVar(&workers, "workers", 0, "new number of workers (default: unchanged) (env GALE_WORKERS)")
	cmd.Flags().StringToIntVar(&parallelism, "parallelism", nil, "new parallelism of components, as COMPONENT=N[,COMPONENT=N...] (default: unchanged)")
	return cmd
}
