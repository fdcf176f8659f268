package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/bus"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestEmbeddedRestartWithSameStoreDirKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()

	first, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := first.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	subj, _ := bus.TicketSubject(bus.TicketDiscovered, "jira", "c1")
	id := bus.EventID("c1", "PROJ-12", "t1")
	if _, err := bus.Publish(ctx, js, subj, testTicket(), bus.WithID(id)); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "c1", []byte("cursor-1")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	first.Shutdown()

	js = connect(t, startServer(t, dir))
	s, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		t.Fatalf("TICKETS after restart: %v", err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("TICKETS holds %d messages after restart, want 1", n)
	}
	got := &connectorhubv1.TicketDiscovered{}
	env, err := bus.Decode(fetchOne(t, js, bus.StreamTickets, 1), got)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != id || !proto.Equal(got, testTicket()) {
		t.Fatalf("after restart got %s %v", env.ID, got)
	}
	kv, err = js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "c1")
	if err != nil || string(e.Value()) != "cursor-1" {
		t.Fatalf("poll_state c1 after restart: %v %v", e, err)
	}
}

func TestEmbeddedListensOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	quiet := startServer(t, t.TempDir())
	if u := quiet.ClientURL(); u != "" {
		t.Errorf("ClientURL without Listen = %q, want empty", u)
	}

	srv, err := bus.StartEmbedded(t.Context(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	u := srv.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") || strings.HasSuffix(u, ":4222") {
		t.Fatalf("ClientURL = %q, want a random loopback port", u)
	}
	nc, err := nats.Connect(u) // over TCP, as the nats CLI would
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream over TCP: %v", err)
	}
}

func TestStartEmbeddedRejects(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		cfg     bus.EmbeddedConfig
		wantErr error
	}{
		{"missing store dir", t.Context(), bus.EmbeddedConfig{}, bus.ErrInvalidOptions},
		{"listen without port", t.Context(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1"}, bus.ErrInvalidOptions},
		{"listen with bad port", t.Context(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:99999"}, bus.ErrInvalidOptions},
		{"cancelled context", cancelled, bus.EmbeddedConfig{StoreDir: t.TempDir()}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := bus.StartEmbedded(tt.ctx, tt.cfg)
			if err == nil {
				srv.Shutdown()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
