package connector_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
)

func TestSharedGrantProblemNamesWhyAConnectorMayNotUseAnothersGrant(t *testing.T) {
	t.Parallel()
	src := oauthConnector("jira-src", "https://acme.atlassian.net", "app-1")
	dep := connector.Connector{ID: "wiki-dep", System: connector.Confluence, Deployment: connector.Cloud, BaseURL: "https://ACME.atlassian.net/wiki",
		AuthMode: connector.AuthOAuth2, OAuthClientID: "app-1", OAuthGrantFrom: "jira-src"}
	if why := connector.SharedGrantProblem(dep, src); why != "" {
		t.Fatalf("same site (case and /wiki aside) and app: %s", why)
	}
	for name, tc := range map[string]struct {
		edit func(dep, src *connector.Connector)
		want string
	}{
		"another site":      {func(d, _ *connector.Connector) { d.BaseURL = "https://other.atlassian.net/wiki" }, "a grant serves one site"},
		"another app":       {func(d, _ *connector.Connector) { d.OAuthClientID = "app-2" }, "another OAuth app"},
		"source not jira":   {func(_, s *connector.Connector) { s.System = connector.Confluence }, "must come from a Jira connector"},
		"source not oauth2": {func(_, s *connector.Connector) { s.AuthMode = connector.AuthBasic }, "must come from a Jira connector"},
		"source shares too": {func(_, s *connector.Connector) { s.OAuthGrantFrom = "jira-x" }, "uses the grant of"},
		"data center":       {func(_, s *connector.Connector) { s.Deployment = connector.SelfHosted }, "Atlassian Cloud only"},
		"not the named one": {func(d, _ *connector.Connector) { d.OAuthGrantFrom = "jira-else" }, "not the one named"},
	} {
		t.Run(name, func(t *testing.T) {
			d, s := dep, src
			tc.edit(&d, &s)
			if why := connector.SharedGrantProblem(d, s); !strings.Contains(why, tc.want) {
				t.Fatalf("problem %q, want it to say %q", why, tc.want)
			}
		})
	}
	union := connector.ConsentScopes(connector.Connector{OAuthScopes: []string{"a", "offline_access"}}, connector.Connector{OAuthScopes: []string{"b", "offline_access"}})
	if !slices.Equal(union, []string{"a", "offline_access", "b"}) {
		t.Fatalf("consent scopes %v", union)
	}
	if got := connector.MissingScopes(union, []string{"b", "c"}); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("missing %v", got)
	}
}

func TestOAuthGrantFromIsForConfluenceOAuth2Only(t *testing.T) {
	t.Parallel()
	jira := oauthConnector("jira-a", "https://acme.atlassian.net", "app-1")
	jira.OAuthGrantFrom = "jira-b"
	wikiBasic := connector.Connector{ID: "wiki-a", System: connector.Confluence, AuthMode: connector.AuthBasic, OAuthGrantFrom: "jira-a"}
	self := connector.Connector{ID: "wiki-a", System: connector.Confluence, AuthMode: connector.AuthOAuth2, OAuthGrantFrom: "wiki-a"}
	for name, c := range map[string]connector.Connector{"jira": jira, "basic confluence": wikiBasic, "itself": self} {
		err := c.Validate(all.Registry())
		if err == nil || !strings.Contains(err.Error(), "oauth_grant_from") {
			t.Errorf("%s: %v, want an oauth_grant_from error", name, err)
		}
	}
}

func TestGrantStoreListsEveryGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := testenv.NATS(t)
	kv, err := js.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	s := connector.NewGrantStore(kv)
	if got, err := s.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty bucket: %v, %v", got, err)
	}
	for _, id := range []string{"jira-a", "jira-b"} {
		if _, err := s.Put(ctx, connector.OAuthGrant{ConnectorID: id, GrantTime: time.Now(), Refresh: connector.Credential{Ciphertext: "local:v1:x"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx)
	if err != nil || len(got) != 2 || got[0].Revision == 0 {
		t.Fatalf("list = %+v, %v", got, err)
	}
}
