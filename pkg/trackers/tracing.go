package trackers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
)

// traced gives every request of next a client span (otelhttp, on the global
// tracer provider: a no-op unless tracing is enabled). The span only ever
// sees the URL as RedactURL leaves it: the request is handed to otelhttp with
// the redacted URL and given its real one back underneath, so neither
// url.full nor an error recorded on the span can carry a credential. No
// trace context is sent to the tracker: vendors do not take part in our
// traces and have no use for our trace ids.
//
// While no tracer provider is installed (tracing off, the default), a
// request goes straight to next: otelhttp's wrapping (its span, metrics
// context, body wrapper and request copy, ~20 allocations) and the URL
// redaction cost every tracker call something for a span nobody records.
// The check is made per request, so a provider installed later (a test's,
// telemetry.Install at start-up) is honoured from its next request on.
func traced(next http.RoundTripper) http.RoundTripper {
	return tracedTransport{plain: next, spanned: redactingTransport{next: otelhttp.NewTransport(restoringTransport{next: next},
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "tracker " + r.Method }),
	)}}
}

// tracedTransport sends a request through spanned while tracing is on,
// through plain (the same transport without the span) while it is off.
type tracedTransport struct{ plain, spanned http.RoundTripper }

func (t tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tracingOn() {
		return t.spanned.RoundTrip(req)
	}
	return t.plain.RoundTrip(req)
}

// initialProvider is the global tracer provider before any was installed:
// otel's delegating placeholder, whose spans record nothing until a real
// provider is set (otel.SetTracerProvider then returns the new one from
// otel.GetTracerProvider).
var initialProvider = otel.GetTracerProvider()

// tracingOn reports whether a tracer provider that may record spans is
// installed: anything but the initial placeholder or a no-op provider. It
// allocates nothing (an atomic load and a type check).
func tracingOn() bool {
	tp := otel.GetTracerProvider()
	if _, ok := tp.(noop.TracerProvider); ok {
		return false
	}
	return tp != initialProvider
}

type realURLKey struct{}

// redactingTransport replaces a request's URL with its redacted form for
// the transports below it; restoringTransport puts the real one back.
type redactingTransport struct{ next http.RoundTripper }

func (t redactingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	red := RedactURL(req.URL)
	if red == req.URL {
		return t.next.RoundTrip(req)
	}
	r := req.WithContext(context.WithValue(req.Context(), realURLKey{}, req.URL))
	r.URL = red
	resp, err := t.next.RoundTrip(r)
	if resp != nil && resp.Request == r {
		resp.Request = req
	}
	return resp, err
}

type restoringTransport struct{ next http.RoundTripper }

func (t restoringTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if u, ok := req.Context().Value(realURLKey{}).(*url.URL); ok {
		req = req.WithContext(req.Context()) // a copy: a RoundTripper must not change its request
		req.URL = u
	}
	return t.next.RoundTrip(req)
}

// RedactURL returns u without user information and with the values of
// query parameters that may hold a secret (their names contain token,
// secret, password, key, sig, auth, credential, session or code) replaced
// by REDACTED; u itself when there is nothing to redact. Use it for any URL
// that goes into a span, a log line or an error.
func RedactURL(u *url.URL) *url.URL {
	if u == nil {
		return nil
	}
	var q url.Values
	if u.RawQuery != "" {
		for k, vs := range u.Query() {
			if !secretParam(k) {
				continue
			}
			if q == nil {
				q = u.Query()
			}
			for i := range vs {
				vs[i] = "REDACTED"
			}
			q[k] = vs
		}
	}
	if u.User == nil && q == nil {
		return u
	}
	r := *u
	r.User = nil
	if q != nil {
		r.RawQuery = q.Encode()
	}
	return &r
}

var secretWords = [...]string{"token", "secret", "passw", "pwd", "key", "sig", "auth", "credential", "session", "code"}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
