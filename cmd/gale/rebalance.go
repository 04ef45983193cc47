package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRebalanceCmd() *cobra.Command {
	var (
		cf      clientFlags
		workers int
	)
	cmd := &cobra.Command{
		Use:   "rebalance NAME",
		Short: "Change a topology's number of workers and place them again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := cf.client().Rebalance(cmd.Context(), args[0], workers)
			if err != nil {
				return cf.explain(err, args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebalanced %s: %d workers (version %d)\n", t.Name, t.Workers, t.Version)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().IntVar(&workers, "workers", 0, "new number of workers (default: unchanged) (env GALE_WORKERS)")
	return cmd
}
