package trackers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestUserAgentTransportCopiesOnlyWhenItMustSet: a request that already
// carries the User-Agent goes on as it is (no copy); another is copied with
// it and the caller's request is left unchanged.
func TestUserAgentTransportCopiesOnlyWhenItMustSet(t *testing.T) {
	t.Parallel()
	var sent *http.Request
	rt := userAgentTransport{ua: "connectorhub/1.2", next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})}
	own := httptest.NewRequest(http.MethodGet, "https://h/x", nil)
	own.Header.Set("User-Agent", "connectorhub/1.2")
	if _, err := rt.RoundTrip(own); err != nil || sent != own {
		t.Errorf("a request with the User-Agent was copied (%p, want %p), %v", sent, own, err)
	}
	lib := httptest.NewRequest(http.MethodGet, "https://h/x", nil)
	lib.Header.Set("User-Agent", "go-github/v92")
	if _, err := rt.RoundTrip(lib); err != nil || sent == lib || sent.UserAgent() != "connectorhub/1.2" || lib.UserAgent() != "go-github/v92" {
		t.Errorf("sent %q (same request: %v), caller's now %q; want a copy with connectorhub/1.2, the caller's untouched", sent.UserAgent(), sent == lib, lib.UserAgent())
	}
}

// TestPacedTransportKeysPerCredentialWithoutAllocating: with a healthy
// budget, pacing a request and reading its answer's budget allocates
// nothing; each credential still gets its own budget key, also when the
// credentials alternate on one transport (a token pool).
func TestPacedTransportKeysPerCredentialWithoutAllocating(t *testing.T) { // not parallel: AllocsPerRun
	reset := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{
		"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"4900"}, "X-Ratelimit-Reset": {reset}, "X-Ratelimit-Resource": {"core"},
	}}
	pacer := NewPacer(PacerConfig{})
	pt := &pacedTransport{pacer: pacer, next: roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://API.example.com/x", nil).WithContext(context.Background())
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	a, b := req("a"), req("b")
	keys := map[string]bool{}
	for _, r := range []*http.Request{a, b, a} {
		if _, err := pt.RoundTrip(r); err != nil {
			t.Fatal(err)
		}
		keys[pt.lastKey()] = true
		if want := pt.key(r); pt.lastKey() != want {
			t.Errorf("last key %q, want %q", pt.lastKey(), want)
		}
	}
	if len(keys) != 2 {
		t.Errorf("%d budget keys for two credentials, want 2", len(keys))
	}
	if st, ok := pacer.Status(pt.lastKey()); !ok || st.Remaining != 4900 {
		t.Errorf("budget %+v, %v; want 4900 left", st, ok)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = pt.RoundTrip(a) }); n != 0 {
		t.Errorf("%v allocations per paced request with a healthy budget, want 0", n)
	}
}
