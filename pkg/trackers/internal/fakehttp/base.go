package fakehttp

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// Base is the frame every fake tracker server shares: queued faults served
// in front of everything, a request counter outside them, and the mux its
// routes are registered on. A fake embeds it, calls Init, registers its
// routes on Mux, and so answers ServeHTTP, Start, Requests, FailNext,
// SlowNext, MalformedNext and RateLimitNext (a fake whose vendor answers
// differently defines its own).
type Base struct {
	// Faults are served before anything else.
	Faults faults.Injector
	// Mux holds the fake's routes.
	Mux *http.ServeMux
	// Inner, when set before the first request, is served instead of Mux
	// (a fake that wraps its routes, e.g. in conditional-request handling).
	Inner http.Handler

	requests Counter
	errBody  func(status int) string
	once     sync.Once
	handler  http.Handler
}

// Init readies the frame in place (it is never copied once in use);
// FailNext answers with errBody(status), the vendor's error shape.
func (b *Base) Init(errBody func(status int) string) {
	b.Mux, b.errBody = http.NewServeMux(), errBody
}

// ServeHTTP counts the request, then serves a queued fault or the route.
func (b *Base) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.once.Do(func() { // wrapped once, not per request
		inner := b.Inner
		if inner == nil {
			inner = b.Mux
		}
		b.handler = b.requests.Wrap(b.Faults.Wrap(inner))
	})
	b.handler.ServeHTTP(w, r)
}

// Requests is how many requests the fake has received (faults included).
func (b *Base) Requests() int { return b.requests.Count() }

// FailNext makes the next n answers status, with the vendor's error body.
func (b *Base) FailNext(n, status int) {
	body := ""
	if b.errBody != nil {
		body = b.errBody(status)
	}
	b.Faults.Fail(n, status, body)
}

// SlowNext delays the next answer by d.
func (b *Base) SlowNext(d time.Duration) { b.Faults.Add(faults.Fault{Delay: d}) }

// Start serves the fake on 127.0.0.1 until the test ends and returns its
// URL. A fake that answers requests itself (its own ServeHTTP) starts
// with fakehttp.Start instead.
func (b *Base) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	tb.Helper()
	return Start(tb, b, middleware...)
}

// MalformedNext makes the next answer a 200 whose JSON body is cut short.
func (b *Base) MalformedNext() {
	b.Faults.Add(faults.Fault{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"items":[{"id":"trunc`})
}

// RateLimitNext makes the next answer a 429 asking to retry after d
// (Retry-After in whole seconds, no body). A fake whose vendor sends more
// (budget headers, an error body) has its own.
func (b *Base) RateLimitNext(d time.Duration) {
	b.Faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {strconv.Itoa(int(d.Seconds()))}}})
}
