package all_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
)

// transportCases are one connector per system, each with the call that
// reaches its tracker first: discovery, or search for Confluence.
func transportCases(base string) []struct {
	name string
	c    connector.Connector
	call func(ctx context.Context, tr trackers.Tracker, s *trackers.Session) error
} {
	discover := func(ctx context.Context, tr trackers.Tracker, s *trackers.Session) error {
		_, err := tr.(trackers.Discoverer).Discover(ctx, s, trackers.DiscoveryQuery{Full: true})
		return err
	}
	search := func(ctx context.Context, tr trackers.Tracker, s *trackers.Session) error {
		_, err := tr.(trackers.Searcher).Search(ctx, s, trackers.SearchQuery{Terms: []string{"gateway"}})
		return err
	}
	return []struct {
		name string
		c    connector.Connector
		call func(ctx context.Context, tr trackers.Tracker, s *trackers.Session) error
	}{
		{"jira cloud", connector.Connector{ID: "j1", System: connector.Jira, Deployment: connector.Cloud, BaseURL: base,
			AuthMode: connector.AuthBasic, Username: "mia@example.com", Project: "ABC"}, discover},
		{"jira data center", connector.Connector{ID: "j2", System: connector.Jira, Deployment: connector.SelfHosted, BaseURL: base,
			AuthMode: connector.AuthBearer, Project: "ABC"}, discover},
		{"github", connector.Connector{ID: "g1", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: base,
			AuthMode: connector.AuthBearer, Project: "acme/widgets"}, discover},
		{"gitlab", connector.Connector{ID: "l1", System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: base,
			AuthMode: connector.AuthBearer, Project: "acme/widgets"}, discover},
		{"confluence", connector.Connector{ID: "c1", System: connector.Confluence, Deployment: connector.SelfHosted, BaseURL: base,
			AuthMode: connector.AuthBearer, SpaceKeys: []string{"ENG"}}, search},
	}
}

const transportSecret = "s3cret-token-never-elsewhere"

// A tracker that redirects to another host must not get the credential
// sent there, whichever client the tracker uses (go-github adds the token in
// a transport, client-go sends PRIVATE-TOKEN, the Atlassian clients set
// Authorization on the request).
func TestCredentialsNeverFollowARedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var leaked []string
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, h := range []string{"Authorization", "Private-Token", "Cookie"} {
			if v := r.Header.Get(h); v != "" {
				leaked = append(leaked, r.URL.Path+" "+h+": "+v)
			}
		}
		mu.Unlock()
		http.Error(w, `{"message":"nope"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(capture.Close)
	// The same loopback address under another name is another host.
	other := strings.Replace(capture.URL, "127.0.0.1", "localhost", 1)
	var redirects atomic.Int64
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirects.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "tracker-cookie"})
		http.Redirect(w, r, other+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(tracker.Close)

	reg := all.Registry()
	for _, tc := range transportCases(tracker.URL) {
		t.Run(tc.name, func(t *testing.T) {
			s, err := reg.NewSession(tc.c, connector.NewSecret(transportSecret), trackers.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tr, _ := reg.Lookup(tc.c.System)
			before := redirects.Load()
			if err := tc.call(context.Background(), tr, s); err == nil {
				t.Fatal("the call succeeded against a redirecting tracker")
			}
			if redirects.Load() == before {
				t.Fatal("the tracker was not asked (the test proves nothing)")
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Fatalf("credentials followed a redirect to another host:\n%s", strings.Join(leaked, "\n"))
	}
}

// A tracker that answers with an endless body is cut off at the cap, with an
// error that says so and is not retried, for every tracker.
func TestResponseBodiesAreCapped(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	var written atomic.Int64
	chunk := []byte(strings.Repeat(`{"id":1,"title":"x","body":"y"},`, 1024))
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("["))
		for range (50 << 20) / len(chunk) { // 50 MB of small objects, no Content-Length
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`{}]`))
	}))
	t.Cleanup(tracker.Close)

	reg := all.Registry()
	for _, tc := range transportCases(tracker.URL) {
		t.Run(tc.name, func(t *testing.T) {
			before := written.Load()
			s, err := reg.NewSession(tc.c, connector.NewSecret(transportSecret), trackers.Options{Timeout: 20 * time.Second, MaxResponseBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			tr, _ := reg.Lookup(tc.c.System)
			err = tc.call(context.Background(), tr, s)
			if !errors.Is(err, trackers.ErrResponseTooLarge) {
				t.Fatalf("err = %v, want ErrResponseTooLarge", err)
			}
			if retry, _ := trackers.RetryOf(err); retry != trackers.RetryNever {
				t.Errorf("RetryOf = %v, want RetryNever", retry)
			}
			if !strings.Contains(err.Error(), "HUB_MAX_RESPONSE_BYTES") {
				t.Errorf("the error %q does not name the setting", err)
			}
			// What the server got to write is the cap plus what the sockets
			// buffer, far from the 50 MB it had to send.
			sent := written.Load() - before
			if sent > 24<<20 {
				t.Errorf("the server wrote %d bytes before the client stopped reading", sent)
			}
			t.Logf("body cap figures: %s: the tracker wrote %.1f MiB of its 50 MiB answer before the client stopped reading (cap %d MiB)",
				tc.name, float64(sent)/(1<<20), limit>>20)
		})
	}
}

// A Retry-After too large to represent is a long wait for every tracker,
// never one that wrapped around to a second.
func TestAHugeRetryAfterIsALongWait(t *testing.T) {
	t.Parallel()
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "10000000000")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"slow down"}`))
	}))
	t.Cleanup(tracker.Close)
	reg := all.Registry()
	for _, tc := range transportCases(tracker.URL) {
		t.Run(tc.name, func(t *testing.T) {
			s, err := reg.NewSession(tc.c, connector.NewSecret(transportSecret), trackers.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tr, _ := reg.Lookup(tc.c.System)
			err = tc.call(context.Background(), tr, s)
			retry, wait := trackers.RetryOf(err)
			if retry != trackers.RetryAfterWait || wait < time.Hour {
				t.Fatalf("err = %v: RetryOf = %v after %v, want a wait of hours", err, retry, wait)
			}
		})
	}
}
