package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// index is the registry's read side: every connector in memory, ordered by
// id (one tree for all, one per system), and every connector's poll
// status, both kept current by KV watches. Reads never touch the store:
// a page is a key range of a tree.
//
// Read-your-writes: every write the registry makes to the connectors
// bucket reports its revision (wrote); a read first waits until the watch
// has applied at least the newest revision written by this process, so a
// caller always sees its own prior writes (and those of every other caller
// of this replica).
type index struct {
	log *slog.Logger

	written atomic.Uint64 // newest revision this process wrote

	mu      sync.RWMutex
	conns   *connTrees
	rev     uint64        // newest revision applied to conns
	synced  bool          // conns holds the whole bucket
	changed chan struct{} // closed (and replaced) when rev or synced moves

	statuses      map[string]connector.PollStatus
	statusSynced  bool
	statusChanged chan struct{}
}

// errIndexBehind: the index did not catch up in time (a watch is failing);
// the caller may retry.
var errIndexBehind = errors.New("the registry's connector index is not current yet; retry shortly")

// indexWait bounds how long a read waits for the index to catch up.
const indexWait = 10 * time.Second

// connTrees are the connectors by id, all and per system.
type connTrees struct {
	all   *btree.BTreeG[connector.Connector]
	bySys map[connector.System]*btree.BTreeG[connector.Connector]
}

func byID(a, b connector.Connector) bool { return a.ID < b.ID }

const treeDegree = 32

func newConnTrees() *connTrees {
	return &connTrees{all: btree.NewG(treeDegree, byID), bySys: map[connector.System]*btree.BTreeG[connector.Connector]{}}
}

func (t *connTrees) put(c connector.Connector) {
	if old, ok := t.all.ReplaceOrInsert(c); ok && old.System != c.System {
		if tr := t.bySys[old.System]; tr != nil {
			tr.Delete(old)
		}
	}
	tr := t.bySys[c.System]
	if tr == nil {
		tr = btree.NewG(treeDegree, byID)
		t.bySys[c.System] = tr
	}
	tr.ReplaceOrInsert(c)
}

func (t *connTrees) remove(id string) {
	if old, ok := t.all.Delete(connector.Connector{ID: id}); ok {
		if tr := t.bySys[old.System]; tr != nil {
			tr.Delete(old)
		}
	}
}

func newIndex(log *slog.Logger) *index {
	return &index{log: log, conns: newConnTrees(), changed: make(chan struct{}), statuses: map[string]connector.PollStatus{}, statusChanged: make(chan struct{})}
}

// run keeps the index current until ctx ends, watching again (and
// rebuilding) after a watch fails.
func (x *index) run(ctx context.Context, store *connector.Store, states *connector.StateStore) {
	var wg sync.WaitGroup
	wg.Go(func() { x.keepWatching(ctx, "connectors", func() error { return x.watchConnectors(ctx, store) }) })
	wg.Go(func() { x.keepWatching(ctx, "poll states", func() error { return x.watchStatuses(ctx, states) }) })
	wg.Wait()
}

func (x *index) keepWatching(ctx context.Context, what string, watch func() error) {
	backoff := 100 * time.Millisecond
	for {
		err := watch()
		if ctx.Err() != nil {
			return
		}
		x.log.Warn("registry index: watch ended; watching again", "what", what, "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchConnectors builds a fresh tree from the watch's initial values and
// swaps it in once they are all there; later changes go to the live tree.
// Until the swap, readers keep the previous tree (and wait on revisions
// they wrote, which only the new watch will show).
func (x *index) watchConnectors(ctx context.Context, store *connector.Store) error {
	building := newConnTrees()
	var buildRev uint64
	live := false
	apply := func(ch connector.Change) {
		if !live {
			if ch.Deleted {
				building.remove(ch.Connector.ID)
			} else {
				building.put(ch.Connector)
			}
			buildRev = max(buildRev, ch.Revision)
			return
		}
		x.mu.Lock()
		if ch.Deleted {
			x.conns.remove(ch.Connector.ID)
		} else {
			x.conns.put(ch.Connector)
		}
		x.rev = max(x.rev, ch.Revision)
		x.signalLocked()
		x.mu.Unlock()
	}
	synced := func() {
		x.mu.Lock()
		x.conns, x.synced, live = building, true, true
		x.rev = max(x.rev, buildRev)
		x.signalLocked()
		x.mu.Unlock()
		building = nil
	}
	return store.WatchSynced(ctx, apply, synced, func(err error) {
		x.log.Warn("registry index: connector record skipped", "error", err)
	})
}

func (x *index) watchStatuses(ctx context.Context, states *connector.StateStore) error {
	building := map[string]connector.PollStatus{}
	live := false
	apply := func(ch connector.StatusChange) {
		m := building
		if live {
			x.mu.Lock()
			defer x.mu.Unlock()
			m = x.statuses
		}
		if ch.Deleted {
			delete(m, ch.ID)
		} else {
			m[ch.ID] = ch.Status
		}
	}
	synced := func() {
		x.mu.Lock()
		x.statuses, x.statusSynced, live = building, true, true
		close(x.statusChanged)
		x.statusChanged = make(chan struct{})
		x.mu.Unlock()
		building = nil
	}
	return states.WatchStatus(ctx, apply, synced, func(err error) {
		x.log.Warn("registry index: poll state skipped", "error", err)
	})
}

func (x *index) signalLocked() {
	close(x.changed)
	x.changed = make(chan struct{})
}

// wrote records a revision this process wrote.
func (x *index) wrote(rev uint64) {
	for {
		cur := x.written.Load()
		if rev <= cur || x.written.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// await waits until the index holds the whole bucket and every write this
// process made, then runs read under the read lock.
func (x *index) await(ctx context.Context, read func(t *connTrees)) error {
	want := x.written.Load()
	var timeout <-chan time.Time
	for {
		x.mu.RLock()
		if x.synced && x.rev >= want {
			read(x.conns)
			x.mu.RUnlock()
			return nil
		}
		ch := x.changed
		x.mu.RUnlock()
		if timeout == nil {
			t := time.NewTimer(indexWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			return errIndexBehind
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// get returns one connector.
func (x *index) get(ctx context.Context, id string) (c connector.Connector, err error) {
	found := false
	if err := x.await(ctx, func(t *connTrees) { c, found = t.all.Get(connector.Connector{ID: id}) }); err != nil {
		return connector.Connector{}, err
	}
	if !found {
		return connector.Connector{}, fmt.Errorf("%w: %s", connector.ErrNotFound, id)
	}
	return c, nil
}

// page returns up to size connectors of system ("": all) with ids after
// after ("": from the first), and whether more follow.
func (x *index) page(ctx context.Context, system connector.System, after string, size int) (out []connector.Connector, more bool, err error) {
	err = x.await(ctx, func(t *connTrees) {
		tr := t.all
		if system != "" {
			tr = t.bySys[system]
		}
		if tr == nil {
			return
		}
		n := size
		if size <= 0 {
			n = tr.Len()
		}
		out = make([]connector.Connector, 0, min(n, tr.Len()))
		tr.AscendGreaterOrEqual(connector.Connector{ID: after}, func(c connector.Connector) bool {
			if c.ID == after {
				return true
			}
			if size > 0 && len(out) == size {
				more = true
				return false
			}
			out = append(out, c)
			return true
		})
	})
	return out, more, err
}

// status returns the poll status of each id (zero for one never polled),
// once the statuses have been loaded.
func (x *index) status(ctx context.Context, ids ...string) ([]connector.PollStatus, error) {
	var timeout <-chan time.Time
	for {
		x.mu.RLock()
		if x.statusSynced {
			out := make([]connector.PollStatus, len(ids))
			for i, id := range ids {
				out[i] = x.statuses[id]
			}
			x.mu.RUnlock()
			return out, nil
		}
		ch := x.statusChanged
		x.mu.RUnlock()
		if timeout == nil {
			t := time.NewTimer(indexWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			return nil, errIndexBehind
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
