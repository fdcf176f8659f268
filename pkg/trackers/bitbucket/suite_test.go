package bitbucket_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	bbEmail    = "agent@example.com"
	bbToken    = "ATATT-suite-5ecret"
	bbRepo     = "acme/widgets"
	bbAgent    = "{11111111-1111-1111-1111-111111111111}"
	bbRita     = "{22222222-2222-2222-2222-222222222222}"
	bbReader   = "{33333333-3333-3333-3333-333333333333}"
	bbPageSize = 2
)

type bbFixture struct {
	fake *bitbucketfake.Server
	url  string
	conn connector.Connector
	// validator checks the traffic against the shape (checked fixtures).
	validator *contract.Validator
}

func newBBFixture(t *testing.T, checked bool) *bbFixture {
	t.Helper()
	fake := bitbucketfake.New(bitbucketfake.Options{
		Accounts: []bitbucketfake.Account{
			{UUID: bbAgent, Name: "Agent Smith", Nickname: "agent", Email: bbEmail, Token: bbToken, AccountID: "557058:agent"},
			{UUID: bbRita, Name: "Rita Reporter", Nickname: "rita", Email: "rita@example.com", Token: "rita-token", AccountID: "557058:rita"},
			{UUID: bbReader, Name: "Read Only", Nickname: "ro", Email: "ro@example.com", Token: "ro-token"},
		},
		Repos:      []bitbucketfake.Repo{{FullName: bbRepo, Readers: []string{bbReader}}, {FullName: "acme/no-issues", Issues: bitbucketfake.TrackerOff}, {FullName: "acme/gone", Issues: bitbucketfake.TrackerGone}},
		MaxPageLen: bbPageSize,
	})
	var mw []func(http.Handler) http.Handler
	var v *contract.Validator
	if checked {
		v = contract.NewValidator(contract.MustLoad(contract.BitbucketCloud), contract.Options{})
		t.Cleanup(func() {
			for _, viol := range v.Violations() {
				t.Errorf("contract: %s", viol)
			}
		})
		mw = append(mw, v.Middleware)
	}
	url := fake.Start(t, mw...)
	return &bbFixture{fake: fake, url: url, conn: connector.Connector{ID: "bb-1", System: connector.Bitbucket, Deployment: connector.Cloud,
		BaseURL: url + "/2.0", AuthMode: connector.AuthBasic, Username: bbEmail, Project: bbRepo}, validator: v}
}

func (f *bbFixture) session(t *testing.T, token string, edit ...func(*connector.Connector)) *trackers.Session {
	t.Helper()
	c := f.conn
	for _, e := range edit {
		e(&c)
	}
	s, err := trackers.NewSession(bitbucket.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *bbFixture) Session(t *testing.T) *trackers.Session { return f.session(t, bbToken) }

func bbNumber(t *testing.T, key string) int64 {
	t.Helper()
	_, n, ok := trackers.SplitNumberedKey(key)
	if !ok {
		t.Fatalf("key %q is not workspace/repo#N", key)
	}
	return n
}

// Seed: Bitbucket issues have no labels; the first seed label is the
// issue's component (which the tracker reports as a label).
func (f *bbFixture) Seed(t *testing.T, s trackertest.Seed) string {
	is := bitbucketfake.Issue{Repo: bbRepo, Title: s.Summary, Content: s.Description, Updated: s.Updated, Reporter: bbRita, Assignee: bbAgent}
	if len(s.Labels) > 0 {
		is.Component = s.Labels[0]
	}
	if s.Unassigned {
		is.Assignee = bbRita
	}
	return bbRepo + "#" + strconv.FormatInt(f.fake.AddIssue(is), 10)
}

func (f *bbFixture) edit(t *testing.T, key string, fn func(*bitbucketfake.Issue)) {
	t.Helper()
	if !f.fake.EditIssue(bbNumber(t, key), fn) {
		t.Fatalf("no issue %s", key)
	}
}

func (f *bbFixture) Touch(t *testing.T, key string, at time.Time) {
	f.edit(t, key, func(is *bitbucketfake.Issue) { is.Updated = at })
}
func (f *bbFixture) Resolve(t *testing.T, key string) {
	f.edit(t, key, func(is *bitbucketfake.Issue) { is.State = "resolved"; is.Updated = time.Now().UTC() })
}
func (f *bbFixture) Unassign(t *testing.T, key string) {
	f.edit(t, key, func(is *bitbucketfake.Issue) { is.Assignee = ""; is.Updated = time.Now().UTC() })
}
func (f *bbFixture) Delete(t *testing.T, key string) {
	if !f.fake.DeleteIssue(bbNumber(t, key)) {
		t.Fatalf("no issue %s", key)
	}
}

func (f *bbFixture) Reassign(t *testing.T, key string) {
	f.edit(t, key, func(is *bitbucketfake.Issue) { is.Assignee = bbRita; is.Updated = time.Now().UTC() })
}

func (f *bbFixture) Status(t *testing.T, key string) string {
	is, _ := f.fake.IssueByID(bbNumber(t, key))
	return is.State
}
func (f *bbFixture) Comments(t *testing.T, key string) []string {
	var out []string
	for _, c := range f.fake.Comments(bbNumber(t, key)) {
		out = append(out, c.Raw)
	}
	return out
}
func (f *bbFixture) Subtasks(*testing.T, string) []string { return nil }
func (f *bbFixture) PullRequests(_ *testing.T, head string) []string {
	var out []string
	for _, p := range f.fake.PullRequests() {
		if p.Source == head && p.State == "OPEN" {
			out = append(out, strconv.FormatInt(p.ID, 10))
		}
	}
	return out
}
func (f *bbFixture) RateLimitNext(_ *testing.T, d time.Duration) { f.fake.RateLimitNext(d) }
func (f *bbFixture) Requests() int                               { return f.fake.Requests() }

func TestSuite(t *testing.T) {
	trackertest.Run(t, bitbucket.New(), func(t *testing.T) trackertest.Fixture { return newBBFixture(t, true) },
		trackertest.Params{PageSize: bbPageSize, InProgress: "open", Done: "resolved"})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func listAll(t *testing.T, s *trackers.Session) map[string]trackers.Ticket {
	t.Helper()
	out := map[string]trackers.Ticket{}
	q := trackers.DiscoveryQuery{Full: true}
	for range 50 {
		page, err := bitbucket.New().Discover(ctx(t), s, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Tickets {
			out[tk.Key] = tk
		}
		if page.NextPageToken == "" {
			return out
		}
		q.PageToken = page.NextPageToken
	}
	t.Fatal("listing does not end")
	return nil
}

func TestReviewPullRequestsAreDiscoveredWhenAsked(t *testing.T) {
	f := newBBFixture(t, true)
	issue := f.Seed(t, trackertest.Seed{Summary: "an issue"})
	for i := range 3 {
		f.fake.AddPullRequest(bitbucketfake.PullRequest{Repo: bbRepo, Title: "review me " + strconv.Itoa(i), Source: "feature/" + strconv.Itoa(i), Author: bbRita, Reviewers: []string{bbAgent}})
	}
	f.fake.AddPullRequest(bitbucketfake.PullRequest{Repo: bbRepo, Title: "not mine", Source: "other", Author: bbRita, Reviewers: []string{bbRita}})
	if got := listAll(t, f.Session(t)); len(got) != 1 || got[issue].Key == "" {
		t.Errorf("without the setting: %v, want only %s", keysOf(got), issue)
	}
	got := listAll(t, f.session(t, bbToken, func(c *connector.Connector) { c.ReviewPullRequests = true }))
	if len(got) != 4 || got[bbRepo+"!1"].Summary != "review me 0" || got[bbRepo+"!4"].Key != "" {
		t.Errorf("with the setting: %v, want %s and three pull requests", keysOf(got), issue)
	}
	tk, err := bitbucket.New().GetTicket(ctx(t), f.Session(t), bbRepo+"!2")
	if err != nil || tk.Summary != "review me 1" || tk.Reporter.ID != bbRita {
		t.Errorf("get pull request: %+v %v", tk, err)
	}
}

func TestIssueTrackerOffOrGoneFallsBackToPullRequests(t *testing.T) {
	for _, repo := range []string{"acme/no-issues", "acme/gone"} {
		t.Run(repo, func(t *testing.T) {
			f := newBBFixture(t, true)
			f.fake.AddPullRequest(bitbucketfake.PullRequest{Repo: repo, Title: "review me", Source: "f", Author: bbRita, Reviewers: []string{bbAgent}})
			s := f.session(t, bbToken, func(c *connector.Connector) { c.Project = repo })
			got := listAll(t, s)
			if _, ok := got[repo+"!1"]; !ok || len(got) != 1 {
				t.Errorf("listing %v, want the pull request under review", keysOf(got))
			}
			c := f.conn
			c.Project = repo
			res, err := trackers.Test(ctx(t), bitbucket.New(), c, connector.NewSecret(bbToken), trackers.Options{Timeout: 10 * time.Second})
			if err != nil || !res.OK {
				t.Fatalf("test: %+v %v", res, err)
			}
			found := false
			for _, ch := range res.Checks {
				found = found || (ch.Name == bitbucket.CheckIssueTracker && strings.Contains(ch.Message, "pull requests where you are a reviewer instead"))
			}
			if !found {
				t.Errorf("connection test does not say the issue tracker is gone: %+v", res.Checks)
			}
		})
	}
}

func TestConnectionTestHints(t *testing.T) {
	f := newBBFixture(t, true)
	res, _ := trackers.Test(ctx(t), bitbucket.New(), f.conn, connector.NewSecret("wrong"), trackers.Options{Timeout: 10 * time.Second})
	if res.OK || !strings.Contains(res.Checks[1].Message, "API token") {
		t.Errorf("rejected token: %+v", res.Checks)
	}
	c := f.conn
	c.Project = "acme/missing"
	res, _ = trackers.Test(ctx(t), bitbucket.New(), c, connector.NewSecret(bbToken), trackers.Options{Timeout: 10 * time.Second})
	if res.OK || !strings.Contains(res.Checks[len(res.Checks)-1].Message, "not found") {
		t.Errorf("missing repository: %+v", res.Checks)
	}
}

func TestFaultsMapOntoTheRetryRule(t *testing.T) {
	f := newBBFixture(t, false)
	f.Seed(t, trackertest.Seed{Summary: "x"})
	s := f.Session(t)
	d := bitbucket.New()
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); err != nil {
		t.Fatal(err)
	}
	f.fake.ServerErrorNext(1)
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); !errors.Is(err, trackers.ErrTransient) {
		t.Errorf("500: %v", err)
	}
	f.fake.MalformedNext()
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: %v", err)
	}
	f.fake.SlowNext(time.Minute)
	short, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	if _, err := d.Discover(short, s, trackers.DiscoveryQuery{}); err == nil {
		t.Error("slow answer past the deadline: no error")
	}
	_, err := d.SetStatus(ctx(t), f.session(t, "ro-token", func(c *connector.Connector) { c.Username = "ro@example.com" }), bbRepo+"#1", "resolved")
	if !errors.Is(err, trackers.ErrUnauthorized) {
		t.Errorf("read-only account writing: %v", err)
	}
}

func TestNormalizeKey(t *testing.T) {
	c := connector.Connector{Project: bbRepo}
	for in, want := range map[string]string{
		"acme/widgets#12": "acme/widgets#12", "#12": "acme/widgets#12", "12": "acme/widgets#12", "!7": "acme/widgets!7",
		"https://bitbucket.org/acme/widgets/issues/12/some-title": "acme/widgets#12",
		"https://bitbucket.org/acme/widgets/pull-requests/7":      "acme/widgets!7",
		"other/repo#1": "", "acme/widgets#x": "",
	} {
		got, err := trackers.NormalizeKey(bitbucket.New(), c, in)
		if got != want || (want == "") != errors.Is(err, trackers.ErrInvalidTicketKey) {
			t.Errorf("NormalizeKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func keysOf(m map[string]trackers.Ticket) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The reporter read from an issue is mentioned by Atlassian account id.
func TestCommentMentionsTheReporterByAccountID(t *testing.T) {
	f := newBBFixture(t, true)
	key := f.Seed(t, trackertest.Seed{Summary: "mention"})
	tk, err := bitbucket.New().GetTicket(ctx(t), f.Session(t), key)
	if err != nil || tk.Reporter.Login != "557058:rita" {
		t.Fatalf("reporter %+v %v", tk.Reporter, err)
	}
	if _, err := bitbucket.New().AddComment(ctx(t), f.Session(t), key, trackers.NewComment{Markdown: "done", Mention: &tk.Reporter}); err != nil {
		t.Fatal(err)
	}
	if got := f.Comments(t, key); len(got) != 1 || !strings.HasPrefix(got[0], "@{557058:rita} done") {
		t.Errorf("comments %q", got)
	}
}

// A pull request under review takes Markdown comments too, mentioning its
// author; FindComment finds one by its marker (the writeback's resume).
func TestPullRequestCommentMentionsTheAuthor(t *testing.T) {
	f := newBBFixture(t, true)
	f.fake.AddPullRequest(bitbucketfake.PullRequest{Repo: bbRepo, Title: "review me", Source: "feature/x", Author: bbRita, Reviewers: []string{bbAgent}})
	s := f.session(t, bbToken, func(c *connector.Connector) { c.ReviewPullRequests = true })
	key := bbRepo + "!1"
	tk, err := bitbucket.New().GetTicket(ctx(t), s, key)
	if err != nil || tk.Reporter.Login != "557058:rita" {
		t.Fatalf("author %+v %v", tk.Reporter, err)
	}
	if _, found, err := bitbucket.New().FindComment(ctx(t), s, key, "connectorhub:r1:comment"); err != nil || found {
		t.Fatalf("before: found %v, %v", found, err)
	}
	link, err := bitbucket.New().AddComment(ctx(t), s, key, trackers.NewComment{Markdown: "looks **good**", Mention: &tk.Reporter, Marker: "connectorhub:r1:comment"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link.URL, "/"+bbRepo+"/pull-requests/1#comment-") {
		t.Errorf("link %q", link.URL)
	}
	prs := f.fake.PullRequests()
	if len(prs) != 1 || len(prs[0].Comments) != 1 || !strings.HasPrefix(prs[0].Comments[0].Raw, "@{557058:rita} looks **good**") {
		t.Fatalf("pull request comments %+v", prs)
	}
	got, found, err := bitbucket.New().FindComment(ctx(t), s, key, "connectorhub:r1:comment")
	if err != nil || !found || got.Key != link.Key {
		t.Errorf("FindComment = %+v, %v, %v; want %+v", got, found, err, link)
	}
	for _, op := range []string{"POST /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments", "GET /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments"} {
		if !slices.Contains(f.validator.Checked(), op) {
			t.Errorf("%s not checked against the shape (checked %q)", op, f.validator.Checked())
		}
	}
}

// A pull request under review left the set because it was merged or
// declined (resolved), the account was taken off its reviewers
// (unassigned), or it is still open with the account reviewing (out of
// scope); a missing one is deleted.
func TestWhyLeftPullRequests(t *testing.T) {
	f := newBBFixture(t, true)
	for _, pr := range []bitbucketfake.PullRequest{
		{Title: "merged", State: "MERGED", Reviewers: []string{bbAgent}},
		{Title: "reviewer removed", Reviewers: []string{bbRita}},
		{Title: "still reviewing", Reviewers: []string{bbAgent}},
	} {
		pr.Repo, pr.Source, pr.Author = bbRepo, "f/"+pr.Title, bbRita
		f.fake.AddPullRequest(pr)
	}
	s := f.session(t, bbToken, func(c *connector.Connector) { c.ReviewPullRequests = true })
	for key, want := range map[string]string{bbRepo + "!1": trackers.LeftResolved, bbRepo + "!2": trackers.LeftUnassigned,
		bbRepo + "!3": trackers.LeftOutOfScope, bbRepo + "!9": trackers.LeftDeleted} {
		if got, err := bitbucket.New().WhyLeft(ctx(t), s, key); err != nil || got != want {
			t.Errorf("WhyLeft(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
}
