package sonarqube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/sonarqube"
	"github.com/connectorhub/connectorhub/pkg/trackers/sonarqube/sonarqubefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	userToken    = "squ_userToken"
	limitedToken = "squ_limitedToken"
)

type fixture struct {
	fake *sonarqubefake.Server
	url  string
}

func newFixture(t *testing.T) *fixture { return newFixtureChecked(t, true) }

// newFixtureChecked starts the fake; checked wraps it in the contract
// validator (off where a fault cuts the answer short on purpose).
func newFixtureChecked(t *testing.T, checked bool) *fixture {
	t.Helper()
	fake := sonarqubefake.New(sonarqubefake.Options{
		Tokens: []sonarqubefake.Token{{Value: userToken}, {Value: limitedToken, Projects: []string{"acme_storefront"}}},
		Projects: []sonarqubefake.Project{
			sonarqubefake.RedGate("acme_checkout"),
			{Key: "acme_storefront", Gate: "OK"},
		},
	})
	if !checked {
		return &fixture{fake: fake, url: fake.Start(t)}
	}
	// The shape's server is next.sonarqube.com/sonarqube: its paths sit
	// under /sonarqube.
	v := contract.NewValidator(contract.MustLoad(contract.SonarQube), contract.Options{Rewrite: func(p string) string { return "/sonarqube" + p }})
	v.FailAtEnd(t)
	return &fixture{fake: fake, url: fake.Start(t, v.Middleware)}
}

func (f *fixture) session(t *testing.T, token string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "sonar-1", System: connector.SonarQube, Deployment: connector.SelfHosted, BaseURL: f.url, AuthMode: connector.AuthBearer,
		Watch: []string{"acme_checkout", "acme_storefront"}}
	s, err := trackers.NewSession(sonarqube.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *fixture) Session(t *testing.T) *trackers.Session { return f.session(t, userToken) }
func (f *fixture) Failing(*testing.T) string              { return "acme_checkout" }
func (f *fixture) Healthy(*testing.T) string              { return "acme_storefront" }
func (f *fixture) Missing() string                        { return "acme_nothing" }
func (f *fixture) FailNext(_ *testing.T, status, n int)   { f.fake.FailNext(n, status) }
func (f *fixture) Requests() int                          { return f.fake.Requests() }

func testConn(t *testing.T, s *trackers.Session) trackers.TestResult {
	t.Helper()
	res, err := trackers.Test(t.Context(), sonarqube.New(), s.Connector, s.Secret, trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	return res
}

func TestSuite(t *testing.T) {
	t.Parallel()
	trackertest.RunContext(t, sonarqube.New(), func(t *testing.T) trackertest.ContextFixture { return newFixture(t) })
}

// A red gate: the failed conditions, the new issues counted by severity
// (the old one left out), the most severe first.
func TestReadsRedGateWithNewIssues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep, err := sonarqube.New().ReadContext(t.Context(), f.Session(t), "acme_checkout")
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Quality
	if q == nil || q.Status != trackers.GateError || strings.Join(q.FailedConditions, ",") != "new_reliability_rating,new_coverage" {
		t.Fatalf("gate %+v", q)
	}
	if q.NewIssues["blocker"] != 1 || q.NewIssues["critical"] != 2 || q.NewIssues["minor"] != 1 || q.NewIssues["major"] != 0 {
		t.Errorf("new issues %v", q.NewIssues)
	}
	if len(q.TopIssues) != 4 || q.TopIssues[0].Severity != "blocker" || q.TopIssues[0].Type != "bug" ||
		q.TopIssues[0].Component != "internal/checkout/handler.go" || q.TopIssues[0].Line != 142 || !strings.Contains(q.TopIssues[0].URL, "issues=AY-checkout-1") {
		t.Errorf("top issues %+v", q.TopIssues)
	}
	if rep.URL != f.url+"/dashboard?id=acme_checkout" {
		t.Errorf("url %q", rep.URL)
	}
}

func TestConnectionTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if res := testConn(t, f.Session(t)); !res.OK {
		t.Fatalf("checks %+v", res.Checks)
	}
}

func TestConnectionTestMissingAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, limitedToken))
	var msg string
	for _, c := range res.Checks {
		if c.Name == trackers.CheckProject && !c.OK {
			msg = c.Message
		}
	}
	if res.OK || !strings.Contains(msg, "acme_checkout") || !strings.Contains(msg, "Browse") || strings.Contains(msg, "acme_storefront") {
		t.Fatalf("ok %v, project check %q", res.OK, msg)
	}
}

// SonarQube answers 200 {"valid": false} to an unknown token.
func TestConnectionTestInvalidToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "squ_unknown"))
	if res.OK || len(res.Checks) < 2 || res.Checks[1].OK || !strings.Contains(res.Checks[1].Message, "user token") {
		t.Fatalf("checks %+v", res.Checks)
	}
}

func TestSlowSourceHitsDeadline(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.SlowNext(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := sonarqube.New().ReadContext(ctx, f.Session(t), "acme_checkout"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

// A cut-short answer is ErrMalformedResponse and a 429 a rate limit with
// the wait asked for (unchecked: the faults break the shape on purpose).
func TestMalformedAnswerAndRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.MalformedNext()
	if _, err := sonarqube.New().ReadContext(t.Context(), f.Session(t), f.Failing(t)); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: err = %v, want ErrMalformedResponse", err)
	}
	f.fake.RateLimitNext(42 * time.Second)
	_, err := sonarqube.New().ReadContext(t.Context(), f.Session(t), f.Failing(t))
	if r, wait := trackers.RetryOf(err); r != trackers.RetryAfterWait || wait != 42*time.Second {
		t.Errorf("rate limit: err = %v, retry %v after %v", err, r, wait)
	}
}
