// Package gitlab is an in-memory fake of the GitLab REST API v4 (gitlab.com
// or self-managed): users, personal access tokens with scopes and expiry, and
// projects addressed by numeric id or URL-encoded path.
//
// Today it serves the endpoints a connection test uses (GET /user, GET
// /personal_access_tokens/self, GET /projects/:id); issues, labels, notes and
// merge requests come with the issues that need them.
package gitlab

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/fakes/faults"
	"github.com/connectorhub/connectorhub/pkg/fakes/internal/fakehttp"
)

// User is a GitLab account.
type User struct {
	ID       int64
	Username string
	Name     string
	Email    string
}

// Token is a personal access token.
type Token struct {
	ID       int64
	Name     string
	Value    string
	Username string
	Scopes   []string // api, read_api, read_user, read_repository, ...
	// ExpiresAt is a date (GitLab tokens expire at the start of that day,
	// UTC); zero means no expiry.
	ExpiresAt time.Time
	Revoked   bool
}

// Access levels of project members.
const (
	Guest      = 10
	Reporter   = 20
	Developer  = 30
	Maintainer = 40
	Owner      = 50
)

// Project is a GitLab project.
type Project struct {
	ID         int64
	Path       string // "group/subgroup/project"
	Name       string
	Visibility string // private (default), internal, public
	Archived   bool
	Members    map[string]int // access level by username
}

// Options configure the fake.
type Options struct {
	Users    []User
	Tokens   []Token
	Projects []Project
}

// Server is a fake GitLab. It is an http.Handler; Start serves it.
type Server struct {
	// Faults are served in front of every endpoint.
	Faults faults.Injector

	mux      *http.ServeMux
	requests fakehttp.Counter

	mu       sync.Mutex
	users    map[string]User  // by username
	tokens   map[string]Token // by value
	projects []Project
}

// New returns a fake holding the given users, tokens and projects.
func New(opts Options) *Server {
	s := &Server{
		mux:    http.NewServeMux(),
		users:  map[string]User{},
		tokens: map[string]Token{},
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, t := range opts.Tokens {
		s.AddToken(t)
	}
	for _, p := range opts.Projects {
		s.AddProject(p)
	}
	s.mux.HandleFunc("GET /api/v4/user", s.user)
	s.mux.HandleFunc("GET /api/v4/personal_access_tokens/self", s.tokenSelf)
	s.mux.HandleFunc("GET /api/v4/projects/{id}", s.project)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
	return s
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Username] = u
}

// AddToken adds or replaces a token.
func (s *Server) AddToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.Value] = t
}

// AddProject adds or replaces (by id) a project.
func (s *Server) AddProject(p Project) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Visibility == "" {
		p.Visibility = "private"
	}
	for i, old := range s.projects {
		if old.ID == p.ID {
			s.projects[i] = p
			return
		}
	}
	s.projects = append(s.projects, p)
}

// ServeHTTP serves faults first, then the fake API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Wrap(s.Faults.Wrap(s.mux)).ServeHTTP(w, r)
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its URL.
func (s *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	return fakehttp.Start(tb, s, middleware...)
}

// Requests is the number of requests the fake received (faults included).
func (s *Server) Requests() int { return s.requests.Count() }

func unauthorized(w http.ResponseWriter) {
	fakehttp.JSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
}

func insufficientScope(w http.ResponseWriter, scopes ...string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="`+strings.Join(scopes, " ")+`"`)
	fakehttp.JSON(w, http.StatusForbidden, map[string]string{
		"error":             "insufficient_scope",
		"error_description": "The request requires higher privileges than provided by the access token.",
		"scope":             strings.Join(scopes, " "),
	})
}

// authenticate reads PRIVATE-TOKEN or a bearer token. No token means
// anonymous (tok nil); an unknown, revoked or expired token is answered 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (tok *Token, user User, ok bool) {
	value := r.Header.Get("PRIVATE-TOKEN")
	if value == "" {
		value, _ = fakehttp.Bearer(r, false)
	}
	if value == "" {
		return nil, User{}, true
	}
	s.mu.Lock()
	t, found := s.tokens[value]
	u, userFound := s.users[t.Username]
	s.mu.Unlock()
	if !found || !userFound || t.Revoked || expired(t) {
		unauthorized(w)
		return nil, User{}, false
	}
	return &t, u, true
}

func expired(t Token) bool {
	return !t.ExpiresAt.IsZero() && !time.Now().UTC().Before(t.ExpiresAt.UTC().Truncate(24*time.Hour))
}

func hasAny(t *Token, scopes ...string) bool {
	for _, sc := range scopes {
		if slices.Contains(t.Scopes, sc) {
			return true
		}
	}
	return false
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	switch {
	case !ok:
		return
	case tok == nil:
		unauthorized(w)
		return
	case !hasAny(tok, "api", "read_api", "read_user"):
		insufficientScope(w, "api", "read_api", "read_user")
		return
	}
	base := fakehttp.BaseURL(r)
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": "active", "locked": false,
		"avatar_url": "https://secure.gravatar.com/avatar/0?s=80&d=identicon",
		"web_url":    base + "/" + u.Username, "created_at": "2020-01-02T03:04:05.000Z",
		"bio": "", "location": "", "public_email": nil, "linkedin": "", "twitter": "",
		"discord": "", "website_url": "", "organization": "", "job_title": "",
		"pronouns": nil, "bot": false, "work_information": nil, "local_time": nil,
		"last_sign_in_at": "2020-01-02T03:04:05.000Z", "confirmed_at": "2020-01-02T03:04:05.000Z",
		"last_activity_on": "2020-01-02", "email": u.Email, "theme_id": 1, "color_scheme_id": 1,
		"projects_limit": 100000, "current_sign_in_at": "2020-01-02T03:04:05.000Z",
		"identities": []any{}, "can_create_group": true, "can_create_project": true,
		"two_factor_enabled": true, "external": false, "private_profile": false,
		"commit_email": u.Email,
	})
}

func (s *Server) tokenSelf(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	switch {
	case !ok:
		return
	case tok == nil:
		unauthorized(w)
		return
	}
	var expires any
	if !tok.ExpiresAt.IsZero() {
		expires = tok.ExpiresAt.UTC().Format("2006-01-02")
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"id": tok.ID, "name": tok.Name, "revoked": tok.Revoked, "created_at": "2020-01-02T03:04:05.000Z",
		"description": "", "scopes": tok.Scopes, "user_id": u.ID, "last_used_at": time.Now().UTC().Format(time.RFC3339),
		"active": !tok.Revoked && !expired(*tok), "expires_at": expires,
	})
}

func (s *Server) project(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if tok != nil && !hasAny(tok, "api", "read_api") {
		insufficientScope(w, "api", "read_api")
		return
	}
	id := r.PathValue("id") // ServeMux unescapes "group%2Fproject"
	s.mu.Lock()
	var (
		p     Project
		found bool
	)
	for _, cand := range s.projects {
		if strconv.FormatInt(cand.ID, 10) == id || strings.EqualFold(cand.Path, id) {
			p, found = cand, true
			break
		}
	}
	s.mu.Unlock()
	level, member := 0, false
	if tok != nil {
		level, member = p.Members[u.Username]
	}
	visible := found && (p.Visibility == "public" || (p.Visibility == "internal" && tok != nil) || member)
	if !visible {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return
	}
	fakehttp.JSON(w, http.StatusOK, projectJSON(fakehttp.BaseURL(r), p, level, member))
}

func projectJSON(base string, p Project, level int, member bool) map[string]any {
	ns, path, _ := cutLast(p.Path, "/")
	web := base + "/" + p.Path
	var projectAccess any
	if member {
		projectAccess = map[string]int{"access_level": level, "notification_level": 3}
	}
	return map[string]any{
		"id": p.ID, "description": "", "name": p.Name, "name_with_namespace": strings.ReplaceAll(ns, "/", " / ") + " / " + p.Name,
		"path": path, "path_with_namespace": p.Path, "created_at": "2020-01-02T03:04:05.000Z",
		"default_branch": "main", "tag_list": []string{}, "topics": []string{},
		"ssh_url_to_repo":  "git@" + strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://") + ":" + p.Path + ".git",
		"http_url_to_repo": web + ".git", "web_url": web, "readme_url": web + "/-/blob/main/README.md",
		"forks_count": 0, "avatar_url": nil, "star_count": 0, "last_activity_at": "2020-01-02T03:04:05.000Z",
		"visibility": p.Visibility, "archived": p.Archived, "empty_repo": false,
		"namespace": map[string]any{
			"id": p.ID + 100, "name": ns, "path": ns, "kind": "group", "full_path": ns,
			"parent_id": nil, "avatar_url": nil, "web_url": base + "/groups/" + ns,
		},
		"_links": map[string]string{
			"self": base + "/api/v4/projects/" + strconv.FormatInt(p.ID, 10), "issues": base + "/api/v4/projects/" + strconv.FormatInt(p.ID, 10) + "/issues",
		},
		"issues_enabled": true, "merge_requests_enabled": true, "wiki_enabled": true,
		"issues_access_level": "enabled", "merge_requests_access_level": "enabled",
		"open_issues_count": 0, "creator_id": 1, "shared_with_groups": []any{},
		"permissions": map[string]any{"project_access": projectAccess, "group_access": nil},
	}
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}
