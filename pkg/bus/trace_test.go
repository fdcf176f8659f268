package bus_test

import (
	"context"
	"testing"
	"time"

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
