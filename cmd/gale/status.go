package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a topology: its workers, their nodes and processes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := cf.client().Status(cmd.Context(), args[0])
			if err != nil {
				return cf.explain(err, args[0])
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(out, "topology %s  workers %d  version %d  epoch %d  binary %.12s\n", st.Name, st.Workers, st.Version, st.Epoch, st.BinarySHA256)
			for _, c := range st.Components {
				fmt.Fprintf(out, "  component %-16s parallelism %d\n", c.Name, c.Parallelism)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "WORKER\tNODE\tSINCE\tTASKS\tSTATE\tPID\tRESTARTS\tMETRICS")
			for _, wk := range st.Assigned {
				state, pid, restarts, metrics := "unknown", "", "", ""
				if p := wk.Process; p != nil {
					state, pid, restarts, metrics = string(p.State), fmt.Sprint(p.PID), fmt.Sprint(p.Restarts), p.MetricsAddr
				} else if wk.Error != "" {
					state = wk.Error
				}
				fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", wk.Index, wk.Node, wk.Since, wk.Tasks, state, pid, restarts, metrics)
			}
			return w.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (env GALE_JSON)")
	return cmd
}
