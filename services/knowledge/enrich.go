package knowledge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Source is the ce-source of the events the service publishes.
func Source(connectorID string) string { return bus.Source(bus.ProducerKnowledge, connectorID) }

// Reasons an enrichment is empty that are not errors.
const (
	ReasonNoText    = "ticket has no searchable text"
	ReasonNoMatches = "no matching pages"
)

// textFields are the TicketUpdated.changed_fields names (or fragments of
// them) that change the query; an update naming only others is skipped.
var textFields = []string{"summary", "description", "label", "component", "title", "body"}

// enricher turns ticket events into ticket.enriched events.
type enricher struct {
	engine *engine
	js     jetstream.JetStream
	state  jetstream.KeyValue
	log    *slog.Logger
	now    func() time.Time
}

// consumerConfig is the durable consumer every replica binds to, so each
// ticket event is handled by one replica. TicketDiscovered's JSON is a subset
// of TicketUpdated's (field "ticket"), so one consumer decoding into
// TicketUpdated serves both subjects; the kind is read from ce-type.
func consumerConfig(cfg Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        cfg.Consumer,
		Description:    "knowledge: enrich discovered and updated tickets",
		FilterSubjects: []string{"ticket." + bus.TicketDiscovered + ".>", "ticket." + bus.TicketUpdated + ".>"},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.SearchTimeout + time.Minute,
		MaxDeliver:     5,
		MaxAckPending:  max(64, cfg.Concurrency*4),
	}
}

// handle enriches one ticket version. Returning an error redelivers the
// event; Confluence failures are not errors (the enrichment says why it is
// empty), only failing to publish, or being stopped, are.
func (en *enricher) handle(ctx context.Context, env bus.Envelope, msg *chv1.TicketUpdated) error {
	t := msg.GetTicket()
	if t == nil || t.GetConnectorId() == "" || t.GetKey() == "" {
		return bus.Permanent(errors.New("ticket event without ticket, connector id or key"))
	}
	system := systemToken(t.GetSystem())
	subject, err := bus.TicketSubject(bus.TicketEnriched, system, t.GetConnectorId())
	if err != nil {
		return bus.Permanent(err)
	}
	log := telemetry.SpanLogger(ctx, en.log.With("connector", t.GetConnectorId(), "ticket", t.GetKey()))
	updated := env.Type == bus.TypeOf(&chv1.TicketUpdated{})
	if updated && msg.GetActor() == ticketver.ActorSelf {
		// The connector's own writeback coming back: what it wrote is the
		// agent's work, not a new question to look up.
		log.DebugContext(ctx, "knowledge: the writeback's own change, not enriched again", "changed", msg.GetChangedFields())
		return nil
	}
	if updated && len(msg.GetChangedFields()) > 0 && !touchesText(msg.GetChangedFields()) {
		log.DebugContext(ctx, "knowledge: update leaves the text as it was", "changed", msg.GetChangedFields())
		return nil
	}

	base, terms := en.query(t)
	stateKey, queryHash := ticketStateKey(t.GetConnectorId(), t.GetKey()), hashTerms(terms)
	version := t.GetUpdateTime().AsTime()
	if last, ok := en.recall(ctx, stateKey); ok {
		// Versions of one ticket may be handled concurrently or redelivered
		// out of order: one older than the version last enriched is stale.
		if version.Before(last.version) {
			log.DebugContext(ctx, "knowledge: a newer version was enriched already", "version", version, "enriched", last.version)
			return nil
		}
		if updated && last.hash == queryHash {
			log.DebugContext(ctx, "knowledge: update leaves the query as it was")
			return nil
		}
	}

	// The context sources are read beside the searches, under their own
	// deadline (KNOWLEDGE_CONTEXT_TIMEOUT), and go into every event.
	tctxCh := make(chan *chv1.TicketContext, 1)
	go func() { tctxCh <- en.engine.contexts.forTicketConnector(ctx, t.GetConnectorId()) }()
	conns := en.engine.conns.enabled(nil)
	if len(conns) == 0 {
		ev := cloneEnriched(base)
		ev.EmptyReason = Reason(ErrNoConnector)
		ev.Context = <-tctxCh
		rev := en.remember(ctx, stateKey, queryHash, version)
		if err := en.publish(ctx, subject, ev); err != nil {
			en.forget(ctx, stateKey, rev)
			return err
		}
		return nil
	}

	events := make([]*chv1.TicketEnriched, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { events[i], _ = en.enrichWith(ctx, base, c, terms) })
	}
	wg.Wait()
	tctx := <-tctxCh
	if err := ctx.Err(); err != nil {
		return err // stopping: redeliver to a replica that is not
	}
	for _, ev := range events {
		ev.Context = tctx
	}
	// Remembered before publishing, so an update handled right after this
	// enrichment is seen finds it; a failed publish forgets it again and the
	// redelivery enriches anew (the ce-ids make a repeat harmless).
	rev := en.remember(ctx, stateKey, queryHash, version)
	for _, ev := range events {
		if err := en.publish(ctx, subject, ev); err != nil {
			en.forget(ctx, stateKey, rev)
			return err
		}
		if ev.GetEmptyReason() != "" && ev.GetEmptyReason() != ReasonNoMatches {
			log.InfoContext(ctx, "knowledge: enrichment empty", "knowledge_connector", ev.GetKnowledgeConnectorId(), "reason", ev.GetEmptyReason())
		}
	}
	return nil
}

// query builds the search terms of a ticket version and the enrichment each
// connector's event starts from.
func (en *enricher) query(t *chv1.Ticket) (*chv1.TicketEnriched, []string) {
	desc := t.GetDescriptionText()
	if desc == "" {
		desc = t.GetDescriptionMarkdown()
	}
	terms := BuildTerms(Ticket{Summary: t.GetSummary(), Description: desc, Labels: t.GetLabels(), Components: t.GetComponents()}, en.engine.cfg.MaxTerms)
	return &chv1.TicketEnriched{
		ConnectorId:      t.GetConnectorId(),
		System:           t.GetSystem(),
		TicketKey:        t.GetKey(),
		TicketUpdateTime: t.GetUpdateTime(),
		Query:            strings.Join(terms, " "),
	}, terms
}

// enrichWith searches one Confluence connector for a ticket. The event says
// why it is empty; err is the search's error, if any, for callers that would
// rather try again later than publish an empty enrichment (the backfill).
func (en *enricher) enrichWith(ctx context.Context, base *chv1.TicketEnriched, c connector.Connector, terms []string) (*chv1.TicketEnriched, error) {
	ev := cloneEnriched(base)
	ev.KnowledgeConnectorId = c.ID
	if len(terms) == 0 {
		ev.EmptyReason = ReasonNoText
		return ev, nil
	}
	hits, _, err := en.engine.searchConnector(ctx, c, terms, nil, en.engine.cfg.MaxHits)
	switch {
	case err != nil:
		ev.EmptyReason = Reason(err)
	case len(hits) == 0:
		ev.EmptyReason = ReasonNoMatches
	}
	for _, h := range hits {
		ev.Hits = append(ev.Hits, hitToProto(h))
	}
	return ev, err
}

func (en *enricher) publish(ctx context.Context, subject string, ev *chv1.TicketEnriched) error {
	id := bus.EventID(ev.GetConnectorId(), ev.GetTicketKey(), ev.GetTicketUpdateTime().AsTime().UTC().Format(time.RFC3339Nano), ev.GetKnowledgeConnectorId())
	_, err := bus.Publish(ctx, en.js, subject, ev, bus.WithID(id), bus.WithSource(Source(ev.GetConnectorId())), bus.WithSubject(ev.GetTicketKey()), bus.WithTime(en.now()))
	if err != nil {
		return fmt.Errorf("knowledge: publish enrichment of %s: %w", ev.GetTicketKey(), err)
	}
	return nil
}

// remember stores the query a ticket was enriched with; losing it only
// means a later unchanged update is enriched again.
// enrichedQuery is what knowledge_state keeps per ticket: the hash of the
// query last enriched and the ticket version it was for, as "hash unixnano".
type enrichedQuery struct {
	hash    string
	version time.Time
	rev     uint64
}

// recall reads the ticket's state; ok is false when there is none.
func (en *enricher) recall(ctx context.Context, key string) (enrichedQuery, bool) {
	e, err := en.state.Get(ctx, key)
	if err != nil {
		return enrichedQuery{}, false
	}
	hash, nanos, _ := strings.Cut(string(e.Value()), " ")
	q := enrichedQuery{hash: hash, rev: e.Revision()}
	if n, err := strconv.ParseInt(nanos, 10, 64); err == nil {
		q.version = time.Unix(0, n).UTC()
	}
	return q, true
}

// remember records the query enriched for a ticket version, unless a newer
// version was recorded meanwhile (compare-and-set on the entry's revision).
// It returns the revision written, 0 when it wrote nothing.
func (en *enricher) remember(ctx context.Context, key, hash string, version time.Time) uint64 {
	val := []byte(hash + " " + strconv.FormatInt(version.UnixNano(), 10))
	for range 3 {
		last, ok := en.recall(ctx, key)
		var (
			rev uint64
			err error
		)
		switch {
		case ok && version.Before(last.version):
			return 0
		case ok:
			rev, err = en.state.Update(ctx, key, val, last.rev)
		default:
			rev, err = en.state.Create(ctx, key, val)
		}
		if err == nil {
			return rev
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			en.log.WarnContext(ctx, "knowledge: remember query", "error", err)
			return 0
		}
	}
	return 0
}

// forget removes what remember wrote at rev, unless it was overwritten since.
func (en *enricher) forget(ctx context.Context, key string, rev uint64) {
	if rev == 0 {
		return
	}
	if err := en.state.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && !isWrongSequence(err) {
		en.log.WarnContext(ctx, "knowledge: forget query", "error", err)
	}
}

// isWrongSequence reports a lost compare-and-set race on a KV entry.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func cloneEnriched(m *chv1.TicketEnriched) *chv1.TicketEnriched {
	return &chv1.TicketEnriched{
		ConnectorId: m.GetConnectorId(), System: m.GetSystem(), TicketKey: m.GetTicketKey(),
		TicketUpdateTime: m.GetTicketUpdateTime(), Query: m.GetQuery(), Context: m.GetContext(),
	}
}

func touchesText(fields []string) bool {
	for _, f := range fields {
		f = strings.ToLower(f)
		if slices.ContainsFunc(textFields, func(t string) bool { return strings.Contains(f, t) }) {
			return true
		}
	}
	return false
}

// ticketStateKey is a KV key for a ticket: the connector id (a valid token)
// and a hash of the key, which may hold characters KV keys may not.
func ticketStateKey(connectorID, key string) string {
	return connectorID + "." + bus.EventID(key)
}

func hashTerms(terms []string) string {
	sum := sha256.Sum256([]byte(strings.Join(terms, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// systemToken is the subject token of a system: SYSTEM_JIRA -> jira ("" when
// unknown, which the subject builder refuses).
func systemToken(s chv1.System) string {
	sys, _ := connectorpb.SystemFromProto(s)
	return string(sys)
}

func hitToProto(h Hit) *chv1.KnowledgeHit {
	p := &chv1.KnowledgeHit{Title: h.Title, Url: h.URL, SpaceKey: h.SpaceKey, Excerpt: h.Excerpt, Score: h.Score, BodyText: h.BodyText}
	if !h.Updated.IsZero() {
		p.UpdateTime = timestamppb.New(h.Updated)
	}
	return p
}
