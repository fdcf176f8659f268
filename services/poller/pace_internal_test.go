package poller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// handlerTransport serves requests with a fake in the calling goroutine
// (no socket: the synctest bubble can idle).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI, r.Host = req.URL.RequestURI(), req.URL.Host
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// The connector status shows the tracker's budget and, once it runs low,
// until when the connector's requests are paced; both clear when the
// tracker reports no budget.
func TestPaceStatusShowsTheBudgetAndPacedUntil(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := jirafake.NewSandbox(connector.Cloud)
		fake.SetQuota(1000, time.Hour, 1)
		c := connector.Connector{ID: "paced", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "http://127.0.0.1:8080",
			Project: jirafake.SandboxProject, AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail}
		sess, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken),
			trackers.Options{Timeout: 10 * time.Second, RoundTripper: handlerTransport{fake}})
		if err != nil {
			t.Fatal(err)
		}
		discover := func() {
			t.Helper()
			if _, err := jira.New().Discover(context.Background(), sess, trackers.DiscoveryQuery{}); err != nil {
				t.Fatal(err)
			}
		}
		var st connector.PollState
		discover()
		paceStatus(&st, sess)
		reset := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if want := "999 of 1000 left (tenant-app-quota), resets " + reset; st.RateBudget != want || !st.PacedUntil.IsZero() {
			t.Fatalf("full budget: %q paced until %s, want %q and not paced", st.RateBudget, st.PacedUntil, want)
		}
		for fake.QuotaLeft() >= 200 { // to under a fifth
			discover()
		}
		paceStatus(&st, sess)
		if !st.PacedUntil.Equal(time.Now().Add(time.Hour)) || !strings.Contains(st.RateBudget, "near its limit") {
			t.Fatalf("low budget: %q paced until %s", st.RateBudget, st.PacedUntil)
		}
		if got := connectorStatusOf(st); !got.PacedUntil.Equal(st.PacedUntil) || got.RateBudget != st.RateBudget {
			t.Fatalf("PollState.Status dropped the pacing: %+v", got)
		}
		time.Sleep(time.Hour)
		fake.SetQuota(0, 0, 0) // the tracker reports no budget any more
		discover()
		paceStatus(&st, sess)
		if st.RateBudget != "" || !st.PacedUntil.IsZero() {
			t.Fatalf("after the window, without figures: %q paced until %s", st.RateBudget, st.PacedUntil)
		}
	})
}

func connectorStatusOf(st connector.PollState) connector.PollStatus { return st.Status() }

// A token pool's set-aside tokens are shown with when they are tried again.
func TestPoolStatusShowsWhenASetAsideTokenIsRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer revoked" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		pool := trackers.NewTokenPool([]string{"revoked", "good"}, nil).WithRetry(5*time.Minute, time.Hour)
		hc := &http.Client{Transport: pool.Transport(handlerTransport{srv}, "pool.test", func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) })}
		resp, err := hc.Get("http://pool.test/")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		var st connector.PollState
		poolStatus(&st, &trackers.Session{Pool: pool})
		if len(st.PoolSetAside) != 1 || st.PoolUsable != 1 || len(st.PoolRetry) != 1 ||
			st.PoolRetry[0].Fingerprint != st.PoolSetAside[0] || !st.PoolRetry[0].At.Equal(time.Now().Add(5*time.Minute)) {
			t.Fatalf("pool status: %+v %d %+v", st.PoolSetAside, st.PoolUsable, st.PoolRetry)
		}
	})
}
