package bus_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/bus"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// WithEncoder's bytes are the payload; an encoder returning nil leaves the
// message to protojson.
func TestWithEncoderSetsThePayloadOrFallsBackToProtojson(t *testing.T) {
	t.Parallel()
	ev := &chv1.TicketClosed{Key: "A-1", Reason: "deleted"}
	m, err := bus.NewMsg(context.Background(), "ticket.closed.jira.c1", ev, bus.WithSource("/t"),
		bus.WithEncoder(func(proto.Message) ([]byte, error) { return []byte(`{"key":"A-1"}`), nil }))
	if err != nil || string(m.Data) != `{"key":"A-1"}` {
		t.Fatalf("payload = %q, %v; want the encoder's bytes", m.Data, err)
	}
	m, err = bus.NewMsg(context.Background(), "ticket.closed.jira.c1", ev, bus.WithSource("/t"),
		bus.WithEncoder(func(proto.Message) ([]byte, error) { return nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	var back chv1.TicketClosed
	if err := protojson.Unmarshal(m.Data, &back); err != nil || !proto.Equal(&back, ev) {
		t.Fatalf("fallback payload %q does not read back: %v", m.Data, err)
	}
}
