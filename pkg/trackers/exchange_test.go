package trackers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// ExchangeBuffered reads what Exchange reads, announced length or chunked,
// and fails as it does on an answer over the body cap.
func TestExchangeBufferedReadsAsExchange(t *testing.T) {
	t.Parallel()
	body := strings.Repeat(`{"k":"v"},`, 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c := connector.Connector{ID: "x", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: srv.URL, AuthMode: connector.AuthBearer}
	s, err := NewSession(benchTracker{}, c, connector.NewSecret("tok"), Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	small, err := NewSession(benchTracker{}, c, connector.NewSecret("tok"), Options{Timeout: 30 * time.Second, MaxResponseBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, path := range []string{"/length", "/chunked"} {
		req, _ := s.NewRequest(ctx, http.MethodGet, path, nil, nil)
		_, want, err := s.Exchange(ctx, req, "get")
		if err != nil {
			t.Fatal(err)
		}
		req, _ = s.NewRequest(ctx, http.MethodGet, path, nil, nil)
		resp, got, release, err := s.ExchangeBuffered(ctx, req, "get")
		if err != nil || resp.StatusCode != http.StatusOK || string(got) != string(want) || string(got) != body {
			t.Errorf("%s: %d bytes (%v), Exchange %d", path, len(got), err, len(want))
		}
		release()
		req, _ = small.NewRequest(ctx, http.MethodGet, path, nil, nil)
		_, _, release, err = small.ExchangeBuffered(ctx, req, "get")
		release()
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Errorf("%s over the cap: %v, want ErrResponseTooLarge", path, err)
		}
	}
}
