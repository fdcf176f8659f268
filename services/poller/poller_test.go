package poller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
)

// memTracker is an in-memory Jira-like tracker for the framework's own tests:
// it serves discovery from a map and can fail on demand. The real trackers
// run the shared suite (pkg/trackers/trackertest) against their fakes.
type memTracker struct {
	trackers.Tracker // the real Jira tracker, for validation and metadata
	pageSize         int
	cheap            bool

	mu      sync.Mutex
	tickets map[string]map[string]*memTicket // connector id → key → ticket
	calls   map[string]int                   // connector id → Discover calls
	// notModified counts listings answered "not modified" (cheap only).
	notModified int
	fail        []error // errors returned by the next calls
	// gate, when set, runs before every call outside the lock: a test
	// holds a cycle there (until ctx ends, say) or fails it.
	gate func(ctx context.Context, connectorID string) error
}

func (m *memTracker) setGate(gate func(ctx context.Context, connectorID string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gate = gate
}

type memTicket struct {
	tk       trackers.Ticket
	open     bool
	assigned bool
}

func newMemTracker() *memTracker {
	return &memTracker{Tracker: jira.New(), pageSize: 3, tickets: map[string]map[string]*memTicket{}, calls: map[string]int{}}
}

func (m *memTracker) ConditionalRequests() bool { return m.cheap }

func (m *memTracker) add(connectorID, key string, updated time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tickets[connectorID] == nil {
		m.tickets[connectorID] = map[string]*memTicket{}
	}
	m.tickets[connectorID][key] = &memTicket{tk: trackers.Ticket{Key: key, URL: "https://jira.test/browse/" + key, Summary: "ticket " + key, Updated: updated}, open: true, assigned: true}
}

func (m *memTracker) touch(connectorID, key string, updated time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tickets[connectorID][key].tk.Updated = updated
}

func (m *memTracker) resolve(connectorID, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tickets[connectorID][key].open = false
}

func (m *memTracker) failNext(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = append(m.fail, errs...)
}

func (m *memTracker) callCount(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[id]
}

func (m *memTracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	m.mu.Lock()
	gate := m.gate
	m.mu.Unlock()
	if gate != nil {
		if err := gate(ctx, s.Connector.ID); err != nil {
			m.mu.Lock()
			m.calls[s.Connector.ID]++
			m.mu.Unlock()
			return trackers.DiscoveryPage{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[s.Connector.ID]++
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		if err != nil {
			return trackers.DiscoveryPage{}, err
		}
	}
	var out []trackers.Ticket
	for _, t := range m.tickets[s.Connector.ID] {
		if t.open && t.assigned && !t.tk.Updated.Before(q.Since) {
			out = append(out, t.tk)
		}
	}
	slices.SortFunc(out, func(a, b trackers.Ticket) int {
		if c := a.Updated.Compare(b.Updated); c != 0 {
			return c
		}
		return compareStrings(a.Key, b.Key)
	})
	start, _ := strconv.Atoi(q.PageToken)
	end := min(start+m.pageSize, len(out))
	page := trackers.DiscoveryPage{Tickets: out[start:end]}
	if end < len(out) {
		page.NextPageToken = strconv.Itoa(end)
	}
	if m.cheap {
		etag := fmt.Sprint(q.Since.UnixNano(), q.PageToken, page.Tickets)
		if q.ETag == etag {
			m.notModified++
			return trackers.DiscoveryPage{NotModified: true}, nil
		}
		page.ETag = etag
	}
	return page, nil
}

func (m *memTracker) GetTicket(_ context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tickets[s.Connector.ID][key]
	if !ok {
		return trackers.Ticket{}, trackers.ErrTicketNotFound
	}
	return t.tk, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// plainDecrypter stores credentials in clear: the poller tests are about
// scheduling, not encryption (pkg/secrets has its own tests).
type plainDecrypter struct{}

func (plainDecrypter) Decrypt(_ context.Context, _, ciphertext string) ([]byte, error) {
	return []byte(ciphertext), nil
}

type env struct {
	srv   *bus.Embedded
	nc    *nats.Conn
	js    jetstream.JetStream
	store *connector.Store
	mem   *memTracker
	// conns holds each replica's own connection, as a separate process has;
	// closing it is how a test kills a replica (its leases stay behind).
	conns map[*Poller]*nats.Conn
	// logs holds what every replica logged (warnings and up).
	logs testenv.LogBuffer
	// topts are the replicas' tracker options (e.g. an OAuth token service).
	topts trackers.Options
}

func newEnv(t *testing.T, leaseTTL time.Duration) *env {
	t.Helper()
	srv := testenv.NATSServer(t)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(context.Background(), js, bus.ProvisionOptions{LeaseTTL: leaseTTL}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, nc: nc, js: js, store: connector.NewStore(kv), mem: newMemTracker(), conns: map[*Poller]*nats.Conn{}}
}

func (e *env) addConnector(t *testing.T, id string, interval time.Duration) {
	t.Helper()
	e.addConnectorAt(t, id, interval, "https://jira.test")
}

// addConnectorAt adds a connector whose tracker is at baseURL (its host is
// what the per-host cap counts).
func (e *env) addConnectorAt(t *testing.T, id string, interval time.Duration, baseURL string) {
	t.Helper()
	c := connector.Connector{ID: id, System: connector.Jira, Deployment: connector.Cloud, BaseURL: baseURL,
		AuthMode: connector.AuthBasic, Username: "bot@example.com", Enabled: true, PollInterval: interval,
		Credential: connector.Credential{Ciphertext: "token-" + id}}
	c.ApplyDefaults(all.Registry())
	if _, err := e.store.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// startReal starts a replica that uses the registered trackers.
func (e *env) startReal(t *testing.T, replica string, mutate func(*Config)) (stop func(), p *Poller) {
	t.Helper()
	return e.startWith(t, replica, mutate, all.Registry(), nil)
}

func (e *env) start(t *testing.T, replica string, mutate func(*Config)) (stop func(), p *Poller) {
	t.Helper()
	return e.startWith(t, replica, mutate, e.memRegistry(t), nil)
}

// startOnClock starts a replica whose time and ticker are clock's.
func (e *env) startOnClock(t *testing.T, replica string, clock Clock, mutate func(*Config)) (stop func(), p *Poller) {
	t.Helper()
	return e.startWith(t, replica, mutate, e.memRegistry(t), clock)
}

// memRegistry has the in-memory tracker stand in for Jira; GitHub and
// GitLab are real, for replicas that poll other systems.
func (e *env) memRegistry(t *testing.T) *trackers.Registry {
	t.Helper()
	reg, err := trackers.NewRegistry(e.mem, github.New(), gitlab.New())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func (e *env) startWith(t *testing.T, replica string, mutate func(*Config), reg *trackers.Registry, clock Clock) (stop func(), p *Poller) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ReplicaID = replica
	cfg.Tick = 20 * time.Millisecond
	cfg.LeaseTTL = time.Second
	cfg.Tick = 50 * time.Millisecond
	cfg.RetryBase = 10 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, &e.logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := e.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p, err = New(context.Background(), cfg, Deps{JS: js, Decrypter: plainDecrypter{}, Logger: log, Trackers: reg, Clock: clock, TrackerOptions: e.topts})
	if err != nil {
		t.Fatal(err)
	}
	e.conns[p] = nc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop, p
}

// events reads every ticket event published so far: kind → key → count.
func (e *env) events(t *testing.T) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	st, err := e.js.Stream(context.Background(), bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		kind := m.Subject[len("ticket."):]
		kind = kind[:indexByte(kind, '.')]
		if out[kind] == nil {
			out[kind] = map[string]int{}
		}
		out[kind][m.Header.Get(bus.HeaderSubject)]++
	}
	return out
}

func indexByte(s string, b byte) int {
	for i := range len(s) {
		if s[i] == b {
			return i
		}
	}
	return len(s)
}

func TestDiscoveredUpdatedClosedArePublishedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	const interval = 200 * time.Millisecond
	e.addConnector(t, "jira-one", interval)
	base := time.Now().Add(-time.Hour).UTC()
	for i := range 7 {
		e.mem.add("jira-one", fmt.Sprintf("ONE-%d", i), base.Add(time.Duration(i)*time.Minute))
	}
	// On a manual clock, each cycle runs when the test advances it.
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.ReconcileEvery = 1; c.LeaseTTL = 30 * time.Second })

	e.firstCycle(t, p, clock, "jira-one")
	testenv.Eventually(t, 10*time.Second, "7 discovered events", func() bool { return len(e.events(t)["discovered"]) == 7 })
	e.mem.touch("jira-one", "ONE-2", time.Now().UTC())
	e.cycleAfter(t, p, clock, "jira-one", interval)
	testenv.Eventually(t, 10*time.Second, "an updated event", func() bool { return e.events(t)["updated"]["ONE-2"] == 1 })
	e.mem.resolve("jira-one", "ONE-4")
	e.cycleAfter(t, p, clock, "jira-one", interval)
	testenv.Eventually(t, 10*time.Second, "a closed event", func() bool { return e.events(t)["closed"]["ONE-4"] == 1 })
	for range 3 { // a few more idle cycles must publish nothing
		e.cycleAfter(t, p, clock, "jira-one", interval)
	}
	ev := e.events(t)
	for kind, keys := range ev {
		for key, n := range keys {
			if n != 1 {
				t.Errorf("%s %s published %d times", kind, key, n)
			}
		}
	}
	if len(ev["updated"]) != 1 || len(ev["closed"]) != 1 {
		t.Errorf("events = %v", ev)
	}
	states, _ := e.js.KeyValue(context.Background(), bus.BucketPollState)
	st, err := connector.NewStateStore(states).Get(context.Background(), "jira-one")
	if err != nil || len(st.Known) != 6 || st.LastSuccess.IsZero() || st.LastError != "" || st.Owner != "r1" {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func TestCursorNeverPassesWhatWasNotPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.addConnector(t, "jira-cur", 100*time.Millisecond)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 6 {
		e.mem.add("jira-cur", fmt.Sprintf("CUR-%d", i), base.Add(time.Duration(i)*time.Minute))
	}
	// Page 1 succeeds, page 2 is malformed: a permanent error for this cycle.
	e.mem.failNext(nil, fmt.Errorf("page 2: %w", trackers.ErrMalformedResponse))
	_, p := e.start(t, "r1", nil)
	states, _ := e.js.KeyValue(context.Background(), bus.BucketPollState)
	ss := connector.NewStateStore(states)
	var first connector.PollState
	testenv.Eventually(t, 5*time.Second, "the failed cycle's state", func() bool {
		first, _ = ss.Get(context.Background(), "jira-cur")
		return first.LastError != ""
	})
	_ = p
	if !first.Cursor.Equal(base.Add(2*time.Minute)) || len(first.Known) != 3 {
		t.Fatalf("after a failed page the cursor is %v with %d known; want the last ticket of page 1 (%v) and 3 known", first.Cursor, len(first.Known), base.Add(2*time.Minute))
	}
	testenv.Eventually(t, 10*time.Second, "all 6 discovered", func() bool { return len(e.events(t)["discovered"]) == 6 })
	for key, n := range e.events(t)["discovered"] {
		if n != 1 {
			t.Errorf("%s discovered %d times", key, n)
		}
	}
}

// With saves spaced (POLLER_SAVE_EVERY) and a page in flight, a listing cut
// short still settles and keeps every page it published, not only those
// saved on the way.
func TestSpacedSavesKeepEveryAcknowledgedPageWhenAListingFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.addConnector(t, "jira-spaced", 100*time.Millisecond)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 9 {
		e.mem.add("jira-spaced", fmt.Sprintf("SP-%d", i), base.Add(time.Duration(i)*time.Minute))
	}
	// Pages 1 and 2 succeed, page 3 is malformed.
	e.mem.failNext(nil, nil, fmt.Errorf("page 3: %w", trackers.ErrMalformedResponse))
	e.start(t, "r1", func(c *Config) { c.SaveEvery = time.Hour })
	states, _ := e.js.KeyValue(context.Background(), bus.BucketPollState)
	ss := connector.NewStateStore(states)
	var first connector.PollState
	testenv.Eventually(t, 5*time.Second, "the failed cycle's state", func() bool {
		first, _ = ss.Get(context.Background(), "jira-spaced")
		return first.LastError != ""
	})
	if !first.Cursor.Equal(base.Add(5*time.Minute)) || len(first.Known) != 6 {
		t.Fatalf("after a failed page 3 the cursor is %v with %d known; want the last ticket of page 2 (%v) and 6 known", first.Cursor, len(first.Known), base.Add(5*time.Minute))
	}
}

func TestRetriesTransientFailuresAndDefersLongRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	const interval = 100 * time.Millisecond
	e.addConnector(t, "jira-rl", interval)
	e.mem.add("jira-rl", "RL-1", time.Now().Add(-time.Hour))
	e.mem.failNext(fmt.Errorf("502: %w", trackers.ErrTransient), fmt.Errorf("timeout: %w", trackers.ErrTransient))
	// On a manual clock, each cycle runs when the test advances it.
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second; c.MaxDefer = 2 * time.Hour })
	e.firstCycle(t, p, clock, "jira-rl")
	testenv.Eventually(t, 5*time.Second, "discovery after two transient failures", func() bool { return e.events(t)["discovered"]["RL-1"] == 1 })

	e.mem.failNext(&trackers.RateLimitError{RetryAfter: time.Hour, Reason: "jira-quota-based"})
	e.cycleAfter(t, p, clock, "jira-rl", interval)
	states, _ := e.js.KeyValue(context.Background(), bus.BucketPollState)
	ss := connector.NewStateStore(states)
	var st connector.PollState
	testenv.Eventually(t, 5*time.Second, "the rate limit on the connector status", func() bool {
		st, _ = ss.Get(context.Background(), "jira-rl")
		return st.LastError != ""
	})
	if wait := time.Until(st.NextPoll); wait < 50*time.Minute {
		t.Errorf("a 1h rate limit set the next poll %v from now", wait)
	}
	calls := e.mem.callCount("jira-rl")
	// Ten intervals on, well within the hour: not due.
	e.idleTicks(t, p, clock, "jira-rl", 10, interval)
	if e.mem.callCount("jira-rl") != calls {
		t.Error("the connector was polled while rate limited")
	}
	// Past the hour it is polled again.
	e.cycleAfter(t, p, clock, "jira-rl", time.Hour)
	if e.mem.callCount("jira-rl") == calls {
		t.Error("the connector was not polled after its rate limit")
	}
}

func TestReplicasShareConnectorsAndTakeOverFromADeadOne(t *testing.T) {
	t.Parallel()
	for _, replicas := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			t.Parallel()
			replicasShareAndTakeOver(t, replicas)
		})
	}
}

// replicasShareAndTakeOver runs n replicas on six connectors: every ticket is
// published once, the leases spread over all replicas, no connector is
// polled more than once per interval, and when one replica dies the others
// take its connectors.
func replicasShareAndTakeOver(t *testing.T, n int) {
	e := newEnv(t, time.Second)
	const interval = 300 * time.Millisecond
	e.mem.pageSize = 50 // one request per listing, so requests count cycles
	ids := []string{"jira-a", "jira-b", "jira-c", "jira-d", "jira-e", "jira-f"}
	for i, id := range ids {
		e.addConnector(t, id, interval)
		for j := range 4 {
			e.mem.add(id, fmt.Sprintf("K%d-%d", i, j), time.Now().Add(-time.Hour).Add(time.Duration(j)*time.Second))
		}
	}
	var (
		pollers []*Poller
		stops   []func()
	)
	for i := range n {
		stop, p := e.start(t, fmt.Sprintf("r%d", i+1), nil)
		pollers, stops = append(pollers, p), append(stops, stop)
	}
	held := func(ps []*Poller) (total int, allHold bool) {
		allHold = true
		for _, p := range ps {
			total += p.leases.count()
			allHold = allHold && p.leases.count() > 0
		}
		return total, allHold
	}
	testenv.Eventually(t, 10*time.Second, "24 discovered", func() bool { return len(e.events(t)["discovered"]) == 24 })
	testenv.Eventually(t, 10*time.Second, "leases spread over every replica", func() bool {
		total, all := held(pollers)
		return total == 6 && all
	})

	// Each connector is polled about once per interval, never by two replicas at once.
	before := map[string]int{}
	for _, id := range ids {
		before[id] = e.mem.callCount(id)
	}
	window := 3 * time.Second
	time.Sleep(window)
	// Never more than once per interval (two replicas polling the same
	// connector would double it); at least once (progress), even on a
	// starved machine.
	maxCalls := int(window/interval) + 2
	for _, id := range ids {
		if c := e.mem.callCount(id) - before[id]; c > maxCalls || c < 1 {
			t.Errorf("%s polled %d times in %v with a %v interval (want 1..%d)", id, c, window, interval, maxCalls)
		}
	}

	// The second replica dies without releasing its leases; the others take
	// its connectors within a lease TTL and discover new tickets on them.
	dead := pollers[1]
	orphans := dead.leases.ids()
	e.conns[dead].Close() // killed: its connection drops, so nothing is released
	stops[1]()
	for i, id := range orphans {
		e.mem.add(id, fmt.Sprintf("NEW-%d", i), time.Now())
	}
	testenv.Eventually(t, 15*time.Second, "new tickets on the dead replica's connectors", func() bool {
		d := e.events(t)["discovered"]
		for i := range orphans {
			if d[fmt.Sprintf("NEW-%d", i)] != 1 {
				return false
			}
		}
		return true
	})
	survivors := append([]*Poller{pollers[0]}, pollers[2:]...)
	testenv.Eventually(t, 15*time.Second, "the survivors holding all six leases", func() bool {
		total, all := held(survivors)
		return total == 6 && all
	})
	for kind, keys := range e.events(t) {
		for key, c := range keys {
			if c != 1 {
				t.Errorf("%s %s published %d times", kind, key, c)
			}
		}
	}
}

func TestIdleCyclesWithConditionalRequestsAreNotModified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.mem.cheap = true
	e.addConnector(t, "jira-etag", 100*time.Millisecond)
	for i := range 5 {
		e.mem.add("jira-etag", fmt.Sprintf("ET-%d", i), time.Now().Add(-time.Hour).Add(time.Duration(i)*time.Minute))
	}
	e.start(t, "r1", func(c *Config) { c.ReconcileEvery = 1000 })
	testenv.Eventually(t, 5*time.Second, "5 discovered", func() bool { return len(e.events(t)["discovered"]) == 5 })
	counts := func() (int, int) {
		e.mem.mu.Lock()
		defer e.mem.mu.Unlock()
		return e.mem.calls["jira-etag"], e.mem.notModified
	}
	// Once the first idle cycle has cached the page's ETag, every idle
	// request is conditional and answered not modified.
	testenv.Eventually(t, 10*time.Second, "a first not-modified answer", func() bool { _, nm := counts(); return nm > 0 })
	calls0, nm0 := counts()
	testenv.Eventually(t, 10*time.Second, "three more idle cycles", func() bool { c, _ := counts(); return c-calls0 >= 3 })
	calls, nm := counts()
	if calls-calls0 != nm-nm0 {
		t.Fatalf("idle: %d listing requests, %d answered not modified; want every idle request conditional", calls-calls0, nm-nm0)
	}
	// A change is still seen.
	e.mem.add("jira-etag", "ET-new", time.Now())
	testenv.Eventually(t, 5*time.Second, "the new ticket", func() bool { return e.events(t)["discovered"]["ET-new"] == 1 })
}

// TestReplicasOfOtherSystemsDoNotShrinkTheShare: a Jira replica beside a
// GitHub-only replica polls every Jira connector (a share is per system).
func TestReplicasOfOtherSystemsDoNotShrinkTheShare(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	for i := range 4 {
		id := fmt.Sprintf("jira-s%d", i)
		e.addConnector(t, id, 200*time.Millisecond)
		e.mem.add(id, fmt.Sprintf("S%d-1", i), time.Now().Add(-time.Hour))
	}
	_, jiraReplica := e.start(t, "r-jira", func(c *Config) { c.Systems = []string{"jira"} })
	_, _ = e.start(t, "r-github", func(c *Config) { c.Systems = []string{"github"} })
	testenv.Eventually(t, 10*time.Second, "the Jira replica holding all four Jira connectors", func() bool { return jiraReplica.leases.count() == 4 })
	testenv.Eventually(t, 10*time.Second, "every Jira connector polled", func() bool { return len(e.events(t)["discovered"]) == 4 })
}

// TestNewRefusesALeaseTTLOtherThanTheBucketsTTL: POLLER_LEASE_TTL=2m over a
// poll_leases bucket provisioned with 30s would let leases expire before
// they are renewed (every 40s); the replica refuses to start, naming both.
func TestNewRefusesALeaseTTLOtherThanTheBucketsTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	cfg := DefaultConfig()
	cfg.LeaseTTL = 2 * time.Minute
	_, err := New(t.Context(), cfg, Deps{JS: e.js, Decrypter: plainDecrypter{}, Trackers: e.memRegistry(t)})
	if !errors.Is(err, ErrLeaseTTLMismatch) || !strings.Contains(err.Error(), "POLLER_LEASE_TTL is 2m0s") || !strings.Contains(err.Error(), "TTL is 30s") {
		t.Fatalf("New with a 2m lease TTL over a 30s bucket: %v; want ErrLeaseTTLMismatch naming both TTLs", err)
	}
	cfg.LeaseTTL = 30 * time.Second
	if _, err := New(t.Context(), cfg, Deps{JS: e.js, Decrypter: plainDecrypter{}, Trackers: e.memRegistry(t)}); err != nil {
		t.Fatalf("New with the bucket's TTL: %v", err)
	}
}

// edit changes a stored connector the way the registry does (a new revision).
func (e *env) edit(t *testing.T, id string, fn func(*connector.Connector)) connector.Connector {
	t.Helper()
	c, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fn(&c)
	c, err = e.store.Update(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sees waits until p's watch has delivered revision rev of connector id.
func (e *env) sees(t *testing.T, p *Poller, id string, rev uint64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the replica seeing %s at revision %d", id, rev), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		c := p.connectors[id]
		return c != nil && c.Revision == rev
	})
}
