package oauthgrant_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
)

// wikiOnJira stores a Confluence connector of the same site and app that
// uses the Jira connector's grant (no grant of its own).
func (e *env) wikiOnJira(t *testing.T) connector.Connector {
	t.Helper()
	ctx := context.Background()
	c := connector.Connector{ID: "wiki-shared", System: connector.Confluence, Deployment: connector.Cloud, BaseURL: siteURL + "/wiki",
		AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, SpaceKeys: []string{"ENG"}, Enabled: true, OAuthGrantFrom: e.conn.ID,
		Credential: connector.Credential{Binding: connector.BindingFields}}
	ct, err := e.cipher.Encrypt(ctx, c.CredentialContext(), []byte(clientSecret))
	if err != nil {
		t.Fatal(err)
	}
	c.Credential.Ciphertext = ct
	out, err := e.store(t).Create(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sharedReplica is a token service that can resolve OAuthGrantFrom (its
// own connection to the connectors bucket, as another process would have).
func (e *env) sharedReplica(t *testing.T, rec oauthgrant.Grants) *oauthgrant.Manager {
	t.Helper()
	if rec == nil {
		rec = e.grants(t)
	}
	cfg := oauthgrant.Config{Endpoints: e.ep, RotationGrace: 5 * time.Second, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}, Connectors: e.store(t)}
	return oauthgrant.New(cfg, rec, e.cipher)
}

func TestConfluenceOnTheJiraGrantCallsTheSiteWithOneRefreshInOneProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	wiki := e.wikiOnJira(t)
	m := e.sharedReplica(t, nil)
	secret := connector.NewSecret(clientSecret)

	acc, err := m.Access(ctx, wiki, secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.ep.APIURL + "/ex/confluence/" + cloudID; acc.APIRoot.String() != want {
		t.Fatalf("API root = %s, want %s", acc.APIRoot, want)
	}
	jacc, err := m.Access(ctx, e.conn, secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.ep.APIURL + "/ex/jira/" + cloudID; jacc.APIRoot.String() != want || jacc.Token.Reveal() != acc.Token.Reveal() {
		t.Fatalf("jira: root %s (want %s), same token %v: one grant, one access token", jacc.APIRoot, want, jacc.Token.Reveal() == acc.Token.Reveal())
	}
	if n := e.fake.Refreshes(); n != 1 {
		t.Fatalf("refreshes = %d, want 1 (one grant in one process)", n)
	}
	// The rotation went to the Jira connector's record, under its context;
	// no grant was created for the Confluence connector.
	if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
		t.Fatal("the Jira connector's grant does not hold the live refresh token")
	}
	if _, err := e.grants(t).Get(ctx, wiki.ID); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("a grant was stored under the Confluence connector: %v", err)
	}
	// The Confluence tracker works through it; Forget by the Confluence id
	// drops the shared token.
	opts := trackers.Options{Timeout: 10 * time.Second, OAuth: m}
	if res, err := trackers.Test(ctx, confluence.New(), wiki, secret, opts); err != nil || !res.OK {
		t.Fatalf("confluence test: %+v, %v", res, err)
	}
	m.Forget(wiki.ID)
	if _, err := m.Access(ctx, e.conn, secret); err != nil || e.fake.Refreshes() != 2 {
		t.Fatalf("after Forget(%s): err %v, refreshes %d, want 2", wiki.ID, err, e.fake.Refreshes())
	}
}

func TestJiraPollerAndKnowledgeServiceRefreshingTheOneGrantAtOnceLoseNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	wiki := e.wikiOnJira(t)
	secret := connector.NewSecret(clientSecret)

	// The Jira poller's token service wins the exchange and is held before
	// it stores; the knowledge service's refresh with the same (retired)
	// token is refused and must wait for the winner's and use it.
	gate := &gatedGrants{Grants: e.grants(t), release: make(chan struct{})}
	poller := e.sharedReplica(t, gate)
	knowledge := e.sharedReplica(t, nil)
	var wg sync.WaitGroup
	var perr, kerr error
	wg.Add(1)
	go func() { defer wg.Done(); _, perr = poller.Access(ctx, e.conn, secret) }()
	testenv.Eventually(t, 30*time.Second, "the poller's refresh", func() bool { return e.fake.Refreshes() == 1 })
	wg.Add(1)
	go func() { defer wg.Done(); _, kerr = knowledge.Access(ctx, wiki, secret) }()
	testenv.Eventually(t, 30*time.Second, "the knowledge service's refused refresh", func() bool {
		return strings.Count(strings.Join(e.fake.Calls(), "\n"), "POST /oauth/token") == 2
	})
	close(gate.release)
	wg.Wait()
	if perr != nil || kerr != nil {
		t.Fatalf("poller: %v; knowledge: %v", perr, kerr)
	}
	if got := e.fake.Refreshes(); got != 2 {
		t.Fatalf("refreshes = %d, want 2 (the poller's, then the knowledge service's with the poller's token)", got)
	}
	if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
		t.Fatal("the stored refresh token is not live: a rotation was lost")
	}

	// Rounds of both at once, caches dropped each time, the other way
	// round too: the one record always holds the live token.
	for round := range 6 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range []struct {
			m *oauthgrant.Manager
			c connector.Connector
		}{{poller, e.conn}, {knowledge, wiki}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pair.m.Forget(pair.c.ID)
				_, errs[i] = pair.m.Access(ctx, pair.c, secret)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
			t.Fatalf("round %d: the stored refresh token is not live", round)
		}
	}
	if n := len(e.fake.LiveRefreshTokens()); n != 1 {
		t.Fatalf("%d live refresh tokens, want 1 (one grant)", n)
	}
	// And Jira still works after all that.
	if res, err := trackers.Test(ctx, jira.New(), e.current(t), secret, trackers.Options{Timeout: 10 * time.Second, OAuth: poller}); err != nil || !res.OK {
		t.Fatalf("jira test: %+v, %v", res, err)
	}
}

func TestAGrantSourceThatIsMissingOrDoesNotMatchIsRefusedBeforeAnyTokenIsSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	secret := connector.NewSecret(clientSecret)
	wiki := e.wikiOnJira(t)
	for name, tc := range map[string]struct {
		change func(*connector.Connector)
		want   string
	}{
		"another site":      {func(c *connector.Connector) { c.BaseURL = "https://other.atlassian.net/wiki" }, "a grant serves one site"},
		"another client id": {func(c *connector.Connector) { c.OAuthClientID = "another-app" }, "another OAuth app"},
		"a missing source":  {func(c *connector.Connector) { c.OAuthGrantFrom = "jira-gone" }, "does not exist"},
		"a source not jira": {func(c *connector.Connector) { c.OAuthGrantFrom = "wiki-shared" }, "must come from a Jira connector"},
	} {
		t.Run(name, func(t *testing.T) {
			c := wiki
			c.ID = "wiki-probe"
			tc.change(&c)
			_, err := e.sharedReplica(t, nil).Access(ctx, c, secret)
			if !errors.Is(err, trackers.ErrGrantInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrGrantInvalid saying %q", err, tc.want)
			}
		})
	}
	// Without a connector reader the token service cannot resolve it.
	if _, err := e.replica(t, nil, nil).Access(ctx, wiki, secret); !errors.Is(err, trackers.ErrInvalidConfig) {
		t.Fatalf("no connector reader: %v, want ErrInvalidConfig", err)
	}
	if n := e.fake.Refreshes(); n != 0 || strings.Contains(strings.Join(e.fake.Calls(), "\n"), "/oauth/token") {
		t.Fatalf("a refresh token was sent (%d refreshes)", n)
	}
}
