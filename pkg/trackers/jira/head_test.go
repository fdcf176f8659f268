package jira_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// The head the writeback decides on agrees with the full ticket on the
// update time, the reporter and the status, without the description.
func TestJiraGetTicketHeadMatchesGetTicket(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			fake := jirafake.NewSandbox(dep)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			updated := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			key := fake.AddTicket(jirafake.Ticket{Summary: "Head", Description: "Some **long** text", Assignee: jirafake.SandboxEmail,
				Created: updated.Add(-time.Hour), Updated: updated})
			c := connector.Connector{ID: "jira-head", System: connector.Jira, Deployment: dep, BaseURL: srv.URL, AuthMode: connector.AuthBasic,
				Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true}
			if dep == connector.SelfHosted {
				c.AuthMode, c.Username = connector.AuthBearer, ""
			}
			c.ApplyDefaults(all.Registry())
			sess, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{})
			if err != nil {
				t.Fatal(err)
			}
			full, err := jira.New().GetTicket(context.Background(), sess, key)
			if err != nil {
				t.Fatal(err)
			}
			head, err := jira.New().GetTicketHead(context.Background(), sess, key)
			if err != nil {
				t.Fatal(err)
			}
			if !head.Updated.Equal(full.Updated) || head.Reporter != full.Reporter || head.Status != full.Status || head.Key != key {
				t.Errorf("head %+v\nfull %+v", head, full)
			}
			if full.DescriptionMarkdown == "" || head.DescriptionMarkdown != "" {
				t.Errorf("description: full %q, head %q (want it only in the full ticket)", full.DescriptionMarkdown, head.DescriptionMarkdown)
			}
		})
	}
}
