package trackers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
)

// traced gives every request of next a client span (otelhttp, on the global
// tracer provider: a no-op unless tracing is enabled). The span only ever
// sees the URL as RedactURL leaves it: the request is handed to otelhttp with
// the redacted URL and given its real one back underneath, so neither
// url.full nor an error recorded on the span can carry a credential. No
// trace context is sent to the tracker: vendors do not take part in our
// traces and have no use for our trace ids.
func traced(next http.RoundTripper) http.RoundTripper {
	return redactingTransport{next: otelhttp.NewTransport(restoringTransport{next: next},
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "tracker " + r.Method }),
	)}
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
