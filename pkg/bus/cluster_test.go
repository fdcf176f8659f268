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
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{Replicas: 3}); err != nil {
		t.Fatalf("Provision scaling to 3 replicas: %v", err)
	}
	for _, name := range []string{bus.StreamTickets, "KV_" + bus.BucketConnectors} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s replicas = %d, want 3", name, r)
		}
	}
}
