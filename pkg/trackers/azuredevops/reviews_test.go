package azuredevops_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// listAll follows the page tokens of one full discovery and returns the
// tickets by key and the tokens seen.
func listAll(t *testing.T, s *trackers.Session) (map[string]trackers.Ticket, []string) {
	t.Helper()
	got := map[string]trackers.Ticket{}
	var tokens []string
	q := trackers.DiscoveryQuery{Full: true}
	for range 100 {
		page, err := azuredevops.New().Discover(context.Background(), s, q)
		if err != nil {
			t.Fatalf("discover (token %q): %v", q.PageToken, err)
		}
		for _, tk := range page.Tickets {
			if _, dup := got[tk.Key]; dup {
				t.Errorf("ticket %s listed twice", tk.Key)
			}
			got[tk.Key] = tk
		}
		if page.NextPageToken == "" {
			return got, tokens
		}
		tokens = append(tokens, page.NextPageToken)
		q.PageToken = page.NextPageToken
	}
	t.Fatal("discovery does not end")
	return nil, nil
}

func sortedKeys(m map[string]trackers.Ticket) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

const prefix = azOrg + "/" + azProject

// TestAzureDevOpsReviewPullRequests: with review_pull_requests the listing
// goes on, after the work items, with the active pull requests where the
// account is a reviewer, as review tickets; without it, work items only.
func TestAzureDevOpsReviewPullRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reviews bool
		want    []string
	}{
		{"setting off: work items only", false, []string{prefix + "#1"}},
		{"setting on: work items then pull requests under review", true, []string{prefix + "!1", prefix + "!3", prefix + "#1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, azuredevopsfake.Options{})
			fx.Seed(t, trackertest.Seed{Summary: "a work item"})
			fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "review me", Description: "Adds **x**.", Reviewers: []string{"other@acme.example", azMe}, CreatedBy: "rita@acme.example"})
			fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "not mine", Reviewers: []string{"other@acme.example"}, CreatedBy: "rita@acme.example"})
			fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "me too", Reviewers: []string{azMe}, CreatedBy: "other@acme.example"})
			fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "merged", Status: "completed", Reviewers: []string{azMe}, CreatedBy: "rita@acme.example"})
			s := session(t, fx.base, func(c *connector.Connector) { c.ReviewPullRequests = tt.reviews })
			got, _ := listAll(t, s)
			if keys := sortedKeys(got); !slices.Equal(keys, tt.want) {
				t.Fatalf("discovered %v, want %v", keys, tt.want)
			}
			if !tt.reviews {
				return
			}
			if op := "GET /{organization}/{project}/_apis/git/pullrequests"; !slices.Contains(fx.validator.Checked(), op) {
				t.Errorf("%s was not checked against the shape", op)
			}
			pr := got[prefix+"!1"]
			wantURL := fx.base + "/" + azOrg + "/" + azProject + "/_git/" + azProject + "/pullrequest/1"
			if pr.Summary != "review me" || pr.DescriptionMarkdown != "Adds **x**." || pr.URL != wantURL ||
				!slices.Equal(pr.Labels, []string{"review"}) || pr.Reporter.Login != "rita@acme.example" || pr.Status != "active" || pr.Updated.IsZero() {
				t.Errorf("review ticket %+v", pr)
			}
			// GetTicket reads a review ticket as discovery does.
			again, err := azuredevops.New().GetTicket(context.Background(), s, prefix+"!3")
			if err != nil || again.Summary != "me too" || again.Reporter.Login != "other@acme.example" {
				t.Errorf("GetTicket(!3) = %+v, %v", again, err)
			}
			if _, err := azuredevops.New().GetTicket(context.Background(), s, prefix+"!99"); !errors.Is(err, trackers.ErrTicketNotFound) {
				t.Errorf("GetTicket(!99) = %v, want ErrTicketNotFound", err)
			}
		})
	}
}

// TestAzureDevOpsReviewPullRequestsPage: more pull requests under review
// than a page ($top) are listed across pages ($skip), each once.
func TestAzureDevOpsReviewPullRequestsPage(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	n := 2*azuredevops.ReviewPageSize + 3
	for i := range n {
		fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "pr " + strconv.Itoa(i), Reviewers: []string{azMe}, CreatedBy: "rita@acme.example"})
	}
	got, tokens := listAll(t, session(t, fx.base, func(c *connector.Connector) { c.ReviewPullRequests = true }))
	if len(got) != n || got[prefix+"!1"].Key == "" || got[prefix+"!"+strconv.Itoa(n)].Key == "" {
		t.Errorf("discovered %d pull requests, want %d (1 … %d)", len(got), n, n)
	}
	want := []string{"p:", "p:" + strconv.Itoa(azuredevops.ReviewPageSize), "p:" + strconv.Itoa(2*azuredevops.ReviewPageSize)}
	if !slices.Equal(tokens, want) {
		t.Errorf("page tokens %q, want %q", tokens, want)
	}
	if _, err := azuredevops.New().Discover(context.Background(), session(t, fx.base), trackers.DiscoveryQuery{PageToken: "p:-1"}); !errors.Is(err, trackers.ErrInvalidConfig) {
		t.Errorf("page token p:-1: %v, want ErrInvalidConfig", err)
	}
}

// TestAzureDevOpsReviewPullRequestsFaults: the pull request listing fails as
// the other calls do, and the next discovery succeeds.
func TestAzureDevOpsReviewPullRequestsFaults(t *testing.T) {
	t.Parallel()
	isList := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/_apis/git/pullrequests") }
	tests := []struct {
		name  string
		fault faults.Fault
		want  error
	}{
		{"5xx is transient", faults.Fault{Match: isList, Status: http.StatusServiceUnavailable, Body: `{"message":"down"}`}, trackers.ErrTransient},
		{"403 without Code (Read)", faults.Fault{Match: isList, Status: http.StatusForbidden, Body: `{"message":"TF401027: You need the Git 'GenericRead' permission"}`}, trackers.ErrUnauthorized},
		{"pull request without id", faults.Fault{Match: isList, Status: http.StatusOK, Body: `{"count":1,"value":[{"title":"x","repository":{"name":"Widgets"}}]}`}, trackers.ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, azuredevopsfake.Options{})
			fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "review me", Reviewers: []string{azMe}})
			fx.fake.Faults().Add(tt.fault)
			s := session(t, fx.base, func(c *connector.Connector) { c.ReviewPullRequests = true })
			_, err := azuredevops.New().Discover(context.Background(), s, trackers.DiscoveryQuery{PageToken: "p:"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("discover: %v, want %v", err, tt.want)
			}
			page, err := azuredevops.New().Discover(context.Background(), s, trackers.DiscoveryQuery{PageToken: "p:"})
			if err != nil || len(page.Tickets) != 1 {
				t.Errorf("discover after the fault: %d tickets, %v", len(page.Tickets), err)
			}
		})
	}
}

// TestAzureDevOpsReviewTicketWriteback: a review ticket takes no status,
// sub-task or pull request (refused as ErrRejected, naming the pull request,
// without a call that writes), and takes a comment as a new thread.
func TestAzureDevOpsReviewTicketWriteback(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	id := fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "review me", Source: "refs/heads/rita/x", Reviewers: []string{azMe}, CreatedBy: "rita@acme.example"})
	key := prefix + "!" + strconv.FormatInt(id, 10)
	s := session(t, fx.base, func(c *connector.Connector) { c.ReviewPullRequests = true })
	tr := azuredevops.New()
	before := fx.fake.Requests()
	steps := map[string]func() error{
		"status": func() error { _, err := tr.SetStatus(context.Background(), s, key, "Active"); return err },
		"sub-task": func() error {
			_, err := tr.CreateSubtask(context.Background(), s, key, trackers.NewSubtask{Summary: "x"})
			return err
		},
		"pull request": func() error {
			_, _, err := tr.OpenPullRequest(context.Background(), s, key, trackers.NewPullRequest{Head: "f", Title: "x"})
			return err
		},
	}
	for name, step := range steps {
		err := step()
		if !errors.Is(err, trackers.ErrRejected) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "pull request under review") {
			t.Errorf("%s on %s: %v, want ErrRejected naming the pull request under review", name, key, err)
		}
	}
	if n := fx.fake.Requests() - before; n != 0 {
		t.Errorf("%d requests for refused steps, want none", n)
	}

	// Comments: a thread with the author's mention, found again by marker.
	tk, err := tr.GetTicket(context.Background(), s, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := tr.FindComment(context.Background(), s, key, "connectorhub:r1:comment"); err != nil || found {
		t.Fatalf("before commenting: found %v, %v", found, err)
	}
	link, err := tr.AddComment(context.Background(), s, key, trackers.NewComment{Markdown: "looks **good**", Mention: &tk.Reporter, Marker: "connectorhub:r1:comment"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link.URL, "/pullrequest/"+strconv.FormatInt(id, 10)+"?discussionId="+link.Key) {
		t.Errorf("link %+v", link)
	}
	prs := fx.fake.PullRequests("rita/x")
	if len(prs) != 1 || len(prs[0].Threads) != 1 {
		t.Fatalf("threads %+v", prs)
	}
	text := prs[0].Threads[0].Comments[0].Text
	if !strings.HasPrefix(text, "@<"+tk.Reporter.ID+"> looks **good**") || !strings.Contains(text, "<!-- connectorhub:r1:comment -->") {
		t.Errorf("thread text %q", text)
	}
	got, found, err := tr.FindComment(context.Background(), s, key, "connectorhub:r1:comment")
	if err != nil || !found || got != link {
		t.Errorf("FindComment = %+v, %v, %v; want %+v", got, found, err, link)
	}
	for _, op := range []string{"POST /{organization}/{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}/threads",
		"GET /{organization}/{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}/threads"} {
		if !slices.Contains(fx.validator.Checked(), op) {
			t.Errorf("%s not checked against the shape (checked %q)", op, fx.validator.Checked())
		}
	}
}

func TestAzureDevOpsNormalizePullRequestKey(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.AzureDevOps, Project: "acme/Widgets"}
	for in, want := range map[string]string{
		"acme/Widgets!7": "acme/Widgets!7", "ACME/widgets!7": "acme/Widgets!7", "!7": "acme/Widgets!7", " !7 ": "acme/Widgets!7",
		"https://dev.azure.com/acme/Widgets/_git/Widgets/pullrequest/7":     "acme/Widgets!7",
		"https://dev.azure.com/acme/Widgets/_git/other-repo/pullrequest/7/": "acme/Widgets!7",
		"https://tfs.example/tfs/acme/Widgets/_git/Widgets/pullrequest/7":   "acme/Widgets!7",
		"https://dev.azure.com/acme/Other/_git/Widgets/pullrequest/7":       "",
		"https://dev.azure.com/acme/Widgets/_git/Widgets/pullrequests":      "",
		"https://dev.azure.com/acme/Widgets/_git/Widgets/pullrequest/0":     "",
		"https://dev.azure.com/acme/Widgets/_git/Widgets/commit/abc":        "",
		"acme/Other!7": "", "!x": "", "!": "", "acme/Widgets!-1": "",
	} {
		got, err := azuredevops.New().NormalizeKey(c, in)
		if want == "" {
			if !errors.Is(err, trackers.ErrInvalidTicketKey) {
				t.Errorf("%q: %q %v, want ErrInvalidTicketKey", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	// A project whose name holds "!" keeps its work item keys.
	bang := connector.Connector{System: connector.AzureDevOps, Project: "acme/Wow!3"}
	if got, err := azuredevops.New().NormalizeKey(bang, "acme/Wow!3#12"); err != nil || got != "acme/Wow!3#12" {
		t.Errorf("work item of a project with '!': %q %v", got, err)
	}
}
