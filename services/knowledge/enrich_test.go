package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

var updated = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

func TestDiscoveredTicketIsEnrichedEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG", "OPS")
	h.start(testConfig(), nil)

	h.publishDiscovered(ticket("PAY-7", "Payment gateway times out",
		"Since Monday the *payment gateway* times out for [~alice]. See https://status.example.com/x and {code}stack trace{code}", updated))
	got := h.enriched(1, 300*time.Millisecond)[0]

	if got.subject != "ticket.enriched.jira.jira-main" {
		t.Errorf("subject = %s", got.subject)
	}
	if want := bus.EventID("jira-main", "PAY-7", updated.Format(time.RFC3339Nano), "wiki-eng"); got.msgID != want || got.env.ID != want {
		t.Errorf("Nats-Msg-Id %s ce-id %s, want %s", got.msgID, got.env.ID, want)
	}
	if got.env.Source != "connectorhub://knowledge/jira-main" || got.env.Type != "connectorhub.v1.TicketEnriched" || got.env.Subject != "PAY-7" {
		t.Errorf("envelope = %+v", got.env)
	}
	ev := got.ev
	if ev.GetKnowledgeConnectorId() != "wiki-eng" || ev.GetTicketKey() != "PAY-7" || !ev.GetTicketUpdateTime().AsTime().Equal(updated) || ev.GetEmptyReason() != "" {
		t.Errorf("event = %v", ev)
	}
	for _, noise := range []string{"since", "the", "alice", "https", "status", "stack", "code"} {
		if strings.Contains(" "+ev.GetQuery()+" ", " "+noise+" ") {
			t.Errorf("query %q keeps %q (stop word, mention, URL or code block)", ev.GetQuery(), noise)
		}
	}
	if !strings.HasPrefix(ev.GetQuery(), "payment gateway times") {
		t.Errorf("query %q does not start with the summary's words", ev.GetQuery())
	}
	if len(ev.GetHits()) < 2 {
		t.Fatalf("hits = %v, want the runbook and more", ev.GetHits())
	}
	top := ev.GetHits()[0]
	if top.GetTitle() != "Payment gateway runbook" || top.GetSpaceKey() != "ENG" ||
		!strings.HasPrefix(top.GetUrl(), h.wikiURL+"/wiki/spaces/ENG/pages/101") ||
		!top.GetUpdateTime().AsTime().Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) ||
		strings.Contains(top.GetExcerpt(), "@@@") || strings.Contains(top.GetExcerpt(), "&amp;") ||
		top.GetScore() <= ev.GetHits()[1].GetScore() || top.GetBodyText() != "" {
		t.Errorf("top hit = %v", top)
	}
	for _, hit := range ev.GetHits() {
		if hit.GetSpaceKey() == "HR" {
			t.Errorf("hit %v is outside the connector's spaces", hit)
		}
	}
	if strings.Contains(h.logs.String(), cfToken) {
		t.Error("the Confluence token appears in the logs")
	}
}

func TestUpdatesAreEnrichedOnlyWhenTheTextChanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.start(testConfig(), nil)

	tk := ticket("PAY-8", "Settlement batch fails", "The nightly settlement batch fails.", updated)
	h.publishDiscovered(tk)
	h.enriched(1, 0)

	// Only the status changed: nothing to search again.
	tk.UpdateTime = timestamppb.New(updated.Add(time.Minute))
	h.publishUpdated(tk, "status")
	// Changed fields unknown, but the text (hence the query) is the same.
	tk.UpdateTime = timestamppb.New(updated.Add(2 * time.Minute))
	h.publishUpdated(tk)
	// The description gained words: a new query.
	tk.UpdateTime = timestamppb.New(updated.Add(3 * time.Minute))
	tk.DescriptionText = "The nightly settlement batch fails after the gateway upgrade."
	h.publishUpdated(tk, "description")

	got := h.enriched(2, 500*time.Millisecond)
	last := got[1].ev
	if !last.GetTicketUpdateTime().AsTime().Equal(updated.Add(3*time.Minute)) || !strings.Contains(last.GetQuery(), "upgrade") {
		t.Errorf("second enrichment = %v, want the version with the new description", last)
	}
}

func TestTheWritebacksOwnChangesAreNotEnrichedAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.start(testConfig(), nil)

	tk := ticket("PAY-9", "Settlement batch fails", "The nightly settlement batch fails.", updated)
	h.publishDiscovered(tk)
	h.enriched(1, 0)

	// The writeback's comment and transition come back marked: not enriched,
	// though the text changed.
	tk.UpdateTime = timestamppb.New(updated.Add(time.Minute))
	tk.DescriptionText = "The nightly settlement batch fails after the gateway upgrade."
	h.publishUpdatedBy(ticketver.ActorSelf, tk, "description_text", "status", "comments")
	// A person's edit after it is enriched as usual.
	tk.UpdateTime = timestamppb.New(updated.Add(2 * time.Minute))
	tk.Summary = "Settlement batch fails after the upgrade"
	h.publishUpdated(tk, "summary")

	got := h.enriched(2, 500*time.Millisecond)
	if last := got[1].ev; !last.GetTicketUpdateTime().AsTime().Equal(updated.Add(2 * time.Minute)) {
		t.Errorf("second enrichment is of version %v, want the person's edit at %v", last.GetTicketUpdateTime().AsTime(), updated.Add(2*time.Minute))
	}
}

func TestEnrichmentSaysWhyItIsEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(h *harness)
		reason string
	}{
		{"confluence down", func(h *harness) {
			h.addWiki("wiki-eng", "ENG")
			h.fake.Faults.Add(faults.Fault{Times: 100, Status: http.StatusServiceUnavailable, Body: `{"message":"maintenance"}`})
		}, "confluence unavailable: search: HTTP 503"},
		{"confluence rate limits", func(h *harness) {
			h.addWiki("wiki-eng", "ENG")
			h.fake.Faults.Add(faults.Fault{Times: 100, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"120"}}})
		}, "confluence rate limited: retry after 2m0s"},
		{"credential rejected", func(h *harness) {
			c := h.addWiki("wiki-eng", "ENG")
			c.Username = "someone-else@example.com"
			if _, err := h.store.Update(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}, "confluence connector unusable: credential rejected"},
		{"no connector", func(*harness) {}, "no enabled Confluence connector"},
		{"no matching page", func(h *harness) { h.addWiki("wiki-eng", "HR") }, knowledge.ReasonNoMatches},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tt.setup(h)
			h.start(testConfig(), nil)
			h.publishDiscovered(ticket("PAY-9", "Payment gateway times out", "", updated))
			ev := h.enriched(1, 300*time.Millisecond)[0].ev
			if len(ev.GetHits()) != 0 || !strings.HasPrefix(ev.GetEmptyReason(), tt.reason) {
				t.Fatalf("event = %v, want no hits and a reason starting %q", ev, tt.reason)
			}
			// The ticket event was acknowledged: the flow goes on.
			info, err := mustConsumer(t, h).Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
				t.Errorf("consumer pending %d, ack pending %d, redelivered %d: want all handled once", info.NumPending, info.NumAckPending, info.NumRedelivered)
			}
			if strings.Contains(h.logs.String(), cfToken) {
				t.Error("the Confluence token appears in the logs")
			}
		})
	}
}

func mustConsumer(t *testing.T, h *harness) jetstream.Consumer {
	t.Helper()
	c, err := h.js.Consumer(context.Background(), bus.StreamTickets, knowledge.DefaultConfig().Consumer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfluenceDownIsNotAskedAgainDuringBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.fake.Faults.Add(faults.Fault{Times: 100, Status: http.StatusBadGateway})
	cfg := testConfig()
	cfg.Concurrency = 1 // in order: concurrent tickets may all meet the outage first
	h.start(cfg, nil)
	for i := range 5 {
		h.publishDiscovered(ticket(fmt.Sprintf("PAY-%d", 20+i), fmt.Sprintf("Gateway problem number%d", i), "", updated))
	}
	for _, e := range h.enriched(5, 300*time.Millisecond) {
		if !strings.Contains(e.ev.GetEmptyReason(), "unavailable") {
			t.Errorf("reason = %q", e.ev.GetEmptyReason())
		}
	}
	// First ticket: the call and one retry; the others wait out the back-off.
	if n := h.fake.Requests(); n != 2 {
		t.Errorf("Confluence got %d requests, want 2", n)
	}
}

func TestTwoReplicasEnrichEachTicketVersionOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.addWiki("wiki-ops", "OPS")
	cfg := testConfig()
	h.start(cfg, nil)
	h.start(cfg, nil)

	const tickets = 20
	for i := range tickets {
		tk := ticket(fmt.Sprintf("PAY-%d", 100+i), fmt.Sprintf("Payment gateway incident%d", i), "settlement timeouts", updated)
		h.publishDiscovered(tk)
		if i%4 == 0 {
			// A second poller publishing the same version without dedup.
			h.publishDiscovered(tk)
		}
	}
	got := h.enriched(2*tickets, time.Second)
	seen := map[string]bool{}
	for _, e := range got {
		k := e.ev.GetTicketKey() + "/" + e.ev.GetKnowledgeConnectorId()
		if seen[k] {
			t.Errorf("%s enriched twice", k)
		}
		seen[k] = true
	}
	info, err := mustConsumer(t, h).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	}
}

func TestFullTextAddsPageBodies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	cfg := testConfig()
	cfg.FullText, cfg.FullTextMaxBytes = true, 300
	h.start(cfg, nil)
	h.publishDiscovered(ticket("PAY-30", "Payment gateway runbook", "", updated))
	ev := h.enriched(1, 0)[0].ev
	if len(ev.GetHits()) == 0 {
		t.Fatal("no hits")
	}
	body := ev.GetHits()[0].GetBodyText()
	if !strings.Contains(body, "restart the worker & check the settlement queue") || strings.Contains(body, "<") {
		t.Errorf("body text = %q", body)
	}
	if h.fake.PageReads() != len(ev.GetHits()) {
		t.Errorf("page reads = %d, want one per hit (%d)", h.fake.PageReads(), len(ev.GetHits()))
	}
}

func TestBurstOfSimilarTicketsCostsOneSearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(100 * time.Millisecond) // a Confluence that takes its time
			next.ServeHTTP(w, r)
		})
	})
	h.addWiki("wiki-eng", "ENG")
	cfg := testConfig()
	cfg.Concurrency = 8
	h.start(cfg, nil)
	h.start(cfg, nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			// Same words, other order and other noise: the same query.
			summary := []string{"Payment gateway timeout", "Timeout: payment gateway!", "gateway payment TIMEOUT"}[i%3]
			h.publishDiscovered(ticket(fmt.Sprintf("PAY-%d", 200+i), summary, "", updated))
		})
	}
	wg.Wait()
	h.enriched(16, 300*time.Millisecond)
	// One per replica at most: the flight shares a call within a replica,
	// and the KV cache across replicas once the first call is stored.
	if n := h.fake.Searches(); n < 1 || n > 2 {
		t.Errorf("Confluence searches = %d, want 1 (2 when both replicas start at once)", n)
	}
}

func TestConnectorChangesApplyWithoutRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.start(testConfig(), nil)
	ctx := context.Background()
	searchErr := func() error {
		_, err := r.svc.Search(ctx, knowledge.Query{Terms: []string{"gateway"}})
		return err
	}

	h.publishDiscovered(ticket("PAY-40", "Payment gateway runbook", "", updated))
	h.enriched(1, 0)

	c := h.addWiki("wiki-eng", "ENG")
	testenv.Eventually(t, 10*time.Second, "the added connector searchable", func() bool { return searchErr() == nil })
	h.publishDiscovered(ticket("PAY-41", "Payment gateway runbook", "", updated))
	// PAY-41, and PAY-40 again: the added connector backfills it.
	h.enriched(3, 0)

	c.Enabled = false
	if _, err := h.store.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "no enabled connector to search", func() bool { return errors.Is(searchErr(), knowledge.ErrNoConnector) })
	h.publishDiscovered(ticket("PAY-42", "Payment gateway runbook", "", updated))

	got := h.enriched(4, 0)
	if got[0].ev.GetEmptyReason() != "no enabled Confluence connector" || len(got[1].ev.GetHits()) == 0 || len(got[2].ev.GetHits()) == 0 || got[3].ev.GetEmptyReason() != "no enabled Confluence connector" {
		t.Fatalf("no connector: %v\nadded: %v, %v\ndisabled: %v", got[0].ev, got[1].ev, got[2].ev, got[3].ev)
	}
}

func TestFullTextWhenOnlyTheConnectorAsks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.addWiki("wiki-eng", "ENG")
	c.FullText = true
	if _, err := h.store.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig() // KNOWLEDGE_FULL_TEXT off
	cfg.FullTextMaxBytes = 300
	h.start(cfg, nil)
	h.publishDiscovered(ticket("PAY-31", "Payment gateway runbook", "", updated))
	ev := h.enriched(1, 0)[0].ev
	if len(ev.GetHits()) == 0 || !strings.Contains(ev.GetHits()[0].GetBodyText(), "settlement queue") {
		t.Fatalf("hits without the page body although the connector asks for it: %v", ev.GetHits())
	}
}
