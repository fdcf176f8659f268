package github_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
)

// benchDescription is cmd/bench's ticket description.
const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// BenchmarkGitHubDiscoverPage is one discovery page of 100 issues through
// the fake over loopback HTTP, as cmd/bench's discovery lists them: the
// tracker's share of a discovered ticket (request, decoding, conversion) and
// the fake's serving, without the poller and NATS.
func BenchmarkGitHubDiscoverPage(b *testing.B) {
	fake := githubfake.NewSandbox()
	now := time.Now().UTC()
	for i := range 100 {
		fake.AddIssue(githubfake.SandboxRepo, githubfake.Issue{Title: fmt.Sprintf("Bench issue %d", i), Body: benchDescription, Labels: []string{"bench"},
			Assignees: []string{githubfake.SandboxLogin}, Author: "rita", Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(b)
	c := connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: base + "/api/v3/", AuthMode: connector.AuthBearer,
		Project: githubfake.SandboxRepo}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret(githubfake.SandboxToken), trackers.Options{Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		page, err := github.New().Discover(ctx, s, trackers.DiscoveryQuery{})
		if err != nil || len(page.Tickets) != 100 {
			b.Fatalf("%d tickets, %v", len(page.Tickets), err)
		}
	}
}
