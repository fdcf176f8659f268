package github_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// GitHub's X-RateLimit-Remaining paces discovery the same way as Jira's
// quota (trackers.Pacer): a token with 60 requests an hour, polled as fast
// as it goes, never runs into the primary rate limit's 403, and runs at
// full speed again once the window resets.
func TestGitHubPacedOnXRateLimitRemaining(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := githubfake.New(githubfake.Options{
			Users:     []githubfake.User{{ID: 1, Login: "octocat"}},
			Tokens:    []githubfake.Token{{Value: "ghp_paced", Login: "octocat", Scopes: []string{"repo"}}},
			Repos:     []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}}},
			RateLimit: 60,
		})
		fake.AddIssue("acme/widgets", githubfake.Issue{Title: "paced", Assignees: []string{"octocat"}})
		c := connector.Connector{ID: "gh-paced", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: "http://127.0.0.1:8080",
			AuthMode: connector.AuthBearer, Project: "acme/widgets", Assignee: "octocat"}
		s, err := trackers.NewSession(github.New(), c, connector.NewSecret("ghp_paced"),
			trackers.Options{Timeout: 10 * time.Second, RoundTripper: fakehttp.InMemory(fake)})
		if err != nil {
			t.Fatal(err)
		}
		reset := time.Now().Add(time.Hour).Truncate(time.Second) // the fake's first window
		paced := 0
		for time.Now().Before(reset) {
			_, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
			var rl *trackers.RateLimitError
			switch {
			case err == nil:
			case errors.As(err, &rl) && strings.HasPrefix(rl.Reason, "paced: "):
				paced++
				time.Sleep(rl.RetryAfter)
			default:
				t.Fatalf("discover: %v (the primary rate limit was reached)", err)
			}
		}
		if paced == 0 {
			t.Fatal("never paced")
		}
		if used := fake.RateLimitUsed(); used < 55 { // all but the one request kept spare
			t.Fatalf("%d requests in the first window of 60: the budget was not used", used)
		}
		at := time.Now()
		for range 30 {
			if _, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{}); err != nil {
				t.Fatalf("after the reset: %v", err)
			}
		}
		if d := time.Since(at); d != 0 {
			t.Fatalf("30 polls after the reset took %s, want no wait", d)
		}
	})
}
