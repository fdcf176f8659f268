package poller

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// holdFirstCall makes the tracker's first call wait until release is closed
// (or its cycle ends); entered is closed when it arrives.
func holdFirstCall(m *memTracker) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	m.setGate(func(ctx context.Context, _ string) error {
		if held.CompareAndSwap(false, true) {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	return entered, release
}

func waitClosed(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestAnIntervalShortenedMidCycleApplies: the interval changes from an hour
// to 100ms while a cycle runs; the next cycle comes 100ms after it, not an
// hour (the cycle used to store a due time computed with the old interval
// over the reset made by the change).
func TestAnIntervalShortenedMidCycleApplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	e.addConnector(t, "jira-iv", time.Hour)
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
	e.firstCycle(t, p, clock, "jira-iv")

	entered, release := holdFirstCall(e.mem)
	clock.Advance(t, time.Hour)
	waitClosed(t, entered, "the second cycle")
	c := e.edit(t, "jira-iv", func(c *connector.Connector) { c.PollInterval = 100 * time.Millisecond })
	e.sees(t, p, "jira-iv", c.Revision)
	close(release)
	e.cycleDone(t, p, clock, "jira-iv")

	e.cycleAfter(t, p, clock, "jira-iv", 100*time.Millisecond)
}

// TestRetryAfterIsCappedByMaxDefer: a tracker asking to wait three hours
// holds the connector back for POLLER_MAX_DEFER (15 min) only.
func TestRetryAfterIsCappedByMaxDefer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	e.addConnector(t, "jira-cap", time.Minute)
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
	e.firstCycle(t, p, clock, "jira-cap")
	e.mem.failNext(&trackers.RateLimitError{RetryAfter: 3 * time.Hour, Reason: "test"})
	e.cycleAfter(t, p, clock, "jira-cap", time.Minute)
	st := e.pollState(t, "jira-cap")
	if d := st.NextPoll.Sub(st.LastPoll); d > 15*time.Minute+time.Second || d < 14*time.Minute {
		t.Fatalf("a 3h Retry-After deferred the connector by %v; want POLLER_MAX_DEFER's 15m", d)
	}
	if !strings.Contains(st.LastError, "rate limited until") {
		t.Errorf("status %q does not say it is rate limited", st.LastError)
	}
	e.cycleAfter(t, p, clock, "jira-cap", 15*time.Minute)
}

// TestAChangedConnectorIsNoLongerDeferred: an update, a pause and resume, or
// a delete and recreate (within one scheduler tick) lifts a rate limit's
// deferral: the connector is polled an interval after its last poll.
func TestAChangedConnectorIsNoLongerDeferred(t *testing.T) {
	t.Parallel()
	const interval = time.Minute
	for name, change := range map[string]func(t *testing.T, e *env, p *Poller, clock *manualClock, id string){
		"update": func(t *testing.T, e *env, p *Poller, _ *manualClock, id string) {
			c := e.edit(t, id, func(c *connector.Connector) { c.DisplayName = "renamed" })
			e.sees(t, p, id, c.Revision)
		},
		"pause and resume": func(t *testing.T, e *env, p *Poller, clock *manualClock, id string) {
			c := e.edit(t, id, func(c *connector.Connector) { c.Enabled = false })
			e.sees(t, p, id, c.Revision)
			e.idleTicks(t, p, clock, id, 2, p.cfg.Tick) // the lease goes back
			c = e.edit(t, id, func(c *connector.Connector) { c.Enabled = true })
			e.sees(t, p, id, c.Revision)
		},
		"delete and recreate": func(t *testing.T, e *env, p *Poller, _ *manualClock, id string) {
			if err := e.store.Delete(context.Background(), id, 0); err != nil {
				t.Fatal(err)
			}
			kv, err := e.js.KeyValue(context.Background(), bus.BucketPollState)
			if err != nil {
				t.Fatal(err)
			}
			if err := connector.NewStateStore(kv).Delete(context.Background(), id); err != nil { // as the registry does
				t.Fatal(err)
			}
			e.addConnector(t, id, interval)
			c, err := e.store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			e.sees(t, p, id, c.Revision)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 30*time.Second)
			id := "jira-" + strings.ReplaceAll(name, " ", "-")
			e.addConnector(t, id, interval)
			clock := newManualClock(time.Now())
			_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
			e.firstCycle(t, p, clock, id)
			e.mem.failNext(&trackers.RateLimitError{RetryAfter: 10 * time.Minute, Reason: "test"})
			e.cycleAfter(t, p, clock, id, interval)
			if st := e.pollState(t, id); st.NextPoll.Sub(st.LastPoll) < 9*time.Minute {
				t.Fatalf("not deferred: next poll %v after the last", st.NextPoll.Sub(st.LastPoll))
			}
			change(t, e, p, clock, id)
			e.cycleAfter(t, p, clock, id, interval)
			if st := e.pollState(t, id); st.LastError != "" {
				t.Errorf("status after the poll: %q", st.LastError)
			}
		})
	}
}

// TestPersistentServerErrorsBackOffAcrossCycles: a tracker answering 503
// cycle after cycle is polled after 2, 4, 8 intervals, then every 15 min
// (POLLER_BACKOFF_MAX), less jitter, never before; the status says "backing
// off until …"; one success polls every interval again.
func TestPersistentServerErrorsBackOffAcrossCycles(t *testing.T) {
	t.Parallel()
	const interval = time.Minute
	e := newEnv(t, 30*time.Second)
	e.addConnector(t, "jira-5xx", interval)
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second; c.Retries = 0 })
	e.firstCycle(t, p, clock, "jira-5xx")
	waits := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for range waits {
		e.mem.failNext(fmt.Errorf("503 service unavailable: %w", trackers.ErrTransient))
	}
	e.cycleAfter(t, p, clock, "jira-5xx", interval)
	for i, want := range waits {
		st := e.pollState(t, "jira-5xx")
		gap := st.NextPoll.Sub(st.LastPoll)
		if gap > want || gap < want*4/5 {
			t.Fatalf("after %d failed cycles the next poll is %v on; want %v less at most a fifth", i+1, gap, want)
		}
		if !strings.Contains(st.LastError, "backing off until "+st.NextPoll.UTC().Format(time.RFC3339)) {
			t.Errorf("status %q does not say until when it backs off", st.LastError)
		}
		calls := e.mem.callCount("jira-5xx")
		e.idleTicks(t, p, clock, "jira-5xx", 1, gap-2*time.Second)
		if e.mem.callCount("jira-5xx") != calls {
			t.Fatalf("polled %v into a %v backoff", gap-2*time.Second, gap)
		}
		e.cycleAfter(t, p, clock, "jira-5xx", 2*time.Second)
	}
	st := e.pollState(t, "jira-5xx")
	if st.LastError != "" || st.NextPoll.Sub(st.LastPoll) != interval {
		t.Fatalf("after a success: error %q, next poll %v on; want none and one interval", st.LastError, st.NextPoll.Sub(st.LastPoll))
	}
}
