package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Settings naming the OAuth 2.0 endpoints (the same names the workers read;
// tests point them at the fake).
const (
	envOAuthAuthURL  = "HUB_ATLASSIAN_AUTH_URL"
	envOAuthTokenURL = "HUB_ATLASSIAN_TOKEN_URL"
	envClientSecret  = "ATLASSIAN_CLIENT_SECRET"
)

func newAuthorizeCmd(g *globals) *cobra.Command {
	var (
		refreshFile, secretFile, listen string
		timeout                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "authorize ID",
		Short: "Obtain and store the OAuth 2.0 (3LO) refresh token of an oauth2 connector",
		Long: `Authorize an oauth2 connector (Jira or Confluence Cloud) once: hubctl prints
the consent URL (auth.atlassian.com/authorize, audience api.atlassian.com, the
connector's scopes with offline_access), listens for the callback on
http://127.0.0.1:PORT/callback (register that URL as the app's callback URL;
--listen fixes the port), exchanges the code for tokens and stores the refresh
token through the registry, encrypted. Workers rotate it from then on.

The app's client secret comes from --client-secret-file, else ATLASSIAN_CLIENT_SECRET,
else a masked prompt; it is only used for the code exchange here.
With --refresh-token-file, a refresh token obtained elsewhere is stored instead.
Endpoints: HUB_ATLASSIAN_AUTH_URL, HUB_ATLASSIAN_TOKEN_URL (default Atlassian's).`,
		Example: `  hubctl connectors authorize jira-acme --listen 127.0.0.1:8976
  hubctl connectors authorize jira-acme --refresh-token-file ./rt.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			got, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: args[0]})
			if err != nil {
				return err
			}
			c := got.GetConnector()
			if c.GetAuthMode() != pb.AuthMode_AUTH_MODE_OAUTH2 {
				return fmt.Errorf("connector %s does not use auth mode oauth2", c.GetId())
			}
			if from := c.GetOauthGrantFrom(); from != "" {
				return fmt.Errorf("connector %s uses the OAuth grant of %s: authorize that one (`hubctl connectors authorize %s`); its consent asks for both connectors' scopes", c.GetId(), from, from)
			}
			// One consent serves the connector and every connector using its
			// grant (oauth_grant_from): ask for the union of their scopes (the
			// registry records the same union with the grant).
			scopes := slices.Clone(c.GetOauthScopes())
			for _, id := range c.GetOauthGrantUsers() {
				u, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: id})
				if err != nil {
					return fmt.Errorf("reading %s, which uses the grant of %s: %w", id, c.GetId(), err)
				}
				for _, s := range u.GetConnector().GetOauthScopes() {
					if !slices.Contains(scopes, s) {
						scopes = append(scopes, s)
					}
				}
			}
			if users := c.GetOauthGrantUsers(); len(users) > 0 {
				g.info("%s's grant is also used by %s: asking for the scopes of all of them: %s", c.GetId(), strings.Join(users, ", "), strings.Join(scopes, " "))
			}
			c.OauthScopes = scopes
			var refresh string
			if refreshFile != "" {
				b, err := os.ReadFile(refreshFile)
				if err != nil {
					return fmt.Errorf("--refresh-token-file: %w", err)
				}
				refresh = strings.TrimSpace(string(b))
			} else {
				secret, err := g.clientSecret(secretFile)
				if err != nil {
					return err
				}
				if refresh, err = g.consent(ctx, c, secret, listen, timeout); err != nil {
					return err
				}
			}
			resp, err := client.SetOAuthGrant(ctx, &pb.SetOAuthGrantRequest{Id: c.GetId(), RefreshToken: refresh})
			if err != nil {
				return err
			}
			g.info("stored the refresh token of %s (encrypted; the workers rotate it from now on)", c.GetId())
			res, err := client.TestConnection(ctx, &pb.TestConnectionRequest{Target: &pb.TestConnectionRequest_ConnectorId{ConnectorId: c.GetId()}})
			if err != nil {
				g.info("could not test the connection yet: %v", err)
			} else if !res.GetOk() {
				_ = printTestResult(g.env.Stderr, res)
				return testFailedError(res, "the refresh token is stored; check the app's scopes and the site")
			} else {
				g.info("connection test passed%s", identitySuffix(res))
			}
			return g.show(resp, func() error { return printConnector(g.env.Stdout, resp.GetConnector(), g.env.Now()) })
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&refreshFile, "refresh-token-file", "", "store the refresh token in this file instead of asking for consent")
	fs.StringVar(&secretFile, "client-secret-file", "", "file holding the app's client secret (else "+envClientSecret+", else a prompt)")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "loopback address of the callback listener (port 0: a free one)")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for consent")
	return cmd
}

// clientSecret reads the app's client secret: file, environment, prompt.
func (g *globals) clientSecret(file string) (connector.Secret, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return connector.Secret{}, fmt.Errorf("--client-secret-file: %w", err)
		}
		return connector.NewSecret(strings.TrimSpace(string(b))), nil
	}
	if v := strings.TrimSpace(g.env.Getenv(envClientSecret)); v != "" {
		return connector.NewSecret(v), nil
	}
	if !g.env.Terminal.IsTerminal() {
		return connector.Secret{}, fmt.Errorf("the app's client secret is needed: --client-secret-file or %s (stdin is not a terminal)", envClientSecret)
	}
	fmt.Fprint(g.env.Stderr, "OAuth app client secret: ")
	v, err := g.env.Terminal.ReadPassword()
	fmt.Fprintln(g.env.Stderr)
	if err != nil || strings.TrimSpace(v) == "" {
		return connector.Secret{}, errors.New("no client secret given")
	}
	return connector.NewSecret(strings.TrimSpace(v)), nil
}

func (g *globals) oauthEndpoints() oauthgrant.Endpoints {
	ep := oauthgrant.Atlassian()
	if v := g.env.Getenv(envOAuthAuthURL); v != "" {
		ep.AuthURL = v
	}
	if v := g.env.Getenv(envOAuthTokenURL); v != "" {
		ep.TokenURL = v
	}
	return ep
}

// consent runs the authorization code flow with a loopback callback and
// returns the refresh token.
func (g *globals) consent(ctx context.Context, c *pb.Connector, secret connector.Secret, listen string, timeout time.Duration) (string, error) {
	host, _, err := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("--listen %q: the callback listens on a loopback address only (127.0.0.1:PORT)", listen)
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("callback listener: %w", err)
	}
	defer lis.Close()
	redirect := "http://" + lis.Addr().String() + "/callback"
	conn := connector.Connector{OAuthClientID: c.GetOauthClientId(), OAuthScopes: c.GetOauthScopes()}
	cfg := oauthgrant.OAuth2Config(g.oauthEndpoints(), conn, secret, redirect)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	state := hex.EncodeToString(b)
	consentURL := cfg.AuthCodeURL(state, oauth2.SetAuthURLParam("audience", "api.atlassian.com"), oauth2.SetAuthURLParam("prompt", "consent"))

	type answer struct {
		code string
		err  error
	}
	answers := make(chan answer, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var a answer
		switch {
		case q.Get("state") != state:
			http.Error(w, "state does not match; start again with hubctl connectors authorize", http.StatusBadRequest)
			return // a stray request: keep waiting for the real one
		case q.Get("error") != "":
			a.err = fmt.Errorf("authorization refused: %s", q.Get("error"))
		case q.Get("code") == "":
			a.err = errors.New("the callback carried no code")
		default:
			a.code = q.Get("code")
		}
		if a.err != nil {
			http.Error(w, a.err.Error(), http.StatusBadRequest)
		} else {
			_, _ = fmt.Fprintln(w, "connectorhub: authorized; you may close this window.")
		}
		select {
		case answers <- a:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()

	g.info("Open this URL in a browser and approve access for %s:\n  %s", c.GetId(), consentURL)
	g.info("Waiting for the callback on %s (the app's callback URL must be exactly this)...", redirect)
	if g.env.OpenURL != nil {
		go g.env.OpenURL(consentURL)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var a answer
	select {
	case a = <-answers:
	case <-wctx.Done():
		return "", fmt.Errorf("no callback within %s", timeout)
	}
	if a.err != nil {
		return "", a.err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), a.code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return "", fmt.Errorf("exchanging the code: %s (HTTP %d)", re.ErrorCode, re.Response.StatusCode)
		}
		return "", errors.New("exchanging the code: the token endpoint did not answer")
	}
	if tok.RefreshToken == "" {
		return "", errors.New("the token endpoint issued no refresh token: the scopes must include offline_access")
	}
	return tok.RefreshToken, nil
}
