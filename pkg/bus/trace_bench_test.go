package bus_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// BenchmarkTracePublish is the PRODUCER span of one async publish with the
// SDK on (spans recorded in memory, batched as a process exports them):
// what tracing adds per discovered ticket before the exporter.
func BenchmarkTracePublish(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	telemetry.Install(tp)
	b.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	ctx, root := tp.Tracer("bench").Start(context.Background(), "poll")
	defer root.End()
	m := &nats.Msg{Subject: "ticket.discovered.jira.bench-jira", Header: nats.Header{bus.HeaderID: {"0123456789abcdef0123456789abcdef"}}, Data: make([]byte, 1000)}
	b.ReportAllocs()
	for b.Loop() {
		end := bus.TracePublish(ctx, m)
		end(nil)
		exp.Reset()
	}
}
