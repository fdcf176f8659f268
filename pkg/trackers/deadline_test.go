package trackers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// TestSessionTimeoutBoundsHeadersAndBody: Options.Timeout ends a call whose
// answer does not come, and one whose body stalls after the headers, as
// http.Client.Timeout did; the session's client has no client-level
// timeout left (it would put a timer goroutine on every request).
func TestSessionTimeoutBoundsHeadersAndBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("{"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := connector.Connector{ID: "slow", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: srv.URL, AuthMode: connector.AuthBearer}
	const timeout = 300 * time.Millisecond
	s, err := NewSession(benchTracker{}, c, connector.NewSecret("tok"), Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTP.Timeout != 0 {
		t.Errorf("client timeout %v, want 0 (the deadline is the transport's)", s.HTTP.Timeout)
	}
	for _, path := range []string{"/headers", "/body"} {
		start := time.Now()
		req, _ := s.NewRequest(context.Background(), http.MethodGet, path, nil, nil)
		_, _, err := s.Exchange(context.Background(), req, "get")
		took := time.Since(start)
		if !errors.Is(err, ErrTransient) || took < timeout || took > timeout+20*time.Second {
			t.Errorf("%s: %v after %v, want a transient failure after %v", path, err, took, timeout)
		}
	}
	// A caller's own, earlier deadline stays the one that ends the call.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := s.NewRequest(ctx, http.MethodGet, "/headers", nil, nil)
	resp, err := s.HTTP.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
		t.Errorf("with the caller's deadline: %v, want its deadline exceeded", err)
	}
}

// TestDeadlineTransportReleasesItsDeadlineWithTheBody: the answer's body is
// readable to the end, and closing it ends the request's context.
func TestDeadlineTransportReleasesItsDeadlineWithTheBody(t *testing.T) {
	t.Parallel()
	var sent *http.Request
	rt := deadlineTransport{timeout: time.Hour, next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(&byteReader{n: 3}), Request: r}, nil
	})}
	req := httptest.NewRequest(http.MethodGet, "https://h/x", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Request != req || sent == req {
		t.Errorf("resp.Request is not the caller's, or the caller's request was sent (changed)")
	}
	if dl, ok := sent.Context().Deadline(); !ok || time.Until(dl) < 59*time.Minute {
		t.Errorf("sent with deadline %v, %v; want an hour from now", dl, ok)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 3 {
		t.Errorf("body %q, %v", b, err)
	}
	resp.Body.Close()
	if sent.Context().Err() == nil {
		t.Error("the request's context is still live after its body was closed")
	}
}

type byteReader struct{ n int }

func (r *byteReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	p[0] = 'x'
	r.n--
	return 1, nil
}

func TestSessionUserAgentIsTheOneSent(t *testing.T) {
	t.Parallel()
	c := connector.Connector{ID: "ua", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: "https://h.example.com", AuthMode: connector.AuthBearer}
	s, err := NewSession(benchTracker{}, c, connector.NewSecret("tok"), Options{UserAgent: "connectorhub/9"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := s.NewRequest(context.Background(), http.MethodGet, "/x", nil, nil)
	if s.UserAgent() != "connectorhub/9" || req.UserAgent() != "connectorhub/9" {
		t.Errorf("UserAgent() %q, request's %q; want connectorhub/9", s.UserAgent(), req.UserAgent())
	}
}
