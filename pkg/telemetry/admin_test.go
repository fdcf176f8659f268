package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

func fetch(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestReadyzFollowsTheChecksAndFlipsToNotReadyWhenDraining(t *testing.T) {
	t.Parallel()
	ready := telemetry.NewReadiness()
	sigterm, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready.DrainWhen(sigterm)
	ready.Set("bus", telemetry.ErrStarting)
	connected := true
	ready.Probe("nats.poller", func(context.Context) error {
		if !connected {
			return errors.New("NATS connection RECONNECTING")
		}
		return nil
	})
	h := telemetry.AdminHandler(ready, nil)

	if code, body := fetch(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready bus: starting") {
		t.Errorf("starting: /readyz = %d %q", code, body)
	}
	ready.Set("bus", nil)
	if code, body := fetch(t, h, "/readyz"); code != http.StatusOK || body != "ok bus\nok nats.poller\nready\n" {
		t.Errorf("ready: /readyz = %d %q", code, body)
	}
	connected = false
	if code, body := fetch(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready nats.poller: NATS connection RECONNECTING") {
		t.Errorf("NATS away: /readyz = %d %q", code, body)
	}
	connected = true
	cancel() // SIGTERM
	if code, body := fetch(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready process: draining\n") {
		t.Errorf("draining: /readyz = %d %q", code, body)
	}
	if code, body := fetch(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("draining: /healthz = %d %q", code, body)
	}
	if code, _ := fetch(t, h, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without metrics = %d, want 404", code)
	}
}

func TestANilReadinessIgnoresReports(t *testing.T) {
	t.Parallel()
	var ready *telemetry.Readiness
	ready.Set("writeback", errors.New("down"))
	ready.Probe("x", func(context.Context) error { return errors.New("down") })
	if ok, _ := ready.Check(t.Context()); !ok {
		t.Error("a nil readiness is not ready")
	}
}

func TestServeAdminListensAndCloses(t *testing.T) {
	t.Parallel()
	a, err := telemetry.ServeAdmin("127.0.0.1:0", telemetry.AdminHandler(telemetry.NewReadiness(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + a.Addr().String() + "/readyz"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with no checks = %d", resp.StatusCode)
	}
	a.Close()
	if _, err := http.Get(url); err == nil {
		t.Error("still serving after Close")
	}
	if _, err := telemetry.ServeAdmin("127.0.0.1:0:0", http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "HUB_ADMIN_ADDR") {
		t.Errorf("a bad address: %v", err)
	}
}
