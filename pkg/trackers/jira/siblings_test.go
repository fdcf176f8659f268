package jira_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// TestJiraDiscoveryCarriesComponentsAndSiblingSubtasks: a sub-task's event
// lists its parent and the parent's other sub-tasks (read from the parent
// when it is not in the same page), and components come along.
func TestJiraDiscoveryCarriesComponentsAndSiblingSubtasks(t *testing.T) {
	t.Parallel()
	fake := jirafake.NewSandbox(connector.Cloud)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	now := time.Now()
	parent := fake.AddTicket(jirafake.Ticket{Summary: "Parent owned by someone else", Components: []string{"api"}, Created: now.Add(-time.Hour), Updated: now.Add(-time.Hour)})
	first := fake.AddTicket(jirafake.Ticket{Summary: "First part", Type: "Sub-task", Parent: parent, Assignee: jirafake.SandboxEmail, Components: []string{"api", "db"}, Created: now.Add(-time.Hour), Updated: now.Add(-time.Minute)})
	second := fake.AddTicket(jirafake.Ticket{Summary: "Second part", Type: "Sub-task", Parent: parent, Created: now.Add(-time.Hour), Updated: now.Add(-time.Minute)})

	c := connector.Connector{ID: "jira-sib", System: connector.Jira, Deployment: connector.Cloud, BaseURL: srv.URL, AuthMode: connector.AuthBasic,
		Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true}
	c.ApplyDefaults(all.Registry())
	sess, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := trackers.Tracker(jira.New())
	page, err := tr.(trackers.Discoverer).Discover(context.Background(), sess, trackers.DiscoveryQuery{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(page.Tickets, func(tk trackers.Ticket) bool { return tk.Key == first })
	if i < 0 {
		t.Fatalf("sub-task %s not discovered", first)
	}
	tk := page.Tickets[i]
	if tk.Parent == nil || tk.Parent.Key != parent {
		t.Errorf("parent = %+v, want %s", tk.Parent, parent)
	}
	if len(tk.Siblings) != 1 || tk.Siblings[0].Key != second || tk.Siblings[0].Summary != "Second part" {
		t.Errorf("siblings = %+v, want only %s", tk.Siblings, second)
	}
	if !slices.Equal(tk.Components, []string{"api", "db"}) {
		t.Errorf("components = %v", tk.Components)
	}
	for _, other := range page.Tickets {
		if other.Parent == nil && len(other.Siblings) > 0 {
			t.Errorf("%s is no sub-task but lists siblings %v", other.Key, other.Siblings)
		}
	}
}
