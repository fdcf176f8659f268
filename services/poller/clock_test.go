package poller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

// manualClock is a Clock that moves only when the test advances it. Its
// tickers deliver on unbuffered channels, so Advance returns once the
// scheduler has taken the tick, which it only does after it finished with
// the one before.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

var _ Clock = (*manualClock)(nil)

type manualTicker struct {
	c       chan time.Time
	period  time.Duration
	next    time.Time
	stopped chan struct{}
	stop    sync.Once
}

func newManualClock(now time.Time) *manualClock { return &manualClock{now: now} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTicker{c: make(chan time.Time), period: d, next: c.now.Add(d), stopped: make(chan struct{})}
	c.tickers = append(c.tickers, t)
	return t
}

func (t *manualTicker) C() <-chan time.Time { return t.c }
func (t *manualTicker) Stop()               { t.stop.Do(func() { close(t.stopped) }) }

// Advance moves the clock by d and hands one tick to every ticker that fell
// due (like a time.Ticker, ticks a slow receiver missed are dropped),
// waiting until each is taken or its ticker stopped.
func (c *manualClock) Advance(t *testing.T, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*manualTicker
	for _, tk := range c.tickers {
		if !tk.next.After(now) {
			due = append(due, tk)
			for !tk.next.After(now) {
				tk.next = tk.next.Add(tk.period)
			}
		}
	}
	c.mu.Unlock()
	for _, tk := range due {
		select {
		case tk.c <- now:
		case <-tk.stopped:
		case <-time.After(30 * time.Second):
			t.Fatalf("no replica took the tick at %s", now.Format(time.RFC3339Nano))
		}
	}
}

// pollState reads a connector's poll state.
func (e *env) pollState(t *testing.T, id string) connector.PollState {
	t.Helper()
	kv, err := e.js.KeyValue(context.Background(), bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	st, err := connector.NewStateStore(kv).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// cycleDone waits until p has finished the cycle of connector id that
// started at the clock's present time: its poll state is saved and p no
// longer polls it.
func (e *env) cycleDone(t *testing.T, p *Poller, clock *manualClock, id string) {
	t.Helper()
	at := clock.Now()
	testenv.Eventually(t, 20*time.Second, "the cycle of "+id+" at "+at.Format(time.RFC3339Nano), func() bool {
		return e.pollState(t, id).LastPoll.Equal(at) && !p.isPolling(id)
	})
}

// firstCycle ticks p's clock until p has polled connector id once (it
// polls only after its watch has loaded the connector) and finished.
func (e *env) firstCycle(t *testing.T, p *Poller, clock *manualClock, id string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "the first cycle of "+id, func() bool {
		clock.Advance(t, p.cfg.Tick)
		return !e.pollState(t, id).LastPoll.IsZero() && !p.isPolling(id)
	})
}

// cycleAfter advances the clock by d (at least the poll interval) and waits
// for the cycle of connector id that falls due then.
func (e *env) cycleAfter(t *testing.T, p *Poller, clock *manualClock, id string, d time.Duration) {
	t.Helper()
	clock.Advance(t, d)
	e.cycleDone(t, p, clock, id)
}

// idleTicks hands p n ticks, d apart on its clock, then waits until no cycle
// it may have started is still running; it shows that nothing fell due.
func (e *env) idleTicks(t *testing.T, p *Poller, clock *manualClock, id string, n int, d time.Duration) {
	t.Helper()
	for range n {
		clock.Advance(t, d)
	}
	// Taking one more tick means the scheduler finished with the last one.
	clock.Advance(t, p.cfg.Tick)
	testenv.Eventually(t, 20*time.Second, "no cycle of "+id+" under way", func() bool { return !p.isPolling(id) })
}

func TestManualClockTicksOnlyWhenAdvanced(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := newManualClock(start)
	tk := clock.NewTicker(time.Second)
	got := make(chan time.Time, 10)
	go func() {
		for {
			select {
			case at := <-tk.C():
				got <- at
			case <-tk.(*manualTicker).stopped:
				close(got)
				return
			}
		}
	}()
	clock.Advance(t, 500*time.Millisecond) // not due: no tick, no wait
	clock.Advance(t, 600*time.Millisecond)
	clock.Advance(t, 5*time.Second) // four ticks missed: one delivered
	tk.Stop()
	clock.Advance(t, time.Hour) // stopped: nobody waits for it
	var ticks []time.Time
	for at := range got {
		ticks = append(ticks, at)
	}
	want := []time.Time{start.Add(1100 * time.Millisecond), start.Add(6100 * time.Millisecond)}
	if len(ticks) != len(want) || !ticks[0].Equal(want[0]) || !ticks[1].Equal(want[1]) {
		t.Fatalf("ticks %v, want %v", ticks, want)
	}
	if now := clock.Now(); !now.Equal(start.Add(time.Hour + 6100*time.Millisecond)) {
		t.Fatalf("now %v", now)
	}
}
