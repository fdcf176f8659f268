package testenv_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

func TestNATSIsProvisionedAndIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, js := testenv.NATS(t)
	for _, name := range []string{bus.StreamTickets, bus.StreamResults, bus.StreamWriteback, bus.StreamAudit} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	for _, b := range []string{bus.BucketConnectors, bus.BucketOAuthGrants, bus.BucketPollLeases, bus.BucketPollState, bus.BucketWritebackLedger} {
		if _, err := js.KeyValue(ctx, b); err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "c1", []byte("x")); err != nil {
		t.Fatal(err)
	}

	// A second environment is a different server: it does not see c1.
	_, js2 := testenv.NATS(t)
	kv2, err := js2.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv2.Get(ctx, "c1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("second environment: Get(c1) error = %v, want ErrKeyNotFound", err)
	}
}

func TestNATSServerShutsDownOnCleanup(t *testing.T) {
	t.Parallel()
	var srv *bus.Embedded
	t.Run("inner", func(t *testing.T) {
		srv = testenv.NATSServer(t)
		nc, err := srv.Connect()
		if err != nil {
			t.Fatalf("server not running: %v", err)
		}
		nc.Close()
	})
	if nc, err := srv.Connect(); err == nil {
		nc.Close()
		t.Fatal("server still running after the subtest's cleanup")
	}
}
