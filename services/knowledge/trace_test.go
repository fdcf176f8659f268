package knowledge_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

// A NATS search request's traceparent header carries the requester's trace
// into the knowledge search span and its Confluence call.
//
// Not parallel: it installs the global tracer provider.
func TestSearchRequestContinuesTheRequestersTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.start(testConfig(), nil)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := protojson.Marshal(&chv1.SearchRequest{Query: "payment gateway runbook", Limit: 1})
	msg := &nats.Msg{Subject: knowledge.SearchSubject, Data: req, Header: nats.Header{"traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}}
	if _, err := h.nc.RequestMsg(msg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a knowledge search span in the requester's trace", func() bool {
		var search, call bool
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() != traceID {
				continue
			}
			search = search || (s.Name == "knowledge search" && s.Parent.SpanID().String() == "00f067aa0ba902b7")
			call = call || s.Name == "tracker GET"
		}
		return search && call
	})
}
