package bus

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
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

// tracerName names the spans pkg/bus starts.
const tracerName = "github.com/connectorhub/connectorhub/pkg/bus"

// messagingSystem is messaging.system for NATS (not an enum member of the
// semantic conventions, which allow other values).
var messagingSystem = semconv.MessagingSystemKey.String("nats")

// destinationTemplate is the low-cardinality part of a subject used in span
// names: its first two tokens (ticket.discovered, result.ready), as the
// subjects' remaining tokens name systems and connectors.
func destinationTemplate(subject string) string {
	if i := strings.IndexByte(subject, '.'); i >= 0 {
		if j := strings.IndexByte(subject[i+1:], '.'); j >= 0 {
			return subject[:i+1+j]
		}
	}
	return subject
}

// TracePublish starts the PRODUCER span of sending m (messaging semantic
// conventions: "send <destination>", messaging.system=nats, destination =
// subject, message id = ce-id) as a child of ctx's span, and writes the
// span's context into m's traceparent header, so consumers continue this
// trace under the send. Call end with the outcome once the publish is
// acknowledged (or failed). Publish does this itself; senders of NewMsg's
// messages (async publish) call it.
func TracePublish(ctx context.Context, m *nats.Msg) (end func(error)) {
	ctx, span := startSend(ctx, m.Subject,
		semconv.MessagingMessageID(m.Header.Get(HeaderID)),
		semconv.MessagingMessageBodySize(len(m.Data)))
	if span.SpanContext().IsValid() {
		inject(ctx, m.Header)
	}
	return func(err error) { endSpan(span, err) }
}

// startSend starts a PRODUCER span "send <destination>" with the messaging
// attributes every send has, and extra.
func startSend(ctx context.Context, subject string, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	tmpl := destinationTemplate(subject)
	return otel.Tracer(tracerName).Start(ctx, "send "+tmpl,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			messagingSystem,
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(subject),
			semconv.MessagingDestinationTemplate(tmpl),
		),
		trace.WithAttributes(extra...))
}

// SendTrace traces the sending of a batch of messages (a poll's page of
// ticket events) with one PRODUCER span per destination, as the messaging
// conventions allow for batches: "send <destination>" with
// messaging.batch.message_count, and every message of the batch carrying
// that span's context in its traceparent, so each consumer's process span
// continues the trace under the batch's send. A span per message would
// cost more than the rest of a ticket's discovery work (about 6 µs and
// 3.5 KB per span, BenchmarkTracePublish); a batch costs one span.
//
// A batch of one message is traced like TracePublish (messaging.message.id,
// no batch count). The zero of tracing off is a few comparisons per message.
// A SendTrace is not safe for concurrent use.
type SendTrace struct {
	ctx     context.Context
	batches []*sendBatch // one per destination; a page has one or two
}

type sendBatch struct {
	subject string
	span    trace.Span
	header  nats.Header // the span's context as headers, copied into each message
	n       int
	firstID string
}

// TraceSend starts tracing a batch sent under ctx's span; End ends it.
func TraceSend(ctx context.Context) *SendTrace { return &SendTrace{ctx: ctx} }

// Add starts the span of m's destination if it is the first message for it,
// and writes that span's context into m's headers. Call it before sending m.
func (t *SendTrace) Add(m *nats.Msg) {
	var b *sendBatch
	for _, c := range t.batches {
		if c.subject == m.Subject {
			b = c
			break
		}
	}
	if b == nil {
		ctx, span := startSend(t.ctx, m.Subject)
		b = &sendBatch{subject: m.Subject, span: span, firstID: m.Header.Get(HeaderID)}
		if span.SpanContext().IsValid() {
			b.header = nats.Header{}
			inject(ctx, b.header)
		}
		t.batches = append(t.batches, b)
	}
	b.n++
	if m.Header == nil && len(b.header) > 0 {
		m.Header = nats.Header{}
	}
	for k, v := range b.header {
		m.Header[k] = v // the values are never changed: sharing them is safe
	}
}

// End records the batch's outcome (the error of handing its messages to
// the client, nil when all were) on every span and ends them.
func (t *SendTrace) End(err error) {
	for _, b := range t.batches {
		if b.span.IsRecording() {
			if b.n == 1 {
				b.span.SetAttributes(semconv.MessagingMessageID(b.firstID))
			} else {
				b.span.SetAttributes(semconv.MessagingBatchMessageCount(b.n))
			}
		}
		endSpan(b.span, err)
	}
	t.batches = t.batches[:0]
}

// traceProcess starts the CONSUMER span of processing a delivered message:
// "process <destination>", a child of the publisher's context found in the
// headers (so one ticket is one trace), with the consumer group (the
// durable name).
func traceProcess(ctx context.Context, subject, id, group string, size int) (context.Context, trace.Span) {
	tmpl := destinationTemplate(subject)
	attrs := []attribute.KeyValue{
		messagingSystem,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(subject),
		semconv.MessagingDestinationTemplate(tmpl),
		semconv.MessagingMessageID(id),
		semconv.MessagingMessageBodySize(size),
	}
	if group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(group))
	}
	return otel.Tracer(tracerName).Start(ctx, "process "+tmpl, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// endSpan records err (if any) on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
