package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gale-stream/gale/cluster/api"
)

func newStatusCmd() *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
		stats  bool
		watch  bool
		every  time.Duration
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
			out := cmd.OutOrStdout()
			for {
				st, err := get(cmd.Context(), args[0])
				if err != nil {
					return cf.explain(err, args[0])
				}
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if err := enc.Encode(st); err != nil {
						return err
					}
				} else {
					if watch {
						fmt.Fprint(out, "\033[H\033[2J") // clear the terminal, cursor home
					}
					if err := printStatus(out, st, stats); err != nil {
						return err
					}
				}
				if !watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (env GALE_JSON)")
	cmd.Flags().BoolVar(&stats, "stats", true, "read tuple counts and rates from the workers' /metrics (env GALE_STATS)")
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh in place until interrupted (env GALE_WATCH)")
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "refresh interval of --watch (env GALE_INTERVAL)")
	return cmd
}

// printStatus writes a topology's status: its components, its workers and,
// with stats, a table per component of each worker: tasks, rates, p99
// latency, capacity and failures, and the Kafka lag of its spouts.
func printStatus(out io.Writer, st *api.Status, stats bool) error {
	fmt.Fprintf(out, "topology %s  workers %d  version %d  epoch %d  binary %.12s\n", st.Name, st.Workers, st.Version, st.Epoch, st.BinarySHA256)
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
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "WORKER\tCOMPONENT\tTASKS\tEMITTED/S\tEXECUTED/S\tP99\tCAPACITY\tFAILED\tLAG\t")
	for _, wk := range st.Assigned {
		p := wk.Process
		if p == nil {
			continue
		}
		if p.StatsError != "" {
			fmt.Fprintf(w, "%d\t%s\t\t\t\t\t\t\t\t\n", wk.Index, "no figures: "+p.StatsError)
		}
		lag := ""
		if p.KafkaPartitions > 0 {
			lag = fmt.Sprintf("%.0f (%.1fs)", p.KafkaLag, p.KafkaLagSeconds)
		}
		for _, c := range p.Components {
			compLag := ""
			if c.Executed == 0 && c.Emitted > 0 { // a spout: the lag is its partitions'
				compLag = lag
			}
			fmt.Fprintf(w, "%d\t%s\t%d\t%.1f\t%.1f\t%s\t%.0f%%\t%.0f\t%s\t\n", wk.Index, c.Component, c.Tasks,
				c.EmittedPerSecond, c.ExecutedPerSec, formatLatency(c.P99Seconds), 100*c.Capacity, c.Failed, compLag)
		}
	}
	return w.Flush()
}

func formatLatency(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}
