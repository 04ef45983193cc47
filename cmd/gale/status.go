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
		stats  bool
	)
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a topology: its workers, their nodes and processes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := cf.client()
			get := c.Status
			if stats {
				get = c.StatusWithStats
			}
			st, err := get(cmd.Context(), args[0])
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
			if err := w.Flush(); err != nil {
				return err
			}
			if !stats {
				return nil
			}
			w = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "WORKER\tCOMPONENT\tEMITTED\tEMITTED/S\tEXECUTED\tEXECUTED/S\tACKED\tFAILED\t")
			for _, wk := range st.Assigned {
				if wk.Process == nil {
					continue
				}
				if wk.Process.StatsError != "" {
					fmt.Fprintf(w, "%d\t%s\t\t\t\t\t\t\t\n", wk.Index, "no figures: "+wk.Process.StatsError)
				}
				for _, c := range wk.Process.Components {
					fmt.Fprintf(w, "%d\t%s\t%.0f\t%.1f\t%.0f\t%.1f\t%.0f\t%.0f\t\n", wk.Index, c.Component,
						c.Emitted, c.EmittedPerSecond, c.Executed, c.ExecutedPerSec, c.Acked, c.Failed)
				}
			}
			return w.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (env GALE_JSON)")
	cmd.Flags().BoolVar(&stats, "stats", true, "read tuple counts and rates from the workers' /metrics (env GALE_STATS)")
	return cmd
}
