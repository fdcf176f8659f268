// Package fakehttp holds what every fake tracker server shares: starting an
// httptest server with middleware, writing JSON, reading credentials, and the
// base URL a response's links point at.
package fakehttp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	json "github.com/goccy/go-json"
)

// Start serves h (wrapped by middleware, outermost first) on 127.0.0.1 until
// the test ends, and returns the server's URL.
func Start(tb testing.TB, h http.Handler, middleware ...func(http.Handler) http.Handler) string {
	tb.Helper()
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// JSON writes v with status code.
func JSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// RawJSON writes an already encoded JSON body with status code.
func RawJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// AppendArray appends a JSON array of encoded items to b.
func AppendArray(b []byte, items [][]byte) []byte {
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// EncodedLen is the exact length of items as a JSON array (a
// Content-Length: WriteArray).
func EncodedLen(items [][]byte) int {
	n := 2 + max(len(items)-1, 0) // brackets and commas
	for _, it := range items {
		n += len(it)
	}
	return n
}

// Text writes a plain-text body with status code.
func Text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// BaseURL is the scheme and host the request came to, for self links.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Bearer returns the token of an "Authorization: Bearer" header (or GitHub's
// "token" scheme when allowToken), and whether one was sent.
func Bearer(r *http.Request, allowToken bool) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok {
		return "", false
	}
	switch {
	case strings.EqualFold(scheme, "bearer"):
		return strings.TrimSpace(tok), true
	case allowToken && strings.EqualFold(scheme, "token"):
		return strings.TrimSpace(tok), true
	}
	return "", false
}

// Counter counts requests served, for tests that assert a fake was (or was
// not) reached.
type Counter struct{ n atomic.Int64 }

// Wrap counts every request to next.
func (c *Counter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		next.ServeHTTP(w, r)
	})
}

// Count is the number of requests served so far.
func (c *Counter) Count() int { return int(c.n.Load()) }

type gatewayKey struct{}

// WithGatewayUser marks a request that the Atlassian API gateway fake
// (atlassianfake) has authenticated by its OAuth access token, as the
// account with this email: the product fakes behind it take it as that
// user, as the real gateway forwards a verified identity.
func WithGatewayUser(r *http.Request, email string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), gatewayKey{}, email))
}

// GatewayUser is the email WithGatewayUser set, if any.
func GatewayUser(r *http.Request) (string, bool) {
	email, ok := r.Context().Value(gatewayKey{}).(string)
	return email, ok && email != ""
}
