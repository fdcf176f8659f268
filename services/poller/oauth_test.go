package poller

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// plainCipher stores values as they are: this test is about the poller
// and the status, not encryption (pkg/oauthgrant and the registry's scan
// test use a real keyring).
type plainCipher struct{ plainDecrypter }

func (plainCipher) Encrypt(_ context.Context, _ string, plaintext []byte) (string, error) {
	return string(plaintext), nil
}

// TestOAuthConnectorIsPolledThroughTheGatewayAndARevokedGrantShowsOnItsStatus:
// a Jira Cloud oauth2 connector is discovered through
// /ex/jira/{cloudId}/…, its refresh token rotating in its grant (oauth_grants
// bucket, the connector record untouched); once the grant is revoked, its
// status carries the error and the command to re-authorize, later cycles
// fail at once without asking the authorization server again, and a new
// grant is picked up without any change to the connector.
func TestOAuthConnectorIsPolledThroughTheGatewayAndARevokedGrantShowsOnItsStatus(t *testing.T) {
	t.Parallel()
	const clientID, secret = "poll-app", "poll-app-5ecret"
	jf := jirafake.NewSandbox(connector.Cloud)
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: clientID, ClientSecret: secret}},
		Sites:   []atlassianfake.Site{{ID: "cloud-poll", Name: "acme", URL: "https://acme.atlassian.net", Jira: jf}},
		Consent: jirafake.SandboxEmail,
	})
	base := fake.Start(t)
	e := newEnv(t, time.Second)
	e.mem = nil
	gkv, err := e.js.KeyValue(context.Background(), bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	grants := connector.NewGrantStore(gkv)
	m := oauthgrant.New(oauthgrant.Config{Endpoints: oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base},
		RotationGrace: 300 * time.Millisecond, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}}, grants, plainCipher{})
	e.topts = trackers.Options{OAuth: m}

	first := fake.Grant(clientID, jirafake.SandboxEmail)
	c := connector.Connector{ID: "jira-oauth", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://acme.atlassian.net",
		AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, Project: jirafake.SandboxProject, Enabled: true, PollInterval: 100 * time.Millisecond,
		Credential: connector.Credential{Ciphertext: secret}}
	c.ApplyDefaults(all.Registry())
	created, err := e.store.Create(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(refresh string) {
		t.Helper()
		if _, err := grants.Put(context.Background(), connector.OAuthGrant{ConnectorID: c.ID, GrantTime: time.Now().UTC(), Context: c.GrantContextDigest(),
			Refresh: connector.Credential{Ciphertext: refresh, SetTime: time.Now().UTC()}}); err != nil {
			t.Fatal(err)
		}
	}
	authorize(first)
	_, _ = e.startReal(t, "r1", nil)
	want := jf.Seed(jirafake.SandboxEmail, time.Now())
	testenv.Eventually(t, 30*time.Second, "the assigned tickets discovered through the gateway", func() bool {
		d := e.events(t)["discovered"]
		for _, k := range want {
			if d[k] != 1 {
				return false
			}
		}
		return true
	})
	g, err := grants.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rt := g.Refresh.Ciphertext; rt == first || !slices.Contains(fake.LiveRefreshTokens(), rt) {
		t.Fatal("the grant does not hold the rotated, live refresh token")
	}
	// The rotations went to the grant, not the connector record.
	if stored, err := e.store.Get(context.Background(), c.ID); err != nil || stored.Revision != created.Revision {
		t.Fatalf("connector record after refreshes: %v, revision %d → %d; want it untouched", err, created.Revision, stored.Revision)
	}
	if !slices.ContainsFunc(fake.Calls(), func(s string) bool { return strings.HasPrefix(s, "POST /ex/jira/cloud-poll/rest/api/3/search/jql") }) {
		t.Fatalf("no search through the gateway: %v", fake.Calls())
	}

	fake.RevokeAll()
	states, err := e.js.KeyValue(context.Background(), bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	ss := connector.NewStateStore(states)
	var st connector.PollState
	testenv.Eventually(t, 30*time.Second, "the revoked grant on the status", func() bool {
		st, err = ss.Get(context.Background(), c.ID)
		return err == nil && st.Status().Reauthorize == "hubctl connectors authorize jira-oauth"
	})
	if s := st.Status(); !strings.Contains(s.AuthError, "invalid_grant") || !strings.Contains(s.LastError, "hubctl connectors authorize jira-oauth") {
		t.Fatalf("status = %+v", s)
	}
	tokenCalls := func() int {
		return len(slices.DeleteFunc(fake.Calls(), func(s string) bool { return s != "POST /oauth/token" }))
	}
	calls, polled := tokenCalls(), st.LastPoll
	testenv.Eventually(t, 30*time.Second, "three more cycles", func() bool {
		now, err := ss.Get(context.Background(), c.ID)
		return err == nil && now.LastPoll.Sub(polled) >= 3*c.PollInterval && now.Status().AuthError != ""
	})
	if got := tokenCalls(); got != calls {
		t.Fatalf("token endpoint asked %d more times after the grant was found revoked", got-calls)
	}

	// Re-authorized (a new grant, the connector record unchanged): the next
	// cycles succeed and the status clears.
	authorize(fake.Grant(clientID, jirafake.SandboxEmail))
	testenv.Eventually(t, 30*time.Second, "the status cleared after re-authorization", func() bool {
		now, err := ss.Get(context.Background(), c.ID)
		return err == nil && now.Status().AuthError == "" && now.LastSuccess.After(st.LastPoll)
	})
}
