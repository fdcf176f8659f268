package circleci_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/circleci"
	"github.com/connectorhub/connectorhub/pkg/trackers/circleci/circlecifake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	userToken    = "CCIPAT_user"
	limitedToken = "CCIPAT_limited"
)

var now = time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)

type fixture struct {
	fake *circlecifake.Server
	url  string
}

// slugInPath folds a project slug's slashes so the path matches the
// shape's single {project-slug} segment.
var slugInPath = regexp.MustCompile(`^/api/v2/project/([^/]+)/([^/]+)/([^/]+)/pipeline$`)

func newFixture(t *testing.T) *fixture { return newFixtureChecked(t, true) }

func newFixtureChecked(t *testing.T, checked bool) *fixture {
	t.Helper()
	fake := circlecifake.New(circlecifake.Options{
		Tokens:   []circlecifake.Token{{Value: userToken, Login: "octocat"}, {Value: limitedToken, Login: "intern", Projects: []string{"gh/acme/storefront"}}},
		Projects: []string{"gh/acme/storefront"},
	})
	fake.SeedFailingMain("gh/acme/checkout", now)
	fake.AddPipeline("gh/acme/storefront", circlecifake.Pipeline{Branch: "master", Revision: "abc1234", Created: now.Add(-time.Hour),
		Workflows: []circlecifake.Workflow{{Name: "test", Status: "success", Jobs: []circlecifake.Job{{Name: "unit", Status: "success"}}}}})
	if !checked {
		return &fixture{fake: fake, url: fake.Start(t)}
	}
	v := contract.NewValidator(contract.MustLoad(contract.CircleCI), contract.Options{Rewrite: func(p string) string {
		return slugInPath.ReplaceAllString(p, "/api/v2/project/${1}_${2}_${3}/pipeline")
	}})
	v.FailAtEnd(t)
	return &fixture{fake: fake, url: fake.Start(t, v.Middleware)}
}

func (f *fixture) session(t *testing.T, token string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "cci-1", System: connector.CircleCI, Deployment: connector.Cloud, BaseURL: f.url, AuthMode: connector.AuthBearer,
		Watch: []string{"gh/acme/checkout", "gh/acme/storefront"}}
	s, err := trackers.NewSession(circleci.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *fixture) Session(t *testing.T) *trackers.Session { return f.session(t, userToken) }
func (f *fixture) Failing(*testing.T) string              { return "gh/acme/checkout" }
func (f *fixture) Healthy(*testing.T) string              { return "gh/acme/storefront" }
func (f *fixture) Missing() string                        { return "gh/acme/nothing" }
func (f *fixture) FailNext(_ *testing.T, status, n int)   { f.fake.FailNext(n, status) }
func (f *fixture) Requests() int                          { return f.fake.Requests() }

func testConn(t *testing.T, s *trackers.Session) trackers.TestResult {
	t.Helper()
	res, err := trackers.Test(t.Context(), circleci.New(), s.Connector, s.Secret, trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	return res
}

func TestSuite(t *testing.T) {
	t.Parallel()
	trackertest.RunContext(t, circleci.New(), func(t *testing.T) trackertest.ContextFixture { return newFixture(t) })
}

// The last two pipelines on main failed in checkout_test; the newer
// feature-branch pipeline is not the default branch's.
func TestReadsFailingPipelinesOnDefaultBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep, err := circleci.New().ReadContext(t.Context(), f.Session(t), "gh/acme/checkout")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Builds) != 2 {
		t.Fatalf("builds %+v, want the two newest on main", rep.Builds)
	}
	for i, want := range []string{"3", "2"} {
		b := rep.Builds[i]
		if b.ID != want || b.Branch != "main" || b.Status != trackers.BuildFailed || b.Name != "build-and-test" ||
			strings.Join(b.FailingSteps, ",") != "checkout_test" || b.Finished.IsZero() || !strings.Contains(b.URL, "/pipelines/gh/acme/checkout/"+want+"/workflows/") {
			t.Errorf("build %d: %+v", i, b)
		}
	}
	if rep.Builds[0].Revision != "c0ffee1b7d4e5f60718293a4b5c6d7e8f9012345" {
		t.Errorf("revision %q", rep.Builds[0].Revision)
	}
}

// A pipeline whose configuration failed has no workflows: it is a failed
// build carrying the error.
func TestErroredPipelineIsAFailedBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.fake.AddPipeline("gh/acme/storefront", circlecifake.Pipeline{Branch: "master", Created: now, Errored: "Config does not conform to schema"})
	rep, err := circleci.New().ReadContext(t.Context(), f.Session(t), "gh/acme/storefront")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Builds) != 2 || rep.Builds[0].Status != trackers.BuildFailed || len(rep.Builds[0].FailingSteps) != 1 || !strings.Contains(rep.Builds[0].FailingSteps[0], "schema") {
		t.Fatalf("builds %+v", rep.Builds)
	}
}

func TestConnectionTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if res := testConn(t, f.Session(t)); !res.OK || res.Identity != "octocat" {
		t.Fatalf("identity %q checks %+v", res.Identity, res.Checks)
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
	if res.OK || !strings.Contains(msg, "gh/acme/checkout") || !strings.Contains(msg, "view the project") || strings.Contains(msg, "storefront") {
		t.Fatalf("ok %v project check %q", res.OK, msg)
	}
}

func TestConnectionTestRejectedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := testConn(t, f.session(t, "CCIPAT_wrong"))
	if res.OK || len(res.Checks) < 2 || res.Checks[1].OK || !strings.Contains(res.Checks[1].Message, "Personal API Tokens") {
		t.Fatalf("checks %+v", res.Checks)
	}
}

func TestSlowSourceHitsDeadline(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.SlowNext(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := circleci.New().ReadContext(ctx, f.Session(t), "gh/acme/checkout"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	r := circleci.New().Rules()
	if r.DefaultBaseURL(connector.Cloud) != "https://circleci.com" || !r.NeedsBaseURL(connector.SelfHosted) {
		t.Errorf("base URLs %v", r.DefaultBaseURLs)
	}
	for slug, ok := range map[string]bool{"gh/acme/checkout": true, "bb/ws/repo": true, "circleci/8e1b/9f2c": true, "acme/checkout": false, "gh/acme/checkout/x": false, "gh/../x": false} {
		if got := r.WatchError(slug) == ""; got != ok {
			t.Errorf("WatchError(%q) ok = %v, want %v", slug, got, ok)
		}
	}
}

// A cut-short answer is ErrMalformedResponse and a 429 a rate limit with
// the wait asked for (unchecked: the faults break the shape on purpose).
func TestMalformedAnswerAndRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureChecked(t, false)
	f.fake.MalformedNext()
	if _, err := circleci.New().ReadContext(t.Context(), f.Session(t), f.Failing(t)); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: err = %v, want ErrMalformedResponse", err)
	}
	f.fake.RateLimitNext(42 * time.Second)
	_, err := circleci.New().ReadContext(t.Context(), f.Session(t), f.Failing(t))
	if r, wait := trackers.RetryOf(err); r != trackers.RetryAfterWait || wait != 42*time.Second {
		t.Errorf("rate limit: err = %v, retry %v after %v", err, r, wait)
	}
}
