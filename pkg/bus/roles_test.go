package bus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// authBus is an embedded server that requires the roles' credentials,
// listening on loopback TCP too, provisioned by the operator.
type authBus struct {
	srv   *bus.Embedded
	creds *bus.Credentials
	op    jetstream.JetStream
}

func newAuthBus(t *testing.T) *authBus {
	t.Helper()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(t.TempDir(), "nats-creds"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b := &authBus{srv: srv, creds: creds}
	_, b.op = b.connect(t, bus.RoleOperator)
	if err := bus.Provision(t.Context(), b.op, bus.ProvisionOptions{Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	return b
}

// connect opens an in-process connection as role r.
func (b *authBus) connect(t *testing.T, r bus.Role) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opt, err := b.creds.Option(r)
	if err != nil {
		t.Fatal(err)
	}
	// Refusals are asserted on the calls; the default handler would print each one.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := b.srv.Connect(opt, nats.Name(string(r)), quiet)
	if err != nil {
		t.Fatalf("connect as %s: %v", r, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// denied gives a refused operation a bounded time: a publish the server
// refuses gets no answer, so the client's wait ends at the deadline.
func denied(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAConnectionWithoutCredentialIsRefused(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)

	if nc, err := b.srv.Connect(); err == nil {
		nc.Close()
		t.Error("in-process connection without a credential was accepted")
	}
	if nc, err := nats.Connect(b.srv.ClientURL(), nats.Timeout(10*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("TCP connection without a credential: %v, want %v", err, nats.ErrAuthorization)
	}
	// A well-formed nkey the server does not know.
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	stranger := filepath.Join(t.TempDir(), "stranger.nk")
	if err := os.WriteFile(stranger, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := bus.ClientAuth{CredsFile: stranger}.Options()
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(b.srv.ClientURL(), append(opts, nats.Timeout(10*time.Second))...); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("TCP connection with an unknown nkey: %v, want %v", err, nats.ErrAuthorization)
	}
	// The role's seed file, as a separate process would use it.
	opts, err = bus.ClientAuth{CredsFile: b.creds.File(bus.RoleReader)}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.srv.ClientURL(), append(opts, nats.Timeout(10*time.Second))...)
	if err != nil {
		t.Fatalf("TCP connection with the reader's seed file: %v", err)
	}
	nc.Close()
}

func TestCredentialsArePrivateAndStable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nats-creds")
	first, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("credentials dir: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	for _, r := range bus.Roles() {
		fi, err := os.Stat(first.File(r))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s seed file: %v, %v; want mode 0600", r, fi.Mode().Perm(), err)
		}
	}
	conf, err := os.ReadFile(filepath.Join(dir, bus.AuthConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(first.File(bus.RolePoller))
	if strings.Contains(string(conf), strings.TrimSpace(string(seed))) || strings.Contains(first.String(), "SU") {
		t.Error("a seed appears in the server configuration or in String()")
	}
	second, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range bus.Roles() {
		if first.PublicKey(r) != second.PublicKey(r) || !nkeys.IsValidPublicUserKey(first.PublicKey(r)) {
			t.Errorf("%s: user %q then %q; want one stable nkey user", r, first.PublicKey(r), second.PublicKey(r))
		}
	}
}

// TestTheServerConfigurationGivesTheSamePermissions: the auth.conf written for
// a nats-server outside the hub parses to the users and permissions the
// embedded server uses.
func TestTheServerConfigurationGivesTheSamePermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(dir, "creds"))
	if err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(main, []byte("listen: 127.0.0.1:-1\ninclude ./creds/"+bus.AuthConfigFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(main)
	if err != nil {
		t.Fatalf("nats-server rejects the generated configuration: %v", err)
	}
	got := map[string]*server.Permissions{}
	types := map[string][]string{}
	for _, u := range opts.Nkeys {
		got[u.Nkey] = u.Permissions
		for ct := range u.AllowedConnectionTypes {
			types[u.Nkey] = append(types[u.Nkey], ct)
		}
	}
	for _, r := range bus.Roles() {
		p, want := got[creds.PublicKey(r)], r.Permissions()
		if p == nil {
			t.Errorf("%s: no user in the configuration", r)
			continue
		}
		if g, w := strings.Join(types[creds.PublicKey(r)], " "), strings.Join(r.ConnectionTypes(), " "); g != w {
			t.Errorf("%s: configuration connection types %q, want %q", r, g, w)
		}
		if strings.Join(p.Publish.Allow, " ") != strings.Join(want.Publish.Allow, " ") ||
			strings.Join(p.Publish.Deny, " ") != strings.Join(want.Publish.Deny, " ") ||
			strings.Join(p.Subscribe.Allow, " ") != strings.Join(want.Subscribe.Allow, " ") ||
			(p.Response == nil) != (want.Response == nil) {
			t.Errorf("%s: configuration permissions %+v differ from %+v", r, p, want)
		}
	}
}

func TestEveryRolePassesItsOwnVerifyOnly(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	for _, r := range bus.Roles() {
		if r.LeafNode() {
			continue // not a client (cmd/hub's edge tests)
		}
		_, js := b.connect(t, r)
		if err := bus.Verify(t.Context(), js, r); err != nil {
			t.Errorf("Verify(%s) with its own credential: %v", r, err)
		}
	}
	// The poller's credential given to the writeback cannot read RESULTS.
	_, js := b.connect(t, bus.RolePoller)
	if err := bus.Verify(denied(t), js, bus.RoleWriteback); !errors.Is(err, bus.ErrRoleMismatch) {
		t.Errorf("Verify(writeback) with the poller's credential: %v, want ErrRoleMismatch", err)
	}
}

// TestRolesAreRefusedOutsideTheirSubjects tries, for each role, what it must
// not do, and checks with the operator that nothing happened.
func TestRolesAreRefusedOutsideTheirSubjects(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	ctx := t.Context()
	opConnectors, err := b.op.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
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
	deleteStream := func(name string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, name) }
	}
	createStream := func(ctx context.Context, js jetstream.JetStream) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}, Storage: jetstream.MemoryStorage})
		return err
	}
	purgeStream := func(name string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		}
	}
	readBucket := func(bucket string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.KeyValue(ctx, bucket)
			return err
		}
	}

	// The writeback's durable consumer, which no other reader may pull from or delete.
	if _, err := b.op.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{Durable: "writeback", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	pull := func(ctx context.Context, js jetstream.JetStream) error {
		c, err := js.Consumer(ctx, bus.StreamResults, "writeback")
		if err != nil {
			return err
		}
		m, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return err
		}
		return m.Ack()
	}
	deleteDurable := func(ctx context.Context, js jetstream.JetStream) error {
		return js.DeleteConsumer(ctx, bus.StreamResults, "writeback")
	}
	retarget := func(ctx context.Context, js jetstream.JetStream) error {
		_, err := js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{Durable: "writeback", AckPolicy: jetstream.AckNonePolicy})
		return err
	}

	// One message per stream, so that a purge or a delete would show.
	for _, s := range []string{"ticket.discovered.jira.c1", "result.ready.jira.c1", "writeback.completed.jira.c1", "audit.connector.create"} {
		if _, err := b.op.Publish(ctx, s, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		role bus.Role
		what string
		do   func(context.Context, jetstream.JetStream) error
	}{
		{bus.RolePoller, "write the connectors bucket", put(bus.BucketConnectors)},
		{bus.RolePoller, "delete a stream", deleteStream(bus.StreamTickets)},
		{bus.RolePoller, "delete the oauth_grants bucket", deleteStream("KV_" + bus.BucketOAuthGrants)},
		{bus.RolePoller, "delete the connectors bucket", deleteStream("KV_" + bus.BucketConnectors)},
		{bus.RolePoller, "publish result.ready", publish("result.ready.jira.c1")},
		{bus.RolePoller, "publish an audit event other than the mismatch", publish("audit.connector.delete")},
		{bus.RolePoller, "publish ticket.enriched", publish("ticket.enriched.jira.c1")},
		{bus.RoleWriteback, "write the connectors bucket", put(bus.BucketConnectors)},
		{bus.RoleWriteback, "publish ticket.discovered", publish("ticket.discovered.jira.c1")},
		{bus.RoleWriteback, "write poll_state", put(bus.BucketPollState)},
		{bus.RoleKnowledge, "write the connectors bucket", put(bus.BucketConnectors)},
		{bus.RoleKnowledge, "publish ticket.discovered", publish("ticket.discovered.jira.c1")},
		{bus.RoleKnowledge, "publish result.ready", publish("result.ready.jira.c1")},
		{bus.RoleAgent, "publish ticket.discovered", publish("ticket.discovered.jira.c1")},
		{bus.RoleAgent, "publish writeback.completed", publish("writeback.completed.jira.c1")},
		{bus.RoleAgent, "read the connectors bucket", readBucket(bus.BucketConnectors)},
		{bus.RoleAgent, "read the oauth_grants bucket", readBucket(bus.BucketOAuthGrants)},
		{bus.RoleReader, "read the oauth_grants bucket", readBucket(bus.BucketOAuthGrants)},
		{bus.RoleHubctl, "write the oauth_grants bucket", put(bus.BucketOAuthGrants)},
		{bus.RoleAgent, "purge RESULTS", purgeStream(bus.StreamResults)},
		{bus.RoleReader, "publish result.ready", publish("result.ready.jira.c1")},
		{bus.RoleReader, "write poll_state", put(bus.BucketPollState)},
		{bus.RoleHubctl, "write the connectors bucket", put(bus.BucketConnectors)},
		{bus.RoleHubctl, "publish audit", publish("audit.connector.create")},
		{bus.RoleRegistry, "publish ticket.discovered", publish("ticket.discovered.jira.c1")},
		{bus.RoleRegistry, "write poll_leases", put(bus.BucketPollLeases)},
		{bus.RoleRegistry, "purge AUDIT", purgeStream(bus.StreamAudit)},
		{bus.RoleReader, "pull from the writeback's consumer", pull},
		{bus.RoleHubctl, "delete the writeback's consumer", deleteDurable},
		{bus.RoleReader, "change the writeback's consumer", retarget},
	}
	// Only the operator creates or deletes streams and buckets.
	for _, r := range bus.Roles()[1:] {
		if r.LeafNode() {
			continue // refused as a client (TestTheLeafCredentialIsRefusedAsAClient)
		}
		cases = append(cases,
			struct {
				role bus.Role
				what string
				do   func(context.Context, jetstream.JetStream) error
			}{r, "create a stream", createStream},
			struct {
				role bus.Role
				what string
				do   func(context.Context, jetstream.JetStream) error
			}{r, "delete the AUDIT stream", deleteStream(bus.StreamAudit)},
		)
	}
	before := streamCounts(t, b.op)
	for _, c := range cases {
		t.Run(string(c.role)+" may not "+c.what, func(t *testing.T) {
			t.Parallel()
			_, js := b.connect(t, c.role)
			if err := c.do(denied(t), js); err == nil {
				t.Errorf("%s could %s", c.role, c.what)
			}
		})
	}
	t.Cleanup(func() {
		// After every subtest: nothing changed.
		if _, err := opConnectors.Get(context.Background(), "evil"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("connectors/evil after the refused writes: %v, want not found", err)
		}
		if after := streamCounts(t, b.op); !equalCounts(before, after) {
			t.Errorf("streams before %v, after %v; want unchanged", before, after)
		}
		if _, err := b.op.Stream(context.Background(), "EVIL"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream EVIL: %v, want not found", err)
		}
		c, err := b.op.Consumer(context.Background(), bus.StreamResults, "writeback")
		if err != nil {
			t.Fatalf("the writeback's consumer after the refusals: %v", err)
		}
		if info := c.CachedInfo(); info.NumPending != 1 || info.NumAckPending != 0 || info.Config.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("the writeback's consumer after the refusals: pending %d, ack pending %d, ack policy %v; want untouched", info.NumPending, info.NumAckPending, info.Config.AckPolicy)
		}
	})
}

// streamCounts is the number of messages in each contract stream and bucket
// stream; a missing stream counts -1.
func streamCounts(t *testing.T, js jetstream.JetStream) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range []string{bus.StreamTickets, bus.StreamResults, bus.StreamWriteback, bus.StreamAudit,
		"KV_" + bus.BucketConnectors, "KV_" + bus.BucketOAuthGrants, "KV_" + bus.BucketPollState, "KV_" + bus.BucketPollLeases, "KV_" + bus.BucketWritebackLedger} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			out[name] = -1
			continue
		}
		out[name] = int64(s.CachedInfo().State.Msgs)
	}
	return out
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEachRoleDoesItsServicesWork goes through what each service does on the
// bus, with its own credential.
func TestEachRoleDoesItsServicesWork(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A worker answers saved-connector tests; the registry asks.
	pollerNC, pollerJS := b.connect(t, bus.RolePoller)
	_, err := pollerNC.QueueSubscribe("connector.test.jira", "workers", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	must("poller serves connector.test", err)
	must("poller flush", pollerNC.Flush())

	// registry: writes connectors, reads poll_state, publishes audit, asks a test, replays a result.
	regNC, regJS := b.connect(t, bus.RoleRegistry)
	kv, err := regJS.KeyValue(ctx, bus.BucketConnectors)
	must("registry binds connectors", err)
	_, err = kv.Create(ctx, "c1", []byte(`{"id":"c1"}`))
	must("registry creates a connector", err)
	state, err := regJS.KeyValue(ctx, bus.BucketPollState)
	must("registry binds poll_state", err)
	if _, err := state.Get(ctx, "c1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("registry reads poll_state: %v", err)
	}
	// A new authorization is stored, a deleted connector's grant dropped.
	rgrants, err := regJS.KeyValue(ctx, bus.BucketOAuthGrants)
	must("registry binds oauth_grants", err)
	_, err = rgrants.Put(ctx, "c1", []byte(`{"v":1}`))
	must("registry stores a grant", err)
	// A deleted connector's poll state goes with it: the head and its parts.
	must("registry deletes a poll state", state.Delete(ctx, "c1"))
	must("registry purges a poll-state part", state.Purge(ctx, "c1.k.r0"))
	led, err := regJS.KeyValue(ctx, bus.BucketWritebackLedger)
	must("registry binds the ledger", err)
	_, err = led.Put(ctx, "r1", []byte("{}"))
	must("registry writes the ledger", err)
	_, err = regJS.Publish(ctx, "audit.connector.create", []byte("{}"))
	must("registry publishes audit", err)
	_, err = regJS.Publish(ctx, "result.ready.jira.c1", []byte("{}"))
	must("registry replays a result", err)
	reply, err := regNC.RequestWithContext(ctx, "connector.test.jira", []byte("c1"))
	must("registry asks a worker for a test", err)
	if string(reply.Data) != "ok" {
		t.Errorf("test answer %q", reply.Data)
	}

	// poller: watches connectors, leases, cursors, ticket events, the mismatch audit.
	pkv, err := pollerJS.KeyValue(ctx, bus.BucketConnectors)
	must("poller binds connectors", err)
	w, err := pkv.WatchAll(ctx)
	must("poller watches connectors", err)
	select {
	case e := <-w.Updates():
		if e == nil || e.Key() != "c1" {
			t.Errorf("poller's watch: first entry %v, want c1", e)
		}
	case <-ctx.Done():
		t.Fatal("poller's watch delivered nothing")
	}
	must("poller stops its watch", w.Stop())
	// Each worker role rotates a refresh token in oauth_grants, compare-and-swap.
	for _, r := range []bus.Role{bus.RolePoller, bus.RoleWriteback, bus.RoleKnowledge} {
		_, js := b.connect(t, r)
		g, err := js.KeyValue(ctx, bus.BucketOAuthGrants)
		must(string(r)+" binds oauth_grants", err)
		cur, err := g.Get(ctx, "c1")
		must(string(r)+" reads a grant", err)
		_, err = g.Update(ctx, "c1", []byte(`{"v":1,"by":"`+string(r)+`"}`), cur.Revision())
		must(string(r)+" rotates a grant", err)
	}
	leases, err := pollerJS.KeyValue(ctx, bus.BucketPollLeases)
	must("poller binds leases", err)
	_, err = leases.Create(ctx, "c1", []byte("replica-1"))
	must("poller takes a lease", err)
	pstate, err := pollerJS.KeyValue(ctx, bus.BucketPollState)
	must("poller binds poll_state", err)
	_, err = pstate.Put(ctx, "c1", []byte("{}"))
	must("poller saves a cursor", err)
	for _, s := range []string{"ticket.discovered.jira.c1", "ticket.updated.jira.c1", "ticket.closed.jira.c1", "audit.credential.mismatch"} {
		_, err = pollerJS.Publish(ctx, s, []byte("{}"))
		must("poller publishes "+s, err)
	}
	f, err := pollerJS.PublishAsync("ticket.discovered.jira.c2", []byte("{}"))
	must("poller publishes async", err)
	select {
	case <-f.Ok():
	case err := <-f.Err():
		t.Fatalf("poller's async publish: %v", err)
	case <-ctx.Done():
		t.Fatal("poller's async publish: no ack")
	}

	// writeback: durable consumer on RESULTS with in-progress acks, the ledger, writeback.*.
	_, wbJS := b.connect(t, bus.RoleWriteback)
	cons, err := wbJS.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{Durable: "writeback", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "result.ready.>"})
	must("writeback creates its consumer", err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	must("writeback fetches", err)
	n := 0
	for m := range batch.Messages() {
		n++
		must("writeback in-progress ack", m.InProgress())
		must("writeback acks", m.DoubleAck(ctx))
	}
	if n != 1 {
		t.Errorf("writeback fetched %d results, want 1 (%v)", n, batch.Error())
	}
	wled, err := wbJS.KeyValue(ctx, bus.BucketWritebackLedger)
	must("writeback binds the ledger", err)
	_, err = wled.Put(ctx, "r1", []byte(`{"done":1}`))
	must("writeback writes the ledger", err)
	_, err = wbJS.Publish(ctx, "writeback.completed.jira.c1", []byte("{}"))
	must("writeback publishes its outcome", err)
	_, err = wbJS.Publish(ctx, "audit.credential.mismatch", []byte("{}"))
	must("writeback publishes the mismatch audit", err)

	// knowledge: its own buckets, a durable and an ordered consumer on TICKETS,
	// ticket.enriched, the search service.
	kNC, kJS := b.connect(t, bus.RoleKnowledge)
	for _, bucket := range []string{"knowledge_cache", "knowledge_state"} {
		cache, err := kJS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, TTL: time.Hour, Storage: jetstream.MemoryStorage})
		must("knowledge creates "+bucket, err)
		_, err = cache.Put(ctx, "q", []byte("{}"))
		must("knowledge writes "+bucket, err)
	}
	kc, err := kJS.CreateOrUpdateConsumer(ctx, bus.StreamTickets, jetstream.ConsumerConfig{Durable: "knowledge", AckPolicy: jetstream.AckExplicitPolicy})
	must("knowledge creates its consumer", err)
	m, err := kc.Next(jetstream.FetchMaxWait(10 * time.Second))
	must("knowledge reads a ticket", err)
	must("knowledge acks", m.Ack())
	oc, err := kJS.OrderedConsumer(ctx, bus.StreamTickets, jetstream.OrderedConsumerConfig{})
	must("knowledge replays TICKETS", err)
	_, err = oc.Next(jetstream.FetchMaxWait(10 * time.Second))
	must("knowledge's replay reads", err)
	_, err = kJS.Publish(ctx, "ticket.enriched.jira.c1", []byte("{}"))
	must("knowledge publishes ticket.enriched", err)
	svc, err := micro.AddService(kNC, micro.Config{Name: "knowledge", Version: "1.0.0"})
	must("knowledge starts its search service", err)
	defer func() { _ = svc.Stop() }()
	must("knowledge adds search", svc.AddEndpoint("search", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond([]byte("found")) }), micro.WithEndpointSubject("knowledge.search")))
	must("knowledge flush", kNC.Flush())

	// agent: reads tickets and writeback outcomes, publishes a result, searches.
	agentNC, agentJS := b.connect(t, bus.RoleAgent)
	for _, s := range []string{bus.StreamTickets, bus.StreamWriteback} {
		c, err := agentJS.OrderedConsumer(ctx, s, jetstream.OrderedConsumerConfig{})
		must("agent reads "+s, err)
		_, err = c.Next(jetstream.FetchMaxWait(10 * time.Second))
		must("agent reads a message of "+s, err)
	}
	_, err = agentJS.Publish(ctx, "result.ready.jira.c1", []byte("{}"))
	must("agent publishes a result", err)
	reply, err = agentNC.RequestWithContext(ctx, "knowledge.search", []byte("q"))
	must("agent searches", err)
	if string(reply.Data) != "found" {
		t.Errorf("search answer %q", reply.Data)
	}

	// reader and hubctl read every stream; hubctl publishes a result.
	for _, r := range []bus.Role{bus.RoleReader, bus.RoleHubctl} {
		_, js := b.connect(t, r)
		for _, s := range []string{bus.StreamTickets, bus.StreamResults, bus.StreamWriteback, bus.StreamAudit} {
			c, err := js.OrderedConsumer(ctx, s, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy})
			must(string(r)+" reads "+s, err)
			_, err = c.Next(jetstream.FetchMaxWait(10 * time.Second))
			must(string(r)+" reads a message of "+s, err)
		}
	}
	_, hubctlJS := b.connect(t, bus.RoleHubctl)
	_, err = hubctlJS.Publish(ctx, "result.ready.jira.c1", []byte("{}"))
	must("hubctl publishes a result", err)
}

// TestNoRoleReadsAnotherRolesInbox: replies (API answers, KV watch
// deliveries of connector records) go to the role's own inbox prefix, and
// the agent may not subscribe to the poller's or the default one.
func TestNoRoleReadsAnotherRolesInbox(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	opt, err := b.creds.Option(bus.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := b.srv.Connect(opt, nats.PermissionErrOnSubscribe(true), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	for _, subject := range []string{bus.RolePoller.InboxPrefix() + ".>", "_INBOX.>", ">"} {
		sub, err := agent.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		// The poller reads a connector record meanwhile.
		_, js := b.connect(t, bus.RolePoller)
		kv, err := js.KeyValue(t.Context(), bus.BucketConnectors)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(t.Context(), "c1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		if m, err := sub.NextMsg(10 * time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("agent subscribed to %s: message %v, error %v; want a permissions violation", subject, m, err)
		}
	}
}

// TestVerifyWaitsForJetStreamThatIsNotReadyYet: a node whose JetStream is not
// up yet (a restarted cluster member) is not a wrong credential; Verify keeps
// asking until it answers.
func TestVerifyWaitsForJetStreamThatIsNotReadyYet(t *testing.T) {
	t.Parallel()
	s, err := server.NewServer(&server.Options{DontListen: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	done := make(chan error, 1)
	go func() { done <- bus.Verify(t.Context(), js, bus.RoleOperator) }()
	select {
	case err := <-done:
		t.Fatalf("Verify returned %v before JetStream was up", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if err := s.EnableJetStream(&server.JetStreamConfig{StoreDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Verify after JetStream came up: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("Verify still waiting 45 s after JetStream came up")
	}
}

// TestTheLeafCredentialIsRefusedAsAClient: the leaf role's user is accepted
// on a leafnode port only (allowed_connection_types LEAFNODE), so its seed
// does not open a client connection; its rights across a leaf connection
// are tested in cmd/hub (TestEdgeLeafCredential…).
func TestTheLeafCredentialIsRefusedAsAClient(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	opt, err := b.creds.Option(bus.RoleLeaf)
	if err != nil {
		t.Fatal(err)
	}
	// Over TCP (the in-process pipe closes without the server's -ERR).
	if nc, err := nats.Connect(b.srv.ClientURL(), opt, nats.Name("leaf-as-client"), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client connected with the leaf credential")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect with the leaf credential: %v, want an authorization error", err)
	}
	// Control: the same server takes another role's client connection.
	b.connect(t, bus.RolePoller)
}

// TestTheLeafRemoteIncludeCarriesTheLeafSeed: LeafRemoteFile, included in a
// leafnodes remote block as deploy/compose/nats-edge.conf does, gives the
// remote the leaf role's seed, and is private.
func TestTheLeafRemoteIncludeCarriesTheLeafSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(dir, "creds"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "creds", bus.LeafRemoteFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", bus.LeafRemoteFile, fi, err)
	}
	conf := filepath.Join(dir, "nats-edge.conf")
	if err := os.WriteFile(conf, []byte("listen: 127.0.0.1:-1\nleafnodes { remotes: [ { urls: [\"nats-leaf://127.0.0.1:7422\"]\n include ./creds/"+bus.LeafRemoteFile+"\n } ] }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server rejects the leaf remote include: %v", err)
	}
	seed, err := os.ReadFile(creds.File(bus.RoleLeaf))
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.LeafNode.Remotes) != 1 || opts.LeafNode.Remotes[0].Nkey != strings.TrimSpace(string(seed)) {
		t.Errorf("the remote's nkey is not the leaf role's seed")
	}
}
