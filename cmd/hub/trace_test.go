package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestSandboxTicketIsOneTrace: with an in-memory span exporter installed, a
// sandbox Jira ticket's poll, its ticket.discovered send, its knowledge
// enrichment and the writeback of a result published in the ticket event's
// trace context are one trace, each span under the right parent; and no
// span carries a tracker credential.
//
// Not parallel: it installs the global tracer provider.
func TestSandboxTicketIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := telemetry.NewTracerProvider(context.Background(), "connectorhub-test", sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	telemetry.Install(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = tp.Shutdown(context.Background())
	})

	st, logs := startSandboxHub(t)
	auth, err := bus.ClientAuth{CredsFile: st.NATSCredsFile}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(st.NATSURL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	// The ticket: a discovered Jira ticket with a reporter and no parent.
	var (
		ticket     *chv1.Ticket
		discovered *jetstream.RawStreamMsg
	)
	waitFor(t, 30*time.Second, "a discovered Jira ticket", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.jira.sandbox-jira") {
			var ev chv1.TicketDiscovered
			if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetTicket().GetParent() == nil && ev.GetTicket().GetReporter() != nil {
				ticket, discovered = ev.GetTicket(), m
				return true
			}
		}
		return false
	})
	sent := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), bus.HeaderCarrier(discovered.Header)))
	if !sent.IsValid() {
		t.Fatalf("ticket.discovered carries no trace context: headers %v", discovered.Header)
	}
	traceID := sent.TraceID()

	// Its enrichment continues the trace.
	waitFor(t, 30*time.Second, "ticket.enriched of "+ticket.GetKey(), logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.enriched.jira.sandbox-jira") {
			var ev chv1.TicketEnriched
			if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetTicketKey() == ticket.GetKey() {
				sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), bus.HeaderCarrier(m.Header)))
				if sc.TraceID() != traceID {
					t.Fatalf("ticket.enriched of %s is in trace %s, the ticket in %s", ticket.GetKey(), sc.TraceID(), traceID)
				}
				return true
			}
		}
		return false
	})

	// An agent publishes its result in the ticket event's trace context.
	agentCtx := propagation.TraceContext{}.Extract(context.Background(), bus.HeaderCarrier(discovered.Header))
	result := &chv1.ResultReady{
		ResultId: "trace-1", ConnectorId: "sandbox-jira", System: chv1.System_SYSTEM_JIRA, TicketKey: ticket.GetKey(),
		BaseTime: timestamppb.New(time.Now()), TargetStatus: "Done", CommentMarkdown: "Fixed.",
		Subtasks: []*chv1.SubTaskSpec{{Summary: "Add a regression test"}},
	}
	subject, _ := bus.ResultSubject("jira", "sandbox-jira")
	if _, err := bus.Publish(agentCtx, js, subject, result, bus.WithID(result.GetResultId())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "writeback.completed", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
			var ev chv1.WritebackCompleted
			if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetResultId() == "trace-1" {
				return true
			}
		}
		return false
	})

	// The spans, once the writeback's process span has ended.
	var spans tracetest.SpanStubs
	inTrace := func(name string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range spans {
			if s.SpanContext.TraceID() == traceID && s.Name == name {
				out = append(out, s)
			}
		}
		return out
	}
	byID := map[trace.SpanID]tracetest.SpanStub{}
	refresh := func() {
		spans = exp.GetSpans()
		clear(byID)
		for _, s := range spans {
			if s.SpanContext.TraceID() == traceID {
				byID[s.SpanContext.SpanID()] = s
			}
		}
	}
	one := func(name string) tracetest.SpanStub {
		t.Helper()
		got := inTrace(name)
		if len(got) == 0 {
			t.Fatalf("no %q span in the ticket's trace; spans: %s", name, spanTree(spans, traceID))
		}
		return got[0]
	}
	parentOf := func(s tracetest.SpanStub) tracetest.SpanStub { return byID[s.Parent.SpanID()] }
	// descends reports whether s is under ancestor.
	descends := func(s, ancestor tracetest.SpanStub) bool {
		for p := s; p.Parent.IsValid(); {
			var ok bool
			if p, ok = byID[p.Parent.SpanID()]; !ok {
				return false
			}
			if p.SpanContext.SpanID() == ancestor.SpanContext.SpanID() {
				return true
			}
		}
		return false
	}
	// The poll discovered other tickets too: theirs are in this trace, under
	// their own send and process spans.
	under := func(name string, ancestor tracetest.SpanStub) (tracetest.SpanStub, bool) {
		for _, s := range inTrace(name) {
			if descends(s, ancestor) {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	// Spans end (and reach the exporter) a little after the messages they
	// sent are visible: wait for the last ones of both branches; the
	// checks below say what is missing if they never come.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		refresh()
		send, ok := byID[sent.SpanID()]
		if !ok {
			continue
		}
		var enriched, completed bool
		for _, p := range inTrace("process ticket.discovered") {
			if p.Parent.SpanID() == send.SpanContext.SpanID() {
				_, enriched = under("send ticket.enriched", p)
			}
		}
		for _, wb := range inTrace("process result.ready") {
			_, completed = under("send writeback.completed", wb)
		}
		if enriched && completed {
			break
		}
	}
	attr := func(s tracetest.SpanStub, key string) string {
		for _, a := range s.Attributes {
			if string(a.Key) == key {
				return a.Value.Emit()
			}
		}
		return ""
	}
	tree := spanTree(spans, traceID)

	poll := one("poll jira")
	if poll.Parent.IsValid() || attr(poll, "connectorhub.connector.id") != "sandbox-jira" {
		t.Errorf("poll span: parent %v, connector %q; want a root span of sandbox-jira\n%s", poll.Parent, attr(poll, "connectorhub.connector.id"), tree)
	}
	var trackerCall bool
	for _, s := range inTrace("tracker POST") {
		trackerCall = trackerCall || (parentOf(s).Name == "poll jira" && s.SpanKind == trace.SpanKindClient)
	}
	if !trackerCall {
		t.Errorf("no tracker CLIENT span under the poll span\n%s", tree)
	}
	var send tracetest.SpanStub
	for _, s := range inTrace("send ticket.discovered") {
		if s.SpanContext.SpanID() == sent.SpanID() {
			send = s
		}
	}
	wantMessaging := func(s tracetest.SpanStub, kind trace.SpanKind, subject, id, group string) {
		t.Helper()
		if s.SpanKind != kind || attr(s, "messaging.system") != "nats" || attr(s, "messaging.destination.name") != subject ||
			attr(s, "messaging.message.id") != id || attr(s, "messaging.consumer.group.name") != group {
			t.Errorf("%s: kind %v, attributes %v; want %v, nats, destination %s, id %s, group %q", s.Name, s.SpanKind, s.Attributes, kind, subject, id, group)
		}
	}
	if parentOf(send).Name != "poll jira" {
		t.Fatalf("the span in ticket.discovered's traceparent is not a send under the poll\n%s", tree)
	}
	// The poll sends a page of tickets as one batch (bus.SendTrace): its
	// span counts the messages and names no single message's id.
	if n := attr(send, "messaging.batch.message_count"); n == "" {
		wantMessaging(send, trace.SpanKindProducer, discovered.Subject, discovered.Header.Get(bus.HeaderID), "")
	} else if count, err := strconv.Atoi(n); err != nil || count < 2 {
		t.Errorf("send ticket.discovered: batch count %q, want 2 or more (a single message names its id instead)", n)
	} else {
		wantMessaging(send, trace.SpanKindProducer, discovered.Subject, "", "")
	}

	// Knowledge: process (CONSUMER) under the send, a search under it
	// calling Confluence, and the ticket.enriched send under the process.
	var process tracetest.SpanStub
	for _, s := range inTrace("process ticket.discovered") {
		if s.Parent.SpanID() == send.SpanContext.SpanID() && attr(s, "messaging.message.id") == discovered.Header.Get(bus.HeaderID) {
			process = s
		}
	}
	if !process.SpanContext.IsValid() {
		t.Fatalf("no process ticket.discovered span under the send\n%s", tree)
	}
	wantMessaging(process, trace.SpanKindConsumer, discovered.Subject, discovered.Header.Get(bus.HeaderID), "knowledge")
	if _, ok := under("knowledge search", process); !ok {
		t.Errorf("no knowledge search under the ticket's process span\n%s", tree)
	}
	if enriched, ok := under("send ticket.enriched", process); !ok || enriched.SpanKind != trace.SpanKindProducer {
		t.Errorf("no send ticket.enriched PRODUCER under the ticket's process span\n%s", tree)
	}

	// Writeback: the agent's send under the ticket's send, process under it,
	// one span per step under the process, tracker calls under the steps.
	agentSend := one("send result.ready")
	if agentSend.Parent.SpanID() != send.SpanContext.SpanID() {
		t.Errorf("the agent's send is not under the ticket's send\n%s", tree)
	}
	wb := one("process result.ready")
	if wb.Parent.SpanID() != agentSend.SpanContext.SpanID() {
		t.Errorf("process result.ready is not under the agent's send\n%s", tree)
	}
	wantMessaging(wb, trace.SpanKindConsumer, subject, "trace-1", "writeback")
	for _, step := range []string{"writeback status", "writeback comment", "writeback subtask"} {
		s, ok := under(step, wb)
		if !ok {
			t.Errorf("no %s under process result.ready\n%s", step, tree)
			continue
		}
		var called bool
		for _, c := range spans {
			called = called || (c.Parent.SpanID() == s.SpanContext.SpanID() && strings.HasPrefix(c.Name, "tracker "))
		}
		if !called {
			t.Errorf("%s made no tracker call span\n%s", step, tree)
		}
	}
	if _, ok := under("send writeback.completed", wb); !ok {
		t.Errorf("no send writeback.completed under process result.ready\n%s", tree)
	}

	// No span, of any trace, carries a tracker credential (clear, or in a
	// basic-auth header).
	var secrets []string
	for _, s := range []struct{ user, token string }{
		{jirafake.SandboxEmail, jirafake.SandboxToken}, {confluencefake.SandboxEmail, confluencefake.SandboxToken},
		{"", githubfake.SandboxToken}, {"", gitlabfake.SandboxToken},
	} {
		secrets = append(secrets, s.token)
		if s.user != "" {
			secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.token)))
		}
	}
	var found int
	for _, s := range exp.GetSpans() {
		text := []string{s.Name, s.Status.Description}
		for _, a := range append(s.Attributes, s.Resource.Attributes()...) {
			text = append(text, string(a.Key), a.Value.Emit())
		}
		for _, e := range s.Events {
			text = append(text, e.Name)
			for _, a := range e.Attributes {
				text = append(text, a.Value.Emit())
			}
		}
		for _, secret := range secrets {
			for _, v := range text {
				if strings.Contains(v, secret) {
					found++
					t.Errorf("span %q carries a tracker credential", s.Name)
				}
			}
		}
	}
	t.Logf("%d spans scanned for %d credentials: found %d times", len(exp.GetSpans()), len(secrets), found)
}

// spanTree renders a trace's spans as an indented tree for failure messages.
func spanTree(spans tracetest.SpanStubs, id trace.TraceID) string {
	children := map[trace.SpanID][]tracetest.SpanStub{}
	var roots []tracetest.SpanStub
	seen := map[trace.SpanID]bool{}
	for _, s := range spans {
		if s.SpanContext.TraceID() == id {
			seen[s.SpanContext.SpanID()] = true
		}
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() != id {
			continue
		}
		if s.Parent.IsValid() && seen[s.Parent.SpanID()] {
			children[s.Parent.SpanID()] = append(children[s.Parent.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		fmt.Fprintf(&b, "%s%s (%v)\n", strings.Repeat("  ", depth), s.Name, s.SpanKind)
		for _, c := range children[s.SpanContext.SpanID()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
