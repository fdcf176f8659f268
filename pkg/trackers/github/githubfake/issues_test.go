package githubfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

const repo = "acme/widgets"

func newFake(opts githubfake.Options) *githubfake.Server {
	opts.Users = append(opts.Users, githubfake.User{ID: 1, Login: "octocat"}, githubfake.User{ID: 2, Login: "hubot"})
	opts.Tokens = append(opts.Tokens,
		githubfake.Token{Value: "tok", Login: "octocat", Scopes: []string{"repo"}},
		githubfake.Token{Value: "reader", Login: "hubot", Scopes: []string{"repo"}},
	)
	opts.Repos = append(opts.Repos, githubfake.Repo{ID: 7, Owner: "acme", Name: "widgets", Private: true, DefaultBranch: "trunk",
		Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Read}})
	return githubfake.New(opts)
}

func auth(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// send serves one request with an optional JSON body.
func send(h http.Handler, method, target string, header http.Header, body string) (int, http.Header, string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for k, vs := range header {
		r.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code, rec.Header(), rec.Body.String()
}

func numbers(t *testing.T, body string) []int {
	t.Helper()
	var list []struct {
		Number int `json:"number"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var out []int
	for _, it := range list {
		out = append(out, it.Number)
	}
	return out
}

func TestIssueListFiltersSortsAndIncludesPullRequests(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{})
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := fake.AddIssue(repo, githubfake.Issue{Title: "a", Assignees: []string{"octocat"}, Labels: []string{"bug", "agent"}, Updated: base.Add(3 * time.Minute)})
	b := fake.AddIssue(repo, githubfake.Issue{Title: "b", Assignees: []string{"octocat"}, Labels: []string{"agent"}, Updated: base.Add(1 * time.Minute)})
	fake.AddIssue(repo, githubfake.Issue{Title: "c", Assignees: []string{"hubot"}, Updated: base.Add(2 * time.Minute)})
	pr := fake.AddIssue(repo, githubfake.Issue{Title: "pr", Assignees: []string{"octocat"}, Updated: base.Add(4 * time.Minute), PullRequest: &githubfake.PullRequest{Head: "x", Base: "trunk"}})
	closed := fake.AddIssue(repo, githubfake.Issue{Title: "d", Assignees: []string{"octocat"}, Updated: base})
	fake.Close(repo, closed)

	tests := []struct {
		name  string
		query string
		want  []int
	}{
		{"assigned open by update ascending, pull requests included", "assignee=octocat&sort=updated&direction=asc", []int{b, a, pr}},
		{"since is inclusive of the update time", "assignee=octocat&sort=updated&direction=asc&since=" + base.Add(3*time.Minute).Format(time.RFC3339), []int{a, pr}},
		{"labels must all be present", "labels=agent,BUG", []int{a}},
		{"closed state", "state=closed", []int{closed}},
		{"unassigned filter", "assignee=none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, body := send(fake, "GET", "/repos/acme/widgets/issues?"+tt.query, auth("tok"), "")
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if got := numbers(t, body); !equal(got, tt.want) {
				t.Errorf("numbers = %v, want %v", got, tt.want)
			}
		})
	}
	_, _, body := send(fake, "GET", "/repos/acme/widgets/issues?assignee=octocat", auth("tok"), "")
	if !strings.Contains(body, `"pull_request":{`) {
		t.Error("pull request listed without its pull_request field")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestListsPaginateWithLinkHeaders(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{MaxPerPage: 2})
	for range 5 {
		fake.AddIssue(repo, githubfake.Issue{Title: "x"})
	}
	var all []int
	target := "/api/v3/repos/acme/widgets/issues?sort=created&direction=asc&per_page=100"
	for pages := 0; target != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		code, hdr, body := send(fake, "GET", target, auth("tok"), "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		all = append(all, numbers(t, body)...)
		target = ""
		for l := range strings.SplitSeq(hdr.Get("Link"), ",") {
			if strings.Contains(l, `rel="next"`) {
				u := strings.Trim(strings.TrimSpace(strings.Split(l, ";")[0]), "<>")
				if !strings.Contains(u, "/api/v3/repos/") {
					t.Errorf("next link %s lost the Enterprise Server prefix", u)
				}
				target = u[strings.Index(u, "/api/v3/"):]
			}
		}
	}
	if !equal(all, []int{1, 2, 3, 4, 5}) {
		t.Errorf("pages gave %v", all)
	}
}

func TestETagAnswers304WithoutSpendingRateLimit(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{})
	n := fake.AddIssue(repo, githubfake.Issue{Title: "x", Assignees: []string{"octocat"}})
	list := "/repos/acme/widgets/issues?assignee=octocat"

	code, hdr, first := send(fake, "GET", list, auth("tok"), "")
	etag := hdr.Get("ETag")
	if code != 200 || etag == "" || strings.HasPrefix(etag, "W/") {
		t.Fatalf("first list: %d etag %q, want 200 with a strong ETag", code, etag)
	}
	if hdr.Get("Content-Length") != strconv.Itoa(len(first)) || hdr.Get("X-RateLimit-Used") != "1" || hdr.Get("Vary") == "" {
		t.Errorf("first list: Content-Length %q for %d bytes, X-RateLimit-Used %q, Vary %q",
			hdr.Get("Content-Length"), len(first), hdr.Get("X-RateLimit-Used"), hdr.Get("Vary"))
	}
	if len(hdr.Values("X-Fake-Content-Digest")) != 0 {
		t.Errorf("the listing's digest went out: %v", hdr)
	}
	if _, other, _ := send(fake, "GET", list, auth("reader"), ""); other.Get("ETag") == etag || other.Get("ETag") == "" {
		t.Errorf("another token's ETag %q, want one of its own (not %q)", other.Get("ETag"), etag)
	}
	remaining := hdr.Get("X-RateLimit-Remaining")
	used := fake.RateLimitUsed()

	h := auth("tok")
	h.Set("If-None-Match", etag)
	code, hdr, body := send(fake, "GET", list, h, "")
	if code != http.StatusNotModified || body != "" {
		t.Fatalf("conditional list: %d %q, want 304 without a body", code, body)
	}
	if hdr.Get("Content-Type") != "" || hdr.Get("Content-Length") != "" {
		t.Errorf("304 carries Content-Type %q, Content-Length %q", hdr.Get("Content-Type"), hdr.Get("Content-Length"))
	}
	if hdr.Get("ETag") != etag || hdr.Get("X-RateLimit-Remaining") != remaining || fake.RateLimitUsed() != used {
		t.Errorf("304 changed etag %q or spent rate limit (remaining %s→%s, used %d→%d)",
			hdr.Get("ETag"), remaining, hdr.Get("X-RateLimit-Remaining"), used, fake.RateLimitUsed())
	}

	fake.Touch(repo, n, time.Now().Add(time.Minute))
	code, hdr, _ = send(fake, "GET", list, h, "")
	if code != 200 || hdr.Get("ETag") == etag || fake.RateLimitUsed() != used+1 {
		t.Errorf("changed list: %d etag %q used %d, want 200, a new ETag and one point spent", code, hdr.Get("ETag"), fake.RateLimitUsed())
	}
}

// An answer whose ETag is a hash of its body (recorded, not a listing) is
// validated the same way.
func TestETagOfARecordedAnswerAnswers304(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{})
	n := fake.AddIssue(repo, githubfake.Issue{Title: "x", Assignees: []string{"octocat"}})
	path := "/repos/acme/widgets/issues/" + strconv.Itoa(n)
	code, hdr, body := send(fake, "GET", path, auth("tok"), "")
	etag := hdr.Get("ETag")
	if code != 200 || etag == "" || !strings.Contains(body, `"title":"x"`) || hdr.Get("X-RateLimit-Used") != "1" {
		t.Fatalf("get: %d etag %q used %q %s", code, etag, hdr.Get("X-RateLimit-Used"), body)
	}
	h := auth("tok")
	h.Set("If-None-Match", `"other", `+etag)
	code, hdr, body = send(fake, "GET", path, h, "")
	if code != http.StatusNotModified || body != "" || hdr.Get("ETag") != etag || hdr.Get("X-RateLimit-Used") != "1" {
		t.Fatalf("conditional get: %d %q etag %q used %q, want 304, no body, the same ETag, nothing spent", code, body, hdr.Get("ETag"), hdr.Get("X-RateLimit-Used"))
	}
}

func TestPrimaryRateLimitRunsOutAndFaultsServeBothLimits(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{RateLimit: 2})
	for i, want := range []int{200, 200, 403} {
		code, hdr, body := send(fake, "GET", "/user", auth("tok"), "")
		if code != want {
			t.Fatalf("request %d: %d %s, want %d", i, code, body, want)
		}
		if want == 403 && (hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") == "") {
			t.Errorf("exhausted answer headers: %v", hdr)
		}
	}

	other := newFake(githubfake.Options{})
	other.Faults.Add(githubfake.SecondaryRateLimit(1500 * time.Millisecond))
	other.Faults.Add(githubfake.PrimaryRateLimit(time.Unix(1893456000, 0)))
	code, hdr, body := send(other, "GET", "/user", auth("tok"), "")
	if code != 403 || hdr.Get("Retry-After") != "2" || !strings.Contains(body, "secondary-rate-limits") {
		t.Errorf("secondary: %d %v %s", code, hdr, body)
	}
	code, hdr, _ = send(other, "GET", "/user", auth("tok"), "")
	if code != 403 || hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") != "1893456000" {
		t.Errorf("primary: %d %v", code, hdr)
	}
}

func TestLabelsCommentsAndState(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{})
	n := fake.AddIssue(repo, githubfake.Issue{Title: "x", Labels: []string{"In Progress"}})
	path := "/repos/acme/widgets/issues/1"

	steps := []struct {
		name, method, path, token, body string
		want                            int
		contains                        string
	}{
		{"add a label the repository lacks creates it", "POST", path + "/labels", "tok", `{"labels":["Done"]}`, 200, `"name":"Done"`},
		{"remove a label by escaped name", "DELETE", path + "/labels/In%20Progress", "tok", "", 200, `"name":"Done"`},
		{"removing a missing label is 404", "DELETE", path + "/labels/In%20Progress", "tok", "", 404, "Label does not exist"},
		{"a reader cannot label", "POST", path + "/labels", "reader", `["x"]`, 403, "not accessible"},
		{"a reader can comment", "POST", path + "/comments", "reader", `{"body":"hi"}`, 201, "#issuecomment-"},
		{"close", "PATCH", path, "tok", `{"state":"closed"}`, 200, `"state":"closed"`},
		{"missing issue", "GET", "/repos/acme/widgets/issues/99", "tok", "", 404, "Not Found"},
	}
	for _, st := range steps {
		code, _, body := send(fake, st.method, st.path, auth(st.token), st.body)
		if code != st.want || !strings.Contains(body, st.contains) {
			t.Fatalf("%s: %d %s, want %d containing %q", st.name, code, body, st.want, st.contains)
		}
	}
	is, _ := fake.Issue(repo, n)
	if is.State != "closed" || len(is.Labels) != 1 || is.Labels[0] != "Done" {
		t.Errorf("issue = %+v", is)
	}
	if c := fake.Comments(repo, n); len(c) != 1 || c[0].Author != "hubot" || c[0].Body != "hi" {
		t.Errorf("comments = %+v", c)
	}
	if len(fake.MutationTimes()) != 6 {
		t.Errorf("mutations recorded: %d, want 6", len(fake.MutationTimes()))
	}
}

func TestPullRequestsAreIssuesAndNotDuplicated(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{})
	fake.AddIssue(repo, githubfake.Issue{Title: "issue"})
	pr := `{"title":"Fix","head":"fix-1","base":"trunk","body":"Closes #1"}`
	code, _, body := send(fake, "POST", "/repos/acme/widgets/pulls", auth("tok"), pr)
	if code != 201 || !strings.Contains(body, `"number":2`) || !strings.Contains(body, `"label":"acme:fix-1"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _, body = send(fake, "POST", "/repos/acme/widgets/pulls", auth("tok"), pr); code != 422 || !strings.Contains(body, "already exists") {
		t.Errorf("duplicate: %d %s", code, body)
	}
	if code, _, _ = send(fake, "POST", "/repos/acme/widgets/pulls", auth("reader"), strings.Replace(pr, "fix-1", "fix-2", 1)); code != 403 {
		t.Errorf("reader opening a pull request: %d, want 403", code)
	}
	_, _, body = send(fake, "GET", "/repos/acme/widgets/pulls?head=acme:fix-1&state=open", auth("tok"), "")
	if got := numbers(t, body); !equal(got, []int{2}) {
		t.Errorf("pulls for head: %v", got)
	}
	_, _, body = send(fake, "GET", "/repos/acme/widgets/pulls?head=acme:other", auth("tok"), "")
	if got := numbers(t, body); len(got) != 0 {
		t.Errorf("pulls for another head: %v", got)
	}
	if got := fake.PullRequests(repo, "fix-1"); len(got) != 1 || got[0].PullRequest.HTMLURL == "" {
		t.Errorf("PullRequests = %+v", got)
	}
	_, _, body = send(fake, "GET", "/repos/acme/widgets/issues/2", auth("tok"), "")
	if !strings.Contains(body, `"pull_request":{`) {
		t.Errorf("pull request read as an issue lacks pull_request: %s", body)
	}
	_, _, body = send(fake, "GET", "/repos/acme/widgets", auth("tok"), "")
	if !strings.Contains(body, `"default_branch":"trunk"`) {
		t.Error("repository default branch not served")
	}
}

func TestSandboxSeedsAssignedIssues(t *testing.T) {
	t.Parallel()
	fake := githubfake.NewSandbox()
	code, _, body := fakehttp.Call(fake, "GET", "/repos/"+githubfake.SandboxRepo+"/issues?assignee="+githubfake.SandboxLogin, auth(githubfake.SandboxToken))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if got := numbers(t, body); len(got) != 4 { // three issues and a pull request
		t.Errorf("sandbox assigned listing: %v", got)
	}
}

// A middle page links to the next, last, first and previous pages, in
// GitHub's order, with the request's other parameters and path kept.
func TestMiddlePageLinksAllFourPages(t *testing.T) {
	t.Parallel()
	fake := newFake(githubfake.Options{MaxPerPage: 2})
	for range 5 {
		fake.AddIssue(repo, githubfake.Issue{Title: "x"})
	}
	code, hdr, body := send(fake, "GET", "/api/v3/repos/acme/widgets/issues?sort=created&direction=asc&per_page=100&page=2", auth("tok"), "")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	u := func(page string) string {
		return "<http://example.com/api/v3/repos/acme/widgets/issues?direction=asc&page=" + page + "&per_page=2&sort=created>"
	}
	want := u("3") + `; rel="next", ` + u("3") + `; rel="last", ` + u("1") + `; rel="first", ` + u("1") + `; rel="prev"`
	if got := hdr.Get("Link"); got != want {
		t.Fatalf("Link\n%s\nwant\n%s", got, want)
	}
}
