package pagerduty_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
)

// benchDescription is cmd/bench's ticket description.
const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// BenchmarkPagerDutyDiscoverPage is a first listing of one page of 100
// incidents through the fake over loopback HTTP, as cmd/bench's discovery
// lists them (Full: every incident's body read with GET /incidents/{id}):
// the tracker's share of a discovered ticket (requests, decoding,
// conversion) and the fake's serving, without the poller and NATS. Each
// iteration is a new session, so the body cache is empty, as on a first
// listing.
func BenchmarkPagerDutyDiscoverPage(b *testing.B) {
	fake := pagerdutyfake.NewSandbox()
	now := time.Now().UTC()
	for i := range 100 {
		fake.AddIncident(pagerdutyfake.Incident{Title: fmt.Sprintf("Bench incident %d", i), Details: benchDescription, ServiceID: "PSVC001",
			Assignees: []string{pagerdutyfake.SandboxUserID}, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(b)
	c := connector.Connector{System: connector.PagerDuty, Deployment: connector.Cloud, BaseURL: base, AuthMode: connector.AuthBearer}
	ctx := context.Background()
	tr := pagerduty.New()
	// One transport pool for every session, as the poller's: connections
	// are kept between listings.
	opts := trackers.Options{Timeout: 30 * time.Second, Transports: trackers.NewTransportPool()}
	var s *trackers.Session
	cpu0 := processCPU(b)
	for b.Loop() {
		b.StopTimer()
		var err error
		if s, err = trackers.NewSession(tr, c, connector.NewSecret(pagerdutyfake.SandboxKey), opts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		page, err := tr.Discover(ctx, s, trackers.DiscoveryQuery{Full: true})
		if err != nil || len(page.Tickets) != 100 || page.NextPageToken == "" || page.Tickets[99].DescriptionText != benchDescription {
			b.Fatalf("%d tickets, next %q, %v", len(page.Tickets), page.NextPageToken, err)
		}
	}
	// The process's CPU (client, fake and GC on every core) per incident:
	// on a shared machine, a steadier figure than ns/op's wall clock.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N*100)/1e3, "cpu-µs/incident")
}

// processCPU is the user+system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
