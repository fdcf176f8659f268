package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	code, body := fetch(t, m.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	return body
}

func newMetrics(t *testing.T) *telemetry.Metrics {
	t.Helper()
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

func TestTrackerResponsesAreCountedByClassAndRateLimitReason(t *testing.T) {
	t.Parallel()
	m := newMetrics(t)
	jira := connector.Connector{ID: "j1", System: connector.Jira}
	gh := connector.Connector{ID: "g1", System: connector.GitHub}
	answer := func(code int, headers ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(headers); i += 2 {
			h.Set(headers[i], headers[i+1])
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	m.ObserveResponse(jira, answer(200), nil)
	m.ObserveResponse(jira, answer(429, "Retry-After", "30", "RateLimit-Reason", "jira-burst-based"), nil)
	m.ObserveResponse(jira, answer(429, "RateLimit-Reason", "a reason chosen by anyone, unbounded"), nil)
	m.ObserveResponse(jira, nil, errors.New("connection refused"))
	m.ObserveResponse(gh, answer(200, "X-RateLimit-Remaining", "4999"), nil)
	m.ObserveResponse(connector.Connector{ID: "g2", System: connector.GitHub}, answer(403, "X-RateLimit-Remaining", "0"), nil)
	m.ObserveResponse(gh, answer(403, "Retry-After", "60", "X-RateLimit-Remaining", "12"), nil)
	m.ObserveResponse(gh, answer(404), nil)

	body := scrape(t, m)
	for _, want := range []string{
		`connectorhub_tracker_requests_total{class="2xx",system="jira"} 1`,
		`connectorhub_tracker_requests_total{class="4xx",system="jira"} 2`,
		`connectorhub_tracker_requests_total{class="error",system="jira"} 1`,
		`connectorhub_tracker_requests_total{class="4xx",system="github"} 3`,
		`connectorhub_tracker_rate_limited_total{reason="jira-burst-based",system="jira"} 1`,
		`connectorhub_tracker_rate_limited_total{reason="other",system="jira"} 1`,
		`connectorhub_tracker_rate_limited_total{reason="primary",system="github"} 1`,
		`connectorhub_tracker_rate_limited_total{reason="secondary",system="github"} 1`,
		`connectorhub_tracker_rate_limit_remaining{system="github"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	// A 404 is not a rate limit.
	if strings.Count(body, "connectorhub_tracker_rate_limited_total{") != 4 {
		t.Errorf("rate-limit series:\n%s", body)
	}
}

func TestConnectorGaugesFollowCyclesAndForgetDroppedConnectors(t *testing.T) {
	t.Parallel()
	m := newMetrics(t)
	ctx := context.Background()
	a := connector.Connector{ID: "a", System: connector.GitLab}
	b := connector.Connector{ID: "b", System: connector.GitLab}
	cursor := time.Now().Add(-time.Hour)
	m.PollCycle(ctx, a, time.Second, false, cursor, false, nil)
	m.PollCycle(ctx, b, time.Second, true, time.Now(), false, errors.New("503"))
	m.PollCycle(ctx, b, time.Second, true, time.Time{}, false, errors.New("503"))
	m.PollCycle(ctx, a, time.Second, false, time.Time{}, true, nil) // deferred: lag and failures kept
	body := scrape(t, m)
	for _, want := range []string{
		`connectorhub_poll_cycles_total{outcome="ok",system="gitlab"} 1`,
		`connectorhub_poll_cycles_total{outcome="error",system="gitlab"} 2`,
		`connectorhub_poll_cycles_total{outcome="deferred",system="gitlab"} 1`,
		`connectorhub_poll_deferrals_total{system="gitlab"} 1`,
		`connectorhub_connectors_failing{system="gitlab"} 1`,
		`connectorhub_connectors_late{system="gitlab"} 1`,
		`connectorhub_connector_consecutive_failures_max{system="gitlab"} 2`,
		`connectorhub_poll_cycle_duration_seconds_count{system="gitlab"} 4`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if lag := sample(body, `connectorhub_poll_lag_seconds{system="gitlab"}`); lag < 3600 || lag > 3600+300 {
		t.Errorf("lag of a cursor an hour old = %v\n%s", lag, body)
	}
	m.ForgetConnector("b")
	body = scrape(t, m)
	if !strings.Contains(body, `connectorhub_connectors_failing{system="gitlab"} 0`+"\n") {
		t.Errorf("a forgotten connector still counts as failing:\n%s", body)
	}
}

func TestCredentialGaugesTakeTheOldestAndTheNextToExpire(t *testing.T) {
	t.Parallel()
	m := newMetrics(t)
	now := time.Now()
	m.WatchCredentials(func(context.Context) ([]connector.Connector, error) {
		return []connector.Connector{
			{ID: "a", System: connector.GitHub, Credential: connector.Credential{Ciphertext: "local:v1:x", SetTime: now.Add(-100 * 24 * time.Hour), ExpireTime: now.Add(10 * 24 * time.Hour)}},
			{ID: "b", System: connector.GitHub, Credential: connector.Credential{Ciphertext: "local:v1:y", SetTime: now.Add(-time.Hour), ExpireTime: now.Add(40 * 24 * time.Hour)}},
			{ID: "c", System: connector.Jira}, // no credential
		}, nil
	})
	body := scrape(t, m)
	for series, want := range map[string]float64{`connectorhub_credential_age_seconds{system="github"}`: 100 * 86400, `connectorhub_credential_expiry_seconds{system="github"}`: 10 * 86400} {
		if got := sample(body, series); got < want-60 || got > want+60 {
			t.Errorf("%s = %v, want %v\n%s", series, got, want, body)
		}
	}
	if strings.Contains(body, `system="jira"`) {
		t.Errorf("a connector without a credential has a series:\n%s", body)
	}
}

func TestMetricNamesAreTheRegisteredOnes(t *testing.T) {
	t.Parallel()
	m := newMetrics(t)
	ctx := context.Background()
	c := connector.Connector{ID: "a", System: connector.Jira}
	m.PollCycle(ctx, c, time.Second, false, time.Now(), false, nil)
	m.PollCycle(ctx, c, time.Second, false, time.Now(), true, nil)
	m.TicketPublished(ctx, connector.Jira, "discovered", false)
	m.TicketPublished(ctx, connector.Jira, "discovered", true)
	m.ObserveResponse(c, &http.Response{StatusCode: 429, Header: http.Header{"X-Ratelimit-Remaining": {"0"}}}, nil)
	m.WritebackStep(ctx, connector.Jira, "comment", "applied")
	m.DeadLettered(ctx, "jira")
	m.KnowledgeSearch(ctx, true, nil)
	m.WebhookDelivery(ctx, connector.GitHub, "replayed")
	m.WatchCredentials(func(context.Context) ([]connector.Connector, error) {
		return []connector.Connector{{ID: "a", System: connector.Jira, Credential: connector.Credential{Ciphertext: "x", SetTime: time.Now(), ExpireTime: time.Now().Add(time.Hour)}}}, nil
	})
	body := scrape(t, m)
	for _, name := range telemetry.Names() {
		switch name {
		case telemetry.MetricWritebackDeadBacklog, telemetry.MetricConsumerPending, telemetry.MetricConsumerAckPending:
			continue // need NATS: the hub's test scrapes them
		}
		if !strings.Contains(body, "\n"+name+"{") && !strings.Contains(body, "\n"+name+"_count{") {
			t.Errorf("%s is not exported as named:\n%s", name, body)
		}
	}
}

func TestTraceHandlerAddsTheSpanIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(&buf, nil))).With("service", "poller")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "with a span")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %q", buf.String())
	}
	var with, without map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &with)
	_ = json.Unmarshal([]byte(lines[1]), &without)
	if with["trace_id"] != tid.String() || with["span_id"] != sid.String() || with["service"] != "poller" {
		t.Errorf("with a span: %v", with)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("without a span: %v", without)
	}
}

// sample is the value of the series (name and labels as exported), -1 when absent.
func sample(body, series string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// BenchmarkTicketPublished is the metric every published ticket event pays.
func BenchmarkTicketPublished(b *testing.B) {
	m, err := telemetry.NewMetrics()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.TicketPublished(ctx, connector.GitHub, "discovered", false)
	}
}
