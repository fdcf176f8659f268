package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// An OTEL_* setting the hub cannot honour stops it at start-up, before it
// opens NATS, rather than running untraced.
func TestHubRefusesAnUnknownTracesExporter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HUB_STATE_FILE": filepath.Join(dir, "hub.json"), "HOME": dir,
		"OTEL_TRACES_EXPORTER": "zipkin"}
	err := run(context.Background(), []string{"--registry-addr", "127.0.0.1:0", "--nats-listen", ""}, environ, io.Discard)
	if !errors.Is(err, telemetry.ErrTracingConfig) {
		t.Fatalf("run = %v, want ErrTracingConfig", err)
	}
}
