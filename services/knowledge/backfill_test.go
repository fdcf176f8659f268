package knowledge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

const (
	logBackfillDone   = `msg="knowledge: backfill done"`
	logBackfillPaused = `msg="knowledge: backfill paused for a connector"`
)

func TestConnectorAddedLaterEnrichesTheOpenTicketsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Two replicas: both see the connector appear and both backfill.
	r := h.start(testConfig(), nil)
	h.start(testConfig(), nil)

	// Tickets handled while no Confluence connector exists.
	gateway := ticket("PAY-50", "Payment gateway times out", "", updated)
	batch := ticket("PAY-51", "Settlement batch fails", "", updated)
	closed := ticket("PAY-52", "Payment gateway runbook", "", updated)
	for _, tk := range []*chv1.Ticket{gateway, batch, closed} {
		h.publishDiscovered(tk)
	}
	// The consumer handles deliveries concurrently, and a version older
	// than one already enriched is skipped as stale: let the first versions
	// be enriched before the update, or a loaded machine reorders them.
	h.enriched(3, 0)
	batch.UpdateTime = timestamppb.New(updated.Add(time.Minute))
	batch.DescriptionText = "The nightly settlement batch fails."
	h.publishUpdated(batch, "description")
	h.publishClosed(closed)
	for _, e := range h.enriched(4, 0) {
		if e.ev.GetEmptyReason() != "no enabled Confluence connector" {
			t.Fatalf("before the connector: %v", e.ev)
		}
	}

	h.addWiki("wiki-eng", "ENG")
	h.waitLog(logBackfillDone, 2) // one per replica
	got := h.enriched(h.enrichedStored(), 0)[4:]

	want := map[string]time.Time{"PAY-50": updated, "PAY-51": updated.Add(time.Minute)}
	if len(got) != len(want) {
		t.Fatalf("%d enrichments after the connector was added, want one per open ticket (%d): %v", len(got), len(want), got)
	}
	for _, e := range got {
		ev := e.ev
		at, ok := want[ev.GetTicketKey()]
		if !ok || ev.GetKnowledgeConnectorId() != "wiki-eng" || !ev.GetTicketUpdateTime().AsTime().Equal(at) || len(ev.GetHits()) == 0 {
			t.Errorf("backfilled %v, want the latest version of an open ticket, with hits from wiki-eng", ev)
			continue
		}
		delete(want, ev.GetTicketKey())
		if id := bus.EventID("jira-main", ev.GetTicketKey(), at.Format(time.RFC3339Nano), "wiki-eng"); e.env.ID != id || e.msgID != id {
			t.Errorf("%s: ce-id %s Nats-Msg-Id %s, want the consumer's id %s", ev.GetTicketKey(), e.env.ID, e.msgID, id)
		}
	}
	if len(want) != 0 {
		t.Errorf("not backfilled: %v", want)
	}
	if _, err := r.svc.Search(context.Background(), knowledge.Query{Terms: []string{"gateway"}}); err != nil {
		t.Errorf("search after the backfill: %v", err)
	}
}

func TestReEnabledConnectorEnrichesWhatItMissed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.addWiki("wiki-eng", "ENG")
	r := h.start(testConfig(), nil)
	ctx := context.Background()
	h.waitLog(logBackfillDone, 1) // found enabled at startup, nothing stored yet

	kept := ticket("PAY-60", "Payment gateway runbook", "", updated)
	edited := ticket("PAY-61", "Payment gateway times out", "", updated)
	h.publishDiscovered(kept)
	h.publishDiscovered(edited)
	h.enriched(2, 0)

	c.Enabled = false
	c, err := h.store.Update(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "no enabled connector to search", func() bool {
		_, err := r.svc.Search(ctx, knowledge.Query{Terms: []string{"gateway"}})
		return errors.Is(err, knowledge.ErrNoConnector)
	})
	// While disabled: a new ticket, and a ticket whose text changed.
	missed := ticket("PAY-62", "Settlement batch fails", "", updated)
	h.publishDiscovered(missed)
	edited.UpdateTime = timestamppb.New(updated.Add(time.Minute))
	edited.DescriptionText = "Since the upgrade the settlement gateway declines."
	h.publishUpdated(edited, "description")
	h.enriched(4, 0)

	c.Enabled = true
	if _, err := h.store.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	// PAY-60's latest version was enriched by wiki-eng: not searched again.
	h.waitLog("to_enrich=2 events=2 paused=0", 1)
	got := h.enriched(h.enrichedStored(), 0)[4:]

	want := map[string]time.Time{"PAY-61": updated.Add(time.Minute), "PAY-62": updated}
	if len(got) != len(want) {
		t.Fatalf("%d enrichments after re-enabling, want %d (PAY-60 was enriched by wiki-eng already): %v", len(got), len(want), got)
	}
	for _, e := range got {
		at, ok := want[e.ev.GetTicketKey()]
		if !ok || e.ev.GetKnowledgeConnectorId() != "wiki-eng" || !e.ev.GetTicketUpdateTime().AsTime().Equal(at) || len(e.ev.GetHits()) == 0 {
			t.Errorf("backfilled %v", e.ev)
		}
	}
}

func TestBackfillWaitsOutAConfluenceOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := testConfig()
	cfg.FailureBackoff = 100 * time.Millisecond
	h.start(cfg, nil)
	h.publishDiscovered(ticket("PAY-70", "Payment gateway times out", "", updated))
	h.enriched(1, 0)

	// The search and its retry in place fail; the engine then keeps the
	// connector blocked until its (test) clock moves on.
	h.fake.Faults.Add(faults.Fault{Times: 2, Status: http.StatusServiceUnavailable})
	h.addWiki("wiki-eng", "ENG")
	h.waitLog(logBackfillPaused, 1)
	h.clock.Advance(time.Minute)
	h.waitLog("events=1 paused=0", 1)

	got := h.enriched(h.enrichedStored(), 0)
	if len(got) != 2 || len(got[1].ev.GetHits()) == 0 {
		t.Fatalf("enrichments %v, want the empty one and then hits (no empty one for the outage)", got)
	}
}

func TestBackfillWithARejectedCredentialResumesWhenTheConnectorIsFixed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	c := h.addWiki("wiki-eng", "ENG")
	good := c.Username
	c.Enabled, c.Username = false, "someone-else@example.com"
	c, err := h.store.Update(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	h.start(testConfig(), nil) // FailureBackoff 1m: only the fix can resume it in time
	h.publishDiscovered(ticket("PAY-80", "Payment gateway times out", "", updated))
	h.enriched(1, 0)

	c.Enabled = true
	if c, err = h.store.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	h.waitLog(logBackfillPaused, 1)
	c.Username = good
	if _, err := h.store.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	h.waitLog("events=1 paused=0", 1)

	got := h.enriched(h.enrichedStored(), 0)
	if len(got) != 2 || len(got[1].ev.GetHits()) == 0 {
		t.Fatalf("enrichments %v, want the empty one and then hits (none for the rejected credential)", got)
	}
	if strings.Contains(h.logs.String(), cfToken) {
		t.Error("the Confluence token appears in the logs")
	}
}

func (h *harness) publishClosed(t *chv1.Ticket) {
	h.t.Helper()
	subj, _ := bus.TicketSubject(bus.TicketClosed, "jira", t.GetConnectorId())
	ev := &chv1.TicketClosed{ConnectorId: t.GetConnectorId(), System: t.GetSystem(), Key: t.GetKey(), Reason: "resolved"}
	if _, err := bus.Publish(context.Background(), h.js, subj, ev, bus.WithSource(bus.Source(bus.ProducerPoller, "jira-main"))); err != nil {
		h.t.Fatal(err)
	}
}

// enrichedStored counts the ticket.enriched events in TICKETS now.
func (h *harness) enrichedStored() int {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("ticket.enriched.>"))
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

// waitLog waits until the logs hold s at least n times.
func (h *harness) waitLog(s string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(h.logs.String(), s) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%q not logged %d times in 30s:\n%s", s, n, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
