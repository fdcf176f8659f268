package connector_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

func oauthConnector(id, baseURL, clientID string) connector.Connector {
	return connector.Connector{ID: id, System: connector.Jira, Deployment: connector.Cloud, BaseURL: baseURL,
		AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, Credential: connector.Credential{Binding: connector.BindingFields}}
}

func TestGrantStoreComparesAndSwapsOnTheGrantsRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := testenv.NATS(t)
	kv, err := js.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	s := connector.NewGrantStore(kv)
	c := oauthConnector("jira-oa", "https://acme.atlassian.net", "app-1")

	if _, err := s.Get(ctx, c.ID); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("get before any grant: %v, want ErrNoGrant", err)
	}
	first, err := s.Put(ctx, connector.OAuthGrant{ConnectorID: c.ID, GrantTime: time.Now().UTC(), Context: c.GrantContextDigest(),
		Refresh: connector.Credential{Ciphertext: "local:v1:first", SetTime: time.Now().UTC(), Fingerprint: "fp1"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil || got.Revision != first.Revision || got.Refresh.Ciphertext != "local:v1:first" || !got.GrantTime.Equal(first.GrantTime) || !got.For(c) {
		t.Fatalf("get = %+v, %v; want the stored grant, for c", got, err)
	}

	// Two rotations from the same revision: the second conflicts.
	a, b := got, got
	a.Refresh.Ciphertext, b.Refresh.Ciphertext = "local:v1:a", "local:v1:b"
	if _, err := s.Update(ctx, a); err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	if _, err := s.Update(ctx, b); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("second rotation on the old revision: %v, want ErrConflict", err)
	}
	if now, _ := s.Get(ctx, c.ID); now.Refresh.Ciphertext != "local:v1:a" {
		t.Fatalf("stored %q, want the first rotation's", now.Refresh.Ciphertext)
	}

	// Deleted: a rotation in flight conflicts instead of recreating it.
	cur, _ := s.Get(ctx, c.ID)
	if err := s.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c.ID); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("get after delete: %v, want ErrNoGrant", err)
	}
	cur.Refresh.Ciphertext = "local:v1:late"
	if _, err := s.Update(ctx, cur); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("rotation after delete: %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, c.ID); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("the late rotation recreated the grant: %v", err)
	}
	if err := s.Delete(ctx, c.ID); err != nil {
		t.Fatalf("deleting no grant: %v", err)
	}
}

func TestGrantIsForTheConnectorOnlyAsItWasConfigured(t *testing.T) {
	t.Parallel()
	c := oauthConnector("jira-oa", "https://acme.atlassian.net", "app-1")
	g := connector.OAuthGrant{ConnectorID: c.ID, Context: c.GrantContextDigest()}
	if !g.For(c) {
		t.Fatal("a grant is not for the connector it was stored for")
	}
	for name, other := range map[string]connector.Connector{
		"another base URL":  oauthConnector("jira-oa", "https://evil.atlassian.net", "app-1"),
		"another client id": oauthConnector("jira-oa", "https://acme.atlassian.net", "app-2"),
		"another connector": oauthConnector("jira-ob", "https://acme.atlassian.net", "app-1"),
	} {
		if g.For(other) {
			t.Errorf("%s: the grant is taken for it", name)
		}
	}
	// The digest is of the refresh token's context, not the credential's.
	if c.GrantContextDigest() == "" || c.GrantContextDigest() == oauthConnector("jira-ob", "https://acme.atlassian.net", "app-1").GrantContextDigest() {
		t.Fatal("digest empty or not bound to the id")
	}
}
