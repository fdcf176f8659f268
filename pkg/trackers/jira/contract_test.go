package jira_test

import (
	"slices"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// TestJiraOperationsMatchTheVendorShape drives every Jira operation the
// client uses (discovery, read, status, comment, sub-task, and their finds)
// through the contract validator, and pins the list of shape operations
// that were checked: a new call the shape does not describe shows up here.
// The fixture fails the test on any request or response violation.
func TestJiraOperationsMatchTheVendorShape(t *testing.T) {
	t.Parallel()
	checked := []string{
		"GET /rest/api/3/issue/{issueIdOrKey}",
		"GET /rest/api/3/issue/{issueIdOrKey}/comment",
		"GET /rest/api/3/issue/{issueIdOrKey}/transitions",
		"GET /rest/api/3/myself",
		"GET /rest/api/3/project/{projectIdOrKey}",
		"POST /rest/api/3/issue",
		"POST /rest/api/3/issue/{issueIdOrKey}/comment",
		"POST /rest/api/3/issue/{issueIdOrKey}/transitions",
	}
	for _, tt := range []struct {
		dep    connector.Deployment
		search string
	}{
		{connector.Cloud, "POST /rest/api/3/search/jql"},
		{connector.SelfHosted, "POST /rest/api/3/search"}, // DC's /rest/api/2/search, mapped onto v3
	} {
		t.Run(string(tt.dep), func(t *testing.T) {
			t.Parallel()
			f := newJiraFixture(t, jiraFixtureOpts{dep: tt.dep, zone: "Pacific/Auckland"})
			parent := f.fake.AddTicket(jirafake.Ticket{Summary: "p", Description: "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |", Assignee: "mia", Reporter: "rita",
				Attachments: []jirafake.Attachment{{ID: "1", Filename: "a.png", MimeType: "image/png", Size: 1}}})
			f.fake.AddComment(parent, "rita", "first")
			s := f.session(t, func(c *connector.Connector) { c.IndexComments, c.IndexAttachments, c.Project = true, true, "ABC" })
			tr := jiraT()
			discoverAll(t, s, trackers.DiscoveryQuery{Full: true, Since: time.Now().Add(-time.Hour)})
			tk, err := tr.(trackers.TicketReader).GetTicket(ctx(t), s, parent)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.(trackers.StatusWriter).SetStatus(ctx(t), s, parent, "In Progress"); err != nil {
				t.Fatal(err)
			}
			cm := tr.(trackers.Commenter)
			if _, err := cm.AddComment(ctx(t), s, parent, trackers.NewComment{Markdown: "## Done\n\n- [x] tests\n\n```go\nx := 1\n```\n\n> quoted [link](https://example.com)", Mention: &tk.Reporter, Marker: "m1"}); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := cm.FindComment(ctx(t), s, parent, "m1"); err != nil || !ok {
				t.Fatalf("find comment: %v %v", ok, err)
			}
			st := tr.(trackers.SubtaskCreator)
			if _, err := st.CreateSubtask(ctx(t), s, parent, trackers.NewSubtask{Summary: "child", DescriptionMarkdown: "1. one\n2. two", Marker: "m2"}); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := st.FindSubtask(ctx(t), s, parent, "m2"); err != nil || !ok {
				t.Fatalf("find sub-task: %v %v", ok, err)
			}
			res, err := trackers.Test(ctx(t), jira.New(), s.Connector, connector.NewSecret(jiraSuiteToken), trackers.Options{Timeout: 5 * time.Second})
			if err != nil || !res.OK {
				t.Fatalf("connection test: %+v %v", res, err)
			}

			want := slices.Clone(checked)
			want = append(want, tt.search)
			slices.Sort(want)
			if got := f.validator.Checked(); !slices.Equal(got, want) {
				t.Errorf("checked operations =\n%v\nwant\n%v", got, want)
			}
			if got := f.validator.Unspecified(); len(got) != 0 {
				t.Errorf("operations outside the shape: %v", got)
			}
		})
	}
}
