package gitlabfake_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

func TestAuthScopesAndVisibilityFollowGitLab(t *testing.T) {
	t.Parallel()
	fake := gitlabfake.New(gitlabfake.Options{
		Users: []gitlabfake.User{{ID: 1, Username: "jdoe"}},
		Tokens: []gitlabfake.Token{
			{ID: 1, Value: "api", Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)},
			{ID: 2, Value: "repo-only", Username: "jdoe", Scopes: []string{"read_repository"}},
			{ID: 3, Value: "revoked", Username: "jdoe", Scopes: []string{"api"}, Revoked: true},
			{ID: 4, Value: "expired", Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: time.Now().AddDate(0, 0, -2)},
		},
		Projects: []gitlabfake.Project{
			{ID: 42, Path: "acme/platform/widgets", Name: "Widgets", Members: map[string]int{"jdoe": gitlabfake.Developer}},
			{ID: 43, Path: "acme/internal", Name: "Internal", Visibility: "internal"},
			{ID: 44, Path: "acme/open", Name: "Open", Visibility: "public"},
			{ID: 45, Path: "other/secret", Name: "Secret"},
		},
	})
	tok := func(v string) http.Header { return http.Header{"Private-Token": {v}} }
	tests := []struct {
		name     string
		path     string
		header   http.Header
		status   int
		contains string
	}{
		{"current user", "/api/v4/user", tok("api"), 200, `"username":"jdoe"`},
		{"bearer works like PRIVATE-TOKEN", "/api/v4/user", http.Header{"Authorization": {"Bearer api"}}, 200, `"username":"jdoe"`},
		{"unknown token", "/api/v4/user", tok("nope"), 401, "401 Unauthorized"},
		{"revoked token", "/api/v4/user", tok("revoked"), 401, "401 Unauthorized"},
		{"expired token", "/api/v4/user", tok("expired"), 401, "401 Unauthorized"},
		{"user needs a user-reading scope", "/api/v4/user", tok("repo-only"), 403, "insufficient_scope"},
		{"token introspection works with any scope", "/api/v4/personal_access_tokens/self", tok("repo-only"), 200, `"scopes":["read_repository"]`},
		{"token introspection reports expiry as a date", "/api/v4/personal_access_tokens/self", tok("api"), 200, `"expires_at":"2031-05-06"`},
		{"project by encoded path", "/api/v4/projects/acme%2Fplatform%2Fwidgets", tok("api"), 200, `"access_level":30`},
		{"project by id", "/api/v4/projects/42", tok("api"), 200, `"path_with_namespace":"acme/platform/widgets"`},
		{"internal project for any signed-in user", "/api/v4/projects/43", tok("api"), 200, `"project_access":null`},
		{"internal project hidden from anonymous", "/api/v4/projects/43", nil, 404, "404 Project Not Found"},
		{"public project for anonymous", "/api/v4/projects/acme%2Fopen", nil, 200, `"visibility":"public"`},
		{"private project of others", "/api/v4/projects/45", tok("api"), 404, "404 Project Not Found"},
		{"project needs an API scope", "/api/v4/projects/42", tok("repo-only"), 403, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, _, body := fakehttp.Call(fake, http.MethodGet, tt.path, tt.header)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d %s, want %d containing %q", tt.path, status, body, tt.status, tt.contains)
			}
		})
	}
}

func newFake(opts gitlabfake.Options) *gitlabfake.Server {
	opts.Users = []gitlabfake.User{{ID: 1, Username: "jdoe", Name: "Jane"}, {ID: 2, Username: "rita", Name: "Rita"}}
	opts.Tokens = []gitlabfake.Token{{ID: 1, Value: "api", Username: "jdoe", Scopes: []string{"api"}}, {ID: 2, Value: "ro", Username: "jdoe", Scopes: []string{"read_api"}}}
	opts.Projects = []gitlabfake.Project{{ID: 42, Path: "acme/widgets", Name: "Widgets", Members: map[string]int{"jdoe": gitlabfake.Developer}}}
	return gitlabfake.New(opts)
}

var apiToken = http.Header{"Private-Token": {"api"}}

func TestIssueListFiltersOrdersAndPagesByOffset(t *testing.T) {
	t.Parallel()
	fake := newFake(gitlabfake.Options{MaxPerPage: 2})
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		fake.AddIssue(gitlabfake.Issue{Title: "t", Assignees: []string{"jdoe"}, Labels: []string{"agent"}, Updated: base.Add(time.Duration(5-i) * time.Hour)})
	}
	fake.AddIssue(gitlabfake.Issue{Title: "other", Assignees: []string{"rita"}, Labels: []string{"agent"}})
	closed := fake.AddIssue(gitlabfake.Issue{Title: "closed", Assignees: []string{"jdoe"}, Labels: []string{"agent"}})
	fake.Close(closed)
	q := "/api/v4/projects/acme%2Fwidgets/issues?assignee_username=jdoe&state=opened&order_by=updated_at&sort=asc&labels=agent&per_page=50"
	status, h, body := fakehttp.Call(fake, http.MethodGet, q, apiToken)
	if status != 200 || h.Get("X-Total") != "5" || h.Get("X-Per-Page") != "2" || h.Get("X-Next-Page") != "2" || h.Get("X-Total-Pages") != "3" {
		t.Fatalf("first page: %d %v %s", status, h, body)
	}
	if !strings.Contains(h.Get("Link"), `rel="next"`) || !strings.Contains(body, `"iid":5`) || strings.Contains(body, `"iid":1,`) {
		t.Errorf("first page should hold the two least recently updated (iid 5, 4): %s / %s", h.Get("Link"), body)
	}
	_, h, body = fakehttp.Call(fake, http.MethodGet, q+"&page=3", apiToken)
	if h.Get("X-Next-Page") != "" || !strings.Contains(body, `"iid":1,`) {
		t.Errorf("last page: %v %s", h, body)
	}
	_, _, body = fakehttp.Call(fake, http.MethodGet, q+"&updated_after=2030-01-01T04:00:00Z", apiToken)
	if strings.Count(body, `"iid"`) != 2 {
		t.Errorf("updated_after is inclusive: want iids 1 and 2, got %s", body)
	}
}

func TestIssueListPagesByKeyset(t *testing.T) {
	t.Parallel()
	fake := newFake(gitlabfake.Options{MaxPerPage: 2})
	for range 3 {
		fake.AddIssue(gitlabfake.Issue{Title: "t", Assignees: []string{"jdoe"}})
	}
	q := "/api/v4/projects/42/issues?order_by=updated_at&sort=asc&pagination=keyset&per_page=2"
	_, h, body := fakehttp.Call(fake, http.MethodGet, q, apiToken)
	link := h.Get("Link")
	if h.Get("X-Total") != "" || !strings.Contains(link, "cursor=") || strings.Count(body, `"iid"`) != 2 {
		t.Fatalf("keyset page: %v %s", h, body)
	}
	next := link[strings.Index(link, "/api/v4"):strings.Index(link, ">")]
	// An issue edited meanwhile moves behind the cursor: keyset pages stay stable.
	fake.Touch(1, time.Now().Add(time.Hour))
	_, h, body = fakehttp.Call(fake, http.MethodGet, next, apiToken)
	if strings.Count(body, `"iid"`) != 2 || !strings.Contains(body, `"iid":3,`) || !strings.Contains(body, `"iid":1,`) || h.Get("Link") != "" {
		t.Errorf("second page: %v %s", h, body)
	}
	if status, _, _ := fakehttp.Call(fake, http.MethodGet, q+"&cursor=bogus", apiToken); status != 400 {
		t.Errorf("bad cursor: %d, want 400", status)
	}
}

func TestIssueUpdateNotesAndMergeRequests(t *testing.T) {
	t.Parallel()
	fake := newFake(gitlabfake.Options{})
	iid := fake.AddIssue(gitlabfake.Issue{Title: "t", Labels: []string{"bug", "Done"}})
	path := "/api/v4/projects/42/issues/" + strconv.FormatInt(iid, 10)
	call := func(method, target, body string, h http.Header) (int, string) {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, r)
		return rec.Code, rec.Body.String()
	}
	if status, body := call(http.MethodPut, path, `{"add_labels":["In Progress"],"remove_labels":"Done,In Review","state_event":"close"}`, apiToken); status != 200 || !strings.Contains(body, `"labels":["bug","In Progress"]`) || !strings.Contains(body, `"state":"closed"`) {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if status, _ := call(http.MethodPut, path, `{"add_labels":["x"]}`, http.Header{"Private-Token": {"ro"}}); status != 403 {
		t.Errorf("read_api token may not write: %d", status)
	}
	if status, body := call(http.MethodPost, path+"/notes", `{"body":"hi"}`, apiToken); status != 201 || !strings.Contains(body, `"noteable_iid":1`) {
		t.Errorf("POST note: %d %s", status, body)
	}
	if notes := fake.Notes(iid); len(notes) != 2 || !notes[0].System || notes[1].Body != "hi" {
		t.Errorf("notes = %+v, want the closed system note and hi", notes)
	}
	mr := `{"title":"t","source_branch":"a","target_branch":"main"}`
	if status, body := call(http.MethodPost, "/api/v4/projects/42/merge_requests", mr, apiToken); status != 201 || !strings.Contains(body, `"web_url"`) {
		t.Fatalf("POST MR: %d %s", status, body)
	}
	if status, _ := call(http.MethodPost, "/api/v4/projects/42/merge_requests", mr, apiToken); status != 409 {
		t.Errorf("duplicate MR: %d, want 409", status)
	}
	if status, body := call(http.MethodGet, "/api/v4/projects/42/merge_requests?source_branch=a&state=opened", "", apiToken); status != 200 || strings.Count(body, `"iid"`) != 1 {
		t.Errorf("list MRs: %d %s", status, body)
	}
	if got := fake.CountRequests(http.MethodPut, path); got != 2 {
		t.Errorf("CountRequests(PUT) = %d, want 2", got)
	}
}

func TestRateLimitHeadersAndEnforcement(t *testing.T) {
	t.Parallel()
	fake := newFake(gitlabfake.Options{RateLimit: 2})
	for i, want := range []int{200, 200, 429} {
		status, h, _ := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", apiToken)
		if status != want || h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d %v", i, status, h)
		}
		if status == 429 && h.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", h)
		}
	}
	fake = newFake(gitlabfake.Options{})
	fake.RateLimitNext(7 * time.Second)
	if status, h, _ := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", apiToken); status != 429 || h.Get("Retry-After") != "7" {
		t.Errorf("RateLimitNext: %d %v", status, h)
	}
	fake.ServerErrorNext(1)
	if status, _, _ := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", apiToken); status != 500 {
		t.Errorf("ServerErrorNext: %d", status)
	}
	fake.MalformedNext()
	if _, _, body := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", apiToken); json.Valid([]byte(body)) {
		t.Errorf("MalformedNext sent valid JSON: %s", body)
	}
}

func TestSandboxSeedsAssignedIssues(t *testing.T) {
	t.Parallel()
	fake := gitlabfake.NewSandbox()
	status, _, body := fakehttp.Call(fake, http.MethodGet, "/api/v4/projects/acme%2Fplatform%2Fwidgets/issues?assignee_username="+gitlabfake.SandboxUser+"&state=opened",
		http.Header{"Private-Token": {gitlabfake.SandboxToken}})
	if status != 200 || strings.Count(body, `"iid"`) != 3 {
		t.Fatalf("sandbox listing: %d %s", status, body)
	}
	if notes := fake.Notes(1); len(notes) != 1 {
		t.Errorf("sandbox notes on issue 1: %+v", notes)
	}
}

// The frame (fakehttp.Base) counts and logs every request, faults
// included, and FailNext answers with GitLab's error body.
func TestFaultsAreCountedLoggedAndInGitLabsShape(t *testing.T) {
	t.Parallel()
	fake := gitlabfake.NewSandbox()
	fake.FailNext(1, http.StatusServiceUnavailable)
	fake.ServerErrorNext(1)
	h := http.Header{"Private-Token": {gitlabfake.SandboxToken}}
	for _, want := range []struct {
		code int
		body string
	}{
		{http.StatusServiceUnavailable, `{"message":"503 Service Unavailable"}`},
		{http.StatusInternalServerError, `{"message":"500 Internal Server Error"}`},
	} {
		code, _, body := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", h)
		if code != want.code || body != want.body {
			t.Fatalf("%d %s, want %d %s", code, body, want.code, want.body)
		}
	}
	if code, hdr, _ := fakehttp.Call(fake, http.MethodGet, "/api/v4/user", h); code != http.StatusOK || hdr.Get("RateLimit-Limit") == "" {
		t.Fatalf("after the faults: %d, RateLimit-Limit %q", code, hdr.Get("RateLimit-Limit"))
	}
	if fake.Requests() != 3 || fake.CountRequests(http.MethodGet, "/api/v4/user") != 3 {
		t.Fatalf("Requests %d, logged %d, want 3 and 3", fake.Requests(), fake.CountRequests(http.MethodGet, "/api/v4/user"))
	}
}
