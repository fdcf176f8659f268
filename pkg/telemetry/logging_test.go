package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

func spanContext(t *testing.T) context.Context {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

// A line logged inside a span carries its ids exactly once, whether it was
// logged with the context or through a SpanLogger without one; a line
// outside a span carries none.
func TestLogLinesCarryTheSpanIDsOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := spanContext(t)

	log.InfoContext(ctx, "with context")
	telemetry.SpanLogger(ctx, log).Info("span logger")
	telemetry.SpanLogger(ctx, log.With("connector", "c1")).InfoContext(ctx, "both")
	log.Info("outside")
	telemetry.SpanLogger(context.Background(), log).Info("no span")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		want := 0
		if i < 3 {
			want = 1
		}
		if n := strings.Count(line, `"trace_id"`); n != want {
			t.Errorf("line %d has trace_id %d times, want %d: %s", i, n, want, line)
		}
		if want == 1 {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || rec["span_id"] != "00f067aa0ba902b7" {
				t.Errorf("line %d: ids %v / %v", i, rec["trace_id"], rec["span_id"])
			}
		}
	}
}
