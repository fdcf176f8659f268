// Package telemetry holds connectorhub's OpenTelemetry set-up: the tracer
// provider configured by the standard OTEL_* variables (this file), the
// admin listener and the metrics.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ErrTracingConfig reports an OTEL_* setting the tracing set-up cannot use.
var ErrTracingConfig = errors.New("telemetry: invalid tracing configuration")

// Tracing is the process's tracer provider: enabled when an exporter is
// configured, else off (the OpenTelemetry API's no-op, nothing recorded).
type Tracing struct {
	// Exporter names what the spans go to ("otlp/grpc", "otlp/http",
	// "console"); empty when tracing is off.
	Exporter string
	provider *sdktrace.TracerProvider
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// FlushTimeout bounds Shutdown, so an unreachable collector cannot hold up
// a process's exit.
const FlushTimeout = 5 * time.Second

// Shutdown flushes the spans not yet exported and stops the exporter, for
// at most FlushTimeout even when ctx is already cancelled (it runs at exit);
// a no-op when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FlushTimeout)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// SetupTracing installs the global tracer provider and W3C propagators the
// way the OpenTelemetry SDK environment variables ask, for a process whose
// default service.name is service:
//
//   - OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none: off.
//   - OTEL_TRACES_EXPORTER=otlp (the default when OTEL_EXPORTER_OTLP_ENDPOINT
//     or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set): OTLP over
//     OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, http/protobuf (default) or grpc;
//     the exporter reads its endpoint, headers, TLS and timeout variables.
//   - OTEL_TRACES_EXPORTER=console: spans as JSON on stdout (debugging).
//   - Neither set: off. The specification defaults to otlp; connectorhub does
//     not, so a process without a collector sends nothing anywhere.
//
// The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (which win
// over service), OTEL_TRACES_SAMPLER[_ARG] and OTEL_BSP_*. Off, it leaves
// the global provider alone (the API's no-op, or what a test installed).
//
// lookup reads the variables that choose the exporter (os.LookupEnv in a
// main); the SDK itself reads the others from the process environment.
func SetupTracing(ctx context.Context, service string, lookup func(string) (string, bool)) (*Tracing, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return &Tracing{}, nil
	}
	exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER"))
	if exporter == "" && (get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		exporter = "otlp"
	}
	var (
		exp  sdktrace.SpanExporter
		name string
		err  error
	)
	switch exporter {
	case "", "none":
		return &Tracing{}, nil
	case "otlp":
		protocol := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if protocol == "" {
			protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		switch protocol {
		case "", "http/protobuf":
			name = "otlp/http"
			exp, err = otlptracehttp.New(ctx)
		case "grpc":
			name = "otlp/grpc"
			exp, err = otlptracegrpc.New(ctx)
		default:
			return nil, fmt.Errorf("%w: OTLP protocol %q (want http/protobuf or grpc)", ErrTracingConfig, protocol)
		}
	case "console":
		name = "console"
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	default:
		return nil, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q (want otlp, console or none)", ErrTracingConfig, exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s exporter: %w", ErrTracingConfig, name, err)
	}
	tp, err := NewTracerProvider(ctx, service, sdktrace.WithBatcher(exp))
	if err != nil {
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	Install(tp)
	return &Tracing{Exporter: name, provider: tp}, nil
}

// NewTracerProvider returns an SDK tracer provider whose resource names
// service (unless OTEL_SERVICE_NAME says otherwise) with opts added, e.g.
// sdktrace.WithSyncer(tracetest.NewInMemoryExporter()) in a test. The
// sampler is the SDK's default: OTEL_TRACES_SAMPLER, else parent-based
// always-on.
func NewTracerProvider(ctx context.Context, service string, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("%w: resource: %w", ErrTracingConfig, err)
	}
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...), nil
}

// Install makes tp the global tracer provider and W3C trace context and
// baggage the global propagators, which the instrumentation (otelgrpc,
// otelhttp, pkg/bus) reads at each span.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// Tracer returns connectorhub's tracer for a package (its import path), from
// the global provider at the time of the call, so a provider installed later
// (a test's) is the one used.
func Tracer(pkg string) trace.Tracer { return otel.Tracer(pkg) }

// End records err, if any, on span (an exception event and an Error
// status) and ends it: `defer func() { telemetry.End(span, err) }()`.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
