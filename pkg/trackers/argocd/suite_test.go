package argocd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/argocd"
	"github.com/connectorhub/connectorhub/pkg/trackers/argocd/argocdfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	adminToken   = "argocd-admin-token"
	limitedToken = "argocd-limited-token"
)

type fixture struct {
	fake *argocdfake.Server
	url  string
	v    *contract.Validator
}

func newFixture(t *testing.T) *fixture { return newFixtureChecked(t, true) }

// newFixtureChecked starts the fake; checked wraps it in the contract
// validator (off where a fault cuts the answer short on purpose).
func newFixtureChecked(t *testing.T, checked bool) *fixture {
	t.Helper()
	synced := time.Date(2026, 8, 18, 14, 0, 0, 0, time.UTC)
	fake := argocdfake.New(argocdfake.Options{
		Tokens: []argocdfake.Token{{Value: adminToken, Username: "admin"}, {Value: limitedToken, Username: "ci", Apps: []string{"storefront"}}},
		Apps: []argocdfake.App{
			{Name: "checkout", Health: "Degraded", HealthMessage: "0/3 replicas available", Sync: "Synced", Revision: "9f3c2a1", SyncedAt: synced},
			{Name: "storefront", Health: "Healthy", Sync: "Synced", Revision: "1a2b3c4", SyncedAt: synced.Add(-24 * time.Hour)},
		},
	})
	v := contract.NewValidator(contract.MustLoad(contract.ArgoCD), contract.Options{})
	v.FailAtEnd(t)
	if !checked {
		return &fixture{fake: fake, url: fake.Start(t), v: v}
	}
	return &fixture{fake: fake, url: fake.Start(t, v.Middleware), v: v}
}

func (f *fixture) session(t *testing.T, token string, watch ...string) *trackers.Session {
	t.Helper()
	if len(watch) == 0 {
		watch = []string{"checkout", "storefront"}
	}
	c := connector.Connector{ID: "argo-1", System: connector.ArgoCD, Deployment: connector.SelfHosted, BaseURL: f.url, AuthMode: connector.AuthBearer, Watch: watch}
	s, err := trackers.NewSession(argocd.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *fixture) Session(t *testing.T) *trackers.Session { return f.session(t, adminToken) }
func (f *fixture) Failing(*testing.T) string              { return "checkout" }
func (f *fixture) Healthy(*testing.T) string              { return "storefront" }
func (f *fixture) Missing() string                        { return "no-such-app" }
func (f *fixture) FailNext(_ *testing.T, status, n int)   { f.fake.FailNext(n, status) }
func (f *fixture) Requests() int                          { return f.fake.Requests() }
func ctx(t *testing.T) context.Context                    { return t.Context() }
func testConn(t *testing.T, s *trackers.Session) trackers.TestResult {
	t.Helper()
	res, err := trackers.Test(ctx(t), argocd.New(), s.Connector, s.Secret, trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	return res
}

func TestSuite(t *testing.T) {
	t.Parallel()
	trackertest.RunContext(t, argocd.New(), func(t *testing.T) trackertest.ContextFixture { return newFixture(t) })
}

func TestReadsDegradedApplication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep, err := argocd.New().ReadContext(ctx(t), f.Session(t), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Deployment
	want := time.Date(2026, 8, 18, 14, 0, 0, 0, time.UTC)
	if d == nil || d.Health != "Degraded" || d.Sync != "Synced" || d.Revision != "9f3c2a1" || !d.SyncedAt.Equal(want) || d.Message != "0/3 replicas available" {
		t.Fatalf("deployment %+v", d)
	}
	if rep.URL != f.url+"/applications/checkout" {
		t.Errorf("url %q", rep.URL)
	}
}

func TestConnectionTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.Session(t))
	if !res.OK || res.Identity != "admin" {
		t.Fatalf("ok %v identity %q checks %+v", res.OK, res.Identity, res.Checks)
	}
}

// A token whose RBAC does not cover a watched application fails the
// project check with the permission to grant.
func TestConnectionTestMissingAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, limitedToken))
	if res.OK {
		t.Fatalf("ok with a token that cannot read checkout: %+v", res.Checks)
	}
	var msg string
	for _, c := range res.Checks {
		if c.Name == trackers.CheckProject && !c.OK {
			msg = c.Message
		}
	}
	if !strings.Contains(msg, "checkout") || !strings.Contains(msg, "applications, get") || strings.Contains(msg, "storefront") {
		t.Errorf("project check %q: want checkout with the RBAC rule, not storefront", msg)
	}
}

func TestConnectionTestRejectedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "wrong-token"))
	if res.OK || len(res.Checks) < 2 || res.Checks[1].Name != trackers.CheckIdentity || res.Checks[1].OK || !strings.Contains(res.Checks[1].Message, "generate-token") {
		t.Fatalf("checks %+v", res.Checks)
	}
}

// A slow Argo CD fails the read at the caller's deadline, as a transient
// failure, instead of holding it.
func TestSlowSourceHitsDeadline(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.SlowNext(time.Minute)
	c, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	_, err := argocd.New().ReadContext(c, f.Session(t), "checkout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestRulesNeedEndpointAndWatch(t *testing.T) {
	t.Parallel()
	r := argocd.New().Rules()
	if !r.NeedsBaseURL(connector.SelfHosted) || r.Watch == nil || !r.Watch.Required {
		t.Fatalf("rules %+v", r)
	}
	if r.WatchError("checkout") != "" || r.WatchError("Check Out") == "" || r.WatchError("../x") == "" {
		t.Error("watch pattern")
	}
}

// A cut-short answer is ErrMalformedResponse and a 429 a rate limit with
// the wait asked for (unchecked: the faults break the shape on purpose).
func TestMalformedAnswerAndRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.MalformedNext()
	if _, err := argocd.New().ReadContext(t.Context(), f.Session(t), f.Failing(t)); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: err = %v, want ErrMalformedResponse", err)
	}
	f.fake.RateLimitNext(42 * time.Second)
	_, err := argocd.New().ReadContext(t.Context(), f.Session(t), f.Failing(t))
	if r, wait := trackers.RetryOf(err); r != trackers.RetryAfterWait || wait != 42*time.Second {
		t.Errorf("rate limit: err = %v, retry %v after %v", err, r, wait)
	}
}
