// Package github is an in-memory fake of the GitHub REST API, served both at
// the root (api.github.com style) and under /api/v3 (Enterprise Server style).
//
// Tokens are classic (scopes listed in X-OAuth-Scopes) or fine-grained (no
// such header); an expiring token sends github-authentication-token-expiration.
//
// It serves what connectorhub uses: the authenticated user, repositories,
// issues (pull requests appear in the issues list, as on GitHub), labels,
// comments and pull requests. Every GET answer carries a strong ETag over its
// body and answers If-None-Match with 304 and no body; every answer carries
// X-RateLimit-* headers, and a 304 costs no rate limit while everything else
// costs one point (see RateLimitUsed). Lists paginate with a Link header.
// Faults (SecondaryRateLimit, PrimaryRateLimit, or anything else) are served
// in front of it all.
package githubfake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// User is a GitHub account.
type User struct {
	ID    int64
	Login string
	Name  string
	Email string
}

// Token is a personal access token of a user.
type Token struct {
	Value string
	Login string
	// FineGrained tokens send no X-OAuth-Scopes header; Repos lists the
	// "owner/repo" they were granted (empty: all the user's repositories).
	FineGrained bool
	Repos       []string
	// Scopes of a classic token, e.g. "repo", "read:org".
	Scopes []string
	// ExpiresAt, when set, is sent in github-authentication-token-expiration
	// (not for installation tokens); the token is refused after it.
	ExpiresAt time.Time
	// Installation is the installation an installation token was issued
	// for (apps.go); its rate limit is the installation's.
	Installation int64
}

// Role is a collaborator's permission on a repository.
type Role string

// Roles, weakest first.
const (
	Read     Role = "pull"
	Triage   Role = "triage"
	Write    Role = "push"
	Maintain Role = "maintain"
	Admin    Role = "admin"
)

var roleOrder = []Role{Read, Triage, Write, Maintain, Admin}

// Repo is a repository.
type Repo struct {
	ID            int64
	Owner         string
	Name          string
	Private       bool
	Archived      bool
	Collaborators map[string]Role // by login
	// DefaultBranch is "main" when empty.
	DefaultBranch string
}

// FullName is "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// Options configure the fake.
type Options struct {
	Users  []User
	Tokens []Token
	Repos  []Repo
	// MaxPerPage caps per_page on lists (GitHub: 100), so tests can make
	// listings span pages; 100 when zero.
	MaxPerPage int
	// RateLimit is each caller's primary rate limit per hour (5000 when
	// zero). When a caller has used it up, requests are answered 403 with
	// X-RateLimit-Remaining: 0 until the window resets.
	RateLimit int
	// Apps and Installations: GitHub Apps and where they are installed (apps.go).
	Apps          []App
	Installations []Installation
	// InstallationTokenTTL is an installation token's lifetime (an hour when zero).
	InstallationTokenTTL time.Duration
	// Now is the fake's clock for app JWTs and token expiry (time.Now when nil).
	Now func() time.Time
}

// Server is a fake GitHub. It is an http.Handler; Start serves it.
type Server struct {
	fakehttp.Base // faults in front of every endpoint, request counter, routes
	maxPerPage    int

	mu        sync.Mutex
	users     map[string]User       // by login
	tokens    map[string]Token      // by value
	repos     map[string]*repoState // by lower-case full name
	nextID    int64                 // ids of issues, comments and labels
	rate      rateLimits
	mutations []time.Time
	// gen moves on every lock that may change a listing (cache.go);
	// lastList and encoded are the listing's caches.
	gen      uint64
	lastList *listResult
	encoded  map[*Issue]encodedIssue
	apps     appState
	clock    func() time.Time
	// hooks are the repository webhooks, by lower-case full name (hooks.go).
	hooks  map[string][]*repoHook
	sender fakehttp.HookSender
}

// New returns a fake holding the given users, tokens and repositories.
func New(opts Options) *Server {
	s := &Server{
		maxPerPage: opts.MaxPerPage,
		users:      map[string]User{},
		tokens:     map[string]Token{},
		repos:      map[string]*repoState{},
		hooks:      map[string][]*repoHook{},
		nextID:     1000,
		rate:       newRateLimits(opts.RateLimit),
		apps:       appState{apps: map[int64]App{}, installations: map[int64]Installation{}, tokenTTL: opts.InstallationTokenTTL},
		clock:      opts.Now,
	}
	s.Init(nil)
	s.Inner = s.conditional(s.Mux) // ETags and rate limits, inside the faults
	if s.maxPerPage <= 0 {
		s.maxPerPage = 100
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, t := range opts.Tokens {
		s.AddToken(t)
	}
	for _, r := range opts.Repos {
		s.AddRepo(r)
	}
	for _, a := range opts.Apps {
		s.AddApp(a)
	}
	for _, in := range opts.Installations {
		s.AddInstallation(in)
	}
	s.Mux.HandleFunc("GET /user", s.user)
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}", s.repo)
	s.routeIssues()
	s.routeApps()
	s.routeHooks()
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		notFound(w)
	})
	return s
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.lock()
	defer s.mu.Unlock()
	s.users[u.Login] = u
}

// AddToken adds or replaces a token.
func (s *Server) AddToken(t Token) {
	s.lock()
	defer s.mu.Unlock()
	s.tokens[t.Value] = t
}

// AddRepo adds a repository, or replaces its settings and keeps its issues.
func (s *Server) AddRepo(r Repo) {
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	s.lock()
	defer s.mu.Unlock()
	key := strings.ToLower(r.FullName())
	if st, ok := s.repos[key]; ok {
		st.repo = r
		return
	}
	s.repos[key] = newRepoState(r)
}

// ServeHTTP serves faults first, then the fake API (with its ETag and rate
// limit handling). Enterprise Server's /api/v3 prefix is accepted and stripped.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/v3/") {
		http.StripPrefix("/api/v3", &s.Base).ServeHTTP(w, r)
		return
	}
	s.Base.ServeHTTP(w, r)
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its URL
// (its own ServeHTTP: Enterprise Server's prefix is stripped first).
func (s *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	return fakehttp.Start(tb, s, middleware...)
}

const docs = "https://docs.github.com/rest"

func notFound(w http.ResponseWriter) {
	fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": docs, "status": "404"})
}

// authenticate resolves the token of a request. A request without one is
// anonymous (tok nil); a wrong token is answered 401 and ok is false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (tok *Token, user User, ok bool) {
	setCommonHeaders(w)
	if r.Header.Get("Authorization") == "" {
		return nil, User{}, true
	}
	value, _ := fakehttp.Bearer(r, true)
	s.mu.Lock()
	t, found := s.tokens[value]
	u, userFound := s.users[t.Login]
	s.mu.Unlock()
	if !found || !userFound || value == "" || (!t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt)) {
		fakehttp.JSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": docs, "status": "401"})
		return nil, User{}, false
	}
	if !t.FineGrained {
		w.Header().Set("X-OAuth-Scopes", strings.Join(t.Scopes, ", "))
	}
	if !t.ExpiresAt.IsZero() && t.Installation == 0 {
		w.Header().Set("github-authentication-token-expiration", t.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	return &t, u, true
}

// setCommonHeaders sets the media-type headers; conditional adds the
// rate-limit headers once the answer is known.
func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if tok == nil {
		fakehttp.JSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication", "documentation_url": docs + "/users/users#get-the-authenticated-user", "status": "401"})
		return
	}
	w.Header().Set("X-Accepted-OAuth-Scopes", "")
	fakehttp.JSON(w, http.StatusOK, privateUserJSON(fakehttp.BaseURL(r), u))
}

func (s *Server) repo(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Accepted-OAuth-Scopes", "repo")
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	s.mu.Lock()
	st, found := s.repos[strings.ToLower(full)]
	var repo Repo
	if found {
		repo = st.repo
	}
	s.mu.Unlock()
	if !found {
		notFound(w)
		return
	}
	role, visible := access(tok, u, repo)
	if !visible {
		notFound(w) // GitHub hides private repositories behind 404
		return
	}
	fakehttp.JSON(w, http.StatusOK, repoJSON(fakehttp.BaseURL(r), repo, role, tok != nil))
}

// access returns the caller's role on a repository and whether it can see it.
func access(tok *Token, u User, repo Repo) (Role, bool) {
	if tok == nil {
		return Read, !repo.Private
	}
	if tok.FineGrained && len(tok.Repos) > 0 && !slices.ContainsFunc(tok.Repos, func(s string) bool { return strings.EqualFold(s, repo.FullName()) }) {
		return Read, !repo.Private
	}
	role, member := repo.Collaborators[u.Login]
	if strings.EqualFold(repo.Owner, u.Login) {
		role, member = Admin, true
	}
	if repo.Private {
		// A classic token needs the repo scope to see private repositories.
		if !member || (!tok.FineGrained && !slices.Contains(tok.Scopes, "repo")) {
			return "", false
		}
	}
	if !member {
		role = Read
	}
	return role, true
}

func atLeast(role, min Role) bool {
	return slices.Index(roleOrder, role) >= slices.Index(roleOrder, min)
}

func simpleUserJSON(api string, login string, id int64) map[string]any {
	u := api + "/users/" + login
	return map[string]any{
		"login":               login,
		"id":                  id,
		"node_id":             fmt.Sprintf("U_%d", id),
		"avatar_url":          fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id),
		"gravatar_id":         "",
		"url":                 u,
		"html_url":            "https://github.com/" + login,
		"followers_url":       u + "/followers",
		"following_url":       u + "/following{/other_user}",
		"gists_url":           u + "/gists{/gist_id}",
		"starred_url":         u + "/starred{/owner}{/repo}",
		"subscriptions_url":   u + "/subscriptions",
		"organizations_url":   u + "/orgs",
		"repos_url":           u + "/repos",
		"events_url":          u + "/events{/privacy}",
		"received_events_url": u + "/received_events",
		"type":                "User",
		"site_admin":          false,
	}
}

const created = "2020-01-02T03:04:05Z"

func privateUserJSON(api string, u User) map[string]any {
	m := simpleUserJSON(api, u.Login, u.ID)
	var email any
	if u.Email != "" {
		email = u.Email
	}
	for k, v := range map[string]any{
		"name": u.Name, "company": nil, "blog": "", "location": nil, "email": email,
		"hireable": nil, "bio": nil, "twitter_username": nil,
		"public_repos": 1, "public_gists": 0, "followers": 0, "following": 0,
		"created_at": created, "updated_at": created,
		"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
		"disk_usage": 0, "collaborators": 0, "two_factor_authentication": true,
		"plan": map[string]any{"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0},
	} {
		m[k] = v
	}
	return m
}

func repoJSON(api string, r Repo, role Role, withPermissions bool) map[string]any {
	full := r.FullName()
	u := api + "/repos/" + full
	html := "https://github.com/" + full
	visibility := "public"
	if r.Private {
		visibility = "private"
	}
	m := map[string]any{
		"id": r.ID, "node_id": fmt.Sprintf("R_%d", r.ID), "name": r.Name, "full_name": full,
		"owner": simpleUserJSON(api, r.Owner, r.ID+1000), "private": r.Private,
		"html_url": html, "description": nil, "fork": false, "url": u,
		"archive_url": u + "/{archive_format}{/ref}", "assignees_url": u + "/assignees{/user}",
		"blobs_url": u + "/git/blobs{/sha}", "branches_url": u + "/branches{/branch}",
		"collaborators_url": u + "/collaborators{/collaborator}", "comments_url": u + "/comments{/number}",
		"commits_url": u + "/commits{/sha}", "compare_url": u + "/compare/{base}...{head}",
		"contents_url": u + "/contents/{+path}", "contributors_url": u + "/contributors",
		"deployments_url": u + "/deployments", "downloads_url": u + "/downloads", "events_url": u + "/events",
		"forks_url": u + "/forks", "git_commits_url": u + "/git/commits{/sha}", "git_refs_url": u + "/git/refs{/sha}",
		"git_tags_url": u + "/git/tags{/sha}", "git_url": "git://github.com/" + full + ".git",
		"issue_comment_url": u + "/issues/comments{/number}", "issue_events_url": u + "/issues/events{/number}",
		"issues_url": u + "/issues{/number}", "keys_url": u + "/keys{/key_id}", "labels_url": u + "/labels{/name}",
		"languages_url": u + "/languages", "merges_url": u + "/merges", "milestones_url": u + "/milestones{/number}",
		"notifications_url": u + "/notifications{?since,all,participating}", "pulls_url": u + "/pulls{/number}",
		"releases_url": u + "/releases{/id}", "ssh_url": "git@github.com:" + full + ".git",
		"stargazers_url": u + "/stargazers", "statuses_url": u + "/statuses/{sha}",
		"subscribers_url": u + "/subscribers", "subscription_url": u + "/subscription", "tags_url": u + "/tags",
		"teams_url": u + "/teams", "trees_url": u + "/git/trees{/sha}", "clone_url": html + ".git",
		"mirror_url": nil, "hooks_url": u + "/hooks", "svn_url": html, "homepage": nil, "language": "Go",
		"forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "size": 1, "default_branch": r.DefaultBranch,
		"open_issues_count": 0, "is_template": false, "topics": []string{}, "has_issues": true,
		"has_projects": true, "has_wiki": true, "has_pages": false, "has_downloads": true,
		"has_discussions": false, "archived": r.Archived, "disabled": false, "visibility": visibility,
		"pushed_at": created, "created_at": created, "updated_at": created,
		"allow_forking": true, "subscribers_count": 0, "network_count": 0, "license": nil,
		"forks": 0, "open_issues": 0, "watchers": 0,
	}
	if withPermissions {
		m["permissions"] = map[string]bool{
			"admin":    atLeast(role, Admin),
			"maintain": atLeast(role, Maintain),
			"push":     atLeast(role, Write),
			"triage":   atLeast(role, Triage),
			"pull":     true,
		}
	}
	return m
}
