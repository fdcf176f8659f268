package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Publish sends under a PRODUCER span whose context is the event's
// traceparent; Consume runs the handler under a CONSUMER span, its child,
// both with the OTel messaging attributes.
//
// Not parallel: it installs the global tracer provider.
func TestPublishAndConsumeSpansFollowTheMessagingConventions(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	telemetry.Install(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	js := newBus(t)
	cons := resultConsumer(t, js)
	ctx, parent := tp.Tracer("test").Start(t.Context(), "agent")
	publishResult(t, js, ctx, "r-span")
	parent.End()

	handled := make(chan trace.SpanContext, 1)
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(ctx context.Context, _ bus.Envelope, _ *connectorhubv1.ResultReady) error {
			handled <- trace.SpanContextFromContext(ctx)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	var inHandler trace.SpanContext
	select {
	case inHandler = <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	var send, process tracetest.SpanStub
	testenv.Eventually(t, 10*time.Second, "the process span", func() bool {
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case "send result.ready":
				send = s
			case "process result.ready":
				process = s
			}
		}
		return process.SpanContext.IsValid()
	})
	subject, _ := bus.ResultSubject("jira", "c1")
	id := bus.EventID("r-span")
	has := func(s tracetest.SpanStub, want ...attribute.KeyValue) {
		t.Helper()
		got := attribute.NewSet(s.Attributes...)
		for _, w := range want {
			if v, ok := got.Value(w.Key); !ok || v != w.Value {
				t.Errorf("%s: %s = %v, want %v", s.Name, w.Key, v.Emit(), w.Value.Emit())
			}
		}
	}
	if send.SpanKind != trace.SpanKindProducer || send.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("send: kind %v parent %v, want PRODUCER under the caller's span", send.SpanKind, send.Parent.SpanID())
	}
	has(send, attribute.String("messaging.system", "nats"), attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", subject), attribute.String("messaging.message.id", id))
	if process.SpanKind != trace.SpanKindConsumer || process.Parent.SpanID() != send.SpanContext.SpanID() || !process.Parent.IsRemote() {
		t.Errorf("process: kind %v parent %v, want CONSUMER under the send (remote)", process.SpanKind, process.Parent.SpanID())
	}
	has(process, attribute.String("messaging.system", "nats"), attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", subject), attribute.String("messaging.message.id", id),
		attribute.String("messaging.consumer.group.name", "writeback"))
	if inHandler.SpanID() != process.SpanContext.SpanID() {
		t.Errorf("the handler runs under span %v, want the process span %v", inHandler.SpanID(), process.SpanContext.SpanID())
	}
}

// A batch is one PRODUCER span per destination with the batch's message
// count (a single message: its id instead), each message carrying its
// destination's span as traceparent; tracing off writes no header.
//
// Not parallel: it installs the global tracer provider.
func TestSendTraceIsOneSpanPerDestinationOfABatch(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	telemetry.Install(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	ctx, poll := tp.Tracer("test").Start(t.Context(), "poll")
	msg := func(subject, id string) *nats.Msg {
		return &nats.Msg{Subject: subject, Header: nats.Header{bus.HeaderID: {id}}}
	}
	discovered := []*nats.Msg{msg("ticket.discovered.jira.c1", "a"), msg("ticket.discovered.jira.c1", "b"), msg("ticket.discovered.jira.c1", "c")}
	updated := msg("ticket.updated.jira.c1", "d")
	sends := bus.TraceSend(ctx)
	for _, m := range append(discovered, updated) {
		sends.Add(m)
	}
	sends.End(nil)
	sends.End(nil) // a second End is a no-op
	poll.End()

	spans := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		spans[s.Name] = s
	}
	if len(exp.GetSpans()) != 3 {
		t.Fatalf("%d spans, want poll and two sends: %v", len(exp.GetSpans()), spans)
	}
	has := func(s tracetest.SpanStub, key string, want attribute.Value) {
		t.Helper()
		set := attribute.NewSet(s.Attributes...)
		if v, ok := set.Value(attribute.Key(key)); !ok || v != want {
			t.Errorf("%s: %s = %v, want %v", s.Name, key, v.Emit(), want.Emit())
		}
	}
	batch, single := spans["send ticket.discovered"], spans["send ticket.updated"]
	for _, s := range []tracetest.SpanStub{batch, single} {
		if s.SpanKind != trace.SpanKindProducer || s.Parent.SpanID() != poll.SpanContext().SpanID() {
			t.Errorf("%s: kind %v parent %v, want PRODUCER under the poll", s.Name, s.SpanKind, s.Parent.SpanID())
		}
		has(s, "messaging.system", attribute.StringValue("nats"))
	}
	has(batch, "messaging.batch.message_count", attribute.IntValue(3))
	has(batch, "messaging.destination.name", attribute.StringValue("ticket.discovered.jira.c1"))
	has(single, "messaging.message.id", attribute.StringValue("d"))
	if set := attribute.NewSet(batch.Attributes...); set.HasValue("messaging.message.id") {
		t.Error("the batch's span names one message id")
	}
	parentOf := func(m *nats.Msg) trace.SpanContext {
		return trace.SpanContextFromContext(otel.GetTextMapPropagator().Extract(t.Context(), bus.HeaderCarrier(m.Header)))
	}
	for _, m := range discovered {
		if got := parentOf(m); got.SpanID() != batch.SpanContext.SpanID() {
			t.Errorf("message %s carries span %v, want the batch's %v", m.Header.Get(bus.HeaderID), got.SpanID(), batch.SpanContext.SpanID())
		}
	}
	if got := parentOf(updated); got.SpanID() != single.SpanContext.SpanID() {
		t.Errorf("the updated message carries span %v, want %v", got.SpanID(), single.SpanContext.SpanID())
	}

	// Tracing off: no span, no header.
	otel.SetTracerProvider(noop.NewTracerProvider())
	off := msg("ticket.discovered.jira.c1", "e")
	sends = bus.TraceSend(t.Context())
	sends.Add(off)
	sends.End(nil)
	if len(off.Header) != 1 {
		t.Errorf("tracing off wrote headers: %v", off.Header)
	}
}
