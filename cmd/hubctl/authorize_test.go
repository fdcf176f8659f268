package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// TestAuthorizeRunsTheConsentFlowOverALoopbackCallbackAndStoresTheRefreshToken:
// hubctl adds an oauth2 Jira connector, prints the consent URL, listens on
// 127.0.0.1, exchanges the code at the fake's token endpoint and stores the
// refresh token through a real registry; the saved connection test then
// mints an access token with it and calls Jira through the gateway.
func TestAuthorizeRunsTheConsentFlowOverALoopbackCallbackAndStoresTheRefreshToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	const (
		clientID = "hubctl-app-id"
		secret   = "hubctl-app-5ecret-value"
	)
	jf := jirafake.New(jirafake.Options{
		Users:    []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Email: "mia@example.com", DisplayName: "Mia", APIToken: "unused"}},
		Projects: []jirafake.Project{{ID: "10000", Key: "PROJ", Name: "Project"}},
	})
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: clientID, ClientSecret: secret}},
		Sites:   []atlassianfake.Site{{ID: "cloud-1", Name: "acme", URL: "https://acme.atlassian.net", Jira: jf}},
		Consent: "mia@example.com",
	})
	base := fake.Start(t)
	reg := registrytest.Start(t, registrytest.WithOAuth(oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}))

	cli := func() *cli {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		c.vars["HUB_ATLASSIAN_AUTH_URL"] = base + "/authorize"
		c.vars["HUB_ATLASSIAN_TOKEN_URL"] = base + "/oauth/token"
		return c
	}
	r := cli().run("connectors", "add", "--id", "jira-oauth", "--system", "jira", "--base-url", "https://acme.atlassian.net",
		"--project", "PROJ", "--auth", "oauth2", "--oauth-client-id", clientID, "--token", secret)
	if r.err != nil {
		t.Fatalf("add: %v\n%s", r.err, r.stderr)
	}

	c := cli()
	var consent string
	c.vars["ATLASSIAN_CLIENT_SECRET"] = secret
	r = c.runWith(func(e *Env) {
		e.OpenURL = func(u string) {
			consent = u
			// The "browser": the fake consents at once and redirects to the
			// loopback callback, which the client follows.
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
		}
	}, "connectors", "authorize", "jira-oauth")
	if r.err != nil {
		t.Fatalf("authorize: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"audience=api.atlassian.com", "offline_access", "state=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent URL %s lacks %s", consent, want)
		}
	}
	if !strings.Contains(r.stderr, "connection test passed") || !strings.Contains(r.stderr, consent) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.all(), secret) {
		t.Error("hubctl printed the client secret")
	}
	for _, rt := range fake.LiveRefreshTokens() {
		if strings.Contains(r.all(), rt) {
			t.Error("hubctl printed a refresh token")
		}
	}
	got, err := reg.Dial(t, reg.AdminToken).GetConnector(context.Background(), &pb.GetConnectorRequest{Id: "jira-oauth"})
	if err != nil {
		t.Fatal(err)
	}
	if cr := got.GetConnector().GetCredential(); !cr.GetOauthRefreshTokenSet() || cr.GetOauthGrantTime() == nil {
		t.Fatalf("credential info = %v, want a stored refresh token", cr)
	}

	if r := cli().run("connectors", "get", "jira-oauth"); r.err != nil || !strings.Contains(r.stdout, "refresh token") || !strings.Contains(r.stdout, "offline_access") {
		t.Fatalf("connectors get: %v\n%s", r.err, r.stdout)
	}

	// Pasting a refresh token stores it too (a second grant for the same app).
	path := filepath.Join(t.TempDir(), "rt.txt")
	if err := os.WriteFile(path, []byte(fake.Grant(clientID, "mia@example.com")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cli().run("connectors", "authorize", "jira-oauth", "--refresh-token-file", path)
	if r.err != nil || !strings.Contains(r.stderr, "connection test passed") {
		t.Fatalf("authorize --refresh-token-file: %v\n%s", r.err, r.stderr)
	}

	// Rotating the client secret keeps the grant.
	r = cli().run("secrets", "rotate", "jira-oauth", "--token", secret)
	if r.err != nil {
		t.Fatalf("rotate: %v\n%s", r.err, r.stderr)
	}
	res, err := reg.Dial(t, reg.AdminToken).TestConnection(context.Background(), &pb.TestConnectionRequest{Target: &pb.TestConnectionRequest_ConnectorId{ConnectorId: "jira-oauth"}})
	if err != nil || !res.GetOk() {
		t.Fatalf("test after rotating the client secret: %v, %v", res, err)
	}
}

// TestAConfluenceConnectorOnTheJiraGrant: --oauth-grant-from attaches a
// Confluence connector to a Jira connector's grant; authorize refuses the
// Confluence connector and, on the Jira one, asks for both connectors'
// scopes; get shows the shared grant on both; the Jira connector cannot be
// removed while used; rewrap counts the refresh token.
func TestAConfluenceConnectorOnTheJiraGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	const (
		clientID = "hubctl-share-app"
		secret   = "hubctl-share-5ecret-value"
	)
	jf := jirafake.New(jirafake.Options{
		Users:    []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Email: "mia@example.com", DisplayName: "Mia", APIToken: "unused"}},
		Projects: []jirafake.Project{{ID: "10000", Key: "PROJ", Name: "Project"}},
	})
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: clientID, ClientSecret: secret}},
		Sites:   []atlassianfake.Site{{ID: "cloud-1", Name: "acme", URL: "https://acme.atlassian.net", Jira: jf}},
		Consent: "mia@example.com",
	})
	base := fake.Start(t)
	reg := registrytest.Start(t, registrytest.WithOAuth(oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}))
	cli := func() *cli {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		c.vars["HUB_ATLASSIAN_AUTH_URL"] = base + "/authorize"
		c.vars["HUB_ATLASSIAN_TOKEN_URL"] = base + "/oauth/token"
		c.vars["ATLASSIAN_CLIENT_SECRET"] = secret
		return c
	}
	must := func(r result, what string) result {
		t.Helper()
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", what, r.err, r.stderr)
		}
		return r
	}
	must(cli().run("connectors", "add", "--id", "jira-sh", "--system", "jira", "--base-url", "https://acme.atlassian.net",
		"--project", "PROJ", "--auth", "oauth2", "--oauth-client-id", clientID, "--token", secret), "add jira")
	must(cli().run("connectors", "add", "--id", "wiki-sh", "--system", "confluence", "--base-url", "https://acme.atlassian.net/wiki",
		"--space", "ENG", "--auth", "oauth2", "--oauth-client-id", clientID, "--oauth-grant-from", "jira-sh", "--token", secret), "add confluence")

	if r := cli().run("connectors", "authorize", "wiki-sh"); r.err == nil || !strings.Contains(r.err.Error(), "hubctl connectors authorize jira-sh") {
		t.Fatalf("authorize the user: %v, want a refusal naming the source", r.err)
	}
	var consent string
	r := must(cli().runWith(func(e *Env) {
		e.OpenURL = func(u string) {
			consent = u
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
			}
		}
	}, "connectors", "authorize", "jira-sh"), "authorize jira")
	for _, want := range []string{"read%3Ajira-work", "search%3Aconfluence", "read%3Aconfluence-content.all", "offline_access"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent URL %s lacks %s: the union of both connectors' scopes", consent, want)
		}
	}
	if !strings.Contains(r.stderr, "also used by wiki-sh") {
		t.Errorf("authorize did not say whose scopes it asks for:\n%s", r.stderr)
	}

	if r := must(cli().run("connectors", "get", "wiki-sh"), "get wiki"); !strings.Contains(r.stdout, "OAuth grant from") || !strings.Contains(r.stdout, "refresh token") {
		t.Errorf("get wiki-sh does not show the shared grant:\n%s", r.stdout)
	}
	if r := must(cli().run("connectors", "get", "jira-sh"), "get jira"); !strings.Contains(r.stdout, "OAuth grant used by") || !strings.Contains(r.stdout, "wiki-sh") {
		t.Errorf("get jira-sh does not show its grant's user:\n%s", r.stdout)
	}
	if r := cli().run("connectors", "remove", "jira-sh", "--force"); r.err == nil || !strings.Contains(r.all()+r.err.Error(), "wiki-sh") {
		t.Fatalf("remove the source: %v\n%s", r.err, r.stderr)
	}
	if r := must(cli().run("secrets", "rewrap"), "rewrap"); !strings.Contains(r.stdout, "refresh tokens unchanged: 1") {
		t.Errorf("rewrap output:\n%s", r.stdout)
	}
}
