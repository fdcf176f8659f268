package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// The bus tests start servers themselves rather than through pkg/testenv so
// that they exercise StartEmbedded and Provision directly.

func startServer(t testing.TB, dir string) *bus.Embedded {
	t.Helper()
	srv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func connect(t testing.TB, srv *bus.Embedded) jetstream.JetStream {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// newBus is a provisioned JetStream on a fresh embedded server.
func newBus(t testing.TB) jetstream.JetStream {
	t.Helper()
	js := connect(t, startServer(t, t.TempDir()))
	if err := bus.Provision(context.Background(), js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	return js
}

// fetchOne reads the message at seq of stream through an ordered consumer,
// so Decode gets a real jetstream.Msg.
func fetchOne(t *testing.T, js jetstream.JetStream, stream string, seq uint64) jetstream.Msg {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   seq,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("fetch %s seq %d: %v", stream, seq, err)
	}
	return m
}
