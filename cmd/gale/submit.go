package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gale-stream/gale"
	"github.com/gale-stream/gale/cluster/api"
)

func newSubmitCmd() *cobra.Command {
	var (
		cf      clientFlags
		name    string
		workers int
		signKey string
		config  string
	)
	cmd := &cobra.Command{
		Use:   "submit BINARY",
		Short: "Submit a topology binary to the cluster",
		Long: `submit uploads a topology binary (a program whose main calls gale.Main) to a
node. The node checks that it is an executable for its platform, runs it with
"spec" to read the topology, stores it by sha256 and announces it; the
coordinator then places its workers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err != nil {
				return err
			}
			t, err := gale.SubmitFile(cmd.Context(), args[0], *cf.client(), api.SubmitOptions{Name: name, Workers: workers, Config: config}, signKey)
			if err != nil {
				return cf.explain(err, "")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "submitted %s: %d workers, binary %s\n", t.Name, t.Workers, t.BinarySHA256)
			return nil
		},
	}
	cf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "topology name (default: the topology's own) (env GALE_NAME)")
	f.IntVar(&workers, "workers", 0, "worker processes (default: the topology's config) (env GALE_WORKERS)")
	f.StringVar(&signKey, "sign-key", "", "ed25519 private key file to sign the binary with (env GALE_SIGN_KEY)")
	f.StringVar(&config, "config", "", `topology config overrides as JSON, e.g. '{"max_spout_pending":5000}' (env GALE_CONFIG)`)
	return cmd
}

// clientFlags are the flags every command that talks to a node has.
type clientFlags struct {
	node    string
	token   string
	timeout time.Duration
}

func (c *clientFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.node, "node", "http://127.0.0.1:7070", "node API URL (env GALE_NODE)")
	f.StringVar(&c.token, "token", "", "API bearer token (env GALE_TOKEN)")
	f.DurationVar(&c.timeout, "timeout", 2*time.Minute, "request timeout (env GALE_TIMEOUT)")
}

func (c *clientFlags) client() *api.Client {
	return &api.Client{BaseURL: c.node, Token: c.token, HTTP: &http.Client{Timeout: c.timeout}}
}

// explain turns API errors into messages that say what to do.
func (c *clientFlags) explain(err error, topology string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Errorf("cannot reach a gale node at %s (is `gale node` running there? set --node or GALE_NODE): %w", c.node, err)
	case errors.Is(err, api.ErrUnauthorized):
		if c.token == "" {
			return fmt.Errorf("the node at %s requires a token: set --token or GALE_TOKEN", c.node)
		}
		return fmt.Errorf("the node at %s refused the token: check --token or GALE_TOKEN", c.node)
	case errors.Is(err, api.ErrNotFound) && topology != "":
		return fmt.Errorf("unknown topology %q (see `gale list`)", topology)
	}
	return err
}
