package azuredevops_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
)

// benchDescription is cmd/bench's ticket description.
const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// BenchmarkAzureDevOpsDiscoverPage is one discovery page of 200 work items
// (a WIQL query and a batch read) through the fake over loopback HTTP, as
// cmd/bench's discovery lists them: the tracker's share of a discovered
// ticket and the fake's serving, without the poller and NATS.
func BenchmarkAzureDevOpsDiscoverPage(b *testing.B) {
	fake := azuredevopsfake.NewSandbox()
	now := time.Now().UTC()
	for i := range azuredevops.PageSize {
		fake.AddWorkItem(azuredevopsfake.WorkItem{Title: fmt.Sprintf("Bench work item %d", i), Description: benchDescription, Tags: []string{"bench"},
			AssignedTo: azuredevopsfake.SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-2 * time.Hour),
			Changed: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(b)
	c := connector.Connector{System: connector.AzureDevOps, Deployment: connector.SelfHosted, BaseURL: base, AuthMode: connector.AuthBearer,
		Project: azuredevopsfake.SandboxOrganization + "/" + azuredevopsfake.SandboxProject}
	s, err := trackers.NewSession(azuredevops.New(), c, connector.NewSecret(azuredevopsfake.SandboxPAT), trackers.Options{Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// One tracker for every page, as the poller has (pkg/trackers/all): its
	// state categories are read once per StateCacheTTL, not once a page.
	tr := azuredevops.New()
	for b.Loop() {
		page, err := tr.Discover(ctx, s, trackers.DiscoveryQuery{})
		if err != nil || len(page.Tickets) != azuredevops.PageSize {
			b.Fatalf("%d tickets, %v", len(page.Tickets), err)
		}
	}
}
