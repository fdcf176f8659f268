package ctxhttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// stub is a tracker whose sessions the test builds; the system is any
// bearer one.
type stub struct{}

func (stub) Rules() connector.Rules {
	return connector.Rules{System: "stub", Deployments: []connector.Deployment{connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthBearer}}}
}

func session(t *testing.T, h http.HandlerFunc) *trackers.Session {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s, err := trackers.NewSession(stub{}, connector.Connector{ID: "s", System: "stub", Deployment: connector.SelfHosted, BaseURL: srv.URL, AuthMode: connector.AuthBearer},
		connector.NewSecret("tok-1234"), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatusesMapOntoTheSentinels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   []error
	}{
		{http.StatusUnauthorized, "", []error{trackers.ErrUnauthorized}},
		{http.StatusForbidden, "", []error{trackers.ErrUnauthorized, ctxhttp.ErrForbidden}},
		{http.StatusNotFound, "", []error{trackers.ErrTicketNotFound, ctxhttp.ErrNotFound}},
		{http.StatusInternalServerError, "", []error{trackers.ErrTransient}},
		{http.StatusBadRequest, "", []error{trackers.ErrRejected}},
		{http.StatusOK, `{"x":`, []error{trackers.ErrMalformedResponse}},
	}
	for _, tt := range tests {
		s := session(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		})
		var out map[string]any
		err := ctxhttp.Get(t.Context(), s, ctxhttp.Request{Path: "x", What: "thing"}, &out)
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%d: err %v is not %v", tt.status, err, w)
			}
		}
	}
}

func TestRateLimitCarriesTheWait(t *testing.T) {
	t.Parallel()
	s := session(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	var out map[string]any
	err := ctxhttp.Get(t.Context(), s, ctxhttp.Request{Path: "x", What: "thing"}, &out)
	if r, wait := trackers.RetryOf(err); r != trackers.RetryAfterWait || wait != 30*time.Second {
		t.Fatalf("err %v: retry %v after %v", err, r, wait)
	}
}

// Auth runs after the session's credential: a system with its own header
// replaces Authorization, and the token is sent once.
func TestAuthReplacesTheCredentialHeader(t *testing.T) {
	t.Parallel()
	var got http.Header
	s := session(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte(`{}`))
	})
	var out map[string]any
	err := ctxhttp.Get(t.Context(), s, ctxhttp.Request{Path: "x", What: "thing", Auth: func(r *http.Request) {
		r.Header.Del("Authorization")
		r.Header.Set("Circle-Token", s.Secret.Reveal())
	}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "" || got.Get("Circle-Token") != "tok-1234" || got.Get("Accept") != "application/json" {
		t.Errorf("headers %v", got)
	}
}

func TestCheckWatchedListsEveryScopeItCouldNotRead(t *testing.T) {
	t.Parallel()
	s := session(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			_, _ = w.Write([]byte(`{}`))
		case "/b":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	read := func(scope string) error {
		var out map[string]any
		return ctxhttp.Get(t.Context(), s, ctxhttp.Request{Path: scope, What: "scope " + scope}, &out)
	}
	explain := func(err error) string {
		if errors.Is(err, ctxhttp.ErrNotFound) {
			return "no such scope"
		}
		return "" // the error itself
	}

	s.Connector.Watch = []string{"a", "b", "c"}
	var r trackers.TestResult
	ctxhttp.CheckWatched(s, &r, "scopes readable", read, explain)
	if len(r.Checks) != 1 || r.Checks[0].OK || r.Checks[0].Name != trackers.CheckProject {
		t.Fatalf("checks %+v, want one failed project check", r.Checks)
	}
	msg := r.Checks[0].Message
	if !strings.HasPrefix(msg, "b: no such scope; c: ") || strings.Contains(msg, "a:") {
		t.Errorf("message %q: want b explained, c's own error, a left out", msg)
	}

	s.Connector.Watch = []string{"a"}
	r = trackers.TestResult{}
	ctxhttp.CheckWatched(s, &r, "scopes readable", read, explain)
	if len(r.Checks) != 1 || !r.Checks[0].OK || r.Checks[0].Message != "scopes readable: a" {
		t.Errorf("checks %+v, want one pass naming a", r.Checks)
	}
}
