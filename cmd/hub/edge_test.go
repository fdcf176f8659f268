package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
	creds := provisionedCredentials(t)
	hub, leaf := startHubAndLeaf(t, creds, bus.RoleLeaf)

	cjs := connectJS(t, hub.ClientURL(), creds, bus.RoleOperator, "")
	const leaseTTL = 3 * time.Second
	if err := bus.Provision(ctx, cjs, bus.ProvisionOptions{LeaseTTL: leaseTTL}); err != nil {
		t.Fatal(err)
	}
	// Every service authenticates as its role: centrally at the hub, at the
	// edge at the leaf (which has the same users), reaching the hub's
	// streams as domain "hub" across the leaf's least-privilege connection.
	centralPoller := connectJS(t, hub.ClientURL(), creds, bus.RolePoller, "")
	centralWriteback := connectJS(t, hub.ClientURL(), creds, bus.RoleWriteback, "")
	edgePoller := connectJS(t, leaf.ClientURL(), creds, bus.RolePoller, hubDomain)
	edgeWriteback := connectJS(t, leaf.ClientURL(), creds, bus.RoleWriteback, hubDomain)
	for _, c := range []struct {
		js jetstream.JetStream
		r  bus.Role
	}{{edgePoller, bus.RolePoller}, {edgeWriteback, bus.RoleWriteback}} {
		if err := bus.Verify(ctx, c.js, c.r); err != nil {
			t.Fatalf("edge %s through the leaf: %v", c.r, err)
		}
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
	runPoller(t, centralPoller, "", "central-r1", log)
	runPoller(t, centralPoller, "", "central-r2", log)
	runPoller(t, edgePoller, edgeZone, "edge-r1", log)
	runWriteback(t, centralWriteback, "", log)
	runWriteback(t, edgeWriteback, edgeZone, log)

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

// provisionedCredentials writes every role's seed as hub --provision-nats
// does (compose's nats-setup), leaf.nk and leaf-remote.conf included.
func provisionedCredentials(t *testing.T) *bus.Credentials {
	t.Helper()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(t.TempDir(), "nats-creds"))
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// startHubAndLeaf starts the hub (JetStream domain "hub", a leafnode port
// on loopback) and a leaf node server (its own JetStream, domain "edge")
// that connects to it with leafRole's seed, and waits until the leaf
// connection is up. Both servers require the provisioned users: the hub's
// leafnode port has no authorization block of its own, so a leaf
// authenticates as one of them (nats-server applies the user's
// permissions to the leaf connection), as compose's nats.conf does.
func startHubAndLeaf(t *testing.T, creds *bus.Credentials, leafRole bus.Role) (hub, leaf *server.Server) {
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
	seed, err := os.ReadFile(creds.File(leafRole))
	if err != nil {
		t.Fatal(err)
	}
	hub = startServer(t, &server.Options{ServerName: "hub", JetStream: true, JetStreamDomain: hubDomain, StoreDir: t.TempDir(),
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true, Nkeys: creds.Users(),
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}})
	remote := &url.URL{Scheme: "nats-leaf", Host: fmt.Sprintf("127.0.0.1:%d", leafPort)}
	leaf = startServer(t, &server.Options{ServerName: "edge", JetStream: true, JetStreamDomain: edgeDomain, StoreDir: t.TempDir(),
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true, Nkeys: creds.Users(),
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}, Nkey: strings.TrimSpace(string(seed))}}}})
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

// connectJS connects to u as role r and returns its JetStream, in domain
// (the hub's, from the edge) or the server's own.
func connectJS(t *testing.T, u string, creds *bus.Credentials, r bus.Role, domain string, extra ...nats.Option) jetstream.JetStream {
	t.Helper()
	opt, err := creds.Option(r)
	if err != nil {
		t.Fatal(err)
	}
	// Refusals are asserted on the calls; the default handler prints each.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(u, append([]nats.Option{opt, nats.Name(t.Name() + "-" + string(r)), quiet}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var js jetstream.JetStream
	if domain != "" {
		js, err = jetstream.NewWithDomain(nc, domain)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return js
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

// TestEdgeLeafCredentialCarriesOnlyTheEdgeServicesRights connects a leaf
// with the leaf role's credential and, through it, tries what an edge site
// must not do to the central bus, as the strongest user of the leaf server
// (its operator: a compromised edge site owns its own leaf). Each attempt
// is refused and the hub is unchanged, while what the edge services need
// (a poll_state write, replies on the edge poller's inbox prefix) works. The same attempts with the operator's seed as
// the leaf's credential (the setup before the leaf role) succeed: the
// test tells a too-broad leaf role apart.
func TestEdgeLeafCredentialCarriesOnlyTheEdgeServicesRights(t *testing.T) {
	t.Parallel()
	type attempt struct {
		what string
		do   func(ctx context.Context, js jetstream.JetStream) error
	}
	put := func(bucket string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error {
			kv, err := js.KeyValue(ctx, bucket)
			if err != nil {
				return err
			}
			_, err = kv.Put(ctx, "evil", []byte(`{"base_url":"https://attacker.example"}`))
			return err
		}
	}
	publish := func(subject string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.Publish(ctx, subject, []byte("{}"))
			return err
		}
	}
	forbidden := []attempt{
		{"write the connectors bucket", put(bus.BucketConnectors)},
		{"publish result.ready", publish("result.ready.jira.c1")},
		{"publish an audit event", publish("audit.connector.create")},
		{"read the TICKETS stream", func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.Stream(ctx, bus.StreamTickets)
			return err
		}},
		{"create a stream", func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}, Storage: jetstream.MemoryStorage})
			return err
		}},
		{"delete the AUDIT stream", func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, bus.StreamAudit) }},
		{"take over the central writeback's durable", func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{Durable: "writeback", FilterSubject: "result.ready.>", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}},
	}
	// hubUnchanged says what the attempts left behind at the hub, "" if nothing.
	hubUnchanged := func(ctx context.Context, t *testing.T, cjs jetstream.JetStream) []string {
		var changed []string
		kv, err := cjs.KeyValue(ctx, bus.BucketConnectors)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx, "evil"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			changed = append(changed, "connectors/evil written")
		}
		for _, s := range []string{bus.StreamResults, bus.StreamAudit} {
			st, err := cjs.Stream(ctx, s)
			if err != nil {
				changed = append(changed, s+" gone")
				continue
			}
			if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
				changed = append(changed, s+" has messages")
			}
		}
		if _, err := cjs.Stream(ctx, "EVIL"); err == nil {
			changed = append(changed, "stream EVIL created")
		}
		if _, err := cjs.Consumer(ctx, bus.StreamResults, "writeback"); err == nil {
			changed = append(changed, "durable writeback created")
		}
		return changed
	}

	for _, tc := range []struct {
		leafRole bus.Role
		tooBroad bool // the control: the attempts must go through
	}{
		{leafRole: bus.RoleLeaf},
		{leafRole: bus.RoleOperator, tooBroad: true},
	} {
		t.Run("leaf as "+string(tc.leafRole), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			creds := provisionedCredentials(t)
			hub, leaf := startHubAndLeaf(t, creds, tc.leafRole)
			cjs := connectJS(t, hub.ClientURL(), creds, bus.RoleOperator, "")
			if err := bus.Provision(ctx, cjs, bus.ProvisionOptions{LeaseTTL: 3 * time.Second}); err != nil {
				t.Fatal(err)
			}
			// Replies cross the leaf to the edge poller's inboxes only: the
			// attacker takes that prefix.
			attacker := connectJS(t, leaf.ClientURL(), creds, bus.RoleOperator, hubDomain, nats.CustomInboxPrefix(bus.RolePoller.InboxPrefix()))

			// What the edge services need goes through (and shows the leaf
			// connection up, so the refusals below are the permissions').
			testenv.Eventually(t, 30*time.Second, "a poll_state write through the leaf", func() bool {
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return put(bus.BucketPollState)(c, attacker) == nil
			})
			var through []string
			for _, a := range forbidden {
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := a.do(c, attacker); err == nil {
					through = append(through, a.what)
				}
				cancel()
			}
			changed := hubUnchanged(ctx, t, cjs)
			if tc.tooBroad {
				if !slices.Contains(through, forbidden[0].what) || !slices.Contains(changed, "connectors/evil written") {
					t.Errorf("with a too-broad leaf credential, went through: %v; hub changes: %v; want at least the connectors write (the test must tell)", through, changed)
				}
				return
			}
			// The leaf connection is still up: the refusals were the
			// permissions', not a dropped connection.
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := put(bus.BucketPollState)(c, attacker); err != nil {
				t.Errorf("a poll_state write after the refusals: %v", err)
			}
			if len(through) != 0 || len(changed) != 0 {
				t.Errorf("through the leaf credential went: %v; hub changes: %v; want none", through, changed)
			}
		})
	}
}

// TestComposeEdgeConfigAuthenticatesAsTheLeafRole parses compose's
// nats-edge.conf beside a provisioned creds volume (as mounted at
// /etc/nats/creds/nats-creds): its remote carries the leaf role's seed,
// from the include, not an environment variable.
func TestComposeEdgeConfigAuthenticatesAsTheLeafRole(t *testing.T) {
	t.Parallel()
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "compose", "nats-edge.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "$LEAF_NKEY_SEED") || strings.Contains(string(conf), operatorFile) {
		t.Error("nats-edge.conf still takes the operator's seed")
	}
	dir := t.TempDir()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(dir, "creds", "nats-creds"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nats-edge.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects nats-edge.conf: %v", err)
	}
	seed, err := os.ReadFile(creds.File(bus.RoleLeaf))
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.LeafNode.Remotes) != 1 || opts.LeafNode.Remotes[0].Nkey != strings.TrimSpace(string(seed)) {
		t.Error("nats-edge.conf's remote does not authenticate with the leaf role's seed")
	}
}

const operatorFile = "operator.nk"
