package githubfake

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// GitHub Apps: the fake verifies an app's JWT as GitHub does (RS256 with
// the app's public key, iss the app id, iat not in the future and exp at
// most ten minutes after it, not passed), answers GET /app, GET
// /repos/{owner}/{repo}/installation and POST
// /app/installations/{id}/access_tokens, and accepts the installation
// tokens it issued (until they expire or are revoked) on every endpoint, as
// the installation's bot with the installation's repositories and
// permissions, and on GET /installation/repositories.

// App is a registered GitHub App.
type App struct {
	ID        int64
	Slug      string
	PublicKey *rsa.PublicKey
}

// Installation is an app installed on an account, with access to Repos
// ("owner/repo") and Permissions such as {"issues": "write", "metadata": "read"}.
type Installation struct {
	ID          int64
	AppID       int64
	Account     string
	Repos       []string
	Permissions map[string]string
}

// appState is the fake's app data, under Server.mu.
type appState struct {
	apps          map[int64]App
	installations map[int64]Installation
	// tokenTTL is an installation token's lifetime (an hour when zero).
	tokenTTL time.Duration
	minted   int
	jwtSeen  int
}

// AddApp registers an app.
func (s *Server) AddApp(a App) {
	s.lock()
	defer s.mu.Unlock()
	s.apps.apps[a.ID] = a
}

// AddInstallation installs an app.
func (s *Server) AddInstallation(in Installation) {
	s.lock()
	defer s.mu.Unlock()
	s.apps.installations[in.ID] = in
}

// SetInstallationTokenTTL sets the lifetime of the installation tokens
// issued from now on (GitHub: one hour), so tests see them expire.
func (s *Server) SetInstallationTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps.tokenTTL = d
}

// InstallationTokensIssued is how many installation tokens the fake minted.
func (s *Server) InstallationTokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps.minted
}

// InstallationTokens lists the installation tokens issued, in no order (for
// plaintext scans).
func (s *Server) InstallationTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v, t := range s.tokens {
		if t.Installation != 0 {
			out = append(out, v)
		}
	}
	return out
}

// RevokeToken removes a token (a personal access token or an installation
// token): later requests with it are answered 401.
func (s *Server) RevokeToken(value string) {
	s.lock()
	defer s.mu.Unlock()
	delete(s.tokens, value)
}

func (s *Server) routeApps() {
	s.Mux.HandleFunc("GET /app", s.getApp)
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/installation", s.repoInstallation)
	s.Mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.createInstallationToken)
	s.Mux.HandleFunc("GET /installation/repositories", s.installationRepos)
}

func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// authenticateApp verifies the request's app JWT. It answers 401 (as
// GitHub does, with its message) and returns ok false when the JWT is
// missing, not RS256, signed by another key, or outside its time window.
func (s *Server) authenticateApp(w http.ResponseWriter, r *http.Request) (App, bool) {
	setCommonHeaders(w)
	deny := func(msg string) (App, bool) {
		fakehttp.JSON(w, http.StatusUnauthorized, map[string]string{"message": msg, "documentation_url": docs, "status": "401"})
		return App{}, false
	}
	raw, ok := fakehttp.Bearer(r, false)
	if !ok || raw == "" {
		return deny("A JSON web token could not be decoded")
	}
	now := s.now()
	var app App
	claims := jwt.RegisteredClaims{}
	tok, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		iss, err := t.Claims.GetIssuer()
		if err != nil {
			return nil, err
		}
		id, err := strconv.ParseInt(iss, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("iss %q is not an app id", iss)
		}
		s.mu.Lock()
		a, found := s.apps.apps[id]
		s.mu.Unlock()
		if !found {
			return nil, fmt.Errorf("no app %d", id)
		}
		app = a
		return a.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired(), jwt.WithLeeway(0))
	if err != nil || !tok.Valid {
		return deny("A JSON web token could not be decoded")
	}
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute {
		return deny("'Expiration time' claim ('exp') is too far in the future")
	}
	s.mu.Lock()
	s.apps.jwtSeen++
	s.mu.Unlock()
	return app, true
}

// JWTsVerified is how many app JWTs the fake accepted.
func (s *Server) JWTsVerified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps.jwtSeen
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	app, ok := s.authenticateApp(w, r)
	if !ok {
		return
	}
	fakehttp.JSON(w, http.StatusOK, appJSON(fakehttp.BaseURL(r), app))
}

func appJSON(api string, a App) map[string]any {
	return map[string]any{
		"id": a.ID, "slug": a.Slug, "node_id": fmt.Sprintf("A_%d", a.ID), "name": a.Slug,
		"owner": simpleUserJSON(api, "acme", 9000+a.ID), "description": nil,
		"external_url": "https://example.com", "html_url": "https://github.com/apps/" + a.Slug,
		"created_at": created, "updated_at": created,
		"permissions": map[string]string{"issues": "write", "metadata": "read", "pull_requests": "write"},
		"events":      []string{},
	}
}

func (s *Server) repoInstallation(w http.ResponseWriter, r *http.Request) {
	app, ok := s.authenticateApp(w, r)
	if !ok {
		return
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	s.mu.Lock()
	var found *Installation
	for _, in := range s.apps.installations {
		if in.AppID == app.ID && slices.ContainsFunc(in.Repos, func(x string) bool { return strings.EqualFold(x, full) }) {
			found = &in
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		notFound(w)
		return
	}
	fakehttp.JSON(w, http.StatusOK, installationJSON(fakehttp.BaseURL(r), *found))
}

func installationJSON(api string, in Installation) map[string]any {
	return map[string]any{
		"id": in.ID, "app_id": in.AppID, "app_slug": "app", "target_id": in.ID + 1, "target_type": "Organization",
		"account":              simpleUserJSON(api, in.Account, in.ID+2),
		"repository_selection": "selected",
		"access_tokens_url":    fmt.Sprintf("%s/app/installations/%d/access_tokens", api, in.ID),
		"repositories_url":     api + "/installation/repositories",
		"html_url":             fmt.Sprintf("https://github.com/organizations/%s/settings/installations/%d", in.Account, in.ID),
		"permissions":          in.Permissions, "events": []string{},
		"created_at": created, "updated_at": created,
		"single_file_name": nil, "suspended_by": nil, "suspended_at": nil, "has_multiple_single_files": false, "single_file_paths": []string{},
	}
}

func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	app, ok := s.authenticateApp(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.lock()
	in, found := s.apps.installations[id]
	if !found || in.AppID != app.ID {
		s.mu.Unlock()
		notFound(w)
		return
	}
	ttl := s.apps.tokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	var b [20]byte
	_, _ = rand.Read(b[:])
	value := "ghs_" + hex.EncodeToString(b[:])
	bot := app.Slug + "[bot]"
	expires := s.now().Add(ttl).Truncate(time.Second)
	s.tokens[value] = Token{Value: value, Login: bot, FineGrained: true, Repos: slices.Clone(in.Repos), ExpiresAt: expires, Installation: in.ID}
	if _, ok := s.users[bot]; !ok {
		s.users[bot] = User{ID: 7000 + app.ID, Login: bot}
	}
	// The bot's role on each repository follows the installation's permissions.
	role := Read
	if in.Permissions["issues"] == "write" || in.Permissions["pull_requests"] == "write" {
		role = Write
	}
	for _, full := range in.Repos {
		if st, ok := s.repos[strings.ToLower(full)]; ok {
			if st.repo.Collaborators == nil {
				st.repo.Collaborators = map[string]Role{}
			}
			st.repo.Collaborators[bot] = role
		}
	}
	s.apps.minted++
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusCreated, map[string]any{
		"token": value, "expires_at": expires.UTC().Format(time.RFC3339),
		"permissions": in.Permissions, "repository_selection": "selected",
	})
}

func (s *Server) installationRepos(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if tok == nil || tok.Installation == 0 {
		fakehttp.JSON(w, http.StatusForbidden, map[string]string{"message": "You must authenticate with an installation access token in order to list repositories for an installation.", "documentation_url": docs, "status": "403"})
		return
	}
	api := fakehttp.BaseURL(r)
	s.mu.Lock()
	var repos []map[string]any
	for _, full := range tok.Repos {
		if st, ok := s.repos[strings.ToLower(full)]; ok {
			role, _ := access(tok, u, st.repo)
			repos = append(repos, repoJSON(api, st.repo, role, true))
		}
	}
	s.mu.Unlock()
	if repos == nil {
		repos = []map[string]any{}
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"total_count": len(repos), "repository_selection": "selected", "repositories": repos})
}
