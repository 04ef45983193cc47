package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newListCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the submitted topologies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := cf.client().List(cmd.Context())
			if err != nil {
				return cf.explain(err, "")
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tWORKERS\tPLACED\tCOMPONENTS\tVERSION\tBINARY")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%.12s\n", t.Name, t.Workers, t.Placed, len(t.Components), t.Version, t.BinarySHA256)
			}
			return w.Flush()
		},
	}
	cf.add(cmd)
	return cmd
}
