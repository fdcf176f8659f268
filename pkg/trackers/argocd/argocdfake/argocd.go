// Package argocdfake is an in-memory fake of the Argo CD API parts
// connectorhub reads: GET /api/v1/session/userinfo and GET
// /api/v1/applications/{name} (metadata, health, sync status, the last
// operation and the deploy history), with bearer tokens whose RBAC may be
// limited to some applications. Faults (401, 403, 404, 429, 500, slow,
// malformed) are served in front of it.
package argocdfake

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Token is an auth token. Apps lists the applications its RBAC lets it get;
// nil means every application.
type Token struct {
	Value, Username string
	Apps            []string
}

// App is an application's state.
type App struct {
	Name          string
	Health        string // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
	HealthMessage string
	Sync          string // Synced, OutOfSync, Unknown
	Revision      string // last synced revision
	SyncedAt      time.Time
	// Phase is the last operation's phase ("Succeeded" when empty).
	Phase, OperationMessage string
}

// Options seed the fake.
type Options struct {
	Tokens []Token
	Apps   []App
}

// Server is the fake.
type Server struct {
	fakehttp.Base // faults, request counter, routes

	mu     sync.Mutex
	tokens []Token
	apps   map[string]App
}

// New returns a fake seeded with opts.
func New(opts Options) *Server {
	s := &Server{tokens: slices.Clone(opts.Tokens), apps: map[string]App{}}
	s.Init(errorBody)
	for _, a := range opts.Apps {
		s.apps[a.Name] = a
	}
	s.Mux.HandleFunc("GET /api/v1/session/userinfo", s.userinfo)
	s.Mux.HandleFunc("GET /api/v1/applications/{name}", s.app)
	return s
}

// SetApp adds or replaces an application (the seeding API).
func (s *Server) SetApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[a.Name] = a
}

// AddToken adds an auth token.
func (s *Server) AddToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, t)
}

// errorBody is Argo CD's error body for status (FailNext).
func errorBody(status int) string {
	return `{"error":"` + http.StatusText(status) + `","code":2,"message":"` + http.StatusText(status) + `"}`
}

func rpcError(w http.ResponseWriter, status, code int, msg string) {
	fakehttp.JSON(w, status, map[string]any{"error": msg, "code": code, "message": msg})
}

func (s *Server) token(r *http.Request) (Token, bool) {
	v, ok := fakehttp.Bearer(r, false)
	if !ok {
		return Token{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Value == v {
			return t, true
		}
	}
	return Token{}, false
}

// userinfo answers loggedIn false without a valid token, as Argo CD does.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(r)
	if !ok {
		fakehttp.JSON(w, http.StatusOK, map[string]any{"loggedIn": false})
		return
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"loggedIn": true, "username": t.Username, "iss": "argocd"})
}

func (s *Server) app(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(r)
	if !ok {
		rpcError(w, http.StatusUnauthorized, 16, "invalid session: token signature is invalid")
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	a, found := s.apps[name]
	s.mu.Unlock()
	switch {
	case t.Apps != nil && !slices.Contains(t.Apps, name):
		// Argo CD does not say whether an application exists to an account
		// that may not get it.
		rpcError(w, http.StatusForbidden, 7, "permission denied")
		return
	case !found:
		rpcError(w, http.StatusNotFound, 5, `applications.argoproj.io "`+name+`" not found`)
		return
	}
	fakehttp.JSON(w, http.StatusOK, appJSON(a))
}

func appJSON(a App) map[string]any {
	phase := a.Phase
	if phase == "" {
		phase = "Succeeded"
	}
	synced := a.SyncedAt.UTC().Format(time.RFC3339)
	health := map[string]any{"status": a.Health}
	if a.HealthMessage != "" {
		health["message"] = a.HealthMessage
	}
	op := map[string]any{
		"phase": phase, "message": a.OperationMessage, "startedAt": a.SyncedAt.Add(-30 * time.Second).UTC().Format(time.RFC3339),
		"operation":  map[string]any{"sync": map[string]any{"revision": a.Revision}},
		"syncResult": map[string]any{"revision": a.Revision},
	}
	if phase != "Running" {
		op["finishedAt"] = synced
	}
	return map[string]any{
		"metadata": map[string]any{"name": a.Name, "namespace": "argocd", "uid": "00000000-0000-4000-8000-" + pad12(a.Name), "resourceVersion": "1"},
		"spec": map[string]any{
			"project":     "default",
			"source":      map[string]any{"repoURL": "https://github.com/acme/" + a.Name + ".git", "path": "deploy", "targetRevision": "HEAD"},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": a.Name},
		},
		"status": map[string]any{
			"health":         health,
			"sync":           map[string]any{"status": a.Sync, "revision": a.Revision, "comparedTo": map[string]any{"source": map[string]any{"repoURL": "https://github.com/acme/" + a.Name + ".git"}, "destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": a.Name}}},
			"operationState": op,
			"history":        []any{map[string]any{"id": 1, "revision": a.Revision, "deployedAt": synced, "deployStartedAt": a.SyncedAt.Add(-30 * time.Second).UTC().Format(time.RFC3339)}},
			"reconciledAt":   synced,
			"sourceType":     "Directory",
		},
	}
}

func pad12(s string) string {
	b := []byte("000000000000")
	for i := 0; i < len(s) && i < 12; i++ {
		b[i] = "0123456789abcdef"[s[i]%16]
	}
	return string(b)
}
