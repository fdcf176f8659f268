package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

// TestPollerLeaseTTLSetsTheBucketTTL: a hub process running the poller with
// POLLER_LEASE_TTL=2m provisions the poll_leases bucket (made earlier with
// the 30s default) with a 2m TTL, and its poller starts: leases no longer
// expire before they are renewed.
func TestPollerLeaseTTLSetsTheBucketTTL(t *testing.T) {
	t.Parallel()
	natsSrv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(natsSrv.Shutdown)
	nc, err := nats.Connect(natsSrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(t.Context(), js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}

	logs := &testenv.LogBuffer{}
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": t.TempDir(), "HUB_NATS_URL": natsSrv.ClientURL(), "POLLER_LEASE_TTL": "2m"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--target", "poller"}, environ, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub stopped with %v\n%s", err, logs.String())
		}
	})
	testenv.Eventually(t, 30*time.Second, "the poller to start", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("hub stopped before its poller started: %v\n%s", err, logs.String())
		default:
		}
		return strings.Contains(logs.String(), "poller started")
	})
	kv, err := js.KeyValue(t.Context(), bus.BucketPollLeases)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 2*time.Minute {
		t.Fatalf("poll_leases TTL = %s with POLLER_LEASE_TTL=2m", st.TTL())
	}
}
