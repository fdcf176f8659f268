package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func newConnectorsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connectors",
		Aliases: []string{"connector", "conn"},
		Short:   "Add, inspect, test, change and remove connectors",
	}
	cmd.AddCommand(
		newAddCmd(g), newListCmd(g), newGetCmd(g), newTestCmd(g), newUpdateCmd(g),
		newEnableCmd(g, "pause", false), newEnableCmd(g, "resume", true),
		newRemoveCmd(g), newCapabilitiesCmd(g), newWebhookCmd(g), newAuthorizeCmd(g),
	)
	return cmd
}

// maxPromptAttempts bounds how often a rejected answer is asked again.
const maxPromptAttempts = 3

// connectorFromFlags builds an unsaved connector from --system and the field
// flags, asking on a terminal for what is missing; without a terminal it fails
// and names every missing flag.
func (g *globals) connectorFromFlags(fs *pflag.FlagSet) (*pb.Connector, error) {
	c := &pb.Connector{}
	if fs.Changed("system") {
		v, _ := fs.GetString("system")
		s, err := parseSystem(v)
		if err != nil {
			return nil, fmt.Errorf("--system: %w", err)
		}
		c.System = s
	}
	if _, err := applyFieldFlags(fs, c); err != nil {
		return nil, err
	}
	applyAddDefaults(c)
	if c.GetUsername() != "" && tokenOnly(c.GetSystem()) {
		fmt.Fprintf(g.env.Stderr, "warning: --username is ignored: %s authenticates with a token only\n", systemName(c.GetSystem()))
		c.Username = ""
	}
	if src, err := usernameFromEnv(g.env, fs, c); err != nil {
		return nil, err
	} else if src != "" {
		g.info("using the %s username from %s", systemName(c.GetSystem()), src)
	}
	failures := 0
	for {
		missing := missingFields(c)
		if len(missing) == 0 {
			return c, nil
		}
		if !g.env.Terminal.IsTerminal() {
			names := make([]string, len(missing))
			for i, m := range missing {
				names[i] = "--" + m.flag
			}
			return nil, fmt.Errorf("missing required flags: %s (stdin is not a terminal, so hubctl does not prompt)", strings.Join(names, ", "))
		}
		v, err := g.ask(missing[0].prompt)
		if err != nil {
			return nil, err
		}
		if v == "" {
			err = errors.New("a value is required")
		} else {
			err = missing[0].set(c, v)
		}
		if err != nil {
			if failures++; failures >= maxPromptAttempts {
				return nil, fmt.Errorf("--%s: %w", missing[0].flag, err)
			}
			g.info("  %v", err)
			continue
		}
		applyAddDefaults(c)
	}
}

// trackerToken resolves the tracker token for c; anonymous connectors have none.
// Before a prompt it shows the scopes the registry says the system needs.
func (g *globals) trackerToken(ctx context.Context, client pb.RegistryServiceClient, fs *pflag.FlagSet, tf *tokenFlags, c *pb.Connector) (string, tokenSource, error) {
	if c.GetAuthMode() == pb.AuthMode_AUTH_MODE_ANONYMOUS {
		return "", tokenSource{desc: "nowhere (anonymous auth)"}, nil
	}
	if c.GetAuthMode() == pb.AuthMode_AUTH_MODE_GITHUB_APP && !fs.Changed("private-key-file") {
		return "", tokenSource{}, errors.New("a GitHub App connector's credential is the app's private key: pass --private-key-file")
	}
	r := &tokenResolver{env: g.env, flags: tf, fs: fs, beforePrompt: func(ctx context.Context) {
		g.showRequiredScopes(ctx, client, c.GetSystem())
	}}
	return r.resolve(ctx, c.GetSystem())
}

func (g *globals) showRequiredScopes(ctx context.Context, client pb.RegistryServiceClient, system pb.System) {
	resp, err := client.GetCapabilities(ctx, &pb.GetCapabilitiesRequest{System: system})
	if err != nil {
		g.info("(could not fetch the scopes a %s token needs: %v)", systemName(system), err)
		return
	}
	for _, s := range resp.GetSystems() {
		if s.GetSystem() != system {
			continue
		}
		if len(s.GetRequiredScopes()) == 0 {
			g.info("A %s token needs read access to the configured project; it has no scopes to list.", systemName(system))
			return
		}
		g.info("A %s token needs these scopes: %s", systemName(system), strings.Join(s.GetRequiredScopes(), ", "))
	}
}

// testFailedError reports a failed connection test by the names of its
// failed checks and missing scopes.
func testFailedError(r *pb.TestConnectionResponse, what string) error {
	var failed []string
	for _, c := range r.GetChecks() {
		if !c.GetOk() {
			failed = append(failed, c.GetName())
		}
	}
	msg := "connection test failed"
	if len(failed) > 0 {
		msg += " (" + strings.Join(failed, ", ") + ")"
	}
	if len(r.GetMissingScopes()) > 0 {
		msg += "; missing scopes: " + strings.Join(r.GetMissingScopes(), ", ")
	}
	if what != "" {
		msg += "; " + what
	}
	return errors.New(msg)
}

func newAddCmd(g *globals) *cobra.Command {
	var (
		tf       tokenFlags
		id       string
		disabled bool
		skipTest bool
	)
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a connector: test it with its token, then save it",
		Long: `Add a connector. The tracker token comes from --token, else the env file
(--env-file, default .hub.env, dotenv with the variable names below), else the
environment (JIRA_API_TOKEN, GITHUB_TOKEN or GH_TOKEN, GITLAB_TOKEN,
CONFLUENCE_API_TOKEN, AZURE_DEVOPS_PAT or AZDO_PAT, BITBUCKET_TOKEN, PAGERDUTY_TOKEN,
JENKINS_TOKEN, CIRCLECI_TOKEN, SONARQUBE_TOKEN, ARGOCD_TOKEN), else a masked
prompt on a terminal. A Bitbucket username (the Atlassian account email)
comes from --username, else BITBUCKET_USERNAME in the env file, else the
environment, else a prompt; a Jenkins username likewise from JENKINS_USERNAME.
--username given to a token-only system (github, circleci, sonarqube,
argocd) is ignored with a warning. Context sources (jenkins, circleci,
sonarqube, argocd) need --watch; jenkins, sonarqube and argocd need
--endpoint (--base-url). The connection is
tested before saving (--skip-test to skip). After a successful add the env
file the token was read from is deleted unless --keep-env-file.`,
		Example: `  hubctl connectors add --system github --project acme/api --assignee octocat
  hubctl connectors add --system jira --base-url https://acme.atlassian.net --username me@acme.com --project OPS
  hubctl connectors add --system jenkins --endpoint https://ci.acme.com --username alice --watch team/checkout
  hubctl connectors add --system circleci --watch gh/acme/checkout`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			fs := cmd.Flags()
			var (
				c         *pb.Connector
				client    pb.RegistryServiceClient
				closeConn func()
				err       error
			)
			if !fs.Changed("system") && g.interactive(fs) {
				// Everything from prompts, the system from the catalog.
				if client, closeConn, err = g.dial(ctx); err != nil {
					return err
				}
				defer closeConn()
				c = &pb.Connector{}
				if _, err := applyFieldFlags(fs, c); err != nil {
					return err
				}
				if err := g.promptNewConnector(ctx, client, fs, c); err != nil {
					return err
				}
				if id == "" {
					if id, err = g.ask("Connector id (empty: generated)"); err != nil {
						return err
					}
				}
			} else {
				if c, err = g.connectorFromFlags(fs); err != nil {
					return err
				}
				if client, closeConn, err = g.dial(ctx); err != nil {
					return err
				}
				defer closeConn()
			}
			c.Enabled = !disabled
			token, src, err := g.trackerToken(ctx, client, cmd.Flags(), &tf, c)
			if err != nil {
				return err
			}
			g.info("using the %s token from %s", systemName(c.GetSystem()), src)
			switch {
			case skipTest:
				g.info("skipping the connection test (--skip-test)")
			case c.GetAuthMode() == pb.AuthMode_AUTH_MODE_OAUTH2 && c.GetOauthGrantFrom() != "":
				g.info("oauth2: uses the grant of %s; test it with `hubctl connectors test ID` once %s is authorized (`hubctl connectors authorize %s` asks for both connectors' scopes)",
					c.GetOauthGrantFrom(), c.GetOauthGrantFrom(), c.GetOauthGrantFrom())
			case c.GetAuthMode() == pb.AuthMode_AUTH_MODE_OAUTH2:
				g.info("oauth2: the connection is tested once the connector is authorized (hubctl connectors authorize ID)")
			default:
				res, err := client.TestConnection(ctx, &pb.TestConnectionRequest{
					Target:     &pb.TestConnectionRequest_Config{Config: c},
					Credential: token,
				})
				if err != nil {
					return fmt.Errorf("testing the connection: %w", err)
				}
				if !res.GetOk() {
					_ = printTestResult(g.env.Stderr, res)
					return testFailedError(res, "connector not saved (--skip-test saves it anyway)")
				}
				g.info("connection test passed%s", identitySuffix(res))
			}
			resp, err := client.CreateConnector(ctx, &pb.CreateConnectorRequest{Connector: c, ConnectorId: id, Credential: token})
			if err != nil {
				return err
			}
			g.info("created connector %s (token from %s, stored encrypted)", resp.GetConnector().GetId(), src)
			removeEnvFile(g.env, src, tf.keepEnvFile)
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
	fs := cmd.Flags()
	fs.String("system", "", strings.Join(systemNames(), ", ")+"; without it, add prompts for everything (interactive mode)")
	addInteractiveFlag(fs)
	fs.StringVar(&id, "id", "", "connector id (lowercase letters, digits, dashes; default: generated)")
	addFieldFlags(fs)
	fs.BoolVar(&disabled, "disabled", false, "save the connector paused")
	fs.BoolVar(&skipTest, "skip-test", false, "save without testing the connection first")
	tf.register(fs, true)
	return cmd
}

func identitySuffix(r *pb.TestConnectionResponse) string {
	if r.GetIdentity() == "" {
		return ""
	}
	return " (authenticated as " + r.GetIdentity() + ")"
}

func newListCmd(g *globals) *cobra.Command {
	var system string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List connectors (every page)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			req := &pb.ListConnectorsRequest{PageSize: 100}
			if system != "" {
				s, err := parseSystem(system)
				if err != nil {
					return fmt.Errorf("--system: %w", err)
				}
				req.System = s
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			all := &pb.ListConnectorsResponse{}
			seen := map[string]bool{}
			for {
				resp, err := client.ListConnectors(ctx, req)
				if err != nil {
					return err
				}
				all.Connectors = append(all.Connectors, resp.GetConnectors()...)
				next := resp.GetNextPageToken()
				if next == "" {
					break
				}
				if seen[next] {
					return errors.New("the registry returned the same page token twice; stopping")
				}
				seen[next] = true
				req.PageToken = next
			}
			return g.show(all, func() error { return printConnectorList(g.env.Stdout, all.GetConnectors(), g.env.Now()) })
		},
	}
	cmd.Flags().StringVar(&system, "system", "", "only connectors of this system")
	return cmd
}

func newGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one connector",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: args[0]})
			if err != nil {
				return err
			}
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
}

func newTestCmd(g *globals) *cobra.Command {
	var tf tokenFlags
	cmd := &cobra.Command{
		Use:   "test [ID]",
		Short: "Test a saved connector by id, or an unsaved one given with add's flags",
		Example: `  hubctl connectors test gh-acme-api
  hubctl connectors test --system github --project acme/api`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fs := cmd.Flags()
			var req *pb.TestConnectionRequest
			var c *pb.Connector
			if len(args) == 1 {
				if given := configFlagsGiven(fs); len(given) > 0 {
					return fmt.Errorf("give a connector id or configuration flags, not both (got --%s)", strings.Join(given, ", --"))
				}
				req = &pb.TestConnectionRequest{Target: &pb.TestConnectionRequest_ConnectorId{ConnectorId: args[0]}}
			} else {
				var err error
				if c, err = g.connectorFromFlags(fs); err != nil {
					return err
				}
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			if c != nil {
				token, src, err := g.trackerToken(ctx, client, fs, &tf, c)
				if err != nil {
					return err
				}
				g.info("using the %s token from %s", systemName(c.GetSystem()), src)
				req = &pb.TestConnectionRequest{Target: &pb.TestConnectionRequest_Config{Config: c}, Credential: token}
			}
			resp, err := client.TestConnection(ctx, req)
			if err != nil {
				return err
			}
			if err := g.show(resp, func() error { return printTestResult(g.env.Stdout, resp) }); err != nil {
				return err
			}
			if !resp.GetOk() {
				return testFailedError(resp, "")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.String("system", "", strings.Join(systemNames(), ", ")+" (unsaved test)")
	addFieldFlags(fs)
	tf.register(fs, false)
	return cmd
}

// configFlagsGiven names the configuration and token flags that were set.
func configFlagsGiven(fs *pflag.FlagSet) []string {
	var given []string
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "server", "api-token", "output", "timeout", "tls", "ca-file":
		default:
			given = append(given, f.Name)
		}
	})
	return given
}

func newUpdateCmd(g *globals) *cobra.Command {
	var (
		tf                tokenFlags
		etag              string
		enabled, disabled bool
	)
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change only the fields whose flags are given",
		Long: `Change a connector. Only the fields whose flags are given change (the update
mask names exactly those); pass --flag= to clear a text or list field. --etag
makes the update fail if the connector changed since you read it.

Changing where or how the token is sent (--base-url, --auth, --username,
--proxy, --ca-bundle, --deployment) needs the token again, resolved as for
"connectors add": the registry never sends a stored token somewhere new unasked.`,
		Example: `  hubctl connectors update gh-acme-api --label agent --label backend --poll-interval 2m
  hubctl connectors update gh-acme-api --context ci-checkout,sonar-checkout
  hubctl connectors update            # interactive: pick a connector, edit its values`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fs := cmd.Flags()
			interactive := len(args) == 0 && g.interactive(fs)
			if len(args) == 0 && !interactive {
				return errors.New("update needs the connector id (or --interactive to pick one)")
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			var req *pb.UpdateConnectorRequest
			if interactive {
				cur, err := g.pickConnector(ctx, client, "update")
				if err != nil {
					return err
				}
				if req, err = g.promptUpdate(ctx, client, cur); err != nil {
					return err
				}
				if len(req.GetUpdateMask().GetPaths()) == 0 {
					g.info("nothing changed; connector %s kept as it was", cur.GetId())
					return nil
				}
				args = []string{cur.GetId()}
			} else if req, err = buildUpdate(fs, args[0], etag, enabled, disabled); err != nil {
				return err
			}
			var src tokenSource
			if redirectsCredential(req.GetUpdateMask().GetPaths()) {
				got, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: args[0]})
				if err != nil {
					return err
				}
				c := got.GetConnector()
				if slices.Contains(req.GetUpdateMask().GetPaths(), "auth_mode") {
					c.AuthMode = req.GetConnector().GetAuthMode()
				}
				var token string
				if token, src, err = g.trackerToken(ctx, client, cmd.Flags(), &tf, c); err != nil {
					return fmt.Errorf("%w (changing %s needs the token again)", err, strings.Join(req.GetUpdateMask().GetPaths(), ", "))
				}
				if token != "" {
					g.info("using the %s token from %s", systemName(c.GetSystem()), src)
				}
				req.Credential = token
			}
			resp, err := client.UpdateConnector(ctx, req)
			if err != nil {
				return err
			}
			g.info("updated connector %s: %s", args[0], strings.Join(req.GetUpdateMask().GetPaths(), ", "))
			removeEnvFile(g.env, src, tf.keepEnvFile)
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
	fs := cmd.Flags()
	addFieldFlags(fs)
	fs.BoolVar(&enabled, "enabled", false, "resume polling")
	fs.BoolVar(&disabled, "disabled", false, "pause polling")
	fs.StringVar(&etag, "etag", "", "fail unless the connector still has this etag")
	addInteractiveFlag(fs)
	tf.register(fs, true)
	return cmd
}

// credentialPaths are the fields that change where or how the stored token is
// sent; the registry wants the token again when one of them changes.
var credentialPaths = []string{"base_url", "auth_mode", "username", "http_proxy_url", "ca_bundle_pem", "deployment", "app_id"}

func redirectsCredential(paths []string) bool {
	return slices.ContainsFunc(paths, func(p string) bool { return slices.Contains(credentialPaths, p) })
}

// buildUpdate turns the given flags into an update whose mask lists exactly
// the fields those flags name.
func buildUpdate(fs *pflag.FlagSet, id, etag string, enabled, disabled bool) (*pb.UpdateConnectorRequest, error) {
	c := &pb.Connector{Id: id, Etag: etag}
	paths, err := applyFieldFlags(fs, c)
	if err != nil {
		return nil, err
	}
	switch {
	case fs.Changed("enabled") && fs.Changed("disabled"):
		return nil, errors.New("--enabled and --disabled exclude each other")
	case fs.Changed("enabled"):
		c.Enabled = enabled
		paths = append(paths, "enabled")
	case fs.Changed("disabled"):
		c.Enabled = !disabled
		paths = append(paths, "enabled")
	}
	if len(paths) == 0 {
		return nil, errors.New("nothing to update: give at least one field flag (see --help)")
	}
	return &pb.UpdateConnectorRequest{Connector: c, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}, nil
}

func newEnableCmd(g *globals, verb string, enable bool) *cobra.Command {
	var etag string
	short, done := "Pause a connector: keep it but stop polling", "paused"
	if enable {
		short, done = "Resume polling a paused connector", "resumed"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.UpdateConnector(ctx, &pb.UpdateConnectorRequest{
				Connector:  &pb.Connector{Id: args[0], Etag: etag, Enabled: enable},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}},
			})
			if err != nil {
				return err
			}
			g.info("%s connector %s", done, args[0])
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "fail unless the connector still has this etag")
	return cmd
}

func newRemoveCmd(g *globals) *cobra.Command {
	var force bool
	var etag string
	cmd := &cobra.Command{
		Use:     "remove [ID]",
		Aliases: []string{"rm", "delete"},
		Short:   "Delete a connector (asks first unless --force; without ID, pick it from a list)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 {
				if !g.interactive(cmd.Flags()) {
					return errors.New("remove needs the connector id (or --interactive to pick one)")
				}
				client, closeConn, err := g.dial(ctx)
				if err != nil {
					return err
				}
				c, err := g.pickConnector(ctx, client, "remove")
				closeConn()
				if err != nil {
					return err
				}
				args = []string{c.GetId()}
			}
			id := args[0]
			if !force {
				if !g.env.Terminal.IsTerminal() {
					return fmt.Errorf("not deleting connector %s without confirmation: stdin is not a terminal, pass --force", id)
				}
				ok, err := g.confirm(fmt.Sprintf("Delete connector %s?", id))
				if err != nil {
					return err
				}
				if !ok {
					g.info("connector %s kept", id)
					return nil
				}
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.DeleteConnector(ctx, &pb.DeleteConnectorRequest{Id: id, Etag: etag})
			if err != nil {
				return err
			}
			g.info("deleted connector %s", id)
			return g.show(resp, func() error { return nil })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	addInteractiveFlag(cmd.Flags())
	cmd.Flags().StringVar(&etag, "etag", "", "fail unless the connector still has this etag")
	return cmd
}

func newCapabilitiesCmd(g *globals) *cobra.Command {
	var system string
	cmd := &cobra.Command{
		Use:     "capabilities",
		Aliases: []string{"caps"},
		Short:   "Show which features each system supports and the scopes its token needs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			req := &pb.GetCapabilitiesRequest{}
			if system != "" {
				s, err := parseSystem(system)
				if err != nil {
					return fmt.Errorf("--system: %w", err)
				}
				req.System = s
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.GetCapabilities(ctx, req)
			if err != nil {
				return err
			}
			return g.show(resp, func() error { return printCapabilities(g.env.Stdout, resp.GetSystems()) })
		},
	}
	cmd.Flags().StringVar(&system, "system", "", "only this system")
	return cmd
}

func newWebhookCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "webhook ID",
		Short: "Show how to create a connector's webhook by hand: URL, events and (once) the secret",
		Long: `Show what an admin pastes into the tracker's webhook form when the registry
could not create the hook itself (no REGISTRY_WEBHOOK_PUBLIC_URL, or the
credential may not create hooks): the URL, the events to select and the
secret. The secret is shown once (the registry cannot read it back); to see
one again, "hubctl secrets rotate --webhook ID" makes a new one. Needs an
admin token.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.GetWebhookSetup(ctx, &pb.GetWebhookSetupRequest{Id: args[0]})
			if err != nil {
				return err
			}
			return g.show(resp, func() error { return printWebhookSetup(g.env.Stdout, resp.GetSetup()) })
		},
	}
}
