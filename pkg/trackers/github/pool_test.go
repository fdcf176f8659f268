package github_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
)

// A pool of two working tokens (two accounts, each with its own budget) and
// one revoked: discovery spreads over the two, sets the revoked one aside
// and never fails; the default assignee is the first token's account.
func TestGitHubTokenPoolSpreadsDiscoveryAndSetsAsideARevokedToken(t *testing.T) {
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}, {ID: 3, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: "ghp_pool_one", Login: "octocat", Scopes: []string{"repo"}},
			{Value: "ghp_pool_two", Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true,
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Read}}},
	})
	fake.AddIssue("acme/widgets", githubfake.Issue{Title: "pooled", Assignees: []string{"octocat"}})
	url := fake.Start(t)
	c := connector.Connector{ID: "gh-pool", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer, Project: "acme/widgets"}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret("ghp_pool_one,ghp_pool_revoked,ghp_pool_two"), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Pool == nil || s.Pool.Len() != 3 || s.Secret.Reveal() != "ghp_pool_one" {
		t.Fatalf("pool not built from the credential, or Secret is not its first token")
	}
	for i := range 20 {
		page, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
		if err != nil {
			t.Fatalf("discover %d: %v", i, err)
		}
		if len(page.Tickets) != 1 {
			t.Fatalf("discover %d: %d tickets (assignee must be the first token's account)", i, len(page.Tickets))
		}
	}
	one, two := fake.RateLimitUsedBy("octocat"), fake.RateLimitUsedBy("hubot")
	if one < 5 || two < 5 || one-two > 3 || two-one > 3 {
		t.Errorf("budget spent octocat=%d hubot=%d: not spread", one, two)
	}
	aside := s.Pool.SetAside()
	if len(aside) != 1 || aside[0].Fingerprint != secrets.Fingerprint([]byte("ghp_pool_revoked")) {
		t.Errorf("set aside %+v, want the revoked token's fingerprint", aside)
	}
}

func TestGitHubTokenPoolWritesUseTheFirstToken(t *testing.T) {
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}, {ID: 3, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: "ghp_w_one", Login: "octocat", Scopes: []string{"repo"}},
			{Value: "ghp_w_two", Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true,
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Write}}},
	})
	n := fake.AddIssue("acme/widgets", githubfake.Issue{Title: "w", Assignees: []string{"octocat"}})
	url := fake.Start(t)
	c := connector.Connector{ID: "gh-pool-w", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer, Project: "acme/widgets"}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret("ghp_w_one,ghp_w_two"), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := github.New().AddComment(context.Background(), s, "acme/widgets#"+strconv.Itoa(n), trackers.NewComment{Markdown: "c" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.RateLimitUsedBy("hubot"); got != 0 {
		t.Errorf("the second token wrote %d times: writes must stay on the first token", got)
	}
}

// A conditional listing goes out with the token that fetched the page, so
// GitHub (validators per token) answers 304 and an idle cycle stays free.
func TestGitHubTokenPoolKeepsConditionalRequestsOnTheirToken(t *testing.T) {
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}, {ID: 3, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: "ghp_etag_one", Login: "octocat", Scopes: []string{"repo"}},
			{Value: "ghp_etag_two", Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true,
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Read}}},
	})
	fake.AddIssue("acme/widgets", githubfake.Issue{Title: "cached", Assignees: []string{"octocat"}})
	url := fake.Start(t)
	c := connector.Connector{ID: "gh-pool-etag", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer, Project: "acme/widgets", Assignee: "octocat"}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret("ghp_etag_one,ghp_etag_two"), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
	if err != nil || first.ETag == "" {
		t.Fatalf("first listing: %v, etag %q", err, first.ETag)
	}
	for i := range 6 {
		page, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{ETag: first.ETag})
		if err != nil {
			t.Fatal(err)
		}
		if !page.NotModified {
			t.Fatalf("conditional listing %d answered 200: it went out with another token", i)
		}
	}
}
