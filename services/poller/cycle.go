package poller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// tracerName names the poller's spans.
const tracerName = "github.com/connectorhub/connectorhub/services/poller"

// errDeferred carries a rate limit too long to wait out inside the cycle.
type errDeferred struct{ until time.Time }

func (e errDeferred) Error() string { return "rate limited until " + e.until.Format(time.RFC3339) }

// cycle polls one connector once and returns its poll state as saved (the
// scheduler takes the next due time from it). late is how long after its due
// time the cycle started. Every state write is conditional on the revision
// read, so a replica that lost the lease mid-cycle cannot overwrite the new
// holder's progress. The cycle is bounded by POLLER_CYCLE_TIMEOUT.
func (p *Poller) cycle(ctx context.Context, c connector.Connector, late time.Duration) connector.PollState {
	return p.cycleOf(ctx, c, late, false, hookStats{})
}

// hookStats are the webhook figures the scheduler gathered for a connector
// since its last cycle, written into the poll state by the cycle (its one
// writer): when the last notice came and the refusals reported.
type hookStats struct {
	lastNotice time.Time
	refused    int
	reason     string
	// noticedSince reports whether a notice came after t (while the cycle
	// ran: the change it announced may be the one this cycle published).
	noticedSince func(t time.Time) bool
}

// cycleOf is cycle; noticed says a webhook notice asked for it, so it runs
// even if the connector is not due.
func (p *Poller) cycleOf(ctx context.Context, c connector.Connector, late time.Duration, noticed bool, hs hookStats) connector.PollState {
	start := p.now()
	st, err := p.states.Load(ctx, c.ID)
	if errors.Is(err, connector.ErrStateDamaged) {
		// The known set cannot be trusted: list everything again (dedup ids
		// keep consumers from seeing an unchanged ticket twice) and let the
		// save rewrite the state whole.
		p.log.Warn("poll state damaged, resyncing", "connector", c.ID, "error", err)
		st.Resync, err = true, nil
	}
	if err != nil {
		p.log.Warn("poll state", "connector", c.ID, "error", err)
		return connector.PollState{DeferredUntil: start.Add(p.cfg.Tick)}
	}
	st = migrateKeys(p.trackers, c, st, p.log) // keys stored before GitHub and GitLab published owner/repo#12
	// The scheduler counts an interval from the last due time, which may be
	// up to a tick before the last start: that much early is on time.
	if due := st.DueFor(c.PollInterval, c.Revision); !noticed && start.Add(2*p.cfg.Tick).Before(due) {
		return st // another replica polled it meanwhile
	}
	run := &cycleRun{p: p, c: c, st: st}
	firstCycle := st.Cycles == 0 || st.Resync
	// One span per poll cycle: the root of each discovered ticket's trace.
	spanCtx, span := telemetry.Tracer(tracerName).Start(ctx, "poll "+string(c.System),
		trace.WithAttributes(attribute.String("connectorhub.connector.id", c.ID), attribute.String("connectorhub.system", string(c.System))))
	run.log = telemetry.SpanLogger(spanCtx, p.log.With("connector", c.ID, "system", c.System)) // logs carry the cycle's trace
	pollCtx, cancel := context.WithTimeout(spanCtx, p.cfg.CycleTimeout)
	err = run.poll(pollCtx)
	cancel()
	if ctx.Err() != nil && err != nil {
		telemetry.End(span, err)
		return connector.PollState{} // shutting down: the next holder polls it
	}
	if err != nil && pollCtx.Err() != nil {
		err = fmt.Errorf("cycle cut short by POLLER_CYCLE_TIMEOUT (%s): %w", p.cfg.CycleTimeout, err)
	}
	telemetry.End(span, err)
	p.endCycle(&run.st, c, start, late, err)
	poolStatus(&run.st, run.sess)
	paceStatus(&run.st, run.sess)
	if c.Webhook {
		if hs.lastNotice.After(run.st.LastDelivery) {
			run.st.LastDelivery = hs.lastNotice
		}
		if hs.refused > 0 {
			run.st.DeliveriesRefused += int64(hs.refused)
			run.st.LastRefusal = hs.reason
		}
		// A cycle no notice asked for that published changes found what no
		// delivery announced (the first listing and a resync excepted).
		if !noticed && !firstCycle && run.published > 0 && (hs.noticedSince == nil || !hs.noticedSince(start)) {
			run.st.PollOnlyChanges += int64(run.published)
			run.log.Info("changes only the poll found", "count", run.published)
		}
	}
	var deferred errDeferred
	p.metrics.PollCycle(ctx, c, p.now().Sub(start), late > 0, run.st.Cursor, errors.As(err, &deferred), err)
	if err != nil {
		run.log.Warn("poll failed", "error", err, "next_poll", run.st.NextPoll)
	}
	if err := run.save(ctx); err != nil {
		run.log.Warn("poll state not saved", "error", err)
	}
	return run.st
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// cycleRun is the state of one cycle.
type cycleRun struct {
	p   *Poller
	c   connector.Connector
	st  connector.PollState
	log interface {
		Warn(msg string, args ...any)
		Info(msg string, args ...any)
		Debug(msg string, args ...any)
	}
	sess *trackers.Session
	d    trackers.Discoverer
	// conditional: the tracker answers unchanged listings 304 (ETags are kept).
	conditional bool
	// pending is the page published and not yet settled (publishPage);
	// inFlight its tickets' versions (and fingerprints), until they are known.
	pending  *pendingPage
	inFlight map[string]knownChange
	// saved is when flush last saved; unsaved says pages were settled
	// since (POLLER_SAVE_EVERY).
	saved   time.Time
	unsaved bool
	// names are the connector's event subjects and source (publishPage).
	names *eventNames
	// published counts the events this cycle stored on the bus (not
	// duplicates): ticket.discovered, ticket.updated and ticket.closed.
	published int
}

func (r *cycleRun) save(ctx context.Context) error {
	st, err := r.p.states.Put(ctx, r.c.ID, r.st)
	if err != nil {
		return err
	}
	r.st = st
	return nil
}

func (r *cycleRun) poll(ctx context.Context) error {
	tr, ok := r.p.trackers.Lookup(r.c.System)
	if !ok {
		return fmt.Errorf("no tracker for system %s", r.c.System)
	}
	d, ok := tr.(trackers.Discoverer)
	if !ok {
		return fmt.Errorf("%s has no discovery", r.c.System)
	}
	r.d = d
	sess, err := r.p.sessions.Get(ctx, r.c)
	if err != nil {
		return r.p.sessionError(ctx, r.c, err)
	}
	r.sess = sess
	if r.st.Known == nil {
		r.st.Known = map[string]time.Time{}
	}
	if cl, ok := tr.(trackers.ConditionalLister); ok {
		r.conditional = cl.ConditionalRequests()
	}
	if r.st.Cycles == 0 && r.st.Cursor.IsZero() || r.st.Resync {
		// First poll (or a resync): the whole set, with full payloads.
		if err := r.listing(ctx, time.Time{}, listFull); err != nil {
			return err
		}
		r.st.Resync = false
		return nil
	}
	// Tickets updated since the cursor (minus the lookback). With
	// conditional requests an idle cycle is one request answered 304.
	if err := r.listing(ctx, r.st.Cursor.Add(-r.p.cfg.Lookback), listIncremental); err != nil {
		return err
	}
	// Every N cycles, the whole set (keys only) finds tickets that left it.
	if r.st.Cycles%int64(r.p.cfg.ReconcileEvery) == int64(r.p.cfg.ReconcileEvery-1) {
		return r.listing(ctx, time.Time{}, listReconcile)
	}
	return nil
}

type listKind int

const (
	listFull        listKind = iota // whole set, full payloads, publish, detect closures
	listIncremental                 // updated since, full payloads, publish
	listReconcile                   // whole set, keys only, detect closures
)

// listing runs one listing page by page. Published pages are saved as they
// go, so the cursor never passes what was published. A whole-set listing
// that completes publishes a closure for every known ticket it lacks; a
// reconcile that meets a ticket no incremental query reported asks for a
// resync.
func (r *cycleRun) listing(ctx context.Context, since time.Time, kind listKind) (err error) {
	defer func() {
		// A listing cut short still settles the page it published: the
		// cursor keeps what was acknowledged.
		if err != nil && (r.pending != nil || r.unsaved) {
			if ferr := r.flush(ctx, true); ferr != nil {
				r.log.Debug("last published page not settled", "error", ferr)
			}
		}
	}()
	whole := kind != listIncremental
	publish := kind != listReconcile
	cached := r.st.IncrementalPages
	if whole {
		cached = r.st.Pages
	}
	cache := map[string]connector.PageCache{}
	for _, pc := range cached {
		if pc.Since.Equal(since) {
			cache[pc.Token] = pc
		}
	}
	seen := map[string]bool{}
	var pages []connector.PageCache
	query := func(token string) trackers.DiscoveryQuery {
		q := trackers.DiscoveryQuery{Since: since, PageToken: token, Full: publish}
		if prev, hasPrev := cache[token]; r.conditional && hasPrev {
			q.ETag = prev.ETag
		}
		return q
	}
	// The next page is fetched while this one is published, acknowledged
	// and saved: the tracker and the bus work at the same time.
	fctx, cancel := context.WithCancel(ctx)
	type fetched struct {
		page trackers.DiscoveryPage
		err  error
	}
	var ahead chan fetched
	defer func() {
		cancel()
		if ahead != nil {
			<-ahead // a fetch outlives no listing
		}
	}()
	token := ""
	for n := 0; ; n++ {
		if n >= r.p.cfg.MaxPages {
			return fmt.Errorf("listing exceeded %d pages", r.p.cfg.MaxPages)
		}
		var page trackers.DiscoveryPage
		var err error
		if ahead != nil {
			f := <-ahead
			page, err, ahead = f.page, f.err, nil
		} else {
			page, err = r.discover(fctx, query(token))
		}
		if err != nil {
			return err
		}
		prev, hasPrev := cache[token]
		pc := connector.PageCache{Since: since, Token: token, ETag: page.ETag, Next: page.NextPageToken}
		if page.NotModified && hasPrev {
			pc = prev // unchanged since last time: nothing new to publish
		}
		if pc.Next != "" && n+1 < r.p.cfg.MaxPages {
			ch := make(chan fetched, 1)
			ahead = ch
			go func(q trackers.DiscoveryQuery) {
				p, err := r.discover(fctx, q)
				ch <- fetched{p, err}
			}(query(pc.Next))
		}
		if !(page.NotModified && hasPrev) {
			if whole {
				// Only whole-set pages need their keys: a 304 on one of them
				// must still count its tickets as seen.
				if len(page.Tickets) > 0 {
					pc.Keys = make([]string, len(page.Tickets))
					for i, tk := range page.Tickets {
						pc.Keys[i] = tk.Key
					}
				}
			}
			if publish {
				if err := r.publishPage(ctx, page.Tickets); err != nil {
					return err
				}
			} else {
				for _, tk := range page.Tickets {
					if _, known := r.st.Known[tk.Key]; !known {
						r.st.Resync = true
					}
				}
			}
		}
		for _, k := range pc.Keys {
			seen[k] = true
		}
		if r.conditional {
			pages = append(pages, pc)
		}
		if pc.Next == "" {
			break
		}
		token = pc.Next
	}
	if err := r.flush(ctx, true); err != nil {
		return err
	}
	if whole {
		r.st.Pages = pages
	} else {
		r.st.IncrementalPages = pages
	}
	if !whole {
		return r.save(ctx)
	}
	return r.publishClosed(ctx, seen)
}

// discover calls the tracker with retries: transient failures back off
// exponentially with jitter; a short rate limit is waited out; a long one
// ends the cycle and defers the connector.
func (r *cycleRun) discover(ctx context.Context, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	b := &backoff.ExponentialBackOff{
		InitialInterval: r.p.cfg.RetryBase, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: r.p.cfg.RetryMax,
	}
	op := func() (trackers.DiscoveryPage, error) {
		cctx, cancel := context.WithTimeout(ctx, r.p.cfg.RequestTime)
		defer cancel()
		page, err := r.d.Discover(cctx, r.sess, q)
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil { // the replica is stopping
			return page, backoff.Permanent(err)
		}
		switch retry, wait := trackers.RetryOf(err); retry {
		case trackers.RetryAfterWait:
			if wait <= r.p.cfg.MaxInlineWait {
				wait = max(wait, time.Second)
				return page, backoff.RetryAfter(int(wait.Round(time.Second) / time.Second))
			}
			return page, backoff.Permanent(errDeferred{until: r.p.now().Add(wait)})
		case trackers.RetryBackoff:
			r.log.Debug("transient tracker failure, retrying", "error", err)
			return page, err
		default:
			return page, backoff.Permanent(err)
		}
	}
	return backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(uint(r.p.cfg.Retries+1)))
}

// publishPage publishes discovered/updated events for a page without
// waiting for their acks, then settles the page before it: waits for its
// acks, records its tickets as known, advances the cursor and saves. So the
// bus acknowledges one page while the next is published, and the cursor
// never passes what was acknowledged. flush settles the last page.
func (r *cycleRun) publishPage(ctx context.Context, tickets []trackers.Ticket) error {
	if r.names == nil {
		names, err := newEventNames(r.c)
		if err != nil {
			return err
		}
		r.names = &names
	}
	// Room for every ticket of the page: growing the three slices by
	// doubling cost ~20 allocations a page.
	n := len(tickets)
	next := &pendingPage{tickets: tickets, futures: make([]jetstream.PubAckFuture, 0, n), changes: make([]knownChange, 0, n), kinds: make([]string, 0, n)}
	sends := bus.TraceSend(ctx)
	defer sends.End(nil) // on an early return; a no-op after End
	for _, tk := range tickets {
		prev, known := r.st.Known[tk.Key]
		flying, inFlight := r.inFlight[tk.Key]
		if inFlight {
			prev, known = flying.updated, true
		}
		if known && !tk.Updated.After(prev) {
			continue // already published at this version
		}
		kind := bus.TicketDiscovered
		if known {
			kind = bus.TicketUpdated
		}
		blk := newTicketBlock(r.c, tk)
		fp := ticketver.Print(&blk.ticket)
		var changed []string
		actor := ""
		if known {
			prevPrint := r.st.KnownPrint(tk.Key)
			if inFlight {
				prevPrint = flying.print
			}
			changed, actor = r.describeUpdate(ctx, tk, fp, prevPrint)
		}
		msg, err := r.p.ticketEvent(ctx, kind, r.names, tk, blk, changed, actor)
		if err != nil {
			return err
		}
		// The page's send span covers handing its events to the client; a
		// missing ack fails the cycle, which the poll span records.
		sends.Add(msg)
		f, err := r.p.js.PublishMsgAsync(msg)
		if err != nil {
			sends.End(err)
			return fmt.Errorf("publish %s: %w", tk.Key, err)
		}
		next.futures = append(next.futures, f)
		// The version's field hashes are recorded with it in the poll state
		// when the page settles (flush): the next version's changed_fields
		// compare with them, and the page costs no bus write per ticket
		// for them (issue 9).
		ch := knownChange{key: tk.Key, updated: tk.Updated, print: fp}
		next.changes = append(next.changes, ch)
		next.kinds = append(next.kinds, kind)
		if r.inFlight == nil {
			r.inFlight = map[string]knownChange{}
		}
		r.inFlight[tk.Key] = ch
	}
	sends.End(nil)
	if err := r.flush(ctx, false); err != nil {
		return err
	}
	r.pending = next
	return nil
}

// pendingPage is a page published and not yet settled.
type pendingPage struct {
	tickets []trackers.Ticket
	futures []jetstream.PubAckFuture
	changes []knownChange
	kinds   []string // each future's event type, for the metrics
}

// describeUpdate compares a ticket's new version with the one last
// published: newPrint is the new version's fingerprint (ticketver.Print),
// prevPrint the one the poll state kept for the last version. It says the fields
// that changed (nil when the last version's hashes are not known), and
// actor "self" when the change is the echo of the connector's own writeback
// (ticketver.IsEcho). A ticket known without a fingerprint, or with one
// from before issue 9 req. 4 (FNV-1a hashes, which Decode refuses), has
// no fields: its last version's hashes are unknown, and this version's
// fingerprint goes into the state for the next one. The ticket_versions
// records pollers before issue 9 wrote hold FNV-1a hashes too: they are
// no longer read. A writeback record that cannot be read leaves the actor
// empty: the event is published either way.
func (r *cycleRun) describeUpdate(ctx context.Context, tk trackers.Ticket, newPrint, prevPrint string) (changed []string, actor string) {
	if prev, ok := ticketver.Decode(prevPrint); ok {
		fp, _ := ticketver.Decode(newPrint)
		changed = ticketver.Changed(prev, fp)
	}
	self, ok, err := r.p.versions.Self(ctx, r.c.ID, tk.Key)
	if err != nil {
		r.log.Debug("writeback record unknown", "key", tk.Key, "error", err)
	}
	if ok && ticketver.IsEcho(self, tk.Updated, changed) {
		actor = ticketver.ActorSelf
	}
	return changed, actor
}

type knownChange struct {
	key     string
	updated time.Time
	print   string // the version's fingerprint (ticketver.Print)
}

// flush settles the page published last, if any: waits for every ack,
// then records its tickets as known, advances the cursor and saves.
func (r *cycleRun) flush(ctx context.Context, force bool) error {
	pg := r.pending
	if pg == nil {
		if force && r.unsaved {
			r.saved, r.unsaved = time.Now(), false
			return r.save(ctx)
		}
		return nil
	}
	r.pending = nil
	if err := awaitAcks(ctx, pg.futures, func(i int, ack *jetstream.PubAck) {
		r.p.metrics.TicketPublished(ctx, r.c.System, pg.kinds[i], ack.Duplicate)
		if !ack.Duplicate {
			r.published++
		}
	}); err != nil {
		return err
	}
	for _, ch := range pg.changes {
		r.st.SetKnownVersion(ch.key, ch.updated, ch.print)
		if r.inFlight[ch.key].updated.Equal(ch.updated) {
			delete(r.inFlight, ch.key)
		}
	}
	for _, tk := range pg.tickets {
		if tk.Updated.After(r.st.Cursor) {
			r.st.Cursor = tk.Updated
		}
	}
	if len(pg.changes) > 0 {
		r.log.Info("published ticket events", "count", len(pg.changes))
	}
	if !force && r.p.cfg.SaveEvery > 0 && time.Since(r.saved) < r.p.cfg.SaveEvery {
		r.unsaved = true // the listing's end (or a later flush) saves it
		return nil
	}
	r.saved, r.unsaved = time.Now(), false
	return r.save(ctx)
}

func (r *cycleRun) publishClosed(ctx context.Context, seen map[string]bool) error {
	var futures []jetstream.PubAckFuture
	var gone []string
	sends := bus.TraceSend(ctx)
	defer sends.End(nil) // on an early return; a no-op after End
	for _, key := range sortedKeys(r.st.Known) {
		if seen[key] {
			continue
		}
		msg, err := r.p.closedEvent(ctx, r.c, key, r.st.Known[key], r.closeReason(ctx, key))
		if err != nil {
			return err
		}
		sends.Add(msg)
		f, err := r.p.js.PublishMsgAsync(msg)
		if err != nil {
			sends.End(err)
			return fmt.Errorf("publish closed %s: %w", key, err)
		}
		futures = append(futures, f)
		gone = append(gone, key)
	}
	sends.End(nil)
	if err := awaitAcks(ctx, futures, func(_ int, ack *jetstream.PubAck) {
		r.p.metrics.TicketPublished(ctx, r.c.System, bus.TicketClosed, ack.Duplicate)
		if !ack.Duplicate {
			r.published++
		}
	}); err != nil {
		return err
	}
	for _, key := range gone {
		r.st.ForgetKnown(key)
	}
	if len(gone) > 0 {
		r.log.Info("published closed tickets", "count", len(gone))
	}
	return r.save(ctx)
}

// closeReason asks the tracker why a ticket left the set: one request per
// left ticket (trackers.LeaveExplainer). A tracker without the capability,
// or one that cannot answer now, gives "left_set": the closure is published
// anyway, since the ticket is no longer in the set either way.
func (r *cycleRun) closeReason(ctx context.Context, key string) string {
	tr, _ := r.p.trackers.Lookup(r.c.System)
	le, ok := tr.(trackers.LeaveExplainer)
	if !ok {
		return ReasonLeftSet
	}
	cctx, cancel := context.WithTimeout(ctx, r.p.cfg.RequestTime)
	defer cancel()
	reason, err := le.WhyLeft(cctx, r.sess, key)
	if err != nil {
		r.log.Debug("why the ticket left the set is unknown", "key", key, "error", err)
		return ReasonLeftSet
	}
	return reason
}

// ReasonLeftSet is TicketClosed.reason when the tracker could not say why
// the ticket left the set.
const ReasonLeftSet = "left_set"

// awaitAcks waits for every publish's acknowledgement, handing each to acked.
func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture, acked func(i int, ack *jetstream.PubAck)) error {
	for i, f := range futures {
		// A page is settled while the next is published: its acks are
		// mostly in. Asking for Err makes a second channel per publish, so
		// only a future whose ack is not in yet is asked for it.
		select {
		case ack := <-f.Ok():
			acked(i, ack)
			continue
		default:
		}
		select {
		case ack := <-f.Ok():
			acked(i, ack)
		case err := <-f.Err():
			return fmt.Errorf("publish not acknowledged: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// poolStatus shows a token pool on the connector's status: the tokens the
// tracker refused (by fingerprint, never the token) and how many still
// work. The session keeps the pool's state until the connector changes.
func poolStatus(st *connector.PollState, sess *trackers.Session) {
	st.PoolSetAside, st.PoolUsable, st.PoolRetry = nil, 0, nil
	if sess == nil || sess.Pool == nil {
		return
	}
	for _, t := range sess.Pool.Status() {
		if t.SetAside {
			st.PoolSetAside = append(st.PoolSetAside, t.Fingerprint)
			if !t.RetryAt.IsZero() {
				st.PoolRetry = append(st.PoolRetry, connector.PoolRetry{Fingerprint: t.Fingerprint, At: t.RetryAt})
			}
		} else {
			st.PoolUsable++
		}
	}
}

// paceStatus shows the tracker's rate-limit budget of the connector's
// credential as the session last saw it, and until when its requests are
// paced (trackers.Pacer); nothing when the tracker reports no budget.
func paceStatus(st *connector.PollState, sess *trackers.Session) {
	st.PacedUntil, st.RateBudget = time.Time{}, ""
	if sess == nil {
		return
	}
	ps, ok := sess.Pace()
	if !ok {
		return
	}
	st.PacedUntil = ps.PacedUntil
	if ps.Reset.IsZero() {
		return
	}
	budget := fmt.Sprintf("%d", ps.Remaining)
	if ps.Limit > 0 {
		budget += fmt.Sprintf(" of %d", ps.Limit)
	}
	budget += " left"
	if ps.Policy != "" {
		budget += " (" + ps.Policy + ")"
	}
	if ps.NearLimit {
		budget += ", near its limit"
	}
	st.RateBudget = budget + ", resets " + ps.Reset.UTC().Format(time.RFC3339)
}
