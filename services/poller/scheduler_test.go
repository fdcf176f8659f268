package poller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// TestASlowTrackerCannotTakeEverySlot: five connectors on a tracker that
// never answers, four slots, two per host: the healthy tracker's connectors
// are still polled every interval.
func TestASlowTrackerCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.mem.setGate(func(ctx context.Context, id string) error {
		if strings.HasPrefix(id, "a-slow") {
			<-ctx.Done() // hangs until the cycle is given up
			return ctx.Err()
		}
		return nil
	})
	for i := range 5 {
		e.addConnectorAt(t, fmt.Sprintf("a-slow-%d", i), 100*time.Millisecond, "https://slow.test")
	}
	for i := range 3 {
		e.addConnectorAt(t, fmt.Sprintf("z-fast-%d", i), 100*time.Millisecond, "https://jira.test")
	}
	_, p := e.start(t, "r1", func(c *Config) { c.Concurrency = 4; c.HostConcurrency = 2; c.CycleTimeout = time.Hour })
	testenv.Eventually(t, 30*time.Second, "every healthy connector polled three times", func() bool {
		for i := range 3 {
			if e.mem.callCount(fmt.Sprintf("z-fast-%d", i)) < 3 {
				return false
			}
		}
		return true
	})
	p.sched.mu.Lock()
	slow := p.sched.hostRunning["slow.test"]
	p.sched.mu.Unlock()
	if slow > 2 {
		t.Errorf("%d cycles under way on the slow host; the cap is 2", slow)
	}
}

// TestAHangingTrackerIsCutShortByTheCycleTimeout: a tracker that never
// answers holds the one slot only for POLLER_CYCLE_TIMEOUT; the cycle fails
// with that said on the status, and the next connector gets the slot.
func TestAHangingTrackerIsCutShortByTheCycleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.mem.setGate(func(ctx context.Context, id string) error {
		if id == "jira-hang" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	e.addConnector(t, "jira-hang", time.Hour)
	e.addConnector(t, "jira-next", time.Hour)
	e.start(t, "r1", func(c *Config) { c.Concurrency = 1; c.CycleTimeout = 300 * time.Millisecond; c.Retries = 0 })
	testenv.Eventually(t, 30*time.Second, "both connectors polled", func() bool {
		return !e.pollState(t, "jira-hang").LastPoll.IsZero() && !e.pollState(t, "jira-next").LastPoll.IsZero()
	})
	st := e.pollState(t, "jira-hang")
	if !strings.Contains(st.LastError, "POLLER_CYCLE_TIMEOUT") || !strings.Contains(st.LastError, "backing off until") {
		t.Errorf("status of the hanging tracker's connector: %q; want the cycle timeout and a backoff", st.LastError)
	}
	if st := e.pollState(t, "jira-next"); st.LastError != "" || st.LastSuccess.IsZero() {
		t.Errorf("the other connector: %+v", st)
	}
}

// TestASaturatedReplicaSaysHowLate: one slot, two due connectors, the first
// cycle held for 10 s of the replica's clock: the second starts late by
// about that much, and its status says so.
func TestASaturatedReplicaSaysHowLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	e.addConnector(t, "jira-l1", time.Hour)
	e.addConnector(t, "jira-l2", time.Hour)
	var (
		mu    sync.Mutex
		first string
	)
	entered, release := make(chan struct{}), make(chan struct{})
	e.mem.setGate(func(ctx context.Context, id string) error {
		mu.Lock()
		if first != "" {
			mu.Unlock()
			return nil
		}
		first = id
		mu.Unlock()
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second; c.Concurrency = 1 })
	testenv.Eventually(t, 20*time.Second, "a first cycle under way", func() bool {
		clock.Advance(t, p.cfg.Tick)
		select {
		case <-entered:
			return true
		default:
			return false
		}
	})
	testenv.Eventually(t, 20*time.Second, "both leases held", func() bool {
		clock.Advance(t, p.cfg.Tick)
		return p.leases.count() == 2
	})
	for range 10 {
		clock.Advance(t, time.Second)
	}
	close(release)
	mu.Lock()
	other := map[string]string{"jira-l1": "jira-l2", "jira-l2": "jira-l1"}[first]
	mu.Unlock()
	e.cycleDone(t, p, clock, other)
	if late := e.pollState(t, other).Late; late < 10*time.Second {
		t.Fatalf("%s waited 10s for a slot; its status says late by %v", other, late)
	}
	if late := e.pollState(t, first).Late; late != 0 {
		t.Errorf("%s started on time; its status says late by %v", first, late)
	}
	testenv.Eventually(t, 20*time.Second, "the replica logging that it is saturated", func() bool {
		clock.Advance(t, p.cfg.Tick)
		return strings.Contains(e.logs.String(), "replica saturated")
	})
}

// TestAPolledConnectorsRecordIsKeptOnce: after a cycle, the replica's record
// of a connector is the one its session holds (not a second 1.1 KB copy);
// when the lease goes to another replica, the session is forgotten and the
// record is a copy of its own again, so it does not keep the session alive.
func TestAPolledConnectorsRecordIsKeptOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.addConnector(t, "jira-once", time.Hour)
	_, p := e.start(t, "r1", nil)
	var held *trackers.Session
	shared := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		c := p.connectors["jira-once"]
		if c == nil {
			return false
		}
		sess := p.sessions.Cached(c.ID, c.Revision)
		p.sched.mu.Lock()
		defer p.sched.mu.Unlock()
		ent := p.sched.entries["jira-once"]
		held = sess
		return sess != nil && c == &sess.Connector && ent != nil && ent.c == c
	}
	testenv.Eventually(t, 30*time.Second, "the record shared with the session after the first cycle", shared)

	p.sched.drop("jira-once") // as when a renewal finds the lease taken over
	p.mu.Lock()
	c := p.connectors["jira-once"]
	p.mu.Unlock()
	if c == nil {
		t.Fatal("the record was forgotten with the session")
	}
	if sess := p.sessions.Cached(c.ID, c.Revision); sess != nil {
		t.Error("the session of a connector whose lease was lost is still cached")
	}
	if c == &held.Connector || c.ID != "jira-once" || c.Revision != held.Connector.Revision {
		t.Errorf("after the session was forgotten the record is still the session's (%v), or not the same record (id %q, revision %d)", c == &held.Connector, c.ID, c.Revision)
	}
}
