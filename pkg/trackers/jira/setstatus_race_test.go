package jira_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// Two results for one ticket may both read it before either moves it; the
// second transition then no longer applies (Jira answers 400). Reaching
// the target status that way is what was asked, not a refusal.
func TestJiraSetStatusMovedMeanwhile(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		movedTo string
		wantErr bool
	}{
		"to the target": {movedTo: "In Progress"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := jirafake.NewSandbox(connector.Cloud)
			now := time.Now()
			key := fake.AddTicket(jirafake.Ticket{Summary: "Raced", Assignee: jirafake.SandboxEmail, Created: now.Add(-time.Hour), Updated: now.Add(-time.Hour)})
			// Someone else moves the ticket just before our transition arrives.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions") {
					fake.SetStatus(key, tc.movedTo)
				}
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			c := connector.Connector{ID: "jira-race", System: connector.Jira, Deployment: connector.Cloud, BaseURL: srv.URL, AuthMode: connector.AuthBasic,
				Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true}
			c.ApplyDefaults(all.Registry())
			sess, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = jira.New().SetStatus(context.Background(), sess, key, "In Progress")
			if (err != nil) != tc.wantErr {
				t.Fatalf("SetStatus after the ticket moved to %s: err = %v, want error %v", tc.movedTo, err, tc.wantErr)
			}
			if tk, _ := fake.Ticket(key); tk.Status != tc.movedTo {
				t.Errorf("status %q, want %q", tk.Status, tc.movedTo)
			}
		})
	}
}
