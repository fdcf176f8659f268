package trackers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// benchTracker is the least a Session needs: a system, one deployment,
// bearer auth.
type benchTracker struct{}

func (benchTracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.GitHub,
		Deployments: []connector.Deployment{connector.Cloud},
		AuthModes:   map[connector.Deployment][]connector.AuthMode{connector.Cloud: {connector.AuthBearer}},
	}
}

// BenchmarkSessionExchange is one tracker call through a Session's whole
// client chain (pacing, probe, body cap, tracing, User-Agent, net/http)
// against an httptest server that reports a healthy rate-limit budget, as
// PagerDuty's per-incident GET or a listing page does. allocs/op count the
// server's side too (same process). "untraced": no tracer provider
// installed, the chain's own cost; "traced": an SDK provider that samples
// every span (no exporter), the cost with tracing on.
func BenchmarkSessionExchange(b *testing.B) {
	reset := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	body := []byte(`{"incident":{"id":"PT4KHLK","status":"triggered"}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["X-Ratelimit-Limit"] = []string{"5000"}
		h["X-Ratelimit-Remaining"] = []string{"4900"}
		h["X-Ratelimit-Reset"] = []string{reset}
		h["X-Ratelimit-Resource"] = []string{"core"}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	run := func(b *testing.B) {
		c := connector.Connector{ID: "bench", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: srv.URL, AuthMode: connector.AuthBearer}
		s, err := NewSession(benchTracker{}, c, connector.NewSecret("bench-token"), Options{Transports: NewTransportPool(), Pacer: NewPacer(PacerConfig{})})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		q := url.Values{"include[]": {"assignees"}, "time_zone": {"UTC"}}
		b.ReportAllocs()
		for b.Loop() {
			req, err := s.NewRequest(ctx, http.MethodGet, "/incidents/PT4KHLK", q, nil)
			if err != nil {
				b.Fatal(err)
			}
			resp, raw, err := s.Exchange(ctx, req, "get incident")
			if err != nil || resp.StatusCode != http.StatusOK || len(raw) != len(body) {
				b.Fatalf("status %v, %d bytes, %v", resp, len(raw), err)
			}
		}
	}
	b.Run("untraced", func(b *testing.B) {
		otel.SetTracerProvider(noop.NewTracerProvider())
		run(b)
	})
	b.Run("traced", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		otel.SetTracerProvider(tp)
		b.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()); _ = tp.Shutdown(context.Background()) })
		run(b)
	})
}
