package poller

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
)

var (
	scaleConnectors = flag.Int("scale.connectors", 0, "TestScale's connector count; 0 runs the small CI size (200 connectors, 2s interval)")
	scaleInterval   = flag.Duration("scale.interval", time.Minute, "TestScale's poll interval when -scale.connectors is set")
	scaleIntervals  = flag.Int("scale.intervals", 2, "intervals TestScale measures after every connector's first poll")
)

// TestScale registers N GitHub connectors on embedded NATS against the
// GitHub fake (idle: every listing empty, every repeat answered 304 to its
// ETag), runs one replica with the production defaults, and reports, per
// interval, the polls needed and done, the requests sent, the polls started
// late, and the process's RSS and CPU. The process also runs the embedded
// NATS server and the fake, so RSS and CPU are upper bounds for the replica.
//
// By default it is a small run (200 connectors, 2 s) that checks every
// connector is polled once per interval. The capacity run is opt-in:
//
//	go test -run TestScale -scale.connectors=10000 -scale.interval=60s -timeout 30m ./services/poller
func TestScale(t *testing.T) {
	n, interval, windows := 200, 2*time.Second, max(*scaleIntervals, 2)
	if *scaleConnectors > 0 {
		n, interval = *scaleConnectors, *scaleInterval
	}
	e := newEnv(t, 30*time.Second)

	const token = "ghp_scale0000000000000000000000000001"
	fake := githubfake.New(githubfake.Options{
		Users:     []githubfake.User{{ID: 1, Login: "octocat"}},
		Tokens:    []githubfake.Token{{Value: token, Login: "octocat", Scopes: []string{"repo"}}},
		RateLimit: 1 << 30,
	})
	for i := range n {
		fake.AddRepo(githubfake.Repo{ID: int64(100 + i), Owner: "acme", Name: fmt.Sprintf("r%05d", i),
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}})
	}
	// Requests per repository (so per connector), counted as they arrive.
	requests := make([]atomic.Int64, n)
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, rest, ok := strings.Cut(r.URL.Path, "/repos/acme/r"); ok {
				if i, err := strconv.Atoi(strings.TrimSuffix(rest, "/issues")); err == nil && i >= 0 && i < n {
					requests[i].Add(1)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	url := fake.Start(t, count)
	reg := all.Registry()
	ctx := context.Background()
	for i := range n {
		c := connector.Connector{ID: fmt.Sprintf("gh-%05d", i), System: connector.GitHub, Deployment: connector.SelfHosted,
			BaseURL: url + "/api/v3", AuthMode: connector.AuthBearer, Assignee: "octocat", Project: fmt.Sprintf("acme/r%05d", i),
			Enabled: true, PollInterval: interval, Credential: connector.Credential{Ciphertext: token}}
		c.ApplyDefaults(reg)
		if _, err := e.store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, p := e.startWith(t, "r1", func(c *Config) {
		defaults := DefaultConfig()
		c.LeaseTTL, c.Tick, c.RetryBase = defaults.LeaseTTL, defaults.Tick, defaults.RetryBase
	}, reg, nil)

	polled := func() int {
		k := 0
		for i := range requests {
			if requests[i].Load() > 0 {
				k++
			}
		}
		return k
	}
	testenv.Eventually(t, max(3*interval, 5*time.Minute), fmt.Sprintf("a first poll of all %d connectors", n), func() bool { return polled() == n })
	t.Logf("scale: %d connectors, first poll of every one within %v", n, time.Since(start).Round(time.Millisecond))

	snapshot := func() []int64 {
		out := make([]int64, n)
		for i := range requests {
			out[i] = requests[i].Load()
		}
		return out
	}
	lateTotal := func() int {
		p.sched.mu.Lock()
		defer p.sched.mu.Unlock()
		return p.sched.lateTotal
	}
	// The first polls came in one burst, so every later one falls about a
	// whole number of intervals after it: windows starting half an interval
	// on hold one poll of each connector, not one split over their edges.
	time.Sleep(interval / 2)
	first := snapshot()
	cpu0, wall0 := cpuTime(t), time.Now()
	var missed, doubled []string
	for w := range windows {
		before, late0 := snapshot(), lateTotal()
		time.Sleep(interval)
		after := snapshot()
		done, reqs := 0, int64(0)
		for i := range after {
			d := after[i] - before[i]
			reqs += d
			if d > 0 {
				done++
			}
		}
		rss, peak := memStatus(t)
		t.Logf("scale: interval %d of %v: polls needed %d, done %d, requests %d (%.2f per connector), late polls %d; RSS %d MiB (peak %d MiB)",
			w+1, interval, n, done, reqs, float64(reqs)/float64(n), lateTotal()-late0, rss>>20, peak>>20)
	}
	cpu := cpuTime(t) - cpu0
	wall := time.Since(wall0)
	last := snapshot()
	for i := range last {
		// Over the whole measurement each connector is polled once per
		// interval; a phase falling on a window's edge moves one poll, so
		// one fewer or one more is tolerated, never a poll twice an interval.
		switch d := last[i] - first[i]; {
		case d < int64(windows-1):
			missed = append(missed, fmt.Sprintf("gh-%05d (%d)", i, d))
		case d > int64(windows+1):
			doubled = append(doubled, fmt.Sprintf("gh-%05d (%d)", i, d))
		}
	}
	rss, peak := memStatus(t)
	t.Logf("scale: %d connectors at %v on one replica: CPU %.3f cores over %v, RSS %d MiB (peak %d MiB), %d transports",
		n, interval, cpu.Seconds()/wall.Seconds(), wall.Round(time.Millisecond), rss>>20, peak>>20, p.topts.Transports.Len())
	if len(missed) > 0 {
		t.Errorf("%d connectors polled fewer than %d times in %d intervals: %s", len(missed), windows-1, windows, head(missed))
	}
	if len(doubled) > 0 {
		t.Errorf("%d connectors polled more than %d times in %d intervals: %s", len(doubled), windows+1, windows, head(doubled))
	}
}

func head(s []string) string {
	if len(s) > 10 {
		return strings.Join(s[:10], ", ") + ", …"
	}
	return strings.Join(s, ", ")
}

// cpuTime is the user and system CPU the process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memStatus reads the process's resident set and its peak from /proc.
func memStatus(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}
