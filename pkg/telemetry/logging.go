package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// TraceHandler adds trace_id and span_id to every record logged with a
// context that carries a valid span (logger.InfoContext(ctx, …)), so a log
// line can be found from its trace and back.
type TraceHandler struct {
	next   slog.Handler
	hasIDs bool // the logger already holds trace_id (SpanLogger)
}

// NewTraceHandler wraps next.
func NewTraceHandler(next slog.Handler) *TraceHandler { return &TraceHandler{next: next} }

var _ slog.Handler = (*TraceHandler)(nil)

// Enabled is next's.
func (h *TraceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle adds the span's ids, when ctx has one, and passes the record on.
func (h *TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !h.hasIDs {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around next's.
func (h *TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasIDs
	for _, a := range attrs {
		has = has || a.Key == "trace_id"
	}
	return &TraceHandler{next: h.next.WithAttrs(attrs), hasIDs: has}
}

// WithGroup keeps the wrapper around next's.
func (h *TraceHandler) WithGroup(name string) slog.Handler {
	return &TraceHandler{next: h.next.WithGroup(name), hasIDs: h.hasIDs}
}

// SpanLogger returns log with the trace_id and span_id of ctx's span, when
// it has a valid one, for code that logs without a context (log.Warn(…))
// while the span runs: a poll cycle, a result's writeback, an enrichment.
// Records logged through it with a context as well carry the ids once (the
// TraceHandler adds them only when the logger does not already hold them).
func SpanLogger(ctx context.Context, log *slog.Logger) *slog.Logger {
	sc := trace.SpanContextFromContext(ctx)
	if log == nil || !sc.IsValid() {
		return log
	}
	return log.With(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
