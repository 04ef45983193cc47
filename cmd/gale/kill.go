package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKillCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "kill NAME",
		Short: "Kill a topology: its workers stop on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.client().Kill(cmd.Context(), args[0]); err != nil {
				return cf.explain(err, args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "killed %s\n", args[0])
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}
