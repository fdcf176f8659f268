package bus

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier. NATS
// headers are case-sensitive; W3C trace context uses lowercase keys
// (traceparent, tracestate), which is what propagators read and write.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces the values of key. Setting on a nil carrier is a no-op.
func (c HeaderCarrier) Set(key, value string) {
	if c != nil {
		nats.Header(c).Set(key, value)
	}
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// propagator carries W3C trace context (traceparent, tracestate) in headers.
var propagator = propagation.TraceContext{}

// inject writes the trace context of ctx into h.
func inject(ctx context.Context, h nats.Header) { propagator.Inject(ctx, HeaderCarrier(h)) }

// extract returns ctx carrying the trace context found in h, so spans
// started from it continue the publisher's trace.
func extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, HeaderCarrier(h))
}
