package trackertest

import (
	"errors"
	"net/http"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// ContextFixture adapts a context source's fake (Jenkins, CircleCI,
// SonarQube, Argo CD) to RunContext.
type ContextFixture interface {
	// Session returns a session for a connector pointed at the fake that
	// watches the fixture's scopes.
	Session(t *testing.T) *trackers.Session
	// Failing seeds (or names a seeded) scope whose state is a failure: the
	// latest build failed, the quality gate is red with new issues, the
	// application is Degraded.
	Failing(t *testing.T) string
	// Healthy seeds (or names a seeded) scope whose state is good: the latest
	// build succeeded, the gate passed, the application is Healthy and Synced.
	Healthy(t *testing.T) string
	// Missing names a scope the fake does not have.
	Missing() string
	// FailNext makes the fake's next n answers status.
	FailNext(t *testing.T, status, n int)
	// Requests is how many requests the fake has answered so far.
	Requests() int
}

// MaxContextRequests bounds the requests one ReadContext may make.
const MaxContextRequests = 8

// RunContext runs the context-source behaviours against tr, which must
// declare trackers.FeatureContext and no ticket feature (those run Run).
func RunContext(t *testing.T, tr trackers.Tracker, newFixture func(t *testing.T) ContextFixture) {
	caps := trackers.CapabilitiesOf(tr)
	if !caps.Supports(trackers.FeatureContext) {
		t.Fatalf("%s does not implement trackers.ContextReader", caps.System)
	}
	for _, f := range caps.Features {
		if f.Supported && !testedElsewhere[f.Name] {
			t.Errorf("%s declares ticket feature %q: run trackertest.Run too", caps.System, f.Name)
		}
	}
	rd := tr.(trackers.ContextReader)
	read := func(t *testing.T, fx ContextFixture, scope string) (trackers.ContextReport, error) {
		t.Helper()
		before := fx.Requests()
		rep, err := rd.ReadContext(ctxT(t), fx.Session(t), scope)
		if n := fx.Requests() - before; n > MaxContextRequests {
			t.Errorf("one read made %d requests, want at most %d", n, MaxContextRequests)
		}
		return rep, err
	}
	t.Run("reads a failing scope and shows the failure", func(t *testing.T) {
		fx := newFixture(t)
		scope := fx.Failing(t)
		rep, err := read(t, fx, scope)
		if err != nil {
			t.Fatalf("ReadContext(%s): %v", scope, err)
		}
		if rep.Scope != scope || rep.URL == "" {
			t.Errorf("scope %q url %q, want scope %q and a URL", rep.Scope, rep.URL, scope)
		}
		if !ShowsFailure(rep) {
			t.Errorf("report %+v shows no failure", rep)
		}
	})
	t.Run("reads a healthy scope and shows no failure", func(t *testing.T) {
		fx := newFixture(t)
		scope := fx.Healthy(t)
		rep, err := read(t, fx, scope)
		if err != nil {
			t.Fatalf("ReadContext(%s): %v", scope, err)
		}
		if ShowsFailure(rep) || !showsState(rep) {
			t.Errorf("report %+v: want a healthy state", rep)
		}
	})
	t.Run("unknown scope is ErrTicketNotFound", func(t *testing.T) {
		fx := newFixture(t)
		_, err := read(t, fx, fx.Missing())
		if !errors.Is(err, trackers.ErrTicketNotFound) {
			t.Errorf("err = %v, want ErrTicketNotFound", err)
		}
	})
	t.Run("rejected credential is ErrUnauthorized", func(t *testing.T) {
		fx := newFixture(t)
		scope := fx.Failing(t)
		fx.FailNext(t, http.StatusUnauthorized, MaxContextRequests)
		_, err := read(t, fx, scope)
		if !errors.Is(err, trackers.ErrUnauthorized) {
			t.Errorf("err = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("server error is transient", func(t *testing.T) {
		fx := newFixture(t)
		scope := fx.Failing(t)
		fx.FailNext(t, http.StatusInternalServerError, MaxContextRequests)
		_, err := read(t, fx, scope)
		if r, _ := trackers.RetryOf(err); !errors.Is(err, trackers.ErrTransient) || r != trackers.RetryBackoff {
			t.Errorf("err = %v, want ErrTransient retried with backoff", err)
		}
	})
}

// ShowsFailure reports whether a report shows a failure: the newest build
// failed, the gate is red with new issues counted and listed, or the
// application is Degraded.
func ShowsFailure(r trackers.ContextReport) bool {
	if len(r.Builds) > 0 && r.Builds[0].Status == trackers.BuildFailed {
		return true
	}
	if q := r.Quality; q != nil && q.Status == trackers.GateError {
		n := 0
		for _, c := range q.NewIssues {
			n += c
		}
		return n > 0 && len(q.TopIssues) > 0 && len(q.FailedConditions) > 0
	}
	return r.Deployment != nil && r.Deployment.Health == "Degraded"
}

// showsState reports whether a report carries any state at all.
func showsState(r trackers.ContextReport) bool {
	return len(r.Builds) > 0 || r.Quality != nil || r.Deployment != nil
}
