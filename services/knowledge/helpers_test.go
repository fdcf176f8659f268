package knowledge_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

const (
	cfToken  = "confluence-api-token-5ecret"
	apiToken = "knowledge-test-token-0123456789"
)

// clock is a settable clock for Deps.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is one embedded NATS server, one fake Confluence and a keyring.
type harness struct {
	t       testing.TB
	srv     *bus.Embedded
	nc      *nats.Conn
	js      jetstream.JetStream
	fake    *confluencefake.Server
	wikiURL string
	cipher  *secrets.Local
	store   *connector.Store
	clock   *clock
	logs    *testenv.LogBuffer // so tests can check that no secret is logged
	// trackers replaces all.Registry() for the replicas started (context sources).
	trackers *trackers.Registry
	// oauth is the token service of the replicas started (oauth2 connectors).
	oauth trackers.OAuthTokens
}

func testPages() []confluencefake.Page {
	return []confluencefake.Page{
		{ID: 101, SpaceKey: "ENG", Title: "Payment gateway runbook", Body: `<p>When the <strong>payment gateway</strong> times out, restart the worker &amp; check the settlement queue.</p>`, Updated: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{ID: 102, SpaceKey: "ENG", Title: "Settlement batch design", Body: `<p>The settlement batch runs nightly; the gateway retries declined payments.</p>`, Updated: time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)},
		{ID: 103, SpaceKey: "OPS", Title: "On-call handbook", Body: `<p>Escalate timeouts to the payments team.</p>`},
		{ID: 104, SpaceKey: "HR", Title: "Holiday policy", Body: `<p>Request leave in the portal.</p>`},
	}
}

func newHarness(t testing.TB, middleware ...func(http.Handler) http.Handler) *harness {
	t.Helper()
	srv := testenv.NATSServer(t)
	h := &harness{t: t, srv: srv, clock: &clock{t: time.Now()}, logs: &testenv.LogBuffer{}}
	h.nc, h.js = h.connect("harness")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, h.js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	h.fake = confluencefake.New(confluencefake.Options{
		Deployment: connector.Cloud,
		Users:      []confluencefake.User{{AccountID: "acc-1", Email: "bot@example.com", DisplayName: "Bot", APIToken: cfToken}},
		Spaces:     []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}, {ID: 2, Key: "OPS", Name: "Operations"}, {ID: 3, Key: "HR", Name: "People"}},
		Pages:      testPages(),
	})
	h.wikiURL = h.fake.Start(t, middleware...)
	c, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.cipher = c
	kv, err := h.js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	h.store = connector.NewStore(kv)
	return h
}

func (h *harness) connect(name string) (*nats.Conn, jetstream.JetStream) {
	h.t.Helper()
	nc, err := h.srv.Connect(nats.Name(name))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, js
}

// addWiki saves an enabled Confluence Cloud connector with an encrypted token.
func (h *harness) addWiki(id string, spaces ...string) connector.Connector {
	h.t.Helper()
	ctx := context.Background()
	ct, err := h.cipher.Encrypt(ctx, id, []byte(cfToken))
	if err != nil {
		h.t.Fatal(err)
	}
	c := connector.Connector{
		ID: id, System: connector.Confluence, Deployment: connector.Cloud, BaseURL: h.wikiURL,
		AuthMode: connector.AuthBasic, Username: "bot@example.com", SpaceKeys: spaces, Enabled: true,
		Credential: connector.Credential{Ciphertext: ct, SetTime: time.Now()},
	}
	c, err = h.store.Create(ctx, c)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func testConfig() knowledge.Config {
	cfg := knowledge.DefaultConfig()
	cfg.ListenAddr = "" // gRPC only where a test gives a listener
	cfg.SearchTimeout = 3 * time.Second
	cfg.RequestTimeout = 5 * time.Second
	cfg.CacheTTL = time.Hour
	cfg.FailureBackoff = time.Minute
	cfg.MaxRetryWait = 0
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

type running struct {
	svc  *knowledge.Service
	addr net.Addr
	stop func() error
}

// start runs a knowledge replica on its own connection until the test ends.
func (h *harness) start(cfg knowledge.Config, lis net.Listener) running {
	h.t.Helper()
	nc, js := h.connect("knowledge")
	reg := h.trackers
	if reg == nil {
		reg = all.Registry()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	svc, err := knowledge.New(ctx, cfg, knowledge.Deps{
		NC: nc, JS: js, Decrypter: h.cipher, Trackers: reg, Listener: lis, Now: h.clock.Now, OAuth: h.oauth,
		Ready:  func(a net.Addr) { ready <- a },
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		h.t.Fatalf("knowledge stopped before ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		h.t.Fatal("knowledge not ready in 20s")
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(20 * time.Second):
				stopErr = fmt.Errorf("knowledge did not stop in 20s")
			}
		})
		return stopErr
	}
	h.t.Cleanup(func() {
		if err := stop(); err != nil {
			h.t.Error(err)
		}
	})
	return running{svc: svc, addr: addr, stop: stop}
}

func ticket(key, summary, desc string, updated time.Time) *chv1.Ticket {
	return &chv1.Ticket{
		ConnectorId: "jira-main", System: chv1.System_SYSTEM_JIRA, Key: key,
		Url: "https://jira.example.com/browse/" + key, Summary: summary, DescriptionText: desc,
		Labels: []string{"payments"}, UpdateTime: timestamppb.New(updated),
	}
}

func (h *harness) publishDiscovered(t *chv1.Ticket) {
	h.t.Helper()
	subj, _ := bus.TicketSubject(bus.TicketDiscovered, "jira", t.GetConnectorId())
	if _, err := bus.Publish(context.Background(), h.js, subj, &chv1.TicketDiscovered{Ticket: t}, bus.WithSource(bus.Source(bus.ProducerPoller, "jira-main"))); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) publishUpdated(t *chv1.Ticket, changed ...string) {
	h.t.Helper()
	h.publishUpdatedBy("", t, changed...)
}

// publishUpdatedBy publishes an update made by actor ("self": the
// connector's own writeback).
func (h *harness) publishUpdatedBy(actor string, t *chv1.Ticket, changed ...string) {
	h.t.Helper()
	subj, _ := bus.TicketSubject(bus.TicketUpdated, "jira", t.GetConnectorId())
	if _, err := bus.Publish(context.Background(), h.js, subj, &chv1.TicketUpdated{Ticket: t, ChangedFields: changed, Actor: actor}, bus.WithSource(bus.Source(bus.ProducerPoller, "jira-main"))); err != nil {
		h.t.Fatal(err)
	}
}

// enrichedEvent is a ticket.enriched event as stored in the stream.
type enrichedEvent struct {
	subject string
	env     bus.Envelope
	msgID   string
	ev      *chv1.TicketEnriched
}

// enriched reads the ticket.enriched events stored in TICKETS: it waits
// until want have arrived, then for quiet more to make sure no extra follows.
func (h *harness) enriched(want int, quiet time.Duration) []enrichedEvent {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := h.js.OrderedConsumer(ctx, bus.StreamTickets, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ticket.enriched.>"}})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []enrichedEvent
	deadline := time.Now().Add(20 * time.Second)
	for {
		wait := quiet
		if len(out) < want {
			wait = time.Until(deadline)
		}
		if wait <= 0 {
			break
		}
		m, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			break
		}
		ev := &chv1.TicketEnriched{}
		env, err := bus.Decode(m, ev)
		if err != nil {
			h.t.Fatalf("undecodable enrichment: %v", err)
		}
		out = append(out, enrichedEvent{subject: m.Subject(), env: env, msgID: m.Headers().Get(jetstream.MsgIDHeader), ev: ev})
	}
	if len(out) != want {
		h.t.Fatalf("%d ticket.enriched events, want %d: %+v", len(out), want, out)
	}
	return out
}
