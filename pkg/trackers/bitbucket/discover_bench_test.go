package bitbucket_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
)

// benchDescription is cmd/bench's ticket description.
const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// BenchmarkBitbucketDiscoverPage is one discovery page of 100 issues
// through the fake over loopback HTTP, as cmd/bench's discovery lists them:
// the tracker's share of a discovered ticket (request, decoding,
// conversion) and the fake's serving, without the poller and NATS.
func BenchmarkBitbucketDiscoverPage(b *testing.B) {
	fake := bitbucketfake.NewSandbox()
	now := time.Now().UTC()
	for i := range bitbucket.PageLen {
		fake.AddIssue(bitbucketfake.Issue{Repo: bitbucketfake.SandboxRepo, Title: fmt.Sprintf("Bench issue %d", i), Content: benchDescription, Kind: "bug",
			Assignee: bitbucketfake.SandboxUUID, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(b)
	c := connector.Connector{System: connector.Bitbucket, Deployment: connector.Cloud, BaseURL: base + "/2.0", AuthMode: connector.AuthBasic,
		Username: bitbucketfake.SandboxEmail, Project: bitbucketfake.SandboxRepo}
	s, err := trackers.NewSession(bitbucket.New(), c, connector.NewSecret(bitbucketfake.SandboxToken), trackers.Options{Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if i%500 == 0 {
			bitbucket.ResetBudgets()
		}
		page, err := bitbucket.New().Discover(ctx, s, trackers.DiscoveryQuery{PageToken: "i:"})
		if err != nil || len(page.Tickets) < bitbucket.PageLen {
			b.Fatalf("%d tickets, %v", len(page.Tickets), err)
		}
	}
}
