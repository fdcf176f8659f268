package jenkins_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jenkins"
	"github.com/connectorhub/connectorhub/pkg/trackers/jenkins/jenkinsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	userToken    = "11aliceApiToken"
	limitedToken = "11internApiToken"
)

var now = time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)

type fixture struct {
	fake *jenkinsfake.Server
	url  string
}

// nested folds a folder path (/job/a/job/b) into the shape's single
// {name} segment.
var nested = regexp.MustCompile(`/job/([^/]+)/job/`)

func newFixture(t *testing.T) *fixture { return newFixtureChecked(t, true) }

func newFixtureChecked(t *testing.T, checked bool) *fixture {
	t.Helper()
	fake := jenkinsfake.New(jenkinsfake.Options{Users: []jenkinsfake.User{
		{ID: "alice", FullName: "Alice Example", Token: userToken},
		{ID: "intern", FullName: "Intern", Token: limitedToken, Jobs: []string{"storefront/main"}},
		{ID: "nobody", FullName: "No Read", Token: "11nobody", NoOverallRead: true},
	}})
	fake.SeedFailingJob("checkout/main", now)
	fake.AddBuild("storefront/main", jenkinsfake.Build{Result: "SUCCESS", Started: now.Add(-time.Hour), Duration: time.Minute})
	if !checked {
		return &fixture{fake: fake, url: fake.Start(t)}
	}
	v := contract.NewValidator(contract.MustLoad(contract.Jenkins), contract.Options{Rewrite: func(p string) string {
		for nested.MatchString(p) {
			p = nested.ReplaceAllString(p, "/job/${1}_")
		}
		return p
	}})
	v.FailAtEnd(t)
	return &fixture{fake: fake, url: fake.Start(t, v.Middleware)}
}

func (f *fixture) session(t *testing.T, user, token string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "jenkins-1", System: connector.Jenkins, Deployment: connector.SelfHosted, BaseURL: f.url, AuthMode: connector.AuthBasic,
		Username: user, Watch: []string{"checkout/main", "storefront/main"}}
	s, err := trackers.NewSession(jenkins.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *fixture) Session(t *testing.T) *trackers.Session { return f.session(t, "alice", userToken) }
func (f *fixture) Failing(*testing.T) string              { return "checkout/main" }
func (f *fixture) Healthy(*testing.T) string              { return "storefront/main" }
func (f *fixture) Missing() string                        { return "checkout/nothing" }
func (f *fixture) FailNext(_ *testing.T, status, n int)   { f.fake.FailNext(n, status) }
func (f *fixture) Requests() int                          { return f.fake.Requests() }

func testConn(t *testing.T, s *trackers.Session) trackers.TestResult {
	t.Helper()
	res, err := trackers.Test(t.Context(), jenkins.New(), s.Connector, s.Secret, trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	return res
}

func check(res trackers.TestResult, name string) trackers.Check {
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	return trackers.Check{}
}

func TestSuite(t *testing.T) {
	t.Parallel()
	trackertest.RunContext(t, jenkins.New(), func(t *testing.T) trackertest.ContextFixture { return newFixture(t) })
}

func TestReadsLastBuildsOfAFolderJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep, err := jenkins.New().ReadContext(t.Context(), f.Session(t), "checkout/main")
	if err != nil {
		t.Fatal(err)
	}
	if rep.URL != f.url+"/job/checkout/job/main/" || len(rep.Builds) != 3 {
		t.Fatalf("report %+v", rep)
	}
	b := rep.Builds[0]
	if b.ID != "3" || b.Status != trackers.BuildFailed || b.Revision != "c0ffee1b7d4e5f60718293a4b5c6d7e8f9012345" ||
		!b.Started.Equal(now.Add(-2*time.Hour)) || !b.Finished.Equal(now.Add(-2*time.Hour+3*time.Minute)) || b.URL != f.url+"/job/checkout/job/main/3/" {
		t.Errorf("newest build %+v", b)
	}
	if rep.Builds[2].Status != trackers.BuildSucceeded {
		t.Errorf("oldest build %+v", rep.Builds[2])
	}
}

func TestRunningBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.fake.AddBuild("storefront/main", jenkinsfake.Build{Started: now})
	rep, err := jenkins.New().ReadContext(t.Context(), f.Session(t), "storefront/main")
	if err != nil {
		t.Fatal(err)
	}
	if b := rep.Builds[0]; b.Status != trackers.BuildRunning || !b.Finished.IsZero() {
		t.Errorf("build %+v", b)
	}
}

func TestConnectionTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if res := testConn(t, f.Session(t)); !res.OK || res.Identity != "alice" {
		t.Fatalf("identity %q checks %+v", res.Identity, res.Checks)
	}
}

// Jenkins answers 404 for a job the user may not read: the hint names Job/Read.
func TestConnectionTestMissingJobRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "intern", limitedToken))
	msg := check(res, trackers.CheckProject).Message
	if res.OK || !strings.Contains(msg, "checkout/main") || !strings.Contains(msg, "Job/Read") || strings.Contains(msg, "storefront") {
		t.Fatalf("ok %v project check %q", res.OK, msg)
	}
}

func TestConnectionTestMissingOverallRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "nobody", "11nobody"))
	if c := check(res, trackers.CheckIdentity); res.OK || c.OK || !strings.Contains(c.Message, "Overall/Read") {
		t.Fatalf("checks %+v", res.Checks)
	}
}

func TestConnectionTestRejectedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "alice", "wrong"))
	if c := check(res, trackers.CheckIdentity); res.OK || c.OK || !strings.Contains(c.Message, "API token") {
		t.Fatalf("checks %+v", res.Checks)
	}
}

func TestSlowSourceHitsDeadline(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.SlowNext(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := jenkins.New().ReadContext(ctx, f.Session(t), "checkout/main"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	r := jenkins.New().Rules()
	if !r.NeedsBaseURL(connector.SelfHosted) || !r.AcceptsAuth(connector.SelfHosted, connector.AuthBasic) || r.AcceptsAuth(connector.SelfHosted, connector.AuthBearer) {
		t.Errorf("rules %+v", r)
	}
	for p, ok := range map[string]bool{"build-app": true, "team/svc/main": true, "svc/feature%2Fx": true, "../x": false, "a//b": false, "/a": false, "a/": false, "a/.hidden": false} {
		if got := r.WatchError(p) == ""; got != ok {
			t.Errorf("WatchError(%q) ok = %v, want %v", p, got, ok)
		}
	}
}

// A cut-short answer is ErrMalformedResponse and a 429 a rate limit with
// the wait asked for (unchecked: the faults break the shape on purpose).
func TestMalformedAnswerAndRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.MalformedNext()
	if _, err := jenkins.New().ReadContext(t.Context(), f.Session(t), f.Failing(t)); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: err = %v, want ErrMalformedResponse", err)
	}
	f.fake.RateLimitNext(42 * time.Second)
	_, err := jenkins.New().ReadContext(t.Context(), f.Session(t), f.Failing(t))
	if r, wait := trackers.RetryOf(err); r != trackers.RetryAfterWait || wait != 42*time.Second {
		t.Errorf("rate limit: err = %v, retry %v after %v", err, r, wait)
	}
}
