// Package testenv starts the real backing services tests need: an embedded
// NATS JetStream server provisioned with the bus contract, and a Vault dev
// server. Every helper registers its own cleanup on the testing.TB. It also
// holds the small helpers every test package shares: LogBuffer and
// Eventually.
package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// NATSServer starts a fresh embedded NATS server with JetStream storing in
// t.TempDir(), not provisioned and not listening on TCP. It shuts down when
// the test ends.
func NATSServer(t testing.TB) *bus.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("testenv: start embedded NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// NATS starts a fresh embedded server (see NATSServer), provisions every
// stream and bucket with bus.Provision's defaults, and returns a connection
// and JetStream context that are closed when the test ends.
func NATS(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := NATSServer(t)
	nc, err := srv.Connect(nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close) // runs before the server's Shutdown (cleanups are LIFO)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatalf("testenv: provision: %v", err)
	}
	return nc, js
}
