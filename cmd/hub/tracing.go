package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// startTracing enables tracing when the OTEL_* variables in environ name an
// exporter (telemetry.SetupTracing); service.name defaults to
// connectorhub (all-in-one) or connectorhub-<targets>. The returned stop
// flushes the spans not yet exported; call it last.
func startTracing(ctx context.Context, environ map[string]string, t targets, log *slog.Logger) (stop func(), err error) {
	service := "connectorhub"
	if !t.all() {
		service += "-" + strings.Join(t, "-")
	}
	tr, err := telemetry.SetupTracing(ctx, service, func(k string) (string, bool) {
		v, ok := environ[k]
		return v, ok
	})
	if err != nil {
		return nil, err
	}
	if !tr.Enabled() {
		return func() {}, nil
	}
	log.Info("tracing enabled", "exporter", tr.Exporter, "service", service)
	return func() {
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("spans not flushed", "error", err)
		}
	}, nil
}
