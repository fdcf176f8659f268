// Package atlassianfake is a fake of Atlassian's OAuth 2.0 (3LO)
// authorization server and API gateway, behind the paths of
// auth.atlassian.com and api.atlassian.com on one loopback server:
//
//	GET  /authorize                          consent (granted at once for Options.Consent) → redirect with code and state
//	POST /oauth/token                        authorization_code and refresh_token grants; refresh tokens rotate:
//	                                         each is usable once, then answers invalid_grant
//	GET  /oauth/token/accessible-resources   the sites the access token's grant covers
//	ANY  /ex/jira/{cloudId}/…                the site's Jira fake, as the token's user
//	ANY  /ex/confluence/{cloudId}/…          the site's Confluence fake, as the token's user
//
// The shapes follow Atlassian's OAuth 2.0 (3LO) documentation; the vendor
// specs in ../shared/specs hold no shape for these endpoints (the product
// specs only name authorizationUrl and tokenUrl).
package atlassianfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// App is a registered OAuth 2.0 integration.
type App struct {
	ClientID, ClientSecret string
}

// Site is a cloud site (one cloudId) and the product fakes behind it.
type Site struct {
	ID   string // cloudId
	Name string
	URL  string // https://acme.atlassian.net as the connector's base URL names it
	// Jira and Confluence serve /ex/jira/{ID}/… and /ex/confluence/{ID}/…
	// with the prefix removed; nil: that product is not on the site.
	Jira, Confluence http.Handler
}

// Options configure the fake.
type Options struct {
	Apps  []App
	Sites []Site
	// Consent is the email of the user who consents at /authorize.
	Consent string
	// AccessTTL is an access token's lifetime (expires_in); 1 h when zero.
	AccessTTL time.Duration
	Now       func() time.Time
}

type grant struct {
	clientID string
	email    string
	scopes   string
	revoked  bool
}

type access struct {
	g      *grant
	expiry time.Time
}

// Server is the fake. It is an http.Handler; Start serves it.
type Server struct {
	// Faults are served in front of every endpoint (429 with RateLimit-Reason, 5xx).
	Faults faults.Injector

	opts Options
	mux  *http.ServeMux

	mu        sync.Mutex
	codes     map[string]*grant // authorization code → grant (single use)
	refresh   map[string]*grant // live refresh tokens
	used      map[string]bool   // refresh tokens already used (rotated away)
	accesses  map[string]access
	refreshes int
	calls     []string
	issued    []string // every token and code handed out (for plaintext scans)
}

// New returns a fake with the given apps and sites.
func New(opts Options) *Server {
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), codes: map[string]*grant{}, refresh: map[string]*grant{},
		used: map[string]bool{}, accesses: map[string]access{}}
	s.mux.HandleFunc("GET /authorize", s.authorize)
	s.mux.HandleFunc("POST /oauth/token", s.token)
	s.mux.HandleFunc("GET /oauth/token/accessible-resources", s.resources)
	s.mux.HandleFunc("/ex/{product}/{cloudId}/{rest...}", s.gateway)
	return s
}

// ServeHTTP serves faults first, then the fake.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	s.Faults.Wrap(s.mux).ServeHTTP(w, r)
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its URL.
func (s *Server) Start(tb testing.TB) string { return fakehttp.Start(tb, s) }

// Calls lists the requests received so far as "METHOD /path".
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Refreshes counts refresh_token grants answered with a token.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// Grant creates a grant for email as if consent had been given, and returns
// its refresh token (the "pasted" refresh token of a test).
func (s *Server) Grant(clientID, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := newToken("rt")
	s.issued = append(s.issued, rt)
	s.refresh[rt] = &grant{clientID: clientID, email: email, scopes: "read:jira-work write:jira-work offline_access"}
	return rt
}

// RevokeAll revokes every grant (the user removed the app's access): its
// refresh and access tokens stop working.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refresh {
		g.revoked = true
	}
	for _, a := range s.accesses {
		a.g.revoked = true
	}
}

// Issued lists every authorization code, access token and refresh token the
// fake has handed out, live or not.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// ExpireAccessTokens makes every access token expired now.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.accesses {
		a.expiry = s.opts.Now().Add(-time.Second)
		s.accesses[k] = a
	}
}

// LiveRefreshTokens are the refresh tokens that would be accepted now
// (tests compare them with what the connector record holds).
func (s *Server) LiveRefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for rt, g := range s.refresh {
		if !g.revoked {
			out = append(out, rt)
		}
	}
	return out
}

// RateLimitNext answers the next matching request with 429, the
// points-based headers and reason (e.g. "jira-quota-tenant-based").
func (s *Server) RateLimitNext(retryAfter time.Duration, reason string) {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	h.Set("RateLimit-Reason", reason)
	h.Set("X-RateLimit-Limit", "65000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", s.opts.Now().Add(retryAfter).UTC().Format(time.RFC3339))
	s.Faults.Add(faults.Fault{Match: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/ex/") },
		Status: http.StatusTooManyRequests, Header: h, Body: `{"errorMessages":["Rate limit exceeded."],"errors":{}}`})
}

func newToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func (s *Server) app(id, secret string) bool {
	for _, a := range s.opts.Apps {
		if a.ClientID == id && (secret == "\x00any" || a.ClientSecret == secret) {
			return true
		}
	}
	return false
}

// authorize grants consent at once and redirects to the client.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("audience") != "api.atlassian.com":
		fakehttp.Text(w, http.StatusBadRequest, "audience must be api.atlassian.com")
		return
	case q.Get("response_type") != "code":
		fakehttp.Text(w, http.StatusBadRequest, "response_type must be code")
		return
	case !s.app(q.Get("client_id"), "\x00any"):
		fakehttp.Text(w, http.StatusBadRequest, "unknown client_id")
		return
	case err != nil || redirect.Host == "":
		fakehttp.Text(w, http.StatusBadRequest, "redirect_uri is required")
		return
	case q.Get("state") == "":
		fakehttp.Text(w, http.StatusBadRequest, "state is required")
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " offline_access "):
		fakehttp.Text(w, http.StatusBadRequest, "scope must include offline_access for a refresh token")
		return
	}
	code := newToken("code")
	s.mu.Lock()
	s.issued = append(s.issued, code)
	s.codes[code] = &grant{clientID: q.Get("client_id"), email: s.opts.Consent, scopes: q.Get("scope")}
	s.mu.Unlock()
	rq := redirect.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, code int, kind, desc string) {
	fakehttp.JSON(w, code, map[string]string{"error": kind, "error_description": desc})
}

// token serves the authorization_code and refresh_token grants (JSON or
// form bodies, as Atlassian accepts both).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "malformed body")
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "malformed body")
			return
		}
		for k := range r.PostForm {
			p[k] = r.PostForm.Get(k)
		}
	}
	if !s.app(p["client_id"], p["client_secret"]) {
		tokenError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *grant
	switch p["grant_type"] {
	case "authorization_code":
		g = s.codes[p["code"]]
		delete(s.codes, p["code"])
		if g == nil || g.clientID != p["client_id"] {
			tokenError(w, http.StatusForbidden, "invalid_grant", "Invalid authorization code")
			return
		}
	case "refresh_token":
		rt := p["refresh_token"]
		g = s.refresh[rt]
		if g == nil || g.revoked || g.clientID != p["client_id"] {
			tokenError(w, http.StatusForbidden, "invalid_grant", "Unknown or invalid refresh token.")
			return
		}
		// Rotation: the used token is retired at once (no reuse interval).
		delete(s.refresh, rt)
		s.used[rt] = true
		s.refreshes++
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type")
		return
	}
	at, rt := newToken("at"), newToken("rt")
	s.issued = append(s.issued, at, rt)
	s.accesses[at] = access{g: g, expiry: s.opts.Now().Add(s.opts.AccessTTL)}
	s.refresh[rt] = g
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"access_token": at, "refresh_token": rt, "expires_in": int(s.opts.AccessTTL / time.Second),
		"token_type": "Bearer", "scope": g.scopes,
	})
}

// user is the grant behind a valid bearer access token.
func (s *Server) user(r *http.Request) (*grant, bool) {
	tok, ok := fakehttp.Bearer(r, false)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accesses[tok]
	if !ok || a.g.revoked || !s.opts.Now().Before(a.expiry) {
		return nil, false
	}
	return a.g, true
}

func gatewayUnauthorized(w http.ResponseWriter) {
	fakehttp.JSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.user(r); !ok {
		gatewayUnauthorized(w)
		return
	}
	out := []map[string]any{}
	for _, site := range s.opts.Sites {
		out = append(out, map[string]any{"id": site.ID, "name": site.Name, "url": site.URL,
			"scopes": []string{"read:jira-work", "write:jira-work"}, "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"})
	}
	fakehttp.JSON(w, http.StatusOK, out)
}

// gateway forwards /ex/{product}/{cloudId}/… to the site's product fake as
// the token's user.
func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	g, ok := s.user(r)
	if !ok {
		gatewayUnauthorized(w)
		return
	}
	var h http.Handler
	for _, site := range s.opts.Sites {
		if site.ID == r.PathValue("cloudId") {
			switch r.PathValue("product") {
			case "jira":
				h = site.Jira
			case "confluence":
				h = site.Confluence
			}
		}
	}
	if h == nil {
		fakehttp.JSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not Found"})
		return
	}
	r2 := fakehttp.WithGatewayUser(r, g.email)
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = "/" + r.PathValue("rest")
	r2.URL.RawPath = ""
	r2.Header = r.Header.Clone()
	r2.Header.Del("Authorization")
	h.ServeHTTP(w, r2)
}
