package knowledge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// The backfill: a ticket is enriched with the Confluence connectors enabled
// when its event is handled, so a ticket discovered before a connector was
// added (or while it was disabled) would never be enriched with it. When a
// Confluence connector appears or goes from disabled to enabled, the
// backfiller replays TICKETS up to its last message, finds the open tickets
// (latest discovered/updated version, not closed since) whose latest
// enrichment did not use that connector, and enriches their latest version
// with it.
//
//   - Bounded: one replay per batch of connectors, up to the stream's last
//     sequence when the batch starts; only a small index per ticket is kept
//     (the ticket itself is read again by sequence); Config.Concurrency
//     tickets at a time; progress is logged.
//   - No duplicates: events carry the same deterministic ce-id as the
//     consumer's (ticket connector, key, update time, knowledge connector), so
//     the same enrichment from the consumer or from a second replica doing
//     the same backfill is dropped by JetStream's duplicate window.
//   - No miss: the replay starts after the connector is in this replica's
//     set, so a ticket event stored later is handled with it; one handled by
//     a replica that had not seen the connector yet is covered by that
//     replica's own backfill.
//   - Confluence down, rate limiting or a rejected credential do not publish
//     empty enrichments: the backfill of that connector pauses and tries again
//     (after Config.FailureBackoff, doubling, or at once when the connector
//     changes; a rejected credential waits for a change).
//   - Restarts: a marker in knowledge_state records the connector revision
//     last backfilled, so a replica that starts and finds a connector enabled
//     at a later revision (added or re-enabled while no replica ran, or a
//     backfill cut short) backfills it, and one that finds it done does not.

// backfillMarkerPrefix starts the knowledge_state key of a connector's
// marker; connector ids are lowercase, so it cannot meet a ticket's key.
const backfillMarkerPrefix = "_backfill."

// maxBackfillRetry bounds the wait between attempts of a paused backfill.
const maxBackfillRetry = 15 * time.Minute

// replayIdle is how long the replay waits for a message it knows is stored
// before it gives up (the stream was purged meanwhile).
const replayIdle = 30 * time.Second

var decodeOpts = protojson.UnmarshalOptions{DiscardUnknown: true}

// backfiller enriches existing tickets with newly enabled connectors. It is
// told of connectors by the connectorSet (notify) and works in start's
// goroutine, one batch of connectors at a time.
type backfiller struct {
	en       *enricher     // set by start
	conns    *connectorSet // the enricher's
	js       jetstream.JetStream
	state    jetstream.KeyValue
	log      *slog.Logger
	workers  int
	retry    time.Duration // first wait after a failed attempt
	consumer string        // the enricher's durable consumer

	mu      sync.Mutex
	pending map[string]*fill
	wake    chan struct{}
}

// fill is a connector waiting to be backfilled.
type fill struct {
	// checkMarker: seen enabled at startup, not seen becoming enabled; skip
	// it when its marker says this revision was done.
	checkMarker bool
	due         time.Time // zero: at once
	attempts    int       // failed attempts so far
	parked      bool      // unusable as configured: wait for a change
	revision    uint64    // of the connector when last attempted
}

func newBackfiller(js jetstream.JetStream, state jetstream.KeyValue, cfg Config, log *slog.Logger) *backfiller {
	return &backfiller{
		js: js, state: state, log: log, workers: cfg.Concurrency, retry: cfg.FailureBackoff, consumer: cfg.Consumer,
		pending: map[string]*fill{}, wake: make(chan struct{}, 1),
	}
}

// notify is the connectorSet's onEnabled: a connector that became enabled is
// backfilled; a change to one whose backfill is paused retries it at once.
func (b *backfiller) notify(c connector.Connector, becameEnabled, loading bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.pending[c.ID]; becameEnabled || ok {
		// A transition while loading is only "found enabled": check the marker.
		b.pending[c.ID] = &fill{checkMarker: loading && (!ok || f.checkMarker)}
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// start runs the backfills with en until stop is called or ctx ends.
// Connectors already pending (found while loading) are replayed now, before
// the caller starts consuming, up to what the consumer was handed before
// (lastSeq); the rest is left to the consumer.
func (b *backfiller) start(ctx context.Context, en *enricher) (stop func()) {
	b.en, b.conns = en, en.engine.conns
	ctx, cancel := context.WithCancel(ctx)
	first := b.take(time.Now())
	var last seqs
	if len(first) > 0 {
		var err error
		if last, err = b.lastSeq(ctx); err != nil {
			b.log.WarnContext(ctx, "knowledge: backfill: read stream; trying again later", "error", err)
			b.requeue(first, nil)
			first = nil
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(first) > 0 {
			b.run(ctx, first, last)
		}
		b.loop(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

func (b *backfiller) loop(ctx context.Context) {
	for {
		batch := b.take(time.Now())
		if len(batch) > 0 {
			last, err := b.lastSeq(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				b.log.WarnContext(ctx, "knowledge: backfill: read stream; trying again later", "error", err)
				b.requeue(batch, nil)
			} else {
				b.run(ctx, batch, last)
			}
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait, ok := b.nextDue(time.Now()); ok {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-b.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// take removes and returns the pending connectors that are due.
func (b *backfiller) take(now time.Time) map[string]*fill {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]*fill{}
	for id, f := range b.pending {
		if !f.parked && !f.due.After(now) {
			out[id] = f
			delete(b.pending, id)
		}
	}
	return out
}

// nextDue is how long until the next pending connector is due.
func (b *backfiller) nextDue(now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next time.Time
	for _, f := range b.pending {
		if !f.parked && (next.IsZero() || f.due.Before(next)) {
			next = f.due
		}
	}
	return max(next.Sub(now), 0), !next.IsZero()
}

// requeue puts back connectors whose backfill failed: parked when they are
// unusable as configured (unless changed since), else due after a doubling
// wait. A connector notified meanwhile keeps its newer entry.
func (b *backfiller) requeue(fills map[string]*fill, errs map[string]error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, f := range fills {
		if _, ok := b.pending[id]; ok {
			continue
		}
		f.attempts++
		if errors.Is(errs[id], ErrConnector) {
			cur := b.conns.enabled([]string{id})
			if len(cur) == 0 {
				continue // disabled or removed: told again when enabled
			}
			// Changed since the attempt: again at once; else wait for a change.
			f.parked, f.due = cur[0].Revision == f.revision, time.Time{}
			b.pending[id] = f
			continue
		}
		wait := b.retry
		for i := 1; i < f.attempts && wait < maxBackfillRetry; i++ {
			wait *= 2
		}
		f.due = time.Now().Add(min(wait, maxBackfillRetry))
		b.pending[id] = f
	}
}

// lastSeq says how far a backfill reaches: the last ticket event the
// enricher's consumer has been handed. Those may have been enriched without the new
// connector; every later one is handled by the consumer after the connector
// became known, so replaying it too would enrich a version twice (or an
// intermediate version the consumer rightly skips). A fresh consumer has been
// handed nothing: it will see every stored ticket itself.
func (b *backfiller) lastSeq(ctx context.Context) (seqs, error) {
	s, err := b.js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		return seqs{}, err
	}
	sinfo, err := s.Info(ctx)
	if err != nil {
		return seqs{}, err
	}
	c, err := b.js.Consumer(ctx, bus.StreamTickets, b.consumer)
	if err != nil {
		return seqs{}, err
	}
	cinfo, err := c.Info(ctx)
	if err != nil {
		return seqs{}, err
	}
	return seqs{last: sinfo.State.LastSeq, handed: cinfo.Delivered.Stream}, nil
}

// seqs bound a replay: it reads the stream up to last (closures and
// enrichments count wherever they are), and backfills only tickets whose
// latest version is at or before handed (see lastSeq).
type seqs struct{ last, handed uint64 }

// ticketState is what the replay keeps of one ticket.
type ticketState struct {
	seq    uint64 // of its latest discovered/updated event
	closed bool   // closed since that event
	// toConsumer: its latest version had not been handed to the consumer,
	// which enriches it with the connectors it knows now.
	toConsumer bool
	// enriched: the latest ticket version any enrichment was for, and the
	// latest each connector being backfilled enriched.
	enriched    bool
	enrichedAt  time.Time
	enrichedFor map[string]time.Time
}

// current reports whether connector id enriched the ticket's latest enriched
// version, i.e. it needs nothing.
func (t *ticketState) current(id string) bool {
	at, ok := t.enrichedFor[id]
	return ok && t.enriched && !at.Before(t.enrichedAt)
}

// run backfills one batch of connectors from a replay bounded by last.
func (b *backfiller) run(ctx context.Context, batch map[string]*fill, last seqs) {
	var conns []connector.Connector
	for id, f := range batch {
		cs := b.conns.enabled([]string{id})
		if len(cs) == 0 {
			continue // disabled or removed meanwhile: told again when enabled
		}
		if f.checkMarker && b.done(ctx, cs[0]) {
			continue
		}
		f.revision = cs[0].Revision
		conns = append(conns, cs[0])
	}
	if len(conns) == 0 {
		return
	}
	slices.SortFunc(conns, func(a, c connector.Connector) int { return strings.Compare(a.ID, c.ID) })
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	log := b.log.With("knowledge_connectors", ids)
	began := time.Now()

	stream, err := b.js.Stream(ctx, bus.StreamTickets)
	var (
		tickets map[string]*ticketState
		scanned int
	)
	if err == nil {
		tickets, scanned, err = b.replay(ctx, last, ids)
	}
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "knowledge: backfill: replay failed; trying again later", "error", err)
			b.requeue(pick(batch, ids), nil)
		}
		return
	}
	type job struct {
		seq  uint64
		need []connector.Connector
	}
	var jobs []job
	open := 0
	for _, t := range tickets {
		if t.seq == 0 || t.closed || t.toConsumer {
			continue
		}
		open++
		var need []connector.Connector
		for _, c := range conns {
			if !t.current(c.ID) {
				need = append(need, c)
			}
		}
		if len(need) > 0 {
			jobs = append(jobs, job{t.seq, need})
		}
	}
	slices.SortFunc(jobs, func(a, c job) int { return cmp.Compare(a.seq, c.seq) })
	log.InfoContext(ctx, "knowledge: backfill started", "events_scanned", scanned, "open_tickets", open, "to_enrich", len(jobs))

	var (
		mu        sync.Mutex
		failed    = map[string]error{} // connector id -> why its backfill paused
		published int
		finished  int
		every     = max(100, len(jobs)/10)
	)
	stalled := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := failed[id]
		return ok
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range min(b.workers, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range work {
				n, errs := b.enrichTicket(ctx, stream, j.seq, j.need, stalled)
				mu.Lock()
				published += n
				for id, err := range errs {
					if _, ok := failed[id]; !ok {
						failed[id] = err
						log.WarnContext(ctx, "knowledge: backfill paused for a connector", "knowledge_connector", id, "error", err)
					}
				}
				finished++
				if finished%every == 0 && finished < len(jobs) {
					log.InfoContext(ctx, "knowledge: backfill progress", "tickets_done", finished, "to_enrich", len(jobs), "events", published)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		log.InfoContext(ctx, "knowledge: backfill stopped", "tickets_done", finished, "to_enrich", len(jobs))
		return // not marked done: a replica starting later backfills again
	}
	retry := map[string]*fill{}
	for _, c := range conns {
		if _, ok := failed[c.ID]; ok {
			retry[c.ID] = batch[c.ID]
			continue
		}
		b.markDone(ctx, c)
	}
	b.requeue(retry, failed)
	log.InfoContext(ctx, "knowledge: backfill done", "to_enrich", len(jobs), "events", published,
		"paused", len(failed), "took", time.Since(began).Round(time.Millisecond))
}

func pick(batch map[string]*fill, ids []string) map[string]*fill {
	out := map[string]*fill{}
	for _, id := range ids {
		out[id] = batch[id]
	}
	return out
}

// replay reads TICKETS up to sequence last and indexes each ticket (by
// connector id and key): its latest version, whether it was closed since,
// and which of the connectors ids enriched which version.
func (b *backfiller) replay(ctx context.Context, bound seqs, ids []string) (map[string]*ticketState, int, error) {
	last := bound.last
	tickets := map[string]*ticketState{}
	if last == 0 {
		return tickets, 0, nil
	}
	cons, err := b.js.OrderedConsumer(ctx, bus.StreamTickets, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, fmt.Errorf("replay %s: %w", bus.StreamTickets, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, 0, fmt.Errorf("replay %s: %w", bus.StreamTickets, err)
	}
	defer it.Stop()
	get := func(connectorID, key string) *ticketState {
		k := connectorID + "\x00" + key
		t, ok := tickets[k]
		if !ok {
			t = &ticketState{}
			tickets[k] = t
		}
		return t
	}
	scanned := 0
	for {
		nctx, cancel := context.WithTimeout(ctx, replayIdle)
		m, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, scanned, ctx.Err()
			}
			return nil, scanned, fmt.Errorf("replay %s at %d of %d: %w", bus.StreamTickets, scanned, last, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, scanned, fmt.Errorf("replay %s: %w", bus.StreamTickets, err)
		}
		scanned++
		seq := md.Sequence.Stream
		if seq > last {
			break
		}
		switch kind, _, _ := strings.Cut(strings.TrimPrefix(m.Subject(), "ticket."), "."); kind {
		case bus.TicketDiscovered, bus.TicketUpdated:
			var ev chv1.TicketUpdated // TicketDiscovered's JSON is a subset
			if decode(m, &ev) && ev.GetTicket().GetKey() != "" {
				t := get(ev.GetTicket().GetConnectorId(), ev.GetTicket().GetKey())
				t.seq, t.closed, t.toConsumer = seq, false, seq > bound.handed
			}
		case bus.TicketClosed:
			var ev chv1.TicketClosed
			if decode(m, &ev) {
				if t, ok := tickets[ev.GetConnectorId()+"\x00"+ev.GetKey()]; ok {
					t.closed = true
				}
			}
		case bus.TicketEnriched:
			var ev chv1.TicketEnriched
			if decode(m, &ev) {
				t, at := get(ev.GetConnectorId(), ev.GetTicketKey()), ev.GetTicketUpdateTime().AsTime()
				if !t.enriched || at.After(t.enrichedAt) {
					t.enriched, t.enrichedAt = true, at
				}
				if id := ev.GetKnowledgeConnectorId(); slices.Contains(ids, id) {
					if t.enrichedFor == nil {
						t.enrichedFor = map[string]time.Time{}
					}
					if prev, ok := t.enrichedFor[id]; !ok || at.After(prev) {
						t.enrichedFor[id] = at
					}
				}
			}
		}
		if seq >= last || md.NumPending == 0 {
			break
		}
	}
	return tickets, scanned, nil
}

func decode(m jetstream.Msg, into proto.Message) bool {
	return decodeOpts.Unmarshal(m.Data(), into) == nil
}

// enrichTicket enriches the ticket version stored at seq with each connector
// of need that is still enabled and whose backfill has not paused. It returns
// the events published and the connectors whose backfill must pause.
func (b *backfiller) enrichTicket(ctx context.Context, s jetstream.Stream, seq uint64, need []connector.Connector, stalled func(string) bool) (int, map[string]error) {
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil // removed by the stream's limits meanwhile
	}
	if err != nil {
		return 0, failAll(need, err)
	}
	var msg chv1.TicketUpdated
	if err := decodeOpts.Unmarshal(raw.Data, &msg); err != nil {
		return 0, nil
	}
	t := msg.GetTicket()
	subject, err := bus.TicketSubject(bus.TicketEnriched, systemToken(t.GetSystem()), t.GetConnectorId())
	if err != nil {
		return 0, nil // the consumer terminates it too
	}
	base, terms := b.en.query(t)
	// The same context section the live enrichment carries (cached per
	// scope, so a backfill of one repository's tickets reads each scope once
	// per KNOWLEDGE_CONTEXT_CACHE_TTL).
	base.Context = b.en.engine.contexts.forTicketConnector(ctx, t.GetConnectorId())
	published, errs := 0, map[string]error{}
	for _, c := range need {
		if stalled(c.ID) {
			continue
		}
		cur := b.conns.enabled([]string{c.ID})
		if len(cur) == 0 {
			continue // disabled meanwhile
		}
		ev, err := b.en.enrichWith(ctx, base, cur[0], terms)
		if ctx.Err() != nil {
			return published, nil
		}
		if pauses(err) {
			errs[c.ID] = err
			continue
		}
		if err := b.en.publish(ctx, subject, ev); err != nil {
			errs[c.ID] = err
			continue
		}
		published++
	}
	return published, errs
}

func failAll(cs []connector.Connector, err error) map[string]error {
	out := map[string]error{}
	for _, c := range cs {
		out[c.ID] = err
	}
	return out
}

// pauses reports whether a search error should pause the backfill rather
// than be published as the reason of an empty enrichment: waiting may cure it
// (outage, rate limit, timeout), or the connector's next change (credential).
func pauses(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited) ||
		errors.Is(err, ErrConnector) || errors.Is(err, context.DeadlineExceeded)
}

// done reports whether c's marker says its current revision was backfilled.
func (b *backfiller) done(ctx context.Context, c connector.Connector) bool {
	e, err := b.state.Get(ctx, backfillMarkerPrefix+c.ID)
	if err != nil {
		return false
	}
	rev, err := strconv.ParseUint(string(e.Value()), 10, 64)
	return err == nil && rev >= c.Revision
}

// markDone records that c was backfilled at its revision. Losing the marker
// only costs a replay that finds nothing to do.
func (b *backfiller) markDone(ctx context.Context, c connector.Connector) {
	if _, err := b.state.Put(ctx, backfillMarkerPrefix+c.ID, []byte(strconv.FormatUint(c.Revision, 10))); err != nil {
		b.log.WarnContext(ctx, "knowledge: backfill: record marker", "knowledge_connector", c.ID, "error", err)
	}
}
