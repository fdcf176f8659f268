package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// restoreGlobal puts the API's no-op provider back after a test installed one.
func restoreGlobal(t *testing.T) {
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
}

func TestSetupTracingIsOffWithoutAnExporter(t *testing.T) {
	restoreGlobal(t)
	before := otel.GetTracerProvider()
	for name, vars := range map[string]map[string]string{
		"nothing set":      {},
		"exporter none":    {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
		"sdk disabled":     {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
		"only service set": {"OTEL_SERVICE_NAME": "x"},
	} {
		tr, err := telemetry.SetupTracing(context.Background(), "test", env(vars))
		if err != nil || tr.Enabled() || tr.Exporter != "" {
			t.Errorf("%s: enabled=%v exporter=%q err=%v, want off", name, tr.Enabled(), tr.Exporter, err)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("%s: shutdown: %v", name, err)
		}
		if otel.GetTracerProvider() != before {
			t.Errorf("%s: the global tracer provider changed while tracing is off", name)
		}
	}
}

func TestSetupTracingRefusesUnknownSettings(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"exporter": {"OTEL_TRACES_EXPORTER": "zipkin"},
		"protocol": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
	} {
		if _, err := telemetry.SetupTracing(context.Background(), "test", env(vars)); !errors.Is(err, telemetry.ErrTracingConfig) {
			t.Errorf("%s: err = %v, want ErrTracingConfig", name, err)
		}
	}
}

// An endpoint alone turns OTLP over HTTP on, OTEL_SERVICE_NAME names the
// service, and Shutdown flushes what the batcher still holds.
func TestSetupTracingExportsOTLPAndShutdownFlushes(t *testing.T) {
	restoreGlobal(t)
	var (
		mu   sync.Mutex
		reqs []*coltracepb.ExportTraceServiceRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, &req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	// The exporter and the resource read the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "poller-eu")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // nothing leaves before Shutdown

	tr, err := telemetry.SetupTracing(context.Background(), "connectorhub", env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() || tr.Exporter != "otlp/http" {
		t.Fatalf("enabled=%v exporter=%q, want otlp/http", tr.Enabled(), tr.Exporter)
	}
	_, span := telemetry.Tracer("test").Start(context.Background(), "poll jira")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	var service string
	for _, r := range reqs {
		for _, rs := range r.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
	}
	if len(names) != 1 || names[0] != "poll jira" || service != "poller-eu" {
		t.Errorf("collector got spans %v of service %q, want [poll jira] of poller-eu", names, service)
	}
}
