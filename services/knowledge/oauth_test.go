package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

// TestConfluenceOnTheJiraGrantSearchesWhileThePollerRefreshes: a Confluence
// connector that uses a Jira connector's OAuth grant (oauth_grant_from)
// searches through the gateway; the knowledge service's token service and
// the Jira poller's (another process: its own token service) refresh the one
// grant record at once, round after round, and no rotation is lost.
func TestConfluenceOnTheJiraGrantSearchesWhileThePollerRefreshes(t *testing.T) {
	t.Parallel()
	const (
		clientID = "kn-app"
		secret   = "kn-app-client-5ecret"
		site     = "https://acme.atlassian.net"
	)
	h := newHarness(t)
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:  []atlassianfake.App{{ClientID: clientID, ClientSecret: secret}},
		Sites: []atlassianfake.Site{{ID: "cloud-acme", Name: "acme", URL: site, Confluence: h.fake}},
	})
	base := fake.Start(t)
	ep := oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}
	ctx := context.Background()

	save := func(c connector.Connector) connector.Connector {
		t.Helper()
		c.Deployment, c.AuthMode, c.OAuthClientID, c.Enabled = connector.Cloud, connector.AuthOAuth2, clientID, true
		c.Credential = connector.Credential{Binding: connector.BindingFields}
		ct, err := h.cipher.Encrypt(ctx, c.CredentialContext(), []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		c.Credential.Ciphertext = ct
		out, err := h.store.Create(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	jira := save(connector.Connector{ID: "kn-jira", System: connector.Jira, BaseURL: site, Project: "PROJ"})
	save(connector.Connector{ID: "kn-wiki", System: connector.Confluence, BaseURL: site + "/wiki", SpaceKeys: []string{"ENG"}, OAuthGrantFrom: jira.ID})
	gkv, err := h.js.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	grants := connector.NewGrantStore(gkv)
	rt, err := h.cipher.Encrypt(ctx, jira.OAuthRefreshContext(), []byte(fake.Grant(clientID, "bot@example.com")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grants.Put(ctx, connector.OAuthGrant{ConnectorID: jira.ID, GrantTime: time.Now().UTC(), Context: jira.GrantContextDigest(),
		Refresh: connector.Credential{Ciphertext: rt, SetTime: time.Now().UTC(), Binding: connector.BindingFields}}); err != nil {
		t.Fatal(err)
	}
	tokens := func() *oauthgrant.Manager {
		return oauthgrant.New(oauthgrant.Config{Endpoints: ep, RotationGrace: 5 * time.Second, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}, Connectors: h.store}, grants, h.cipher)
	}
	kn, poller := tokens(), tokens()
	h.oauth = kn
	r := h.start(testConfig(), nil)

	res, err := r.svc.Search(ctx, knowledge.Query{Terms: []string{"payment", "gateway"}})
	if err != nil || len(res.Hits) == 0 {
		t.Fatalf("search through the gateway: %d hits, %v", len(res.Hits), err)
	}
	if calls := strings.Join(fake.Calls(), "\n"); !strings.Contains(calls, "/ex/confluence/cloud-acme/") {
		t.Fatalf("no call through the gateway:\n%s", calls)
	}
	if _, err := grants.Get(ctx, "kn-wiki"); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("a grant was stored under the Confluence connector: %v", err)
	}
	for round := range 5 {
		kn.Forget("kn-wiki")
		poller.Forget(jira.ID)
		var wg sync.WaitGroup
		var serr, perr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, serr = r.svc.Search(ctx, knowledge.Query{Terms: []string{"settlement", fmt.Sprintf("round%d", round)}})
		}()
		go func() {
			defer wg.Done()
			c, err := h.store.Get(ctx, jira.ID)
			if err != nil {
				perr = err
				return
			}
			_, perr = poller.Access(ctx, c, connector.NewSecret(secret))
		}()
		wg.Wait()
		if serr != nil || perr != nil {
			t.Fatalf("round %d: search %v, poller %v", round, serr, perr)
		}
		g, err := grants.Get(ctx, jira.ID)
		if err != nil {
			t.Fatal(err)
		}
		clear, err := h.cipher.Decrypt(ctx, jira.OAuthRefreshContext(), g.Refresh.Ciphertext)
		if err != nil || !slices.Contains(fake.LiveRefreshTokens(), string(clear)) {
			t.Fatalf("round %d: the grant's refresh token is not live (%v): a rotation was lost", round, err)
		}
	}
	if n := fake.Refreshes(); n < 11 {
		t.Fatalf("refreshes = %d, want at least 11 (the first, then two per round)", n)
	}
}
