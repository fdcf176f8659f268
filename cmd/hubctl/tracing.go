package main

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// startTracing enables hubctl's own spans (its gRPC calls, its publishes)
// when the OTEL_* variables name an exporter, as in the hub; stop flushes.
func startTracing(ctx context.Context, env Env) (stop func(), err error) {
	tr, err := telemetry.SetupTracing(ctx, "hubctl", func(k string) (string, bool) {
		v := env.Getenv(k)
		return v, v != ""
	})
	if err != nil {
		return nil, err
	}
	return func() {
		if err := tr.Shutdown(ctx); err != nil {
			fmt.Fprintf(env.Stderr, "warning: spans not exported: %v\n", err)
		}
	}, nil
}

// withTraceParent returns ctx carrying the W3C trace context traceparent
// (and tracestate) names, so what hubctl publishes continues that trace:
// an agent passes the traceparent header of the ticket event it worked on,
// and the writeback of its result joins the ticket's trace. An empty
// traceparent leaves ctx as it is.
func withTraceParent(ctx context.Context, traceparent, tracestate string) (context.Context, error) {
	traceparent = strings.TrimSpace(traceparent)
	if traceparent == "" {
		return ctx, nil
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate = strings.TrimSpace(tracestate); tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	out := propagation.TraceContext{}.Extract(ctx, carrier)
	if !trace.SpanContextFromContext(out).IsValid() {
		return nil, fmt.Errorf("--traceparent %q is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)", traceparent)
	}
	return out, nil
}
