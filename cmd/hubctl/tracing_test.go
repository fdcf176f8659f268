package main

import (
	"strings"
	"testing"
)

// An agent's result carries the ticket event's trace context, from
// $TRACEPARENT or --traceparent, so its writeback joins the ticket's trace.
func TestPublishCarriesTheTraceParent(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	c := busCLI(t, url, "")
	c.vars["TRACEPARENT"] = "00-" + traceID + "-00f067aa0ba902b7-01"
	r := c.run("results", "publish", "--connector", "jira-1", "--ticket", "SAND-1", "--system", "jira", "--comment", "done", "--id", "res-t1")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	m, _, _ := lastResult(t, js, "result.ready.jira.jira-1")
	if tp := m.Headers().Get("traceparent"); !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Errorf("traceparent = %q, want trace %s", tp, traceID)
	}

	r = c.run("results", "publish", "--connector", "jira-1", "--ticket", "SAND-2", "--system", "jira", "--comment", "done",
		"--traceparent", "00-"+strings.Repeat("a", 32)+"-"+strings.Repeat("b", 16)+"-01", "--id", "res-t2")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	m, _, _ = lastResult(t, js, "result.ready.jira.jira-1")
	if tp := m.Headers().Get("traceparent"); !strings.HasPrefix(tp, "00-"+strings.Repeat("a", 32)+"-") {
		t.Errorf("--traceparent: traceparent = %q", tp)
	}

	r = c.run("results", "publish", "--connector", "jira-1", "--ticket", "SAND-3", "--system", "jira", "--comment", "done", "--traceparent", "not-a-traceparent")
	if r.err == nil || !strings.Contains(r.err.Error(), "--traceparent") {
		t.Errorf("a malformed --traceparent: err = %v, want it named", r.err)
	}
}
