package gitlab_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/fakes/gitlab"
	"github.com/connectorhub/connectorhub/pkg/fakes/internal/fakehttp"
)

func TestAuthScopesAndVisibilityFollowGitLab(t *testing.T) {
	t.Parallel()
	fake := gitlab.New(gitlab.Options{
		Users: []gitlab.User{{ID: 1, Username: "jdoe"}},
		Tokens: []gitlab.Token{
			{ID: 1, Value: "api", Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)},
			{ID: 2, Value: "repo-only", Username: "jdoe", Scopes: []string{"read_repository"}},
			{ID: 3, Value: "revoked", Username: "jdoe", Scopes: []string{"api"}, Revoked: true},
			{ID: 4, Value: "expired", Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: time.Now().AddDate(0, 0, -2)},
		},
		Projects: []gitlab.Project{
			{ID: 42, Path: "acme/platform/widgets", Name: "Widgets", Members: map[string]int{"jdoe": gitlab.Developer}},
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
