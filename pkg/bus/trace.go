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

// Extract returns ctx carrying the W3C trace context found in h, so spans
// started from it continue the publisher's trace.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return extract(ctx, h, propagation.TraceContext{})
}

func extract(ctx context.Context, h nats.Header, p propagation.TextMapPropagator) context.Context {
	if p == nil || h == nil {
		return ctx
	}
	return p.Extract(ctx, HeaderCarrier(h))
}
