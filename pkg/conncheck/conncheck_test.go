package conncheck_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/conncheck"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

type loader struct{}

func (loader) Get(_ context.Context, id string) (connector.Connector, error) {
	return connector.Connector{ID: id, System: connector.Jira}, nil
}

// A saved-connector test runs in the caller's trace: the request carries its
// traceparent and the worker's checks see it.
func TestSavedTestCarriesTheCallersTraceContext(t *testing.T) {
	t.Parallel()
	srv, err := bus.StartEmbedded(t.Context(), bus.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	seen := make(chan trace.SpanContext, 1)
	r := &conncheck.Responder{Loader: loader{}, Test: func(ctx context.Context, _ connector.Connector, _ connector.Secret) (trackers.TestResult, error) {
		seen <- trace.SpanContextFromContext(ctx)
		return trackers.TestResult{}, nil
	}}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, nc, connector.Jira) }()
	t.Cleanup(func() { cancel(); <-served })

	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	})
	client := conncheck.NewClient(nc)
	callCtx, callCancel := context.WithTimeout(trace.ContextWithSpanContext(t.Context(), caller), 10*time.Second)
	defer callCancel()
	var err2 error
	for { // the subscription may not be in place yet
		if _, err2 = client.TestSaved(callCtx, connector.Connector{ID: "j1", System: connector.Jira}); err2 == nil || callCtx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err2 != nil {
		t.Fatal(err2)
	}
	if got := <-seen; got.TraceID() != caller.TraceID() || got.SpanID() != caller.SpanID() || !got.IsRemote() {
		t.Errorf("the worker's checks ran in %v, want the caller's %v", got, caller)
	}
}
