// Command hubctl administers connectorhub connectors and their credentials
// over the registry's gRPC API.
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

// globals are the flags every command shares, and the process environment.
type globals struct {
	env      Env
	server   string
	apiToken string
	output   string
	timeout  time.Duration
	tls      bool
	caFile   string
	// natsURL is --nats of the commands that talk to NATS directly.
	natsURL string
	// natsCreds is --nats-creds: the NATS credential (seed or .creds file, or
	// the hub's credentials dir).
	natsCreds string
}

// NewRootCmd builds the hubctl command tree over env.
func NewRootCmd(env Env) *cobra.Command {
	g := &globals{env: env.withDefaults()}
	root := &cobra.Command{
		Use:   "hubctl",
		Short: "Administer connectorhub connectors, publish results and watch events",
		Long: `hubctl talks to the connectorhub registry over gRPC.

The registry is found by --server, then $HUB_SERVER, then the state file the
all-in-one hub writes when it starts ($HUB_STATE_FILE, else
$XDG_STATE_HOME/connectorhub/hub.json, else ~/.local/state/connectorhub/hub.json),
then ` + DefaultServer + `.
The API token is --api-token, then $HUB_API_TOKEN, then the token file named
in that state file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			switch g.output {
			case "table", "json":
				return nil
			}
			return fmt.Errorf("-o %q: want table or json", g.output)
		},
	}
	root.SetIn(g.env.Stdin)
	root.SetOut(g.env.Stdout)
	root.SetErr(g.env.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "registry address host:port (default: $HUB_SERVER, the hub state file, "+DefaultServer+")")
	pf.StringVar(&g.apiToken, "api-token", "", "registry API token (default: $HUB_API_TOKEN, the token file named in the hub state file)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "deadline of each call to the registry, and of connecting and publishing to NATS")
	pf.BoolVar(&g.tls, "tls", false, "use TLS to the registry (system roots unless --ca-file)")
	pf.StringVar(&g.caFile, "ca-file", "", "PEM CA bundle to verify the registry's certificate (implies --tls)")

	root.AddCommand(newConnectorsCmd(g), newSecretsCmd(g), newResultsCmd(g), newEventsCmd(g))
	return root
}

// run executes hubctl with args; main and the tests share it.
func run(ctx context.Context, env Env, args []string) error {
	cmd := NewRootCmd(env)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// show prints a result: m as JSON with -o json, else the table printer.
func (g *globals) show(m proto.Message, table func() error) error {
	if g.output == "json" {
		return writeJSON(g.env.Stdout, m)
	}
	return table()
}

// info writes a progress or status line to stderr, keeping stdout for results.
func (g *globals) info(format string, args ...any) {
	fmt.Fprintf(g.env.Stderr, format+"\n", args...)
}

// confirm asks a yes/no question on the terminal; anything but y/yes is no.
func (g *globals) confirm(question string) (bool, error) {
	fmt.Fprintf(g.env.Stderr, "%s [y/N] ", question)
	ans, err := g.env.Terminal.ReadLine()
	if err != nil {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(ans)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ask prompts for one line on the terminal.
func (g *globals) ask(prompt string) (string, error) {
	fmt.Fprintf(g.env.Stderr, "%s: ", prompt)
	v, err := g.env.Terminal.ReadLine()
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", strings.ToLower(prompt), err)
	}
	return strings.TrimSpace(v), nil
}
