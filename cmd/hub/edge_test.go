package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/poller"
	"github.com/connectorhub/connectorhub/services/writeback"
)

// The edge site of this test: a connector in it is reachable only from
// there (its fake Jira counts who calls it, by User-Agent).
const (
	edgeZone   = "plant"
	hubDomain  = "hub"
	edgeDomain = "edge"
)

// TestEdgeZoneIsPolledAndWrittenBackOnlyAtTheEdge runs the central site (a
// JetStream server in domain "hub" with a central poller and writeback) and
// an edge site (a leaf node server in its own domain "edge", connected to
// the hub over a loopback leafnode port, with an edge poller and writeback
// that reach the hub's streams and buckets as JetStream domain "hub", as
// NATS documents for leaf nodes). A connector in zone "plant" is polled and
// written back only by the edge replicas, and its events land in the
// central TICKETS stream; the central connector only by the central ones.
func TestEdgeZoneIsPolledAndWrittenBackOnlyAtTheEdge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	hub, leaf := startHubAndLeaf(t)

	central := connect(t, hub.ClientURL())
	cjs, err := jetstream.New(central)
	if err != nil {
		t.Fatal(err)
	}
	const leaseTTL = 3 * time.Second
	if err := bus.Provision(ctx, cjs, bus.ProvisionOptions{LeaseTTL: leaseTTL}); err != nil {
		t.Fatal(err)
	}
	edge := connect(t, leaf.ClientURL())
	ejs, err := jetstream.NewWithDomain(edge, hubDomain)
	if err != nil {
		t.Fatal(err)
	}

	centralJira, centralCalls := countingJira(t)
	edgeJira, edgeCalls := countingJira(t)
	ckv, err := cjs.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	store := connector.NewStore(ckv)
	for _, c := range []struct {
		id, zone, url string
	}{{"central-jira", "", centralJira.url}, {"edge-jira", edgeZone, edgeJira.url}} {
		conn := connector.Connector{ID: c.id, System: connector.Jira, Deployment: connector.Cloud, BaseURL: c.url,
			Project: jirafake.SandboxProject, AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail, Zone: c.zone,
			Enabled: true, PollInterval: connector.MinPollInterval, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
		conn.ApplyDefaults(all.Registry())
		if err := conn.Validate(all.Registry()); err != nil {
			t.Fatal(err)
		}
		conn.PollInterval = 200 * time.Millisecond // below the API's minimum, to keep the test short
		if _, err := store.Create(ctx, conn); err != nil {
			t.Fatal(err)
		}
	}
	centralWant := centralJira.fake.Seed(jirafake.SandboxEmail, time.Now())
	edgeWant := edgeJira.fake.Seed(jirafake.SandboxEmail, time.Now())

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	runPoller(t, cjs, "", "central-r1", log)
	runPoller(t, cjs, "", "central-r2", log)
	runPoller(t, ejs, edgeZone, "edge-r1", log)
	runWriteback(t, cjs, "", log)
	runWriteback(t, ejs, edgeZone, log)

	for id, want := range map[string][]string{"central-jira": centralWant, "edge-jira": edgeWant} {
		testenv.Eventually(t, 30*time.Second, id+"'s seeded tickets in the central TICKETS stream", func() bool {
			got := discovered(t, cjs, id)
			for _, k := range want {
				if got[k] == 0 {
					return false
				}
			}
			return true
		})
	}
	lkv, err := cjs.KeyValue(ctx, bus.BucketPollLeases)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := lkv.Get(ctx, "lease.edge-jira"); err != nil || string(e.Value()) != "edge-r1" {
		t.Errorf("edge-jira's lease: %v %v, want held by edge-r1", e, err)
	}

	// An agent at the central site publishes a result for each connector.
	for _, r := range []struct{ id, conn, key string }{{"res-central", "central-jira", centralWant[0]}, {"res-edge", "edge-jira", edgeWant[0]}} {
		subject, _ := bus.ResultSubject("jira", r.conn)
		res := &chv1.ResultReady{ResultId: r.id, ConnectorId: r.conn, System: chv1.System_SYSTEM_JIRA, TicketKey: r.key,
			BaseTime: timestamppb.Now(), CommentMarkdown: "done by " + r.id}
		if _, err := bus.Publish(ctx, cjs, subject, res, bus.WithID(r.id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		id, key string
		jira    *jiraSite
	}{{"res-central", centralWant[0], centralJira}, {"res-edge", edgeWant[0], edgeJira}} {
		testenv.Eventually(t, 30*time.Second, r.id+" written back", func() bool {
			return writebacks(t, cjs)["completed"][r.id] == 1
		})
		n := 0
		for _, c := range r.jira.fake.Comments(r.key) {
			if strings.Contains(c.Body, "done by "+r.id) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d comments written, want 1", r.id, n)
		}
	}
	// A few more poll intervals, so a central replica that polled the edge
	// connector (or the reverse) would have shown itself.
	time.Sleep(time.Second)

	for id, want := range map[string][]string{"central-jira": centralWant, "edge-jira": edgeWant} {
		for _, k := range want {
			if n := discovered(t, cjs, id)[k]; n != 1 {
				t.Errorf("%s %s discovered %d times, want once", id, k, n)
			}
		}
	}
	if wb := writebacks(t, cjs); len(wb["failed"]) != 0 || len(wb["completed"]) != 2 {
		t.Errorf("writeback events: %v", wb)
	}
	ec, cc := edgeCalls(), centralCalls()
	if ec["edge-poller"] == 0 || ec["edge-writeback"] == 0 || ec["central-poller"] != 0 || ec["central-writeback"] != 0 {
		t.Errorf("the edge tracker was called by %v: want the edge poller and writeback only", ec)
	}
	if cc["central-poller"] == 0 || cc["central-writeback"] == 0 || cc["edge-poller"] != 0 || cc["edge-writeback"] != 0 {
		t.Errorf("the central tracker was called by %v: want the central poller and writeback only", cc)
	}
}

// startHubAndLeaf starts the hub (JetStream domain "hub", a leafnode port
// on loopback) and a leaf node server (its own JetStream, domain "edge")
// that connects to it, and waits until the leaf connection is up.
func startHubAndLeaf(t *testing.T) (hub, leaf *server.Server) {
	t.Helper()
	// The leafnode port is reserved first, so the leaf's remote can name
	// it; another process could take it in between, a risk accepted on
	// loopback in a test (as in pkg/bus's cluster test).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leafPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	hub = startServer(t, &server.Options{ServerName: "hub", JetStream: true, JetStreamDomain: hubDomain, StoreDir: t.TempDir(),
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}})
	remote := &url.URL{Scheme: "nats-leaf", Host: fmt.Sprintf("127.0.0.1:%d", leafPort)}
	leaf = startServer(t, &server.Options{ServerName: "edge", JetStream: true, JetStreamDomain: edgeDomain, StoreDir: t.TempDir(),
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	testenv.Eventually(t, 30*time.Second, "the leaf node connected to the hub", func() bool {
		return hub.NumLeafNodes() == 1 && leaf.NumLeafNodes() == 1
	})
	return hub, leaf
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatalf("server %s not ready", opts.ServerName)
	}
	return s
}

func connect(t *testing.T, u string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(u, nats.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

type jiraSite struct {
	fake *jirafake.Server
	url  string
}

// countingJira serves a sandbox Jira Cloud and counts its requests by
// User-Agent, which each replica of the test sets to its own name.
func countingJira(t *testing.T) (*jiraSite, func() map[string]int) {
	t.Helper()
	fake := jirafake.NewSandbox(connector.Cloud)
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.UserAgent()]++
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &jiraSite{fake: fake, url: srv.URL}, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int, len(calls))
		for k, v := range calls {
			out[k] = v
		}
		return out
	}
}

type clearDecrypter struct{}

func (clearDecrypter) Decrypt(_ context.Context, _, ct string) ([]byte, error) {
	return []byte(ct), nil
}

func site(zone string) string {
	if zone == "" {
		return "central"
	}
	return "edge"
}

func runPoller(t *testing.T, js jetstream.JetStream, zone, replica string, log *slog.Logger) {
	t.Helper()
	cfg := poller.DefaultConfig()
	cfg.Zone, cfg.ReplicaID, cfg.Systems = zone, replica, []string{"jira"}
	cfg.LeaseTTL, cfg.Tick = 3*time.Second, 100*time.Millisecond
	runService(t, replica, func(ctx context.Context) error {
		return poller.Run(ctx, cfg, poller.Deps{JS: js, Decrypter: clearDecrypter{}, Logger: log.With("replica", replica),
			Trackers: all.Registry(), TrackerOptions: trackers.Options{UserAgent: site(zone) + "-poller"}})
	})
}

func runWriteback(t *testing.T, js jetstream.JetStream, zone string, log *slog.Logger) {
	t.Helper()
	cfg := writeback.DefaultConfig()
	cfg.Zone = zone
	cfg.RetryBase, cfg.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	runService(t, site(zone)+"-writeback", func(ctx context.Context) error {
		return writeback.Run(ctx, cfg, writeback.Deps{JS: js, Decrypter: clearDecrypter{}, Logger: log,
			Trackers: all.Registry(), TrackerOptions: trackers.Options{UserAgent: site(zone) + "-writeback"}})
	})
}

func runService(t *testing.T, name string, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// discovered counts the central TICKETS stream's ticket.discovered events
// of a connector by ticket key.
func discovered(t *testing.T, js jetstream.JetStream, connectorID string) map[string]int {
	t.Helper()
	subject, _ := bus.TicketSubject("discovered", "jira", connectorID)
	out := map[string]int{}
	for _, m := range messages(t, js, bus.StreamTickets, subject) {
		out[m.Header.Get(bus.HeaderSubject)]++
	}
	return out
}

// writebacks counts the WRITEBACK stream's events by kind and result id.
func writebacks(t *testing.T, js jetstream.JetStream) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{"completed": {}, "failed": {}}
	for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
		kind := strings.Split(m.Subject, ".")[1]
		var id string
		if kind == "completed" {
			var ev chv1.WritebackCompleted
			if err := protojson.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			id = ev.GetResultId()
		} else {
			var ev chv1.WritebackFailed
			if err := protojson.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			id = ev.GetResultId()
		}
		out[kind][id]++
	}
	return out
}
