package bus_test

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// startCluster runs three JetStream servers in-process, routed over loopback,
// and returns a JetStream context on the first. bus.Embedded is single-node
// by design, so the cluster is assembled from server.Options here.
func startCluster(t *testing.T) jetstream.JetStream {
	t.Helper()
	// A clustered JetStream node needs its routes configured before it
	// starts, so reserve the route ports first. Another process could take
	// one in between; on loopback in a test that risk is accepted.
	var routes []*url.URL
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: l.Addr().String()})
		l.Close()
	}
	var servers []*server.Server
	for i := range 3 {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			// A clustered node started with DontListen never became ready
			// (nats-server v2.15.2), so clients get a random loopback port.
			Host:    "127.0.0.1",
			Port:    server.RANDOM_PORT,
			NoSigs:  true,
			NoLog:   true,
			Cluster: server.ClusterOpts{Name: "hub", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
		servers = append(servers, s)
	}
	nc, err := nats.Connect("", nats.InProcessServer(servers[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "JetStream meta leader", func() bool {
		_, err := js.AccountInfo(t.Context())
		return err == nil
	})
	return js
}

func TestProvisionUpdatesReplicasInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	ctx := t.Context()
	js := startCluster(t)
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	subj, _ := bus.AuditSubject("connector.create")
	if _, err := bus.Publish(ctx, js, subj, &connectorhubv1.AuditEvent{Action: "connector.create"}); err != nil {
		t.Fatal(err)
	}
	// Production settings on the running streams: 3 replicas and other
	// retention, applied as an update; the message stays.
	prod := bus.ProvisionOptions{Replicas: 3, Limits: map[string]bus.StreamLimits{bus.StreamAudit: {MaxAge: 90 * 24 * time.Hour}}}
	if err := bus.Provision(ctx, js, prod); err != nil {
		t.Fatalf("Provision scaling to 3 replicas: %v", err)
	}
	if err := bus.Provision(ctx, js, prod); err != nil {
		t.Fatalf("Provision again with the same settings: %v", err)
	}
	for _, name := range []string{bus.StreamTickets, bus.StreamAudit, "KV_" + bus.BucketConnectors} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s replicas = %d, want 3", name, r)
		}
	}
	audit, err := js.Stream(ctx, bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	if info := audit.CachedInfo(); info.State.Msgs != 1 || info.Config.MaxAge != 90*24*time.Hour {
		t.Errorf("AUDIT after the update: %d messages, max age %s; want 1, 2160h", info.State.Msgs, info.Config.MaxAge)
	}
}
