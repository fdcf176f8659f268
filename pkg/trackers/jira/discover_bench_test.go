package jira_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// benchDescription is cmd/bench's ticket description.
const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// BenchmarkDiscoverPage is one full discovery page of 100 tickets as
// cmd/bench seeds them, from the fake over loopback HTTP: the client's
// request, the fake's answer (encoded issues are cached, as the bench's
// steady state has them), decoding and conversion. Cloud converts ADF,
// Data Center wiki markup. ns and allocs are per page; µs/ticket divides.
func BenchmarkDiscoverPage(b *testing.B) {
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		b.Run(string(dep), func(b *testing.B) {
			fake := jirafake.NewSandbox(dep)
			now := time.Now()
			const n = 100
			for i := range n {
				fake.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Bench ticket %d", i), Description: benchDescription,
					Labels: []string{"bench"}, Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
			}
			srv := httptest.NewServer(fake)
			b.Cleanup(srv.Close)
			c := connector.Connector{ID: "bench", System: connector.Jira, Deployment: dep, BaseURL: srv.URL,
				Project: jirafake.SandboxProject, AuthMode: connector.AuthBearer}
			if dep == connector.Cloud {
				c.AuthMode, c.Username = connector.AuthBasic, jirafake.SandboxEmail
			}
			s, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			d := jira.New()
			ctx := context.Background()
			page, err := d.Discover(ctx, s, trackers.DiscoveryQuery{Full: true})
			if err != nil || len(page.Tickets) < n {
				b.Fatalf("%d tickets, %v", len(page.Tickets), err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := d.Discover(ctx, s, trackers.DiscoveryQuery{Full: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
