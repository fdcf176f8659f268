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
	if u.RawQuery != "" && querySecret(u.RawQuery) {
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
	if !isASCII(name) {
		// Unicode case folding (strings.ToLower) may make a secret word
		// of non-ASCII letters (the Kelvin sign is a k).
		name = strings.ToLower(name)
	}
	for _, w := range secretWords {
		if containsFold(name, w) {
			return true
		}
	}
	return false
}

// querySecret reports whether a raw query may name a parameter secretParam
// holds secret, reading the names in place: RedactURL runs on every traced
// request, and parsing every query into url.Values to find nothing to hide
// cost a map and its slices each time. A name that is not valid
// percent-encoding counts as secret (the careful path then decides).
func querySecret(raw string) bool {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		name, _, _ := strings.Cut(kv, "=")
		if !strings.ContainsAny(name, "%+") {
			if secretParam(name) {
				return true
			}
			continue
		}
		// Escaped names (PagerDuty's include%5B%5D) are decoded into a
		// buffer on the stack; url.QueryUnescape would allocate a string.
		var buf [128]byte
		if len(name) > len(buf) {
			n, err := url.QueryUnescape(name)
			if err != nil || secretParam(n) {
				return true
			}
			continue
		}
		b, ok := queryUnescapeInto(buf[:0], name)
		if !ok || secretNameBytes(b) {
			return true
		}
	}
	return false
}

// queryUnescapeInto appends name's query decoding ('+' is a space, %XX a
// byte) to dst; ok is false for a malformed escape.
func queryUnescapeInto(dst []byte, name string) ([]byte, bool) {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(name) {
				return dst, false
			}
			hi, ok1 := unhex(name[i+1])
			lo, ok2 := unhex(name[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// secretNameBytes is secretParam for a decoded name in a buffer.
func secretNameBytes(b []byte) bool {
	if !isASCII(string(b)) {
		return secretParam(string(b))
	}
	for _, w := range secretWords {
		for i := 0; i+len(w) <= len(b); i++ {
			if asciiEqualFold(b[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold compares b with the lower-case ASCII w, ignoring case.
func asciiEqualFold(b []byte, w string) bool {
	for i := range len(w) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// containsFold is strings.Contains(strings.ToLower(s), sub) for a
// lower-case ASCII sub, without lower-casing s (an allocation per name).
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
