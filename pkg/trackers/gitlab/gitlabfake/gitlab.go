// Package gitlab is an in-memory fake of the GitLab REST API v4 (gitlab.com
// or self-managed): users, personal access tokens with scopes and expiry,
// projects addressed by numeric id or URL-encoded path, issues with labels,
// assignees and notes, and merge requests.
//
// It serves what connectorhub uses: GET /user, GET
// /personal_access_tokens/self, GET /projects/:id, the project issue list
// (filters, order_by/sort, offset pagination with X-Next-Page/X-Total and a
// Link header, and keyset pagination with a cursor in the Link header unless
// Options.NoKeyset), GET and PUT of one issue (add_labels, remove_labels,
// state_event), issue notes (list, create) and merge requests (list, create).
// Every answer carries RateLimit-* headers; Options.RateLimit enforces the
// limit with 429 and Retry-After. Faults are served in front of it all.
//
// Issue and merge request iids are unique across the whole fake (GitLab's are
// per project), so the inspection helpers take an iid alone.
package gitlabfake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
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
	// DefaultBranch is "main" when empty.
	DefaultBranch string
}

// Options configure the fake.
type Options struct {
	Users    []User
	Tokens   []Token
	Projects []Project
	// Issues are added in order (see AddIssue).
	Issues []Issue
	// MaxPerPage caps per_page, as GitLab caps it at 100 (the default).
	MaxPerPage int
	// NoKeyset serves offset pagination even when pagination=keyset is asked
	// for, as GitLab versions before keyset support for issues do.
	NoKeyset bool
	// RateLimit is the requests allowed per minute per token, enforced with
	// 429 and Retry-After. Zero advertises 2000 in the RateLimit-* headers
	// without enforcing it.
	RateLimit int
}

// Server is a fake GitLab. It is an http.Handler; Start serves it.
type Server struct {
	fakehttp.Base // faults in front of every endpoint, request counter, routes
	opts          Options

	mu       sync.Mutex
	users    map[string]User  // by username
	tokens   map[string]Token // by value
	projects []Project
	issues   []*issueState // in iid order
	// gen moves on every lock that may change a listing (cache.go);
	// lastList and encoded are the listing's caches.
	gen      uint64
	lastList *listResult
	encoded  map[*issueState]encodedIssue
	mrs      []*MergeRequest
	lastIID  int64
	lastNote int64
	log      []Request
	limits   map[string]*window // rate-limit windows by token (or client address)
	// hooks are the project hooks (hooks.go).
	hooks    []*projectHook
	lastHook int64
	sender   fakehttp.HookSender
}

// New returns a fake holding the given users, tokens and projects.
func New(opts Options) *Server {
	if opts.MaxPerPage <= 0 {
		opts.MaxPerPage = 100
	}
	s := &Server{
		opts:   opts,
		users:  map[string]User{},
		tokens: map[string]Token{},
		limits: map[string]*window{},
	}
	s.Init(errorBody)
	s.Inner = s.rateLimited(s.Mux) // RateLimit-* headers and the limit, inside the faults
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, t := range opts.Tokens {
		s.AddToken(t)
	}
	for _, p := range opts.Projects {
		s.AddProject(p)
	}
	for _, is := range opts.Issues {
		s.AddIssue(is)
	}
	s.Mux.HandleFunc("GET /api/v4/user", s.user)
	s.Mux.HandleFunc("GET /api/v4/personal_access_tokens/self", s.tokenSelf)
	s.Mux.HandleFunc("GET /api/v4/projects/{id}", s.project)
	s.Mux.HandleFunc("GET /api/v4/projects/{id}/issues", s.listIssues)
	s.Mux.HandleFunc("GET /api/v4/projects/{id}/issues/{iid}", s.getIssue)
	s.Mux.HandleFunc("PUT /api/v4/projects/{id}/issues/{iid}", s.updateIssue)
	s.Mux.HandleFunc("GET /api/v4/projects/{id}/issues/{iid}/notes", s.listNotes)
	s.Mux.HandleFunc("POST /api/v4/projects/{id}/issues/{iid}/notes", s.notesDelivering(s.createNote))
	s.Mux.HandleFunc("GET /api/v4/projects/{id}/merge_requests", s.listMergeRequests)
	s.Mux.HandleFunc("POST /api/v4/projects/{id}/merge_requests", s.createMergeRequest)
	s.routeHooks()
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
	return s
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.lock()
	defer s.mu.Unlock()
	s.users[u.Username] = u
}

// AddToken adds or replaces a token.
func (s *Server) AddToken(t Token) {
	s.lock()
	defer s.mu.Unlock()
	s.tokens[t.Value] = t
}

// AddProject adds or replaces (by id) a project.
func (s *Server) AddProject(p Project) {
	s.lock()
	defer s.mu.Unlock()
	if p.Visibility == "" {
		p.Visibility = "private"
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	for i, old := range s.projects {
		if old.ID == p.ID {
			s.projects[i] = p
			return
		}
	}
	s.projects = append(s.projects, p)
}

// ServeHTTP records the request (RequestLog), then serves faults first,
// then the rate limit, then the fake API (fakehttp.Base).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	s.Base.ServeHTTP(w, r)
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its
// URL (its own, not Base's: the request log is kept here).
func (s *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	return fakehttp.Start(tb, s, middleware...)
}

// errorBody is GitLab's error answer for a status (FailNext).
func errorBody(status int) string {
	return `{"message":"` + strconv.Itoa(status) + " " + http.StatusText(status) + `"}`
}

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

// access is who is calling and what they may do in the project of the path.
type access struct {
	tok     *Token // nil: anonymous
	user    User
	project Project
	level   int // membership access level; 0 when not a member
}

// projectAccess authenticates the request and resolves the project of the
// path ({id}: numeric id or URL-encoded path). It answers 401, 403
// (insufficient_scope) or 404 itself and then reports !ok. Reads accept
// read_api; writes (write true) need the api scope.
func (s *Server) projectAccess(w http.ResponseWriter, r *http.Request, write bool) (access, bool) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return access{}, false
	}
	switch {
	case tok == nil && write:
		unauthorized(w)
		return access{}, false
	case tok != nil && write && !hasAny(tok, "api"):
		insufficientScope(w, "api")
		return access{}, false
	case tok != nil && !hasAny(tok, "api", "read_api"):
		insufficientScope(w, "api", "read_api")
		return access{}, false
	}
	id := r.PathValue("id") // ServeMux unescapes "group%2Fproject"
	p, found := s.findProject(id)
	level, member := 0, false
	if tok != nil {
		level, member = p.Members[u.Username]
	}
	visible := found && (p.Visibility == "public" || (p.Visibility == "internal" && tok != nil) || member)
	if !visible {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return access{}, false
	}
	return access{tok: tok, user: u, project: p, level: level}, true
}

func (s *Server) findProject(id string) (Project, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cand := range s.projects {
		if strconv.FormatInt(cand.ID, 10) == id || strings.EqualFold(cand.Path, id) {
			return cand, true
		}
	}
	return Project{}, false
}

func forbidden(w http.ResponseWriter) {
	fakehttp.JSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
}

func (s *Server) project(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, false)
	if !ok {
		return
	}
	_, member := a.project.Members[a.user.Username]
	fakehttp.JSON(w, http.StatusOK, projectJSON(fakehttp.BaseURL(r), a.project, a.level, a.tok != nil && member))
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
		"default_branch": p.DefaultBranch, "tag_list": []string{}, "topics": []string{},
		"ssh_url_to_repo":  "git@" + strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://") + ":" + p.Path + ".git",
		"http_url_to_repo": web + ".git", "web_url": web, "readme_url": web + "/-/blob/" + p.DefaultBranch + "/README.md",
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
