package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// DefaultStaleAfter is when a credential counts as stale: 90 days.
const DefaultStaleAfter = 90 * 24 * time.Hour

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "secrets",
		Aliases: []string{"secret", "credentials"},
		Short:   "Rotate and check connector credentials",
	}
	cmd.AddCommand(newRotateCmd(g), newCheckCmd(g), newRewrapCmd(g))
	return cmd
}

func newRotateCmd(g *globals) *cobra.Command {
	var (
		tf      tokenFlags
		etag    string
		webhook bool
	)
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Replace a connector's tracker token (tested before it replaces the old one)",
		Long: `Replace a connector's tracker token. The new token comes from --token, else the
env file, else the system's environment variable, else a masked prompt, as for
"connectors add"; the registry tests it before it replaces the old one. The
env file it was read from is deleted afterwards unless --keep-env-file.

With --webhook it rotates the connector's webhook secret instead: a hook the
registry created is replaced on the tracker with the new secret; a hook made
by hand gets the new secret printed once, to paste into the tracker's form.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			if webhook {
				resp, err := client.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{Id: args[0]})
				if err != nil {
					return err
				}
				if resp.GetSetup().GetSecret() != "" {
					g.info("new webhook secret for connector %s: update the tracker's hook with it", args[0])
				} else {
					g.info("rotated the webhook secret of connector %s (%s)", args[0], orDash(resp.GetSetup().GetRegistration()))
				}
				return g.show(resp, func() error { return printWebhookSetup(g.env.Stdout, resp.GetSetup()) })
			}
			got, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: args[0]})
			if err != nil {
				return err
			}
			token, src, err := g.trackerToken(ctx, client, cmd.Flags(), &tf, got.GetConnector())
			if err != nil {
				return err
			}
			if token == "" {
				return fmt.Errorf("connector %s uses anonymous auth: there is no credential to rotate", args[0])
			}
			g.info("using the new %s token from %s", systemName(got.GetConnector().GetSystem()), src)
			resp, err := client.RotateCredential(ctx, &pb.RotateCredentialRequest{Id: args[0], Credential: token, Etag: etag})
			if err != nil {
				return err
			}
			if t := resp.GetTest(); t != nil && !t.GetOk() {
				_ = printTestResult(g.env.Stderr, t)
				return testFailedError(t, "the old credential is kept")
			}
			g.info("rotated the credential of connector %s (new fingerprint %s)", args[0],
				orDash(resp.GetConnector().GetCredential().GetFingerprint()))
			removeEnvFile(g.env, src, tf.keepEnvFile)
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
	tf.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&etag, "etag", "", "fail unless the connector still has this etag")
	cmd.Flags().BoolVar(&webhook, "webhook", false, "rotate the webhook secret (and the tracker's hook) instead of the tracker token")
	return cmd
}

func newCheckCmd(g *globals) *cobra.Command {
	var (
		staleAfter  time.Duration
		failOnStale bool
		refresh     bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Show every credential's age, staleness and fingerprint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if staleAfter <= 0 {
				return fmt.Errorf("--stale-after must be positive")
			}
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.CheckCredentials(ctx, &pb.CheckCredentialsRequest{StaleAfter: durationpb.New(staleAfter), Refresh: refresh})
			if err != nil {
				return err
			}
			for _, c := range resp.GetCredentials() {
				if c.GetRefreshError() != "" {
					g.info("%s: could not refresh: %s", c.GetConnectorId(), c.GetRefreshError())
				}
			}
			if err := g.show(resp, func() error { return printCredentialAges(g.env.Stdout, resp.GetCredentials()) }); err != nil {
				return err
			}
			var stale []string
			for _, c := range resp.GetCredentials() {
				if c.GetStale() {
					stale = append(stale, c.GetConnectorId())
				}
			}
			if len(stale) > 0 {
				g.info("%d stale credential(s), older than %s: rotate with `hubctl secrets rotate ID`", len(stale), shortAge(staleAfter))
				if failOnStale {
					return fmt.Errorf("stale credentials: %s", strings.Join(stale, ", "))
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&staleAfter, "stale-after", DefaultStaleAfter, "credentials older than this are stale")
	cmd.Flags().BoolVar(&failOnStale, "fail-on-stale", false, "exit non-zero when a credential is stale (for cron and CI)")
	cmd.Flags().BoolVar(&refresh, "refresh", false, "test every connector first, recording the token expiry trackers report (admin token)")
	return cmd
}

func newRewrapCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rewrap",
		Short: "Re-encrypt every stored credential, webhook secret and OAuth refresh token with the newest key version (after a key rotation)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.RewrapCredentials(ctx, &pb.RewrapCredentialsRequest{})
			if err != nil {
				return err
			}
			if err := g.show(resp, func() error {
				fmt.Fprintf(g.env.Stdout, "rewrapped: %d\nunchanged: %d\nrefresh tokens rewrapped: %d\nrefresh tokens unchanged: %d\nfailed:    %s\n",
					resp.GetRewrapped(), resp.GetUnchanged(), resp.GetRefreshTokensRewrapped(), resp.GetRefreshTokensUnchanged(), joinOrDash(resp.GetFailedConnectorIds()))
				return nil
			}); err != nil {
				return err
			}
			if n := len(resp.GetFailedConnectorIds()); n > 0 {
				return fmt.Errorf("%d credential(s) could not be rewrapped: %s", n, strings.Join(resp.GetFailedConnectorIds(), ", "))
			}
			return nil
		},
	}
}
