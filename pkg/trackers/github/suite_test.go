package github_test

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
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

const (
	ghSuiteToken  = "ghp_suite5ecret"
	ghSuiteReader = "ghp_suitereader5ecret"
	ghSuiteRepo   = "acme/widgets"
	ghPageSize    = 2
)

// ghFixture is the fake GitHub behind the shared suite, with every request
// and response checked against github.shape.json.
type ghFixture struct {
	fake      *githubfake.Server
	url       string
	conn      connector.Connector
	validator *contract.Validator
}

// newGHFixture starts a fake; prefix "/api/v3" serves it as Enterprise Server.
func newGHFixture(t *testing.T, prefix string) *ghFixture {
	t.Helper()
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat", Name: "The Octocat"}, {ID: 2, Login: "reporter", Name: "Rita Reporter"}, {ID: 3, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: ghSuiteToken, Login: "octocat", Scopes: []string{"repo"}},
			{Value: ghSuiteReader, Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true, DefaultBranch: "trunk",
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "reporter": githubfake.Write, "hubot": githubfake.Read}}},
		MaxPerPage: ghPageSize,
	})
	v := contract.NewValidator(contract.MustLoad(contract.GitHub), contract.Options{Rewrite: contract.StripGHESPrefix})
	t.Cleanup(func() {
		for _, viol := range v.Violations() {
			t.Errorf("contract: %s", viol)
		}
	})
	url := fake.Start(t, v.Middleware)
	dep := connector.Cloud
	if prefix != "" {
		dep = connector.SelfHosted
	}
	return &ghFixture{
		fake: fake, url: url + prefix, validator: v,
		conn: connector.Connector{ID: "gh-1", System: connector.GitHub, Deployment: dep, BaseURL: url + prefix, AuthMode: connector.AuthBearer, Project: ghSuiteRepo},
	}
}

func (f *ghFixture) session(t *testing.T, edit ...func(*connector.Connector)) *trackers.Session {
	t.Helper()
	c := f.conn
	for _, e := range edit {
		e(&c)
	}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret(ghSuiteToken), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *ghFixture) Session(t *testing.T) *trackers.Session { return f.session(t) }

func ghNumber(t *testing.T, key string) int {
	t.Helper()
	_, n, ok := trackers.SplitNumberedKey(key)
	if !ok {
		t.Fatalf("key %q is not owner/repo#number", key)
	}
	return int(n)
}

func (f *ghFixture) Seed(t *testing.T, s trackertest.Seed) string {
	is := githubfake.Issue{Title: s.Summary, Body: s.Description, Labels: s.Labels, Updated: s.Updated, Author: "reporter"}
	if !s.Unassigned {
		is.Assignees = []string{"octocat"}
	}
	return ghSuiteRepo + "#" + strconv.Itoa(f.fake.AddIssue(ghSuiteRepo, is))
}

func (f *ghFixture) Touch(t *testing.T, key string, at time.Time) {
	f.fake.Touch(ghSuiteRepo, ghNumber(t, key), at)
}

func (f *ghFixture) Resolve(t *testing.T, key string) { f.fake.Close(ghSuiteRepo, ghNumber(t, key)) }

func (f *ghFixture) Unassign(t *testing.T, key string) {
	f.fake.Unassign(ghSuiteRepo, ghNumber(t, key), "octocat")
}

func (f *ghFixture) Delete(t *testing.T, key string) { f.fake.Delete(ghSuiteRepo, ghNumber(t, key)) }

func (f *ghFixture) Status(t *testing.T, key string) string {
	is, _ := f.fake.Issue(ghSuiteRepo, ghNumber(t, key))
	for _, l := range is.Labels {
		for _, st := range []string{"In Progress", "In Review", "Done"} {
			if strings.EqualFold(l, st) {
				return l
			}
		}
	}
	return ""
}

func (f *ghFixture) Comments(t *testing.T, key string) []string {
	var out []string
	for _, c := range f.fake.Comments(ghSuiteRepo, ghNumber(t, key)) {
		out = append(out, c.Body)
	}
	return out
}

func (f *ghFixture) Subtasks(*testing.T, string) []string { return nil }

func (f *ghFixture) PullRequests(t *testing.T, head string) []string {
	var out []string
	for _, is := range f.fake.PullRequests(ghSuiteRepo, head) {
		out = append(out, is.PullRequest.HTMLURL)
	}
	return out
}

func (f *ghFixture) RateLimitNext(t *testing.T, retryAfter time.Duration) {
	f.fake.Faults.Add(githubfake.SecondaryRateLimit(retryAfter))
}

func (f *ghFixture) Requests() int { return f.fake.Requests() }

var ghParams = trackertest.Params{PageSize: ghPageSize, InProgress: "In Progress", Done: "Done"}

func TestGitHubSuite(t *testing.T) {
	t.Parallel()
	trackertest.Run(t, github.New(), func(t *testing.T) trackertest.Fixture { return newGHFixture(t, "") }, ghParams)
}

func TestGitHubEnterpriseServerSuite(t *testing.T) {
	t.Parallel()
	trackertest.Run(t, github.New(), func(t *testing.T) trackertest.Fixture { return newGHFixture(t, "/api/v3") }, ghParams)
}

func ghCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ghTracker(t *testing.T) interface {
	trackers.Discoverer
	trackers.TicketReader
	trackers.StatusWriter
	trackers.Commenter
	trackers.PullRequestOpener
	trackers.ConditionalLister
} {
	t.Helper()
	tr := trackers.Tracker(github.New())
	gt, ok := tr.(interface {
		trackers.Discoverer
		trackers.TicketReader
		trackers.StatusWriter
		trackers.Commenter
		trackers.PullRequestOpener
		trackers.ConditionalLister
	})
	if !ok || !gt.ConditionalRequests() {
		t.Fatalf("GitHub tracker %T lacks a feature or ConditionalRequests", tr)
	}
	return gt
}

func TestGitHubDiscoverySkipsPullRequestsAndCachesTheLogin(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	issue := fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "issue", Assignees: []string{"octocat"}, Labels: []string{"agent", "In Review"}})
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "pr", Assignees: []string{"octocat"}, PullRequest: &githubfake.PullRequest{Head: "x", Base: "trunk"}})
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "not in scope", Assignees: []string{"octocat"}})
	hubots := fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "hubot's", Assignees: []string{"hubot"}, Labels: []string{"agent"}})

	s := fx.session(t, func(c *connector.Connector) { c.Scope.Labels = []string{"agent"} })
	before := fx.fake.Requests()
	page, err := gt.Discover(ghCtx(t), s, trackers.DiscoveryQuery{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 || page.Tickets[0].Key != ghSuiteRepo+"#"+strconv.Itoa(issue) {
		t.Fatalf("tickets = %+v, want only issue %d (no pull request, in label scope)", page.Tickets, issue)
	}
	tk := page.Tickets[0]
	if tk.Status != "In Review" || tk.URL == "" || tk.Reporter.Login != "acme" || tk.Assignee.Login != "octocat" {
		t.Errorf("ticket = %+v", tk)
	}
	if got := fx.fake.Requests() - before; got != 2 {
		t.Errorf("first listing took %d requests, want 2 (GET /user, list)", got)
	}
	before = fx.fake.Requests()
	if _, err := gt.Discover(ghCtx(t), s, trackers.DiscoveryQuery{}); err != nil {
		t.Fatal(err)
	}
	if got := fx.fake.Requests() - before; got != 1 {
		t.Errorf("second listing took %d requests, want 1 (login cached per session)", got)
	}

	hs := fx.session(t, func(c *connector.Connector) { c.Assignee = "hubot" })
	page, err = gt.Discover(ghCtx(t), hs, trackers.DiscoveryQuery{})
	if err != nil || len(page.Tickets) != 1 || page.Tickets[0].Key != ghSuiteRepo+"#"+strconv.Itoa(hubots) {
		t.Errorf("configured assignee: %+v %v, want hubot's issue %d", page.Tickets, err, hubots)
	}

	if _, err := gt.GetTicket(ghCtx(t), s, "2"); !errors.Is(err, trackers.ErrTicketNotFound) {
		t.Errorf("GetTicket of a pull request: %v, want ErrTicketNotFound", err)
	}
}

func TestGitHubDiscoveryIndexesCommentsAndPlainText(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	n := fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t", Body: "## Steps\n\nSee [the docs](https://x.test) and **bold** `code`.", Assignees: []string{"octocat"}})
	fx.fake.AddComment(ghSuiteRepo, n, "reporter", "first")
	fx.fake.AddComment(ghSuiteRepo, n, "octocat", "second")
	s := fx.session(t, func(c *connector.Connector) { c.IndexComments = true })
	page, err := gt.Discover(ghCtx(t), s, trackers.DiscoveryQuery{Full: true})
	if err != nil || len(page.Tickets) != 1 {
		t.Fatalf("discover: %+v %v", page, err)
	}
	tk := page.Tickets[0]
	if tk.DescriptionText != "Steps\n\nSee the docs and bold code." {
		t.Errorf("plain text = %q", tk.DescriptionText)
	}
	if len(tk.Comments) != 2 || tk.Comments[0].Markdown != "first" || tk.Comments[1].Author.Login != "octocat" {
		t.Errorf("comments = %+v", tk.Comments)
	}
}

func TestGitHubIdleListingCostsNoRateLimit(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t", Assignees: []string{"octocat"}})
	s := fx.session(t, func(c *connector.Connector) { c.Assignee = "octocat" })
	first, err := gt.Discover(ghCtx(t), s, trackers.DiscoveryQuery{})
	if err != nil || first.ETag == "" {
		t.Fatalf("first: %+v %v", first, err)
	}
	used := fx.fake.RateLimitUsed()
	for range 3 {
		p, err := gt.Discover(ghCtx(t), s, trackers.DiscoveryQuery{ETag: first.ETag})
		if err != nil || !p.NotModified || p.ETag != first.ETag {
			t.Fatalf("idle cycle: %+v %v", p, err)
		}
	}
	if got := fx.fake.RateLimitUsed() - used; got != 0 {
		t.Errorf("three idle cycles spent %d rate-limit points, want 0", got)
	}
}

func TestGitHubErrorsMapToTheFrameworkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     *faults.Fault
		primary   time.Duration // a primary-limit fault resetting this far from the request
		rateLimit int           // fake's primary limit; 0 default
		token     string
		project   string
		wantErr   error
		wantWait  time.Duration // for rate limits
		reason    string
	}{
		{name: "secondary limit with Retry-After", fault: ghFault(githubfake.SecondaryRateLimit(30 * time.Second)), wantWait: 30 * time.Second, reason: "secondary rate limit"},
		{name: "429 with Retry-After", fault: &faults.Fault{Status: 429, Header: http.Header{"Retry-After": {"12"}}, Body: `{"message":"slow down"}`}, wantWait: 12 * time.Second, reason: "secondary rate limit"},
		{name: "primary limit from a fault", primary: 90 * time.Second, wantWait: 90 * time.Second, reason: "primary rate limit"},
		{name: "primary limit spent on the fake", rateLimit: 1, wantWait: time.Hour, reason: "primary rate limit"},
		{name: "bare 429 waits a minute", fault: &faults.Fault{Status: 429, Body: `{"message":"slow"}`}, wantWait: time.Minute, reason: "rate limit"},
		{name: "server error is transient", fault: &faults.Fault{Status: 502, Body: `{"message":"Server Error"}`}, wantErr: trackers.ErrTransient},
		{name: "malformed body", fault: &faults.Fault{Status: 200, Body: `[{"number": "x`}, wantErr: trackers.ErrMalformedResponse},
		{name: "rejected token", token: "ghp_wrong", wantErr: trackers.ErrUnauthorized},
		{name: "forbidden without rate-limit headers", fault: &faults.Fault{Status: 403, Body: `{"message":"Resource not accessible by personal access token"}`}, wantErr: trackers.ErrUnauthorized},
		{name: "invisible repository", project: "acme/nope", wantErr: trackers.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := githubfake.New(githubfake.Options{
				Users:     []githubfake.User{{ID: 1, Login: "octocat"}},
				Tokens:    []githubfake.Token{{Value: ghSuiteToken, Login: "octocat", Scopes: []string{"repo"}}},
				Repos:     []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}}},
				RateLimit: tt.rateLimit,
			})
			if tt.fault != nil {
				fake.Faults.Add(*tt.fault)
			}
			if tt.primary > 0 {
				fake.Faults.Add(githubfake.PrimaryRateLimit(time.Now().Add(tt.primary)))
			}
			url := fake.Start(t)
			if tt.rateLimit > 0 { // spend the budget: any answer costs a point
				req, _ := http.NewRequest(http.MethodGet, url+"/user", nil)
				req.Header.Set("Authorization", "Bearer "+ghSuiteToken)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			c := connector.Connector{ID: "gh", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer,
				Project: ghOr(tt.project, ghSuiteRepo), Assignee: "octocat"}
			s, err := trackers.NewSession(github.New(), c, connector.NewSecret(ghOr(tt.token, ghSuiteToken)), trackers.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ghTracker(t).Discover(ghCtx(t), s, trackers.DiscoveryQuery{})
			if strings.Contains(ghErrString(err), ghSuiteToken) {
				t.Errorf("error leaks the token: %v", err)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			var rl *trackers.RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %v, want *RateLimitError", err)
			}
			if d := rl.RetryAfter - tt.wantWait; d < -3*time.Second || d > 3*time.Second || rl.Reason != tt.reason {
				t.Errorf("RetryAfter %v reason %q, want about %v and %q", rl.RetryAfter, rl.Reason, tt.wantWait, tt.reason)
			}
		})
	}
}

func ghFault(f faults.Fault) *faults.Fault { return &f }

func ghOr(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}

func ghErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGitHubStatusLabelsAndCloseOnDone(t *testing.T) {
	t.Parallel()
	for _, closeOnDone := range []bool{false, true} {
		t.Run("close on done "+strconv.FormatBool(closeOnDone), func(t *testing.T) {
			t.Parallel()
			fx := newGHFixture(t, "")
			gt := ghTracker(t)
			n := fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t", Assignees: []string{"octocat"}, Labels: []string{"bug", "WIP"}})
			s := fx.session(t, func(c *connector.Connector) {
				c.StatusLabels = connector.StatusLabels{InProgress: "wip", Done: "Shipped"} // In Review stays the default
				c.CloseOnDone = closeOnDone
			})
			if _, err := gt.SetStatus(ghCtx(t), s, "1", "In Progress"); !errors.Is(err, trackers.ErrUnknownStatus) ||
				!strings.Contains(err.Error(), "wip, In Review, Shipped") {
				t.Errorf("default name after renaming: %v, want ErrUnknownStatus listing wip, In Review, Shipped", err)
			}
			link, err := gt.SetStatus(ghCtx(t), s, "1", "shipped")
			if err != nil || link.Kind != "status" || link.URL == "" {
				t.Fatalf("set status: %+v %v", link, err)
			}
			is, _ := fx.fake.Issue(ghSuiteRepo, n)
			if !slices.Equal(is.Labels, []string{"bug", "Shipped"}) {
				t.Errorf("labels = %v, want bug kept, WIP removed, Shipped added", is.Labels)
			}
			if want := map[bool]string{false: "open", true: "closed"}[closeOnDone]; is.State != want {
				t.Errorf("state = %s, want %s", is.State, want)
			}
			tk, err := gt.GetTicket(ghCtx(t), s, "1")
			if err != nil || tk.Status != "Shipped" {
				t.Errorf("read back: %+v %v", tk, err)
			}
		})
	}
}

func TestGitHubCommentMentionsAndHidesTheMarker(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	n := fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t"})
	for i := range 3 { // push the marked comment past the first page
		fx.fake.AddComment(ghSuiteRepo, n, "reporter", "noise "+strconv.Itoa(i))
	}
	s := fx.Session(t)
	link, err := gt.AddComment(ghCtx(t), s, "1", trackers.NewComment{Markdown: "Done.", Mention: &trackers.User{Login: "reporter"}, Marker: "connectorhub:r1:comment"})
	if err != nil {
		t.Fatal(err)
	}
	bodies := fx.Comments(t, ghSuiteRepo+"#1")
	if got := bodies[len(bodies)-1]; got != "@reporter Done.\n\n<!-- connectorhub:r1:comment -->" {
		t.Errorf("comment body = %q", got)
	}
	found, ok, err := gt.FindComment(ghCtx(t), s, "1", "connectorhub:r1:comment")
	if err != nil || !ok || found != link {
		t.Errorf("find on a later page: %+v %v %v, want %+v", found, ok, err, link)
	}
	if _, err := gt.AddComment(ghCtx(t), s, "404", trackers.NewComment{Markdown: "x"}); !errors.Is(err, trackers.ErrTicketNotFound) {
		t.Errorf("comment on a missing issue: %v", err)
	}
}

func TestGitHubPullRequestTargetsTheDefaultBranchAndReusesOpenOnes(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t"})
	s := fx.session(t, func(c *connector.Connector) { c.CloseOnDone = true })
	link, reused, err := gt.OpenPullRequest(ghCtx(t), s, "1", trackers.NewPullRequest{Head: "agent/1", Title: "1 Fix it", BodyMarkdown: "Does it."})
	if err != nil || reused || link.Kind != "pull_request" {
		t.Fatalf("open: %+v %v %v", link, reused, err)
	}
	prs := fx.fake.PullRequests(ghSuiteRepo, "agent/1")
	if len(prs) != 1 || prs[0].PullRequest.Base != "trunk" || prs[0].Title != "1 Fix it" || prs[0].Body != "Does it.\n\nCloses #1" {
		t.Errorf("pull request = %+v", prs)
	}

	// One a person opened for the same head is reused too.
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "by hand", Author: "reporter", PullRequest: &githubfake.PullRequest{Head: "agent/2", Base: "release"}})
	s2 := fx.Session(t)
	link2, reused, err := gt.OpenPullRequest(ghCtx(t), s2, "1", trackers.NewPullRequest{Head: "agent/2", Title: "x"})
	if err != nil || !reused || link2.Key != "3" {
		t.Errorf("existing: %+v %v %v, want pull request 3 reused", link2, reused, err)
	}
	link3, reused, err := gt.OpenPullRequest(ghCtx(t), s2, "1", trackers.NewPullRequest{Head: "agent/3", Base: "release", Title: "y"})
	prs = fx.fake.PullRequests(ghSuiteRepo, "agent/3")
	if err != nil || reused || len(prs) != 1 || prs[0].PullRequest.Base != "release" || prs[0].Body != "Refs #1" {
		t.Errorf("explicit base without CloseOnDone: %+v %v %v %+v", link3, reused, err, prs)
	}
}

// GitHub asks for a second between one token's mutations. The pacer
// reserves each mutation a slot a second after the previous one of the same
// token (on the same host) and holds it until then. What the fake sees can
// be closer than a second (a late first request on a loaded machine), so
// the test checks the mechanism: the slots it reserved, that each request
// was held until its slot, and that the fake got it only after.
func TestGitHubMutationsAreAtLeastASecondApart(t *testing.T) {
	t.Parallel()
	github.RecordPacing()
	fx := newGHFixture(t, "")
	gt := ghTracker(t)
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t"})
	s1, s2 := fx.Session(t), fx.Session(t) // two sessions, one token
	start := time.Now()
	for _, s := range []*trackers.Session{s1, s2, s1} {
		if _, err := gt.AddComment(ghCtx(t), s, "1", trackers.NewComment{Markdown: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	arrived := fx.fake.MutationTimes()
	paced := github.PacedMutations(s1)
	if len(arrived) != 3 || len(paced) != 3 {
		t.Fatalf("mutations: %d arrived, %d paced; want 3 and 3 (both sessions paced as one token)", len(arrived), len(paced))
	}
	for i, m := range paced {
		if i > 0 {
			if gap := m.Due.Sub(paced[i-1].Due); gap < time.Second {
				t.Errorf("mutation %d was due %v after the previous one, want ≥ 1s", i, gap)
			}
		}
		if early := m.Due.Sub(m.Released); early > 0 {
			t.Errorf("mutation %d went %v before its slot", i, early)
		}
		if early := m.Released.Sub(arrived[i]); early > 0 {
			t.Errorf("mutation %d reached GitHub %v before the pacer let it go", i, early)
		}
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("three mutations took %v", elapsed)
	}
}

// TestGitHubContractCoversEveryOperation checks that the operations the
// adapter uses were validated against the shape, and that the only ones the
// shape lacks are the two list operations.
func TestGitHubContractCoversEveryOperation(t *testing.T) {
	t.Parallel()
	fx := newGHFixture(t, "/api/v3")
	gt := ghTracker(t)
	fx.fake.AddIssue(ghSuiteRepo, githubfake.Issue{Title: "t", Assignees: []string{"octocat"}, Labels: []string{"In Progress"}})
	s := fx.session(t, func(c *connector.Connector) { c.CloseOnDone = true })
	ctx := ghCtx(t)
	steps := []func() error{
		func() error { _, err := gt.Discover(ctx, s, trackers.DiscoveryQuery{}); return err },
		func() error { _, err := gt.GetTicket(ctx, s, "1"); return err },
		func() error { _, err := gt.SetStatus(ctx, s, "1", "Done"); return err },
		func() error {
			_, err := gt.AddComment(ctx, s, "1", trackers.NewComment{Markdown: "x", Marker: "m"})
			return err
		},
		func() error { _, _, err := gt.FindComment(ctx, s, "1", "m"); return err },
		func() error {
			_, _, err := gt.OpenPullRequest(ctx, s, "1", trackers.NewPullRequest{Head: "b", Title: "t"})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		"DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
		"GET /repos/{owner}/{repo}",
		"GET /repos/{owner}/{repo}/issues",
		"GET /repos/{owner}/{repo}/issues/{issue_number}",
		"GET /user",
		"PATCH /repos/{owner}/{repo}/issues/{issue_number}",
		"POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
		"POST /repos/{owner}/{repo}/issues/{issue_number}/labels",
		"POST /repos/{owner}/{repo}/pulls",
	}
	if got := fx.validator.Checked(); !slices.Equal(got, want) {
		t.Errorf("checked operations:\n got %q\nwant %q", got, want)
	}
	if got, want := fx.validator.Unspecified(), []string{"GET /repos/acme/widgets/issues/1/comments", "GET /repos/acme/widgets/pulls"}; !slices.Equal(got, want) {
		t.Errorf("unspecified operations = %q, want only the list operations %q", got, want)
	}
}
