// Package contextfake is a stand-in context source for the tests of the
// services that read context (knowledge, hubctl), registered in a test's
// trackers.Registry in place of a real system (Jenkins, CircleCI, SonarQube,
// Argo CD) when the test needs a scope's report, delay or status set
// directly rather than through a vendor's shapes. Its Tracker implements trackers.ContextReader over HTTP
// through a real trackers.Session (credential, endpoint policy, capped
// answers, status mapping by the same ctxhttp GET the real sources use), and
// its Server answers on 127.0.0.1 with the reports a test sets, with the
// faults a test asks for (a slow scope, a status code).
//
// It is not a vendor fake: its wire format is trackers.ContextReport as
// JSON, which no vendor serves. The vendor-shaped fakes live beside each
// system's package.
package contextfake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// Tracker is a context source of System (a self-hosted system with bearer
// tokens whose connectors watch names matching [A-Za-z0-9._/-]+).
type Tracker struct{ System connector.System }

var _ trackers.ContextReader = Tracker{}

// Rules declares the system.
func (t Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      t.System,
		Deployments: []connector.Deployment{connector.SelfHosted},
		AuthModes:   map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthBearer}},
		Watch: &connector.KeyRule{
			Required: true, Pattern: regexp.MustCompile(`^[A-Za-z0-9._/-]+$`),
			What: "the scopes to read", Invalid: "is not a scope name",
		},
		RequiredScopes: []string{"read"},
	}
}

// ReadContext reads GET /context/{scope}.
func (t Tracker) ReadContext(ctx context.Context, s *trackers.Session, scope string) (trackers.ContextReport, error) {
	var rep trackers.ContextReport
	err := ctxhttp.Get(ctx, s, ctxhttp.Request{Path: "/context/" + url.PathEscape(scope), What: "scope " + scope}, &rep)
	return rep, err
}

// Server serves reports per scope.
type Server struct {
	URL   string
	Token string // the bearer token it accepts

	mu      sync.Mutex
	reports map[string]trackers.ContextReport
	delays  map[string]time.Duration
	codes   map[string]int
	hits    map[string]int
}

// Start serves on 127.0.0.1 until the test ends.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, reports: map[string]trackers.ContextReport{}, delays: map[string]time.Duration{}, codes: map[string]int{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Set makes scope answer rep.
func (s *Server) Set(scope string, rep trackers.ContextReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep.Scope = scope
	s.reports[scope] = rep
}

// Delay makes scope answer after d (or when the request is cancelled).
func (s *Server) Delay(scope string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[scope] = d
}

// Fail makes scope answer with status code (0 clears it).
func (s *Server) Fail(scope string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[scope] = code
}

// Hits is how many requests scope received.
func (s *Server) Hits(scope string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[scope]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	scope, ok := strings.CutPrefix(r.URL.Path, "/context/")
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.hits[scope]++
	rep, known := s.reports[scope]
	delay, code := s.delays[scope], s.codes[scope]
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	switch {
	case code != 0:
		w.WriteHeader(code)
		return
	case !known:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}
