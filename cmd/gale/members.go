package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newMembersCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members as the node sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := cf.client().Members(cmd.Context())
			if err != nil {
				return cf.explain(err, "")
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSTATE\tGOSSIP\tAPI\tSLOTS\tVERSION\tROLE")
			for _, m := range ms.Members {
				role := ""
				if m.Coordinator {
					role = "coordinator"
				}
				if m.ID == ms.Self {
					role += " (this node)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.State, m.GossipAddr, m.APIAddr, m.Slots, m.Version, role)
			}
			fmt.Fprintf(w, "assignment epoch %d\n", ms.Epoch)
			return w.Flush()
		},
	}
	cf.add(cmd)
	return cmd
}
