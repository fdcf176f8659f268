package writeback

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// slowComments holds every comment until released, like a tracker taking
// its time; a call whose context ends first is cut, as an HTTP request is.
type slowComments struct {
	*memTracker
	started chan struct{}
	release chan struct{}
}

func (s *slowComments) AddComment(ctx context.Context, sess *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		return trackers.Link{}, fmt.Errorf("comment cut: %w", err)
	}
	return s.memTracker.AddComment(ctx, sess, key, c)
}

func TestStoppingLetsTheWriteInFlightFinish(t *testing.T) {
	t.Parallel()
	// The drain bound is far away: only a service that cancels its writes
	// before draining them cuts this one.
	e := newEnv(t, connector.TrackerWins, func(c *Config) { c.DrainTimeout = 10 * time.Minute })
	slow := &slowComments{memTracker: e.mem, started: make(chan struct{}, 1), release: make(chan struct{})}
	// Before Run: the steps write through slow.
	e.svc.trackers = registryOf(t, slow)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- e.svc.Run(ctx) }()
	e.publish(t, fullResult("res-drain", time.Now()))
	select {
	case <-slow.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the comment step never started")
	}

	stop() // SIGTERM while the comment is being written
	close(slow.release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the write finished")
	}

	// Run returned only after the delivery was done with.
	ent, err := e.svc.ledger.Get(context.Background(), "res-drain")
	if err != nil {
		t.Fatal(err)
	}
	if st := ent.Steps["comment"].State; st != ledger.Done || !ent.Completed {
		t.Fatalf("after the stop: comment step %q, completed %v; want the write finished", st, ent.Completed)
	}
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if len(e.mem.comments) != 1 || len(e.mem.subtasks) != 2 {
		t.Fatalf("tracker: %d comments, %d sub-tasks; want 1 and 2", len(e.mem.comments), len(e.mem.subtasks))
	}
}

func TestStoppingCancelsAWriteThatOutlastsTheDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, func(c *Config) { c.DrainTimeout = 10 * time.Millisecond })
	slow := &slowComments{memTracker: e.mem, started: make(chan struct{}, 1), release: make(chan struct{})} // never released
	// Before Run: the steps write through slow.
	e.svc.trackers = registryOf(t, slow)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- e.svc.Run(ctx) }()
	e.publish(t, fullResult("res-cut", time.Now()))
	select {
	case <-slow.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the comment step never started")
	}
	stop()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run waited for the write beyond the drain timeout")
	}
	// The cut write is left for a redelivery to resume.
	ent, err := e.svc.ledger.Get(context.Background(), "res-cut")
	if err != nil {
		t.Fatal(err)
	}
	if st := ent.Steps["comment"].State; st != ledger.Started || ent.Completed || ent.Failed {
		t.Fatalf("after the cut: comment step %q, completed %v, failed %v; want it started and left for a redelivery", st, ent.Completed, ent.Failed)
	}
}

// registryOf registers tr as the only tracker (for its system).
func registryOf(t *testing.T, tr trackers.Tracker) *trackers.Registry {
	t.Helper()
	reg, err := trackers.NewRegistry(tr)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
