package githubfake_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

func TestAuthScopesAndVisibilityFollowGitHub(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}, {ID: 2, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: "classic", Login: "octocat", Scopes: []string{"repo", "gist"}, ExpiresAt: exp},
			{Value: "public", Login: "octocat", Scopes: []string{"public_repo"}},
			{Value: "fine", Login: "octocat", FineGrained: true, Repos: []string{"acme/docs"}},
			{Value: "expired", Login: "octocat", Scopes: []string{"repo"}, ExpiresAt: time.Now().Add(-time.Hour)},
			{Value: "hubot", Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{
			{ID: 1, Owner: "acme", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Triage}},
			{ID: 2, Owner: "acme", Name: "docs", Collaborators: map[string]githubfake.Role{"octocat": githubfake.Maintain}},
		},
	})
	auth := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tests := []struct {
		name       string
		path       string
		header     http.Header
		status     int
		contains   string
		wantScopes *string // nil: header must be absent
		wantExpiry string
	}{
		{"classic token lists its scopes and expiry", "/user", auth("classic"), 200, `"login":"octocat"`, ptr("repo, gist"), "2030-01-02 03:04:05 UTC"},
		{"the token scheme works too", "/user", http.Header{"Authorization": {"token classic"}}, 200, `"two_factor_authentication":true`, ptr("repo, gist"), "2030-01-02 03:04:05 UTC"},
		{"fine-grained token sends no scopes header", "/user", auth("fine"), 200, `"login":"octocat"`, nil, ""},
		{"enterprise server prefix", "/api/v3/user", auth("classic"), 200, `"login":"octocat"`, ptr("repo, gist"), "2030-01-02 03:04:05 UTC"},
		{"bad credentials", "/user", auth("nope"), 401, "Bad credentials", nil, ""},
		{"expired token", "/user", auth("expired"), 401, "Bad credentials", nil, ""},
		{"anonymous user endpoint", "/user", nil, 401, "Requires authentication", nil, ""},
		{"writer sees push", "/repos/acme/widgets", auth("classic"), 200, `"push":true`, ptr("repo, gist"), "2030-01-02 03:04:05 UTC"},
		{"triager has no push", "/repos/acme/widgets", auth("hubot"), 200, `"push":false`, ptr("repo"), ""},
		{"private repo hidden without repo scope", "/repos/acme/widgets", auth("public"), 404, "Not Found", ptr("public_repo"), ""},
		{"fine-grained token limited to other repos", "/repos/acme/widgets", auth("fine"), 404, "Not Found", nil, ""},
		{"fine-grained token on its repo", "/repos/acme/docs", auth("fine"), 200, `"maintain":true`, nil, ""},
		{"anonymous public repo has no permissions", "/repos/acme/docs", nil, 200, `"full_name":"acme/docs"`, nil, ""},
		{"anonymous private repo", "/repos/acme/widgets", nil, 404, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, hdr, body := fakehttp.Call(fake, http.MethodGet, tt.path, tt.header)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d %s, want %d containing %q", tt.path, status, body, tt.status, tt.contains)
			}
			scopes, present := hdr["X-Oauth-Scopes"]
			switch {
			case tt.wantScopes == nil && present:
				t.Errorf("X-OAuth-Scopes = %q, want no header", scopes)
			case tt.wantScopes != nil && (!present || scopes[0] != *tt.wantScopes):
				t.Errorf("X-OAuth-Scopes = %q, want %q", scopes, *tt.wantScopes)
			}
			if got := hdr.Get("Github-Authentication-Token-Expiration"); got != tt.wantExpiry {
				t.Errorf("expiration header = %q, want %q", got, tt.wantExpiry)
			}
			if strings.Contains(tt.contains, "full_name") && strings.Contains(body, `"permissions"`) {
				t.Error("anonymous response carries permissions")
			}
		})
	}
}

func ptr(s string) *string { return &s }
