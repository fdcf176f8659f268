package jira_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// pacedSession is a Cloud session on the sandbox fake, served in memory so
// the fake and the pacer share the synctest bubble's clock.
func pacedSession(t *testing.T, fake *jirafake.Server) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "paced", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "http://127.0.0.1:8080",
		Project: jirafake.SandboxProject, AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail}
	s, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken),
		trackers.Options{Timeout: 10 * time.Second, RoundTripper: fakehttp.InMemory(fake)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// poll discovers once the way the poller does: a rate limit is waited out
// (the poller defers the connector for as long), and nothing else may fail.
// It reports the rate limit it waited for, if any.
func poll(t *testing.T, s *trackers.Session) *trackers.RateLimitError {
	t.Helper()
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := jira.New().Discover(cctx, s, trackers.DiscoveryQuery{Since: time.Now().Add(-2 * time.Hour)})
	var rl *trackers.RateLimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rl):
		time.Sleep(rl.RetryAfter)
		return rl
	}
	t.Fatalf("discover: %v", err)
	return nil
}

// The fake's quota is live: without pacing, the request past the points
// left gets a 429 with Jira's headers. (The control for the test below.)
func TestJiraFakeQuotaRefusesPastThePoints(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := jirafake.NewSandbox(connector.Cloud)
		fake.SetQuota(10, time.Hour, 1)
		hdr := http.Header{"Authorization": {"Basic " + basic(jirafake.SandboxEmail, jirafake.SandboxToken)}}
		for i := range 10 {
			code, h, _ := fakehttp.Call(fake, http.MethodGet, "/rest/api/3/myself", hdr)
			if code != http.StatusOK || !strings.Contains(h.Get("Beta-RateLimit"), "r=") {
				t.Fatalf("request %d: HTTP %d, Beta-RateLimit %q", i, code, h.Get("Beta-RateLimit"))
			}
		}
		code, h, _ := fakehttp.Call(fake, http.MethodGet, "/rest/api/3/myself", hdr)
		if code != http.StatusTooManyRequests || h.Get("RateLimit-Reason") != "jira-quota-tenant-based" || h.Get("Retry-After") != "3600" {
			t.Fatalf("past the quota: HTTP %d %v", code, h)
		}
		if fake.QuotaRefusals() != 1 {
			t.Fatalf("refusals = %d", fake.QuotaRefusals())
		}
	})
}

// A connector polling as fast as it can on a quota of 100 points an hour is
// paced once less than a fifth is left: its requests spread to the
// window's end, no request is refused, and the new window's requests go at
// full speed again.
func TestJiraPacedOnTheQuotaNeverHitsA429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := jirafake.NewSandbox(connector.Cloud)
		const quota = 100
		fake.SetQuota(quota, time.Hour, 1)
		s := pacedSession(t, fake)
		start := time.Now() // synctest's clock starts on the hour: the window ends at start+1h
		reset := start.Add(time.Hour)

		paced, sent := 0, 0
		var lastBeforeReset time.Time
		for time.Now().Before(reset) {
			before := fake.Requests()
			if rl := poll(t, s); rl != nil {
				if !strings.HasPrefix(rl.Reason, "paced: ") {
					t.Fatalf("rate limit not from the pacer: %v", rl)
				}
				paced++
			}
			if fake.Requests() > before && time.Now().Before(reset) {
				sent += fake.Requests() - before
				lastBeforeReset = time.Now()
			}
		}
		if got := fake.QuotaRefusals(); got != 0 {
			t.Fatalf("%d requests refused with 429: pacing did not keep within the quota", got)
		}
		if paced == 0 || sent >= quota {
			t.Fatalf("paced %d times, %d requests in the first window (quota %d)", paced, sent, quota)
		}
		// Spread, not spent at once and then idle: the first window's last
		// request went in its last quarter.
		if lastBeforeReset.Before(start.Add(45 * time.Minute)) {
			t.Fatalf("last request of the first window at +%s: the budget was not spread to the reset", lastBeforeReset.Sub(start))
		}
		t.Logf("quota %d points/h, polled flat out: %d requests in the first window, %d held back by the pacer, last at +%s, %d answered 429",
			quota, sent, paced, lastBeforeReset.Sub(start).Round(time.Second), fake.QuotaRefusals())
		if st, ok := s.Pace(); ok && !st.PacedUntil.IsZero() && st.PacedUntil.After(time.Now()) {
			t.Fatalf("still paced after the reset: %+v", st)
		}

		// The reset restores full speed: the next 50 polls (a new window of
		// 100 points) take no time at all.
		at := time.Now()
		for range 50 {
			if rl := poll(t, s); rl != nil {
				t.Fatalf("after the reset: %v", rl)
			}
		}
		if d := time.Since(at); d != 0 {
			t.Fatalf("50 polls after the reset took %s, want no wait", d)
		}
		if got := fake.QuotaRefusals(); got != 0 {
			t.Fatalf("%d requests refused after the reset", got)
		}
	})
}

// While paced, the session shows the budget and until when it is paced.
func TestJiraSessionShowsThePacedBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := jirafake.NewSandbox(connector.Cloud)
		fake.SetQuota(100, time.Hour, 1)
		s := pacedSession(t, fake)
		for range 85 { // 15 points left: under a fifth
			poll(t, s)
		}
		st, ok := s.Pace()
		if !ok || st.Policy != "tenant-app-quota" || st.Limit != 100 || st.Remaining > 19 || !st.NearLimit {
			t.Fatalf("pace status = %+v, %v", st, ok)
		}
		if want := time.Now().Truncate(time.Hour).Add(time.Hour); !st.PacedUntil.Equal(want) {
			t.Fatalf("paced until %s, want the window's end %s", st.PacedUntil, want)
		}
	})
}

// A 429 still comes back as the rate limit it is (Retry-After, the reason),
// and the pacer holds the identity's next request back until it has
// passed instead of sending it into another 429.
func TestJira429StillWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := jirafake.NewSandbox(connector.Cloud)
		s := pacedSession(t, fake)
		fake.RateLimitNext(30*time.Second, "jira-burst-based")
		cctx := context.Background()
		_, err := jira.New().Discover(cctx, s, trackers.DiscoveryQuery{})
		var rl *trackers.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second || rl.Reason != "jira-burst-based" {
			t.Fatalf("429: %v", err)
		}
		if st, ok := s.Pace(); !ok || !st.PacedUntil.Equal(time.Now().Add(30*time.Second)) {
			t.Fatalf("after the 429 the session shows %+v, %v; want paced until the Retry-After", st, ok)
		}
		before := fake.Requests()
		time.Sleep(10 * time.Second)
		_, err = jira.New().Discover(cctx, s, trackers.DiscoveryQuery{})
		if !errors.As(err, &rl) || rl.RetryAfter != 20*time.Second || !strings.HasPrefix(rl.Reason, "paced: ") {
			t.Fatalf("within the Retry-After: %v", err)
		}
		if fake.Requests() != before {
			t.Fatal("a request was sent within the Retry-After")
		}
		time.Sleep(20 * time.Second)
		if _, err := jira.New().Discover(cctx, s, trackers.DiscoveryQuery{}); err != nil {
			t.Fatalf("after the Retry-After: %v", err)
		}
	})
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
