package bus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func testTicket() *connectorhubv1.TicketDiscovered {
	return &connectorhubv1.TicketDiscovered{Ticket: &connectorhubv1.Ticket{
		ConnectorId: "c1",
		System:      connectorhubv1.System_SYSTEM_JIRA,
		Key:         "PROJ-12",
		Summary:     "Fix the thing",
		Labels:      []string{"a", "b"},
		Reporter:    &connectorhubv1.User{Id: "u1", Login: "ann"},
		UpdateTime:  timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)),
	}}
}

func TestPublishSetsCloudEventHeadersAndDecodeRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := newBus(t)
	subj, err := bus.TicketSubject(bus.TicketDiscovered, "jira", "c1")
	if err != nil {
		t.Fatal(err)
	}
	id := bus.EventID("c1", "PROJ-12", "2026-01-02T03:04:05.000000006Z")
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	want := testTicket()
	ack, err := bus.Publish(ctx, js, subj, want,
		bus.WithID(id), bus.WithSource("/poller/jira"), bus.WithSubject("PROJ-12"), bus.WithTime(at))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != bus.StreamTickets || ack.Duplicate {
		t.Fatalf("ack = %+v", ack)
	}

	m := fetchOne(t, js, bus.StreamTickets, ack.Sequence)
	h := m.Headers()
	wantHeaders := map[string]string{
		"ce-specversion":      "1.0",
		"ce-id":               id,
		"ce-type":             "connectorhub.v1.TicketDiscovered",
		"ce-source":           "/poller/jira",
		"ce-subject":          "PROJ-12",
		"ce-time":             "2026-01-02T02:04:05.000000006Z", // UTC
		"content-type":        "application/json",
		jetstream.MsgIDHeader: id,
	}
	for k, v := range wantHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}

	got := &connectorhubv1.TicketDiscovered{}
	env, err := bus.Decode(m, got)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}
	if env.ID != id || env.Type != "connectorhub.v1.TicketDiscovered" || env.Source != "/poller/jira" ||
		env.Subject != "PROJ-12" || !env.Time.Equal(at) {
		t.Errorf("envelope = %+v", env)
	}
}

func TestPublishDefaults(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	subj, _ := bus.WritebackSubject(bus.WritebackFailed, "github", "c2")
	before := time.Now()
	ack1, err := bus.Publish(t.Context(), js, subj, &connectorhubv1.WritebackFailed{ResultId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	ack2, err := bus.Publish(t.Context(), js, subj, &connectorhubv1.WritebackFailed{ResultId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	env1, err := bus.Decode(fetchOne(t, js, bus.StreamWriteback, ack1.Sequence), &connectorhubv1.WritebackFailed{})
	if err != nil {
		t.Fatal(err)
	}
	env2, err := bus.Decode(fetchOne(t, js, bus.StreamWriteback, ack2.Sequence), &connectorhubv1.WritebackFailed{})
	if err != nil {
		t.Fatal(err)
	}
	if env1.Type != "connectorhub.v1.WritebackFailed" || env2.Type != env1.Type {
		t.Errorf("types %q, %q", env1.Type, env2.Type)
	}
	if env1.Source != bus.DefaultSource || env1.Subject != "" {
		t.Errorf("source %q subject %q", env1.Source, env1.Subject)
	}
	if env1.ID == "" || env1.ID == env2.ID || ack2.Duplicate {
		t.Errorf("events without WithID got ids %q and %q (duplicate=%v)", env1.ID, env2.ID, ack2.Duplicate)
	}
	if env1.Time.Before(before.Add(-time.Second)) || env1.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("default ce-time %s is not now", env1.Time)
	}
	if _, ok := env1.Header["ce-subject"]; ok {
		t.Error("ce-subject set without WithSubject")
	}
}

func TestPublishingTheSameIDTwiceStoresOneMessage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := newBus(t)
	subj, _ := bus.TicketSubject(bus.TicketDiscovered, "jira", "c1")
	id := bus.EventID("c1", "PROJ-12", "t1")
	first, err := bus.Publish(ctx, js, subj, testTicket(), bus.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	// A second poller re-discovering the same ticket version.
	second, err := bus.Publish(ctx, js, subj, testTicket(), bus.WithID(id), bus.WithSource("/poller/jira-2"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || second.Sequence != first.Sequence {
		t.Fatalf("acks %+v, %+v: want the second to be a duplicate of the first", first, second)
	}
	// A new ticket version is a new event.
	if _, err := bus.Publish(ctx, js, subj, testTicket(), bus.WithID(bus.EventID("c1", "PROJ-12", "t2"))); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("TICKETS holds %d messages, want 2", n)
	}
}

func TestTraceContextTravelsFromPublishToDecode(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)
	subj, _ := bus.ResultSubject("jira", "c1")
	ack, err := bus.Publish(ctx, js, subj, &connectorhubv1.ResultReady{ResultId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, js, bus.StreamResults, ack.Sequence)
	if got, want := m.Headers().Get("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Fatalf("traceparent = %q, want %q", got, want)
	}
	got := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(), bus.HeaderCarrier(m.Headers())))
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Fatalf("extracted %+v, want remote copy of %+v", got, sc)
	}
	// Without a span in ctx nothing is injected.
	ack, err = bus.Publish(t.Context(), js, subj, &connectorhubv1.ResultReady{ResultId: "r2"})
	if err != nil {
		t.Fatal(err)
	}
	if tp := fetchOne(t, js, bus.StreamResults, ack.Sequence).Headers().Get("traceparent"); tp != "" {
		t.Fatalf("traceparent %q without a span", tp)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	valid := func() nats.Header {
		return nats.Header{
			"ce-specversion": {"1.0"}, "ce-id": {"x"}, "ce-type": {"connectorhub.v1.AuditEvent"},
			"ce-source": {"/t"}, "ce-time": {"2026-01-02T03:04:05Z"}, "content-type": {"application/json"},
		}
	}
	without := func(k string) nats.Header { h := valid(); h.Del(k); return h }
	with := func(k, v string) nats.Header { h := valid(); h.Set(k, v); return h }
	tests := []struct {
		name    string
		header  nats.Header
		data    string
		wantErr error
	}{
		{"valid event with unknown field", valid(), `{"action":"a","addedLater":1}`, nil},
		{"content-type with charset", with("content-type", "application/json; charset=utf-8"), `{}`, nil},
		{"no headers", nil, `{}`, bus.ErrNotCloudEvent},
		{"missing specversion", without("ce-specversion"), `{}`, bus.ErrNotCloudEvent},
		{"specversion 0.3", with("ce-specversion", "0.3"), `{}`, bus.ErrNotCloudEvent},
		{"missing id", without("ce-id"), `{}`, bus.ErrNotCloudEvent},
		{"missing type", without("ce-type"), `{}`, bus.ErrNotCloudEvent},
		{"missing source", without("ce-source"), `{}`, bus.ErrNotCloudEvent},
		{"unparsable time", with("ce-time", "yesterday"), `{}`, bus.ErrNotCloudEvent},
		{"protobuf content type", with("content-type", "application/protobuf"), `{}`, bus.ErrBadPayload},
		{"invalid json", valid(), `{"action":`, bus.ErrBadPayload},
		{"wrong field type", valid(), `{"action":12}`, bus.ErrBadPayload},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			subj, _ := bus.AuditSubject("decode.case" + string(rune('a'+i)))
			ack, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: subj, Header: tt.header, Data: []byte(tt.data)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = bus.Decode(fetchOne(t, js, bus.StreamAudit, ack.Sequence), &connectorhubv1.AuditEvent{})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Decode: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPublishValidatesAttributes(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	subj, _ := bus.ResultSubject("jira", "c1")
	tests := []struct {
		name    string
		opt     bus.PublishOption
		wantErr error
	}{
		{"empty source is rejected", bus.WithSource(""), bus.ErrInvalidEvent},
		{"line break in id is rejected", bus.WithID("a\r\nNats-Msg-Id: b"), bus.ErrInvalidEvent},
		{"line break in subject is rejected", bus.WithSubject("PROJ-1\n"), bus.ErrInvalidEvent},
		{"carriage return in source is rejected", bus.WithSource("connectorhub://poller/c\rx"), bus.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bus.Publish(t.Context(), js, subj, &connectorhubv1.ResultReady{}, tt.opt)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Publish: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
