package gitlab_test

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
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

const (
	gitlabAgent   = "agent"
	gitlabToken   = "glpat-agent-secret"
	gitlabProject = "acme/platform/widgets"
	gitlabPageMax = 2
)

func newGitLabFake(opts gitlabfake.Options) *gitlabfake.Server {
	opts.Users = []gitlabfake.User{
		{ID: 1, Username: gitlabAgent, Name: "Agent", Email: "agent@example.com"},
		{ID: 2, Username: "rita", Name: "Rita Reporter"},
		{ID: 3, Username: "other", Name: "Someone Else"},
	}
	opts.Tokens = []gitlabfake.Token{{ID: 1, Name: "hub", Value: gitlabToken, Username: gitlabAgent, Scopes: []string{"api"}}}
	opts.Projects = []gitlabfake.Project{
		{ID: 42, Path: gitlabProject, Name: "Widgets", DefaultBranch: "trunk", Members: map[string]int{gitlabAgent: gitlabfake.Developer, "rita": gitlabfake.Reporter}},
		{ID: 43, Path: "acme/other", Name: "Other", Members: map[string]int{gitlabAgent: gitlabfake.Developer}},
	}
	if opts.MaxPerPage == 0 {
		opts.MaxPerPage = gitlabPageMax
	}
	return gitlabfake.New(opts)
}

// gitlabSession returns a session on the fake for a project (path or id).
func gitlabSession(t *testing.T, base, project string, edit ...func(*connector.Connector)) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "gl-1", System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: base, AuthMode: connector.AuthBearer, Project: project}
	for _, e := range edit {
		e(&c)
	}
	s, err := trackers.NewSession(gitlab.New(), c, connector.NewSecret(gitlabToken), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type gitlabFixture struct {
	fake *gitlabfake.Server
	base string
}

func (f *gitlabFixture) Session(t *testing.T) *trackers.Session {
	return gitlabSession(t, f.base, gitlabProject)
}

func (f *gitlabFixture) iid(t *testing.T, key string) int64 {
	t.Helper()
	_, n, ok := trackers.SplitNumberedKey(key)
	if !ok {
		t.Fatalf("key %q is not project#iid", key)
	}
	return n
}

func (f *gitlabFixture) Seed(t *testing.T, s trackertest.Seed) string {
	assignees := []string{gitlabAgent}
	if s.Unassigned {
		assignees = []string{"other"}
	}
	iid := f.fake.AddIssue(gitlabfake.Issue{Title: s.Summary, Description: s.Description, Labels: s.Labels, Author: "rita", Assignees: assignees, Updated: s.Updated})
	return gitlabProject + "#" + strconv.FormatInt(iid, 10)
}

func (f *gitlabFixture) Touch(t *testing.T, key string, at time.Time) {
	if !f.fake.Touch(f.iid(t, key), at) {
		t.Fatalf("no issue %s", key)
	}
}

func (f *gitlabFixture) Resolve(t *testing.T, key string) { f.fake.Close(f.iid(t, key)) }

func (f *gitlabFixture) Unassign(t *testing.T, key string) {
	f.fake.Unassign(f.iid(t, key), gitlabAgent)
}

func (f *gitlabFixture) Delete(t *testing.T, key string) {
	if !f.fake.Delete(f.iid(t, key)) {
		t.Fatalf("no issue %s", key)
	}
}

func (f *gitlabFixture) Status(t *testing.T, key string) string {
	is, ok := f.fake.Issue(f.iid(t, key))
	if !ok {
		t.Fatalf("no issue %s", key)
	}
	for _, l := range is.Labels {
		for _, st := range []string{"In Progress", "In Review", "Done"} {
			if strings.EqualFold(l, st) {
				return l
			}
		}
	}
	return ""
}

func (f *gitlabFixture) Comments(t *testing.T, key string) []string {
	var out []string
	for _, n := range f.fake.Notes(f.iid(t, key)) {
		if !n.System {
			out = append(out, n.Body)
		}
	}
	return out
}

func (f *gitlabFixture) Subtasks(*testing.T, string) []string { return nil }

func (f *gitlabFixture) PullRequests(t *testing.T, head string) []string {
	var out []string
	for _, mr := range f.fake.MergeRequests(head) {
		if mr.State == "opened" {
			out = append(out, f.fake.MergeRequestURL(f.base, mr))
		}
	}
	return out
}

func (f *gitlabFixture) RateLimitNext(t *testing.T, d time.Duration) { f.fake.RateLimitNext(d) }

func (f *gitlabFixture) Requests() int { return f.fake.Requests() }

func newGitLabFixture(t *testing.T) *gitlabFixture {
	fake := newGitLabFake(gitlabfake.Options{})
	return &gitlabFixture{fake: fake, base: fake.Start(t)}
}

func TestGitLabRunsTheTrackerSuite(t *testing.T) {
	t.Parallel()
	trackertest.Run(t, gitlab.New(), func(t *testing.T) trackertest.Fixture { return newGitLabFixture(t) }, trackertest.Params{
		PageSize: gitlabPageMax, InProgress: "In Progress", Done: "Done",
	})
}

func TestGitLabSuiteWithOffsetPagination(t *testing.T) {
	t.Parallel()
	// GitLab before keyset support for issues ignores pagination=keyset.
	trackertest.Run(t, gitlab.New(), func(t *testing.T) trackertest.Fixture {
		fake := newGitLabFake(gitlabfake.Options{NoKeyset: true})
		return &gitlabFixture{fake: fake, base: fake.Start(t)}
	}, trackertest.Params{PageSize: gitlabPageMax, InProgress: "In Progress", Done: "Done"})
}

func Tracker(t *testing.T) interface {
	trackers.Discoverer
	trackers.TicketReader
	trackers.StatusWriter
	trackers.Commenter
	trackers.PullRequestOpener
} {
	t.Helper()
	tr := trackers.Tracker(gitlab.New())
	gl, ok := tr.(interface {
		trackers.Discoverer
		trackers.TicketReader
		trackers.StatusWriter
		trackers.Commenter
		trackers.PullRequestOpener
	})
	if !ok {
		t.Fatal("GitLab tracker lacks a feature")
	}
	return gl
}

// listAll pages through a discovery listing.
func gitlabListAll(t *testing.T, s *trackers.Session, q trackers.DiscoveryQuery) ([]trackers.Ticket, []string) {
	t.Helper()
	var (
		out    []trackers.Ticket
		tokens []string
	)
	for range 50 {
		page, err := Tracker(t).Discover(context.Background(), s, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Tickets...)
		if page.NextPageToken == "" {
			return out, tokens
		}
		tokens = append(tokens, page.NextPageToken)
		q.PageToken = page.NextPageToken
	}
	t.Fatal("listing does not end")
	return nil, nil
}

func TestGitLabDiscoverSendsTheDocumentedQuery(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	since := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	s := gitlabSession(t, base, gitlabProject, func(c *connector.Connector) { c.Scope.Labels = []string{"agent", "backend"} })
	if _, err := Tracker(t).Discover(context.Background(), s, trackers.DiscoveryQuery{Since: since}); err != nil {
		t.Fatal(err)
	}
	var list *gitlabfake.Request
	for _, r := range fake.RequestLog() {
		if strings.HasSuffix(r.Path, "/issues") {
			list = &r
		}
	}
	if list == nil {
		t.Fatalf("no issue list request in %v", fake.RequestLog())
	}
	if list.Path != "/api/v4/projects/acme%2Fplatform%2Fwidgets/issues" {
		t.Errorf("path = %s, want the URL-encoded project path", list.Path)
	}
	want := map[string]string{
		"assignee_username": gitlabAgent, "state": "opened", "order_by": "updated_at", "sort": "asc",
		"updated_after": "2030-01-02T02:04:05Z", "labels": "agent,backend", "per_page": "100", "pagination": "keyset",
	}
	for k, v := range want {
		if got := list.Query.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestGitLabProjectByPathOrNumericID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ project, path string }{
		{gitlabProject, "/api/v4/projects/acme%2Fplatform%2Fwidgets/issues"},
		{"42", "/api/v4/projects/42/issues"},
	} {
		t.Run(tt.project, func(t *testing.T) {
			t.Parallel()
			fake := newGitLabFake(gitlabfake.Options{})
			base := fake.Start(t)
			mine := fake.AddIssue(gitlabfake.Issue{Title: "mine", Assignees: []string{gitlabAgent}})
			fake.AddIssue(gitlabfake.Issue{ProjectID: 43, Title: "other project", Assignees: []string{gitlabAgent}})
			s := gitlabSession(t, base, tt.project)
			got, _ := gitlabListAll(t, s, trackers.DiscoveryQuery{})
			if len(got) != 1 || got[0].Key != tt.project+"#"+strconv.FormatInt(mine, 10) {
				t.Fatalf("discovered %+v, want only issue %d", got, mine)
			}
			if fake.CountRequests(http.MethodGet, "") == 0 || !slices.ContainsFunc(fake.RequestLog(), func(r gitlabfake.Request) bool { return r.Path == tt.path }) {
				t.Errorf("no request to %s in %v", tt.path, fake.RequestLog())
			}
			tk, err := Tracker(t).GetTicket(context.Background(), s, got[0].Key)
			if err != nil || tk.Summary != "mine" {
				t.Errorf("get: %+v %v", tk, err)
			}
		})
	}
}

func TestGitLabDiscoverMapsTheIssue(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	iid := fake.AddIssue(gitlabfake.Issue{
		Title: "Crash", Description: "Steps:\n\n1. Open **it**\n2. `boom`\n\n<!-- hidden -->", Labels: []string{"bug", "in review", "Done"},
		Author: "rita", Assignees: []string{"other", gitlabAgent},
	})
	fake.AddNote(iid, "rita", "first")
	fake.Close(iid) // a system note…
	quiet := fake.AddIssue(gitlabfake.Issue{Title: "quiet", Assignees: []string{gitlabAgent}})
	reopen(t, fake, base, iid)
	fake.AddNote(iid, "other", "second")

	s := gitlabSession(t, base, "42", func(c *connector.Connector) { c.IndexComments = true })
	got, _ := gitlabListAll(t, s, trackers.DiscoveryQuery{Full: true})
	if n := fake.CountRequests(http.MethodGet, "/issues/"+strconv.FormatInt(quiet, 10)+"/notes"); n != 0 {
		t.Errorf("%d notes requests for an issue without comments, want none", n)
	}
	var tk trackers.Ticket
	for _, x := range got {
		if x.Key == "42#"+strconv.FormatInt(iid, 10) { // a project named by id has keys <id>#<iid>
			tk = x
		}
	}
	if tk.Key == "" {
		t.Fatalf("issue %d not discovered: %+v", iid, got)
	}
	if tk.Status != "In Review" {
		t.Errorf("status = %q, want the first status label (as configured: In Review)", tk.Status)
	}
	if tk.Reporter.Login != "rita" || tk.Assignee.Login != gitlabAgent || tk.Reporter.ID != "2" {
		t.Errorf("reporter %+v assignee %+v", tk.Reporter, tk.Assignee)
	}
	if !strings.Contains(tk.DescriptionMarkdown, "**it**") || strings.Contains(tk.DescriptionText, "*") || strings.Contains(tk.DescriptionText, "hidden") || !strings.Contains(tk.DescriptionText, "Open it") || !strings.Contains(tk.DescriptionText, "boom") {
		t.Errorf("description text %q markdown %q", tk.DescriptionText, tk.DescriptionMarkdown)
	}
	var bodies []string
	for _, c := range tk.Comments {
		bodies = append(bodies, c.Markdown)
	}
	if !slices.Equal(bodies, []string{"first", "second"}) {
		t.Errorf("comments = %q, want the two person-written notes, oldest first", bodies)
	}
	if !strings.HasSuffix(tk.URL, "/acme/platform/widgets/-/issues/"+strconv.FormatInt(iid, 10)) || tk.Created.IsZero() || tk.Updated.IsZero() {
		t.Errorf("ticket %+v", tk)
	}
}

// reopen reopens an issue through the API, as a person would.
func reopen(t *testing.T, fake *gitlabfake.Server, base string, iid int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/api/v4/projects/42/issues/"+strconv.FormatInt(iid, 10)+"?state_event=reopen", nil)
	req.Header.Set("PRIVATE-TOKEN", gitlabToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reopen: %d", resp.StatusCode)
	}
}

func TestGitLabAssigneeIsTheAuthenticatedUserFetchedOnce(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	for range 5 {
		fake.AddIssue(gitlabfake.Issue{Title: "x", Assignees: []string{gitlabAgent}})
	}
	s := gitlabSession(t, base, gitlabProject)
	gitlabListAll(t, s, trackers.DiscoveryQuery{})
	gitlabListAll(t, s, trackers.DiscoveryQuery{})
	if n := fake.CountRequests(http.MethodGet, "/api/v4/user"); n != 1 {
		t.Errorf("GET /user %d times in one session, want 1", n)
	}
	// A configured assignee needs no lookup.
	s2 := gitlabSession(t, base, gitlabProject, func(c *connector.Connector) { c.Assignee = "rita" })
	gitlabListAll(t, s2, trackers.DiscoveryQuery{})
	if n := fake.CountRequests(http.MethodGet, "/api/v4/user"); n != 1 {
		t.Errorf("GET /user %d times, want no more with a configured assignee", n)
	}
	last := fake.RequestLog()[len(fake.RequestLog())-1]
	if last.Query.Get("assignee_username") != "rita" {
		t.Errorf("assignee_username = %q, want rita", last.Query.Get("assignee_username"))
	}
}

func TestGitLabPagesByKeysetOrOffset(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		opts   gitlabfake.Options
		fault  bool
		prefix string
	}{
		{"keyset cursor from the Link header", gitlabfake.Options{}, false, "cursor:"},
		{"offset from X-Next-Page where keyset is ignored", gitlabfake.Options{NoKeyset: true}, false, "page:"},
		{"offset after a 405 for keyset", gitlabfake.Options{}, true, "page:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newGitLabFake(tt.opts)
			base := fake.Start(t)
			for i := range 5 {
				fake.AddIssue(gitlabfake.Issue{Title: "x", Assignees: []string{gitlabAgent}, Updated: time.Now().Add(time.Duration(i-10) * time.Minute)})
			}
			if tt.fault {
				fake.Faults.Add(faults.Fault{
					Match:  func(r *http.Request) bool { return r.URL.Query().Get("pagination") == "keyset" },
					Status: http.StatusMethodNotAllowed, Body: `{"error":"Keyset pagination is not yet available for this type of request"}`,
				})
			}
			s := gitlabSession(t, base, gitlabProject)
			got, tokens := gitlabListAll(t, s, trackers.DiscoveryQuery{})
			if len(got) != 5 || len(tokens) != 2 {
				t.Fatalf("%d tickets with tokens %v, want 5 in 3 pages", len(got), tokens)
			}
			for _, tok := range tokens {
				if !strings.HasPrefix(tok, tt.prefix) {
					t.Errorf("token %q, want prefix %q", tok, tt.prefix)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i].Updated.Before(got[i-1].Updated) {
					t.Errorf("not in update order: %v before %v", got[i-1].Updated, got[i].Updated)
				}
			}
		})
	}
}

func TestGitLabErrorsMapToTheFrameworkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     faults.Fault
		want      error
		wantRetry time.Duration
	}{
		{"429 with Retry-After", faults.Fault{Status: 429, Header: http.Header{"Retry-After": {"12"}}, Body: "Retry later\n"}, nil, 12 * time.Second},
		{"429 with RateLimit-Reset only", faults.Fault{Status: 429, Header: http.Header{"RateLimit-Reset": {"+30s"}}}, nil, 30 * time.Second},
		{"500", faults.Fault{Status: 500, Body: `{"message":"500 Internal Server Error"}`}, trackers.ErrTransient, 0},
		{"502 from a proxy", faults.Fault{Status: 502, Body: `<html>Bad Gateway</html>`}, trackers.ErrTransient, 0},
		{"401", faults.Fault{Status: 401, Body: `{"message":"401 Unauthorized"}`}, trackers.ErrUnauthorized, 0},
		{"403", faults.Fault{Status: 403, Body: `{"message":"403 Forbidden"}`}, trackers.ErrUnauthorized, 0},
		{"truncated JSON", faults.Fault{Status: 200, Body: `[{"iid": 1, "title": "x`}, trackers.ErrMalformedResponse, 0},
		{"object instead of a list", faults.Fault{Status: 200, Body: `{"iid": 1}`}, trackers.ErrMalformedResponse, 0},
		{"issue without iid", faults.Fault{Status: 200, Body: `[{"title": "x"}]`}, trackers.ErrMalformedResponse, 0},
		{"labels with details where names were expected", faults.Fault{Status: 200, Body: `[{"iid": 1, "labels": [{"name": "x"}]}]`}, trackers.ErrMalformedResponse, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newGitLabFake(gitlabfake.Options{})
			base := fake.Start(t)
			fake.AddIssue(gitlabfake.Issue{Title: "x", Assignees: []string{gitlabAgent}})
			f := tt.fault
			if vs := f.Header["RateLimit-Reset"]; len(vs) == 1 && vs[0] == "+30s" { // a Unix time, taken when the subtest runs
				f.Header = http.Header{"RateLimit-Reset": {strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10)}}
			}
			f.Match = func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/issues") }
			fake.Faults.Add(f)
			s := gitlabSession(t, base, gitlabProject)
			_, err := Tracker(t).Discover(context.Background(), s, trackers.DiscoveryQuery{})
			if tt.want == nil {
				var rl *trackers.RateLimitError
				if !errors.As(err, &rl) {
					t.Fatalf("err = %v, want *RateLimitError", err)
				}
				if d := rl.RetryAfter - tt.wantRetry; d < -2*time.Second || d > time.Second {
					t.Errorf("RetryAfter = %v, want about %v", rl.RetryAfter, tt.wantRetry)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), gitlabToken) || strings.Contains(err.Error(), base) {
				t.Errorf("error %q leaks the token or URL", err)
			}
		})
	}
}

func TestGitLabMissingTicketAndBadKeys(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	other := fake.AddIssue(gitlabfake.Issue{ProjectID: 43, Title: "elsewhere"})
	s := gitlabSession(t, base, gitlabProject)
	gl := Tracker(t)
	for _, tc := range []struct {
		key  string
		want error
	}{
		{"999", trackers.ErrTicketNotFound},
		{gitlabProject + "#999", trackers.ErrTicketNotFound},
		{strconv.FormatInt(other, 10), trackers.ErrTicketNotFound},
		{"abc", trackers.ErrInvalidTicketKey},
		{"0", trackers.ErrInvalidTicketKey},
		{"acme/other#1", trackers.ErrInvalidTicketKey},
	} {
		key := tc.key
		if _, err := gl.GetTicket(context.Background(), s, key); !errors.Is(err, tc.want) {
			t.Errorf("GetTicket(%q) = %v, want %v", key, err, tc.want)
		}
		if _, err := gl.SetStatus(context.Background(), s, key, "Done"); !errors.Is(err, tc.want) {
			t.Errorf("SetStatus(%q) = %v, want %v", key, err, tc.want)
		}
		if _, err := gl.AddComment(context.Background(), s, key, trackers.NewComment{Markdown: "x"}); !errors.Is(err, tc.want) {
			t.Errorf("AddComment(%q) = %v, want %v", key, err, tc.want)
		}
	}
}

func TestGitLabSetStatusIsOneUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		labels      []string
		status      string
		closeOnDone bool
		wantLabels  []string
		wantState   string
	}{
		{"in progress replaces done", []string{"bug", "Done"}, "in progress", false, []string{"bug", "In Progress"}, "opened"},
		{"done keeps the issue open by default", []string{"In Progress"}, "Done", false, []string{"Done"}, "opened"},
		{"done closes when the connector says so", []string{"In Progress", "bug"}, "DONE", true, []string{"bug", "Done"}, "closed"},
		{"in review does not close", []string{"In Progress"}, "In Review", true, []string{"In Review"}, "opened"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newGitLabFake(gitlabfake.Options{})
			base := fake.Start(t)
			iid := fake.AddIssue(gitlabfake.Issue{Title: "x", Labels: tt.labels, Assignees: []string{gitlabAgent}})
			s := gitlabSession(t, base, gitlabProject, func(c *connector.Connector) { c.CloseOnDone = tt.closeOnDone })
			link, err := Tracker(t).SetStatus(context.Background(), s, strconv.FormatInt(iid, 10), tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if link.Kind != "status" || !strings.HasSuffix(link.URL, "/-/issues/"+strconv.FormatInt(iid, 10)) {
				t.Errorf("link = %+v", link)
			}
			if n, all := fake.CountRequests(http.MethodPut, ""), len(fake.RequestLog()); n != 1 || all != 1 {
				t.Errorf("%d PUTs in %d requests, want exactly one request, a PUT: %v", n, all, fake.RequestLog())
			}
			is, _ := fake.Issue(iid)
			if !slices.Equal(is.Labels, tt.wantLabels) || is.State != tt.wantState {
				t.Errorf("labels %v state %s, want %v %s", is.Labels, is.State, tt.wantLabels, tt.wantState)
			}
		})
	}
}

func TestGitLabSetStatusUsesTheConnectorsLabels(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	iid := fake.AddIssue(gitlabfake.Issue{Title: "x", Labels: []string{"workflow::doing"}})
	s := gitlabSession(t, base, gitlabProject, func(c *connector.Connector) {
		c.StatusLabels = connector.StatusLabels{InProgress: "workflow::doing", InReview: "workflow::review", Done: "workflow::done"}
	})
	gl := Tracker(t)
	if _, err := gl.SetStatus(context.Background(), s, strconv.FormatInt(iid, 10), "workflow::review"); err != nil {
		t.Fatal(err)
	}
	if is, _ := fake.Issue(iid); !slices.Equal(is.Labels, []string{"workflow::review"}) {
		t.Errorf("labels = %v", is.Labels)
	}
	_, err := gl.SetStatus(context.Background(), s, strconv.FormatInt(iid, 10), "In Progress")
	if !errors.Is(err, trackers.ErrUnknownStatus) || !strings.Contains(err.Error(), "workflow::doing") {
		t.Errorf("err = %v, want ErrUnknownStatus listing the connector's labels", err)
	}
}

func TestGitLabCommentMentionsAndHidesTheMarker(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	iid := fake.AddIssue(gitlabfake.Issue{Title: "x"})
	for i := range 5 { // more notes than a page
		fake.AddNote(iid, "rita", "note "+strconv.Itoa(i))
	}
	s := gitlabSession(t, base, gitlabProject)
	gl := Tracker(t)
	key := strconv.FormatInt(iid, 10)
	link, err := gl.AddComment(context.Background(), s, key, trackers.NewComment{Markdown: "Done.", Mention: &trackers.User{Login: "rita"}, Marker: "hub:r1--comment"})
	if err != nil {
		t.Fatal(err)
	}
	notes := fake.Notes(iid)
	body := notes[len(notes)-1].Body
	if body != "@rita Done.\n\n<!-- hub:r1- -comment -->" {
		t.Errorf("note body = %q", body)
	}
	if !strings.Contains(link.URL, "/acme/platform/widgets/-/issues/"+key+"#note_") || link.Key == "" {
		t.Errorf("link = %+v", link)
	}
	for range 3 {
		fake.AddNote(iid, "rita", "later")
	}
	found, ok, err := gl.FindComment(context.Background(), s, key, "hub:r1--comment")
	if err != nil || !ok || found != link {
		t.Errorf("find = %+v %v %v, want %+v", found, ok, err, link)
	}
	if n := fake.CountRequests(http.MethodGet, "/notes"); n < 5 {
		t.Errorf("%d notes pages read, want all (5 with 9 notes at 2 a page)", n)
	}
}

func TestGitLabMergeRequest(t *testing.T) {
	t.Parallel()
	fake := newGitLabFake(gitlabfake.Options{})
	base := fake.Start(t)
	iid := fake.AddIssue(gitlabfake.Issue{Title: "x"})
	key := strconv.FormatInt(iid, 10)
	s := gitlabSession(t, base, gitlabProject)
	gl := Tracker(t)

	link, reused, err := gl.OpenPullRequest(context.Background(), s, key, trackers.NewPullRequest{Head: "agent/x", Title: key + " Fix", BodyMarkdown: "Does it."})
	if err != nil || reused || link.Kind != "pull_request" {
		t.Fatalf("open: %+v %v %v", link, reused, err)
	}
	mrs := fake.MergeRequests("agent/x")
	if len(mrs) != 1 || mrs[0].TargetBranch != "trunk" || mrs[0].Description != "Does it.\n\nCloses #"+key || mrs[0].Title != key+" Fix" {
		t.Fatalf("merge requests = %+v, want one to the default branch that closes the issue", mrs)
	}

	// Another explicit base still reuses the open one for the branch.
	again, reused, err := gl.OpenPullRequest(context.Background(), s, key, trackers.NewPullRequest{Head: "agent/x", Base: "release", Title: "t"})
	if err != nil || !reused || again != link {
		t.Errorf("again: %+v %v %v", again, reused, err)
	}

	// Opened meanwhile by someone else: the 409 leads to reuse.
	other := fake.AddMergeRequest(gitlabfake.MergeRequest{SourceBranch: "agent/y", TargetBranch: "release", Title: "theirs"})
	fake.Faults.Add(faults.Fault{
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/merge_requests")
		},
		Status: 200, Body: `[]`,
	})
	got, reused, err := gl.OpenPullRequest(context.Background(), s, key, trackers.NewPullRequest{Head: "agent/y", Base: "release", Title: "t"})
	if err != nil || !reused || got.Key != strconv.FormatInt(other, 10) {
		t.Errorf("after conflict: %+v %v %v, want merge request %d reused", got, reused, err, other)
	}
}
