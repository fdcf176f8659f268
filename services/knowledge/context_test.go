package knowledge_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contextfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

const ctxToken = "context-source-token-5ecret"

// contextSources is a harness with two context sources registered as
// jenkins and argocd (contextfake in place of the real packages, whose
// suites live beside them: here a test sets each scope's report, delay and
// status directly), their servers on 127.0.0.1, one connector each and the
// ticket connector jira-main naming both. The sandbox walk-through
// (cmd/hub) reads the four real ones.
type contextSources struct {
	ci, cd *contextfake.Server
}

func withContextSources(t *testing.T, h *harness) contextSources {
	t.Helper()
	prod := all.Registry()
	var ts []trackers.Tracker
	for _, sys := range prod.Systems() {
		if sys != connector.Jenkins && sys != connector.ArgoCD {
			tr, _ := prod.Lookup(sys)
			ts = append(ts, tr)
		}
	}
	reg, err := trackers.NewRegistry(append(ts, contextfake.Tracker{System: connector.Jenkins}, contextfake.Tracker{System: connector.ArgoCD})...)
	if err != nil {
		t.Fatal(err)
	}
	h.trackers = reg
	cs := contextSources{ci: contextfake.Start(t, ctxToken), cd: contextfake.Start(t, ctxToken)}
	started := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cs.ci.Set("checkout-main", trackers.ContextReport{URL: cs.ci.URL + "/job/checkout-main", Builds: []trackers.Build{
		{ID: "42", Name: "checkout-main", Status: trackers.BuildFailed, Branch: "main", Revision: "a1b2c3", Started: started, Finished: started.Add(5 * time.Minute), FailingSteps: []string{"checkout_test"}},
		{ID: "41", Name: "checkout-main", Status: trackers.BuildFailed, Branch: "main", Revision: "9f8e7d", Started: started.Add(-time.Hour), Finished: started.Add(-55 * time.Minute), FailingSteps: []string{"checkout_test"}},
	}})
	cs.cd.Set("checkout", trackers.ContextReport{Deployment: &trackers.DeploymentState{Health: "Degraded", Sync: "Synced", Revision: "a1b2c3", SyncedAt: started, Message: "Deployment checkout exceeded its progress deadline"}})
	cs.cd.Set("slow-app", trackers.ContextReport{Deployment: &trackers.DeploymentState{Health: "Healthy"}})
	cs.cd.Delay("slow-app", 5*time.Minute) // answers only when the request is cancelled
	// "gone" is not set: the source answers 404.

	h.addContext("ci-checkout", connector.Jenkins, cs.ci.URL, "checkout-main")
	h.addContext("cd-checkout", connector.ArgoCD, cs.cd.URL, "checkout", "slow-app", "gone")
	if _, err := h.store.Create(context.Background(), connector.Connector{
		ID: "jira-main", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://jira.example.com",
		AuthMode: connector.AuthBasic, Username: "bot@example.com", Project: "PAY", Enabled: true,
		ContextConnectors: []string{"ci-checkout", "cd-checkout"},
	}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// addContext saves an enabled context connector with an encrypted token.
func (h *harness) addContext(id string, sys connector.System, url string, watch ...string) {
	h.t.Helper()
	c := connector.Connector{
		ID: id, System: sys, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
		Watch: watch, Enabled: true, Credential: connector.Credential{Binding: connector.BindingFields, SetTime: time.Now()},
	}
	ct, err := h.cipher.Encrypt(context.Background(), c.CredentialContext(), []byte(ctxToken))
	if err != nil {
		h.t.Fatal(err)
	}
	c.Credential.Ciphertext = ct
	if _, err := h.store.Create(context.Background(), c); err != nil {
		h.t.Fatal(err)
	}
}

func contextConfig() knowledge.Config {
	cfg := testConfig()
	// Generous for the fast sources on a busy machine; the slow one never
	// answers within it.
	cfg.ContextTimeout = 3 * time.Second
	cfg.ContextCacheTTL = time.Minute
	return cfg
}

func sourceByScope(t *testing.T, tc *chv1.TicketContext) map[string]*chv1.ContextSourceReport {
	t.Helper()
	out := map[string]*chv1.ContextSourceReport{}
	for _, s := range tc.GetSources() {
		out[s.GetConnectorId()+"/"+s.GetScope()] = s
	}
	return out
}

func TestEnrichmentCarriesContextWithinTheDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	cs := withContextSources(t, h)
	h.start(contextConfig(), nil)

	now := time.Now()
	start := time.Now()
	h.publishDiscovered(ticket("PAY-1", "Checkout returns 500", "payment gateway times out at checkout", now))
	ev := h.enriched(1, 500*time.Millisecond)[0].ev
	took := time.Since(start)

	got := sourceByScope(t, ev.GetContext())
	if len(ev.GetContext().GetSources()) != 4 {
		t.Fatalf("context sources = %v, want 4", protojson.Format(ev.GetContext()))
	}
	ci := got["ci-checkout/checkout-main"]
	if ci.GetUnavailableReason() != "" || ci.GetSystem() != chv1.System_SYSTEM_JENKINS || len(ci.GetBuilds()) != 2 ||
		ci.GetBuilds()[0].GetStatus() != "failed" || ci.GetBuilds()[0].GetFailingSteps()[0] != "checkout_test" ||
		!ci.GetBuilds()[0].GetFinishTime().AsTime().Equal(time.Date(2026, 12, 1, 9, 5, 0, 0, time.UTC)) || ci.GetReadTime() == nil {
		t.Errorf("CI report = %v", ci)
	}
	cd := got["cd-checkout/checkout"]
	if cd.GetDeployment().GetHealth() != "Degraded" || cd.GetDeployment().GetRevision() != "a1b2c3" || cd.GetSystem() != chv1.System_SYSTEM_ARGOCD {
		t.Errorf("deployment report = %v", cd)
	}
	if r := got["cd-checkout/slow-app"].GetUnavailableReason(); r != "timed out after 3s" {
		t.Errorf("slow source reason = %q, want timed out after 3s", r)
	}
	if r := got["cd-checkout/gone"].GetUnavailableReason(); !strings.HasPrefix(r, "scope not found") {
		t.Errorf("unknown scope reason = %q, want scope not found…", r)
	}
	// The slow source cost the deadline, not its five minutes.
	if took > time.Minute {
		t.Errorf("enrichment took %s", took)
	}
	if strings.Contains(h.logs.String(), ctxToken) {
		t.Error("the context source's token was logged")
	}

	// A second ticket of the same connector within the TTL: the reports read
	// come from the cache; the slow scope (not cached) is asked again.
	h.publishDiscovered(ticket("PAY-2", "Cart total wrong", "settlement rounding", now))
	evs := h.enriched(2, 500*time.Millisecond)
	if ev2 := evs[1].ev; len(ev2.GetContext().GetSources()) != 4 || sourceByScope(t, ev2.GetContext())["ci-checkout/checkout-main"].GetBuilds()[0].GetId() != "42" {
		t.Fatalf("second context = %v", ev2.GetContext())
	}
	if n := cs.ci.Hits("checkout-main"); n != 1 {
		t.Errorf("CI scope read %d times for two tickets, want 1 (cached)", n)
	}
	if n := cs.cd.Hits("checkout"); n != 1 {
		t.Errorf("deployment scope read %d times for two tickets, want 1 (cached)", n)
	}
	if n := cs.cd.Hits("slow-app"); n != 2 {
		t.Errorf("slow scope read %d times, want 2 (a timeout is not cached)", n)
	}

	// Past the TTL the source is read again.
	h.clock.Advance(2 * time.Minute)
	h.publishDiscovered(ticket("PAY-3", "Refund stuck", "refund queue", now))
	h.enriched(3, 500*time.Millisecond)
	if n := cs.ci.Hits("checkout-main"); n != 2 {
		t.Errorf("CI scope read %d times after the TTL, want 2", n)
	}
}

func TestEnrichmentWithoutConfluenceStillCarriesContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cs := withContextSources(t, h)
	cs.ci.Fail("checkout-main", http.StatusServiceUnavailable)
	h.start(contextConfig(), nil)
	h.publishDiscovered(ticket("PAY-9", "Checkout returns 500", "gateway", time.Now()))
	ev := h.enriched(1, 500*time.Millisecond)[0].ev
	if ev.GetEmptyReason() == "" {
		t.Errorf("empty_reason not set without Confluence: %v", ev)
	}
	r := sourceByScope(t, ev.GetContext())["ci-checkout/checkout-main"].GetUnavailableReason()
	if !strings.HasPrefix(r, "unavailable: ") || !strings.Contains(r, "503") {
		t.Errorf("failing source reason = %q", r)
	}
}

func TestSearchReturnsContextOnRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	withContextSources(t, h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := contextConfig()
	cfg.Tokens = []string{"svc:viewer:" + apiToken}
	h.start(cfg, lis)

	// NATS: the ticket connector's context, narrowed to one scope, no query.
	msg, err := h.nc.Request(knowledge.SearchSubject, mustJSON(t, &chv1.SearchRequest{TicketConnectorId: "jira-main", IncludeContext: true, ContextScopes: []string{"checkout"}}), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var resp chv1.SearchResponse
	if err := protojson.Unmarshal(msg.Data, &resp); err != nil || msg.Header.Get("Nats-Service-Error") != "" {
		t.Fatalf("answer %s %v: %v", msg.Data, msg.Header, err)
	}
	if s := resp.GetContext().GetSources(); len(s) != 1 || s[0].GetConnectorId() != "cd-checkout" || s[0].GetDeployment().GetHealth() != "Degraded" || len(resp.GetHits()) != 0 {
		t.Fatalf("context-only answer = %v", protojson.Format(&resp))
	}

	// gRPC: a named context connector beside a Confluence search.
	client := chv1.NewKnowledgeServiceClient(dial(t, lis.Addr()))
	gr, err := client.Search(authCtx(t), &chv1.SearchRequest{Query: "payment gateway", ContextConnectorIds: []string{"ci-checkout"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := gr.GetContext().GetSources(); len(gr.GetHits()) == 0 || len(s) != 1 || s[0].GetBuilds()[0].GetStatus() != "failed" {
		t.Fatalf("gRPC answer = %v", protojson.Format(gr))
	}

	// include_context on a connector naming none, or with no connector, is refused.
	for name, req := range map[string]*chv1.SearchRequest{
		"no ticket connector": {IncludeContext: true},
		"names none":          {TicketConnectorId: "wiki-eng", IncludeContext: true},
	} {
		msg, err := h.nc.Request(knowledge.SearchSubject, mustJSON(t, req), 10*time.Second)
		if err != nil || msg.Header.Get("Nats-Service-Error-Code") != knowledge.CodeInvalid {
			t.Errorf("%s: %v %v, want %s", name, msg.Header, err, knowledge.CodeInvalid)
		}
	}
}
