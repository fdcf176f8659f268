// Package ctxhttp is the one GET the four context sources (Jenkins,
// CircleCI, SonarQube, Argo CD) make: the session's request with its
// credential, the capped answer (trackers.Session.Exchange), and the status
// mapped once onto the trackers' sentinel errors. Each source calls a few
// read-only JSON endpoints, so a vendor client library would bring far more
// than it saves (go-jenkins, the Argo CD Go module with its Kubernetes
// dependency tree; SonarQube and CircleCI have no maintained Go client).
package ctxhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Errors beside the trackers' sentinels, for the connection test's hints.
var (
	// ErrNotFound is a 404; it also wraps trackers.ErrTicketNotFound (the
	// ContextReader contract's "unknown scope").
	ErrNotFound = errors.New("not found")
	// ErrForbidden is a 403; it also wraps trackers.ErrUnauthorized.
	ErrForbidden = errors.New("access forbidden")
)

// DefaultRetryAfter applies when a 429 names no wait.
const DefaultRetryAfter = time.Minute

// Request describes one GET.
type Request struct {
	Path  string
	Query url.Values
	// Auth, when set, runs after the session set its credential: a system
	// with its own scheme (CircleCI's Circle-Token header) replaces it.
	Auth func(req *http.Request)
	// Messages reads the vendor's error body; nil reads none.
	Messages func(raw []byte) []string
	// What names the call in errors ("job build-app").
	What string
}

// Get sends r and decodes a 2xx JSON answer into out. Errors: 401 →
// trackers.ErrUnauthorized; 403 → ErrForbidden and trackers.ErrUnauthorized;
// 404 → ErrNotFound and trackers.ErrTicketNotFound; 429 →
// *trackers.RateLimitError; 5xx, 408, 409 → trackers.ErrTransient; other
// 4xx → trackers.ErrRejected; a body that does not parse →
// trackers.ErrMalformedResponse.
func Get(ctx context.Context, s *trackers.Session, r Request, out any) error {
	req, err := s.NewRequest(ctx, http.MethodGet, r.Path, r.Query, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", r.What, err)
	}
	req.Header.Set("Accept", "application/json")
	if r.Auth != nil {
		r.Auth(req)
	}
	resp, raw, err := s.Exchange(ctx, req, r.What)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var msgs []string
		if r.Messages != nil {
			msgs = r.Messages(raw)
		}
		return StatusError(resp.StatusCode, resp.Header, msgs, r.What)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, r.What, trackerhttp.Innermost(err, nil))
	}
	return nil
}

// StatusError maps a non-2xx answer (see Get).
func StatusError(code int, h http.Header, msgs []string, what string) error {
	se := &trackerhttp.StatusError{Code: code, Header: h, Messages: msgs}
	desc := trackerhttp.DescribeStatus(code, h, what)
	if len(msgs) > 0 && code != http.StatusUnauthorized {
		desc += ": " + se.Error()
	}
	switch {
	case code == http.StatusTooManyRequests:
		wait := DefaultRetryAfter
		if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
			wait = max(d, time.Second)
		}
		return &trackers.RateLimitError{RetryAfter: wait, Reason: what}
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, desc)
	case code == http.StatusForbidden:
		return fmt.Errorf("%w: %w: %s", trackers.ErrUnauthorized, ErrForbidden, desc)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %w: %s", trackers.ErrTicketNotFound, ErrNotFound, desc)
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		return fmt.Errorf("%w: %s", trackers.ErrTransient, desc)
	}
	return fmt.Errorf("%w: %s", trackers.ErrRejected, desc)
}

// CheckWatched is the project check of a context source: it reads each
// watched scope with read and records one pass naming them ("<readable>:
// a, b"), or one failure listing every scope that could not be read.
// explain turns a read's error into the sentence shown after the scope's
// name, or "" for the error itself. A transport failure (the session has
// already recorded it) ends the check without a verdict.
func CheckWatched(s *trackers.Session, r *trackers.TestResult, readable string, read func(scope string) error, explain func(err error) string) {
	var problems []string
	for _, scope := range s.Connector.Watch {
		err := read(scope)
		if s.TransportFailed() {
			return
		}
		if err == nil {
			continue
		}
		why := explain(err)
		if why == "" {
			why = err.Error()
		}
		problems = append(problems, scope+": "+why)
	}
	if len(problems) > 0 {
		r.Fail(trackers.CheckProject, "%s", strings.Join(problems, "; "))
		return
	}
	r.Pass(trackers.CheckProject, "%s: %s", readable, strings.Join(s.Connector.Watch, ", "))
}
