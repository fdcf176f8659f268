package trackers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

func TestRedactURL(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"nothing to hide": {"https://example.atlassian.net/rest/api/3/search/jql?jql=assignee&maxResults=50", "https://example.atlassian.net/rest/api/3/search/jql?jql=assignee&maxResults=50"},
		"user info":       {"https://bot:s3cret@gitlab.example.com/api/v4/issues", "https://gitlab.example.com/api/v4/issues"},
		"token in query":  {"https://gitlab.example.com/api/v4/issues?private_token=glpat-abc&state=opened", "https://gitlab.example.com/api/v4/issues?private_token=REDACTED&state=opened"},
		"several secrets": {"https://h/p?access_token=a&api_key=b&Signature=c&client_secret=d&password=e&page=2", "https://h/p?Signature=REDACTED&access_token=REDACTED&api_key=REDACTED&client_secret=REDACTED&page=2&password=REDACTED"},
		"repeated values": {"https://h/p?token=a&token=b", "https://h/p?token=REDACTED&token=REDACTED"},
		"auth code":       {"https://h/cb?code=xyz&state=1", "https://h/cb?code=REDACTED&state=1"},
	} {
		u, _ := url.Parse(tc.in)
		if got := RedactURL(u).String(); got != tc.want {
			t.Errorf("%s: RedactURL(%s) = %s, want %s", name, tc.in, got, tc.want)
		}
		if u.String() != tc.in {
			t.Errorf("%s: RedactURL changed its argument to %s", name, u)
		}
	}
}

// TestTracedRequestShowsOnlyTheRedactedURL: the tracker gets the real URL
// and no trace headers; the client span only the redacted one, also in the
// error it records.
func TestTracedRequestShowsOnlyTheRedactedURL(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	telemetry.Install(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	const secret = "glpat-very-secret"
	var got *url.URL
	var traceparent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, traceparent = r.URL, r.Header.Get("traceparent")
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: traced(http.DefaultTransport)}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	for _, raw := range []string{
		srv.URL + "/api/v4/issues?private_token=" + secret + "&state=opened",
		"http://bot:" + secret + "@127.0.0.1:1/refused?private_token=" + secret, // a transport error
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	parent.End()
	if got == nil || got.Query().Get("private_token") != secret || traceparent != "" {
		t.Fatalf("tracker got %v with traceparent %q, want the real URL and no trace header", got, traceparent)
	}
	var clientSpans int
	for _, s := range exp.GetSpans() {
		if s.Name != "tracker GET" {
			continue
		}
		clientSpans++
		if s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("client span not under the caller's span")
		}
		text := s.Status.Description
		for _, a := range s.Attributes {
			text += " " + a.Value.Emit()
		}
		for _, e := range s.Events {
			for _, a := range e.Attributes {
				text += " " + a.Value.Emit()
			}
		}
		if strings.Contains(text, secret) || !strings.Contains(text, "private_token=REDACTED") {
			t.Errorf("span %s shows %q, want private_token=REDACTED and no secret", s.Name, text)
		}
	}
	if clientSpans != 2 {
		t.Errorf("%d client spans, want 2", clientSpans)
	}
}

// stubRoundTripper answers every request with one response, allocating nothing.
type stubRoundTripper struct{ resp *http.Response }

func (s stubRoundTripper) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

// TestUntracedRequestAllocatesNothingForTracing: with no tracer provider
// recording, the tracing layer hands the request on untouched and costs no
// allocation; once one is installed, requests go through otelhttp again.
func TestUntracedRequestAllocatesNothingForTracing(t *testing.T) {
	otel.SetTracerProvider(noop.NewTracerProvider())
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	stub := stubRoundTripper{resp: &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}}
	rt := traced(stub)
	req := httptest.NewRequest(http.MethodGet, "https://gitlab.example.com/api/v4/issues?private_token=glpat-x&page=2", nil)
	var sent *http.Request
	rt = tracedTransport{plain: roundTripFunc(func(r *http.Request) (*http.Response, error) { sent = r; return stub.RoundTrip(r) }), spanned: rt.(tracedTransport).spanned}
	if _, err := rt.RoundTrip(req); err != nil || sent != req {
		t.Fatalf("untraced request sent as %p (want %p), %v", sent, req, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = rt.RoundTrip(req) }); n != 0 {
		t.Errorf("untraced request: %v allocations in the tracing layer, want 0", n)
	}
	exp := tracetest.NewInMemoryExporter()
	telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	// otelhttp takes the global provider when it is built, as before.
	resp, err := traced(stub).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // otelhttp ends its span with the body
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Name != "tracker GET" {
		t.Errorf("after installing a provider: spans %v, want one tracker GET", spans)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRedactURLWithNothingToHideAllocatesNothing: a query without secret
// names is read in place (RedactURL runs on every traced request); one with
// a secret name, also percent-encoded or in upper case, is still redacted.
func TestRedactURLWithNothingToHideAllocatesNothing(t *testing.T) {
	u, _ := url.Parse("https://api.pagerduty.com/incidents?include%5B%5D=assignees&statuses%5B%5D=triggered&limit=100&offset=0&time_zone=UTC")
	if n := testing.AllocsPerRun(100, func() { _ = RedactURL(u) }); n != 0 || RedactURL(u) != u {
		t.Errorf("%v allocations (want 0), same URL back: %v", n, RedactURL(u) == u)
	}
	for _, raw := range []string{"https://h/p?page=2&API_KEY=s3cret", "https://h/p?page=2&private%5Ftoken=s3cret", "https://h/p?x+auth=s3cret"} {
		u, _ := url.Parse(raw)
		if got := RedactURL(u).String(); strings.Contains(got, "s3cret") || !strings.Contains(got, "REDACTED") {
			t.Errorf("RedactURL(%s) = %s, want the secret REDACTED", raw, got)
		}
	}
}

// TestQuerySecretAgreesWithParsing: reading names in place finds every
// secret name that parsing the query into url.Values finds.
func TestQuerySecretAgreesWithParsing(t *testing.T) {
	for _, raw := range []string{
		"", "a=1", "a=1&b", "page=2&PRIVATE_TOKEN=x", "%74oken=x", "include%5B%5D=a&limit=1",
		"x=%zz&api%5Fkey=1", "%zz=1", "\u212Aey=1", "sess%69on=1", "a=1&&b=2", "=1&code",
		"Client+Secret=1", "p%61ssword",
	} {
		q, _ := url.ParseQuery(raw)
		parsed := false
		for k := range q {
			parsed = parsed || secretParam(k)
		}
		if parsed && !querySecret(raw) {
			t.Errorf("querySecret(%q) = false, parsing finds a secret name", raw)
		}
		if !parsed && querySecret(raw) && !strings.Contains(raw, "%zz") {
			t.Errorf("querySecret(%q) = true, parsing finds no secret name", raw)
		}
	}
}
