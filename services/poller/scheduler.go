package poller

import (
	"container/heap"
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// scheduler runs the cycles of the connectors this replica holds: a due-time
// queue (a heap keyed by the next due time) feeds at most POLLER_CONCURRENCY
// cycles at once, at most POLLER_HOST_CONCURRENCY of them against one tracker
// host. A due connector waits for a free slot; a cycle that ends frees its
// slot and the next due connector starts at once, not at the next tick.
//
// Lock order: Poller.mu before scheduler.mu (onChange holds the first and
// updates entries); nothing under scheduler.mu talks to NATS.
type scheduler struct {
	p *Poller

	mu      sync.Mutex
	ctx     context.Context
	entries map[string]*entry // held connectors
	queue   dueQueue          // entries waiting for their due time or a slot
	// waiting holds, per host, due entries held back by the host cap; a
	// cycle ending on that host moves the earliest back to the queue.
	waiting     map[string]*dueQueue
	heldBy      map[connector.System]int
	running     int
	hostRunning map[string]int
	cycles      sync.WaitGroup

	// Saturation figures since the last log line.
	lateCount   int
	lateMax     time.Duration
	lastLateLog time.Time
	lateTotal   int // since start, never reset (the scale test reads it)

	// retryAt holds back acquiring a lease another replica held at the last
	// try (used by leasePass only, on the Run goroutine): a live holder
	// renews it, a dead one's expires within the TTL, so trying every tick
	// would only cost the bucket a failed write per connector per tick.
	retryAt map[string]time.Time
}

// entry is one held connector. It is kept small (about 250 bytes): a
// replica holds one per connector, 10,000 and more. The connector record is
// the one Poller.connectors holds (shared, never changed through the
// pointer: a changed record is a new one), and of the poll state only the
// three fields the due time derives from are kept (a whole PollState and
// Connector by value made an entry ~1.7 KB, 17 MB at 10,000 connectors).
type entry struct {
	c    *connector.Connector // kept current by onChange
	host string
	// timing is what the due time derives from (last poll, deferral and its
	// revision): with the connector's current interval and revision it gives
	// the due time, so a change made while a cycle runs is never overwritten
	// by a due time computed from the connector as it was.
	timing   dueTiming
	due      time.Time
	acquired time.Time
	index    int  // position in the heap it is in, -1 in none
	blocked  bool // in waiting[host] rather than the queue
	running  bool
	runHost  string // the host its running cycle counts against
	// reconcile is POLLER_WEBHOOK_RECONCILE_INTERVAL.
	reconcile time.Duration
	gone      bool // released while its cycle ran
	// lastNotice is when a webhook notice for it last came; again asks
	// for one more cycle as soon as the running one ends (a notice came
	// while it ran).
	lastNotice time.Time
	again      bool
	noticed    bool // the next cycle runs for a notice, due or not
	// refused and refusal are the refusals reported since the last cycle
	// started; the next cycle writes them into the poll state.
	refused int
	refusal string
}

func newScheduler(p *Poller) *scheduler {
	return &scheduler{p: p, entries: map[string]*entry{}, waiting: map[string]*dueQueue{},
		heldBy: map[connector.System]int{}, hostRunning: map[string]int{}, ctx: context.Background(),
		retryAt: map[string]time.Time{}}
}

// hostOf is the tracker host a connector's requests go to.
func hostOf(reg *trackers.Registry, c *connector.Connector) string {
	base := c.BaseURL
	if base == "" {
		base = reg.DefaultBaseURL(c.System, c.Deployment)
	}
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return strings.ToLower(u.Host)
	}
	return string(c.System)
}

// dueTiming is the part of a poll state the due time derives from.
type dueTiming struct {
	LastPoll, DeferredUntil time.Time
	DeferredRevision        uint64
}

// timingOf keeps the fields of a poll state the due time derives from.
func timingOf(st connector.PollState) dueTiming {
	return dueTiming{LastPoll: st.LastPoll, DeferredUntil: st.DeferredUntil, DeferredRevision: st.DeferredRevision}
}

// dueFor is connector.PollState.DueFor of the state t was taken from.
func (t dueTiming) dueFor(interval time.Duration, revision uint64) time.Time {
	return connector.PollState{LastPoll: t.LastPoll, DeferredUntil: t.DeferredUntil, DeferredRevision: t.DeferredRevision}.DueFor(interval, revision)
}

func (e *entry) dueTime() time.Time { return e.timing.dueFor(e.interval(), e.c.Revision) }

// interval is the connector's poll interval, or the webhook reconcile
// interval while its webhooks are healthy (a notice within that interval).
func (e *entry) interval() time.Duration {
	if e.c.Webhook && e.reconcile > e.c.PollInterval && !e.lastNotice.IsZero() && e.timing.LastPoll.Sub(e.lastNotice) < e.reconcile {
		return e.reconcile
	}
	return e.c.PollInterval
}

// leasePass takes leases up to a fair share per system (that system's
// enabled connectors / the live replicas polling it), gives back leases
// beyond it and of connectors that are gone or paused (never one whose
// cycle is under way), and queues what it took. Its cost is one pass over
// the connectors known plus O(held); the held counts are kept, not recounted.
func (s *scheduler) leasePass(ctx context.Context, replicas map[connector.System]int) {
	p := s.p
	perSystem := map[connector.System]int{}
	var candidates []string
	var release []string
	p.mu.Lock()
	s.mu.Lock()
	for id, c := range p.connectors {
		if !c.Enabled {
			continue
		}
		perSystem[c.System]++
		if _, held := s.entries[id]; !held {
			candidates = append(candidates, id)
		}
	}
	share := func(sys connector.System) int {
		n := max(replicas[sys], 1) // this replica, before its first heartbeat is seen
		return (perSystem[sys] + n - 1) / n
	}
	for id, e := range s.entries {
		if e.running || e.gone {
			continue
		}
		c, ok := p.connectors[id]
		if !ok || !c.Enabled || s.heldBy[e.c.System] > share(e.c.System) {
			s.removeLocked(e)
			release = append(release, id)
		}
	}
	held := make(map[connector.System]int, len(s.heldBy))
	for sys, n := range s.heldBy {
		held[sys] = n
	}
	s.mu.Unlock()
	p.mu.Unlock()

	for _, id := range release {
		p.leases.release(ctx, id)
		// Another replica polls it now: its session (a decrypted credential
		// and an HTTP client chain, ~3 KB) would only take memory here.
		p.forgetSession(id)
	}
	// Sorted candidates would be fairer between replicas, but a replica
	// under its share takes whatever is free; map order spreads them anyway.
	now := p.now()
	if len(s.retryAt) > 2*len(candidates)+64 {
		for id, at := range s.retryAt { // forget connectors gone or taken since
			if !now.Before(at) {
				delete(s.retryAt, id)
			}
		}
	}
	for _, id := range candidates {
		if ctx.Err() != nil {
			return
		}
		if now.Before(s.retryAt[id]) {
			continue
		}
		p.mu.Lock()
		c, ok := p.connectors[id]
		p.mu.Unlock()
		if !ok || held[c.System] >= share(c.System) {
			continue
		}
		got, err := p.leases.acquire(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("lease", "connector", id, "error", err)
			}
			continue
		}
		if !got {
			s.retryAt[id] = now.Add(p.cfg.LeaseTTL / 3)
			continue
		}
		delete(s.retryAt, id)
		st, err := p.states.Head(ctx, id) // the timing only, not the known tickets
		if err != nil {
			p.log.Warn("poll state", "connector", id, "error", err)
			p.leases.release(ctx, id)
			continue
		}
		held[c.System]++
		p.mu.Lock()
		c, ok = p.connectors[id]
		if ok && c.Enabled {
			s.add(c, timingOf(st))
		}
		p.mu.Unlock()
		if !ok || !c.Enabled {
			p.leases.release(ctx, id) // paused or deleted meanwhile
		}
	}
}

// add queues a newly held connector (caller holds Poller.mu).
func (s *scheduler) add(c *connector.Connector, timing dueTiming) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[c.ID]; ok && !old.gone {
		return
	}
	e := &entry{c: c, host: hostOf(s.p.trackers, c), timing: timing, acquired: s.p.now(), index: -1, reconcile: s.p.cfg.WebhookReconcile}
	if old, ok := s.entries[c.ID]; ok && old.running {
		// A released entry's cycle still runs: the new one waits for it.
		e.running, e.runHost = true, old.runHost
		old.gone = true
	}
	e.due = e.dueTime()
	s.entries[c.ID] = e
	s.heldBy[c.System]++
	if !e.running {
		heap.Push(&s.queue, e)
	}
}

// removeLocked forgets an entry that is not running (the caller releases its lease).
func (s *scheduler) removeLocked(e *entry) {
	s.unqueueLocked(e)
	delete(s.entries, e.c.ID)
	s.heldBy[e.c.System]--
}

func (s *scheduler) unqueueLocked(e *entry) {
	if e.index < 0 {
		return
	}
	if e.blocked {
		w := s.waiting[e.host]
		heap.Remove(w, e.index)
		if w.Len() == 0 {
			delete(s.waiting, e.host)
		}
	} else {
		heap.Remove(&s.queue, e.index)
	}
	e.blocked = false
}

// drop forgets a connector whose lease was lost (taken over by another
// replica), and its session (built again if the lease comes back).
func (s *scheduler) drop(id string) {
	s.p.forgetSession(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || e.gone {
		return
	}
	if e.running {
		e.gone = true
		s.heldBy[e.c.System]--
		return
	}
	s.removeLocked(e)
}

// update applies a changed connector record to its entry: the due time is
// computed again from the new interval and revision (a new revision lifts a
// deferral), whether or not a cycle is under way. Caller holds Poller.mu.
func (s *scheduler) update(c *connector.Connector) {
	s.mu.Lock()
	e, ok := s.entries[c.ID]
	if !ok || e.gone {
		s.mu.Unlock()
		return
	}
	s.unqueueLocked(e)
	e.c = c
	e.host = hostOf(s.p.trackers, c)
	if !e.running {
		e.due = e.dueTime()
		heap.Push(&s.queue, e)
	}
	s.mu.Unlock()
	s.dispatch()
}

// deleted stops polling a deleted connector at once; the next lease pass
// gives its lease back. Caller holds Poller.mu.
func (s *scheduler) deleted(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok && !e.gone {
		c := *e.c // the record is shared with Poller.connectors: never changed in place
		c.Enabled = false
		e.c = &c
		s.unqueueLocked(e)
	}
}

// isRunning reports whether a cycle of the connector is under way.
func (s *scheduler) isRunning(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	return ok && e.running
}

// dispatch starts every due cycle a free slot allows, earliest due first.
func (s *scheduler) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	// A host with free room but entries still waiting (one moved back was
	// then paused or released): give them their turn again. Few hosts ever
	// wait, those at their cap.
	for host, w := range s.waiting {
		for free := s.p.cfg.HostConcurrency - s.hostRunning[host]; free > 0 && w.Len() > 0; free-- {
			next := heap.Pop(w).(*entry)
			next.blocked = false
			heap.Push(&s.queue, next)
		}
		if w.Len() == 0 {
			delete(s.waiting, host)
		}
	}
	now := s.p.now()
	for s.running < s.p.cfg.Concurrency && s.queue.Len() > 0 && !s.queue[0].due.After(now) {
		e := heap.Pop(&s.queue).(*entry)
		if !e.c.Enabled {
			continue // paused: the next lease pass gives it back
		}
		if s.hostRunning[e.host] >= s.p.cfg.HostConcurrency {
			w := s.waiting[e.host]
			if w == nil {
				w = &dueQueue{}
				s.waiting[e.host] = w
			}
			e.blocked = true
			heap.Push(w, e)
			continue
		}
		s.startLocked(e, now)
	}
}

// startLocked runs one cycle of e in its own goroutine.
func (s *scheduler) startLocked(e *entry, now time.Time) {
	// Lateness is this replica's: counted from when it took the lease at the
	// earliest, so a takeover from a dead replica does not read as saturation.
	// Dispatch runs on every tick and every cycle's end, so a due connector
	// waits up to a tick (and the tick's lease pass) on a replica that is not
	// saturated: only beyond two ticks is it late.
	late := now.Sub(latest(e.due, e.acquired))
	if late <= 2*s.p.cfg.Tick {
		late = 0
	} else {
		s.lateCount++
		s.lateTotal++
		s.lateMax = max(s.lateMax, late)
	}
	e.running, e.runHost = true, e.host
	s.running++
	s.hostRunning[e.host]++
	s.cycles.Add(1)
	ctx, c, noticed := s.ctx, *e.c, e.noticed
	hs := hookStats{lastNotice: e.lastNotice, refused: e.refused, reason: e.refusal, noticedSince: func(t time.Time) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return e.lastNotice.After(t)
	}}
	e.noticed, e.refused = false, 0
	go func() {
		defer s.cycles.Done()
		st := s.p.cycleOf(ctx, c, late, noticed, hs)
		s.finish(e, timingOf(st))
		s.p.shareRecord(c.ID, c.Revision)
		s.dispatch()
	}()
}

// finish frees a cycle's slot and queues its connector at the due time its
// current record gives.
func (s *scheduler) finish(e *entry, timing dueTiming) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.running = false
	s.running--
	if s.hostRunning[e.runHost]--; s.hostRunning[e.runHost] <= 0 {
		delete(s.hostRunning, e.runHost)
	}
	if w := s.waiting[e.runHost]; w != nil {
		next := heap.Pop(w).(*entry)
		next.blocked = false
		heap.Push(&s.queue, next)
		if w.Len() == 0 {
			delete(s.waiting, e.runHost)
		}
	}
	if e.gone {
		if cur, ok := s.entries[e.c.ID]; ok && cur == e {
			delete(s.entries, e.c.ID)
		} else if ok && cur.running {
			// Taken again while this cycle ran: the new entry starts now.
			cur.running = false
			cur.due = cur.dueTime()
			heap.Push(&s.queue, cur)
		}
		return
	}
	// A cycle that started on time counts from its due time, not from when
	// the tick came: otherwise every cycle would drift by up to a tick and a
	// connector would be polled less than once per interval.
	if !e.due.IsZero() && !timing.LastPoll.Before(e.due) && timing.LastPoll.Sub(e.due) <= 2*s.p.cfg.Tick {
		timing.LastPoll = e.due
	}
	e.timing = timing
	e.due = e.dueTime()
	if e.again {
		e.again, e.noticed = false, true
		e.due = s.p.now()
	}
	heap.Push(&s.queue, e)
}

// notice makes a held connector due now: a webhook said one of its tickets
// changed. A cycle under way is followed by another at once (it may have
// listed before the change). It reports whether this replica holds the
// connector (only the lease holder acts on a notice: one writer of its
// poll state). The caller dispatches.
func (s *scheduler) notice(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || e.gone || !e.c.Enabled {
		return false
	}
	e.lastNotice = s.p.now()
	if e.running {
		e.again = true
		return true
	}
	s.unqueueLocked(e)
	e.due, e.noticed = s.p.now(), true
	heap.Push(&s.queue, e)
	return true
}

// refusedDeliveries adds refused deliveries reported by the webhook
// receiver to a held connector, for its next cycle to record; it asks for
// no poll. It reports whether this replica holds the connector.
func (s *scheduler) refusedDeliveries(id string, n int, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || e.gone {
		return false
	}
	e.refused += n
	e.refusal = reason
	return true
}

// saturation returns and resets the polls started late since the last call.
func (s *scheduler) saturation() (count int, worst time.Duration, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	count, worst = s.lateCount, s.lateMax
	s.lateCount, s.lateMax = 0, 0
	now := s.p.now()
	for _, e := range s.queue {
		if !e.due.After(now) {
			queued++
		}
	}
	for _, w := range s.waiting {
		queued += w.Len()
	}
	return count, worst, queued
}

// logSaturation says, at most once per interval given, that polls started
// late: the replica has more due connectors than slots (or than a host's cap).
func (s *scheduler) logSaturation(every time.Duration) {
	now := s.p.now()
	s.mu.Lock()
	if now.Sub(s.lastLateLog) < every || s.lateCount == 0 {
		s.mu.Unlock()
		return
	}
	s.lastLateLog = now
	s.mu.Unlock()
	n, worst, queued := s.saturation()
	s.p.log.Warn("replica saturated: polls started late; add replicas or raise POLLER_CONCURRENCY / POLLER_HOST_CONCURRENCY",
		"late_polls", n, "max_late_by", worst.Round(time.Millisecond), "due_waiting", queued,
		"concurrency", s.p.cfg.Concurrency, "host_concurrency", s.p.cfg.HostConcurrency)
}

// dueQueue is a min-heap of entries by due time (then id, for a stable order).
type dueQueue []*entry

var _ heap.Interface = (*dueQueue)(nil)

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if c := q[i].due.Compare(q[j].due); c != 0 {
		return c < 0
	}
	return q[i].c.ID < q[j].c.ID
}
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}

// shareRecord makes the connector's record the one its session holds
// (Session.Connector, the same record at the same revision), so a held
// connector's 1.1 KB record is in memory once, not twice (Poller.connectors
// and the session each had a copy: 11 MB at 10,000 connectors). Records are
// never changed in place, so sharing is safe; forgetSession copies the
// record out again before the session is dropped, or the record would keep
// the whole session alive.
func (p *Poller) shareRecord(id string, revision uint64) {
	sess := p.sessions.Cached(id, revision)
	if sess == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.connectors[id]
	if cur == nil || cur == &sess.Connector || cur.Revision != revision || sess.Connector.Revision != revision {
		return
	}
	shared := &sess.Connector
	p.sched.mu.Lock()
	defer p.sched.mu.Unlock()
	e := p.sched.entries[id]
	if e == nil || e.gone {
		return // no longer held: its session is being forgotten
	}
	p.connectors[id] = shared
	if e.c == cur {
		e.c = shared
	}
}

// forgetSession drops a connector's session (its lease went to another
// replica), first giving the record back its own copy if it shared the
// session's (shareRecord).
func (p *Poller) forgetSession(id string) {
	p.mu.Lock()
	if cur := p.connectors[id]; cur != nil {
		own := *cur
		p.connectors[id] = &own
		p.sched.mu.Lock()
		if e := p.sched.entries[id]; e != nil && e.c == cur {
			e.c = &own
		}
		p.sched.mu.Unlock()
	}
	p.sessions.Forget(id)
	p.mu.Unlock()
}
