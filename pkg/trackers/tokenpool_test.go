package trackers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// budgetServer answers with each token's remaining budget, 401 for revoked
// tokens and 429 for spent ones, counting requests per token.
type budgetServer struct {
	mu      sync.Mutex
	budget  map[string]int
	revoked map[string]bool
	used    map[string]int
}

func (b *budgetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used[tok]++
	if b.revoked[tok] {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if b.budget[tok] <= 0 {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	b.budget[tok]--
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(b.budget[tok]))
	_, _ = io.WriteString(w, "ok")
}

func poolClient(t *testing.T, pool *trackers.TokenPool, srv *httptest.Server) *http.Client {
	u, _ := url.Parse(srv.URL)
	return &http.Client{Transport: pool.Transport(http.DefaultTransport, u.Host, func(r *http.Request, tok string) {
		r.Header.Set("Authorization", "Bearer "+tok)
	}), Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestTokenPoolSpreadsByRemainingBudget(t *testing.T) {
	b := &budgetServer{budget: map[string]int{"a": 100, "b": 40, "c": 10}, revoked: map[string]bool{}, used: map[string]int{}}
	srv := httptest.NewServer(b)
	defer srv.Close()
	pool := trackers.NewTokenPool([]string{"a", "b", "c"}, nil)
	c := poolClient(t, pool, srv)
	for range 120 {
		if code := get(t, c, srv.URL); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Always the most budget left: a and b end level, c is spared.
	if b.budget["a"]-b.budget["b"] > 1 || b.budget["b"]-b.budget["a"] > 1 {
		t.Errorf("budgets left a=%d b=%d: not spread by remaining budget", b.budget["a"], b.budget["b"])
	}
	if b.used["c"] > 2 {
		t.Errorf("token c (least budget) used %d times", b.used["c"])
	}
	if got := b.used["a"] + b.used["b"] + b.used["c"]; got != 120 {
		t.Errorf("%d requests sent for 120", got)
	}
}

func TestTokenPoolSetsAsideARevokedTokenAndKeepsWorking(t *testing.T) {
	b := &budgetServer{budget: map[string]int{"good": 1000, "bad": 1000}, revoked: map[string]bool{"bad": true}, used: map[string]int{}}
	srv := httptest.NewServer(b)
	defer srv.Close()
	pool := trackers.NewTokenPool([]string{"bad", "good"}, nil)
	c := poolClient(t, pool, srv)
	for range 10 {
		if code := get(t, c, srv.URL); code != http.StatusOK {
			t.Fatalf("status %d: the pool should have moved to the good token", code)
		}
	}
	aside := pool.SetAside()
	if len(aside) != 1 || aside[0].Fingerprint != secrets.Fingerprint([]byte("bad")) {
		t.Fatalf("set aside: %+v", aside)
	}
	if b.used["bad"] != 1 {
		t.Errorf("revoked token tried %d times, want once", b.used["bad"])
	}
	for _, st := range pool.Status() {
		if strings.Contains(st.Reason, "bad") || strings.Contains(st.Fingerprint, "good") {
			t.Errorf("status shows a token: %+v", st)
		}
	}
}

func TestTokenPoolAllRevokedReturnsTheRefusal(t *testing.T) {
	b := &budgetServer{budget: map[string]int{}, revoked: map[string]bool{"x": true, "y": true}, used: map[string]int{}}
	srv := httptest.NewServer(b)
	defer srv.Close()
	pool := trackers.NewTokenPool([]string{"x", "y"}, nil)
	c := poolClient(t, pool, srv)
	if code := get(t, c, srv.URL); code != http.StatusUnauthorized {
		t.Fatalf("status %d, want the tracker's 401 once every token is refused", code)
	}
	if len(pool.SetAside()) != 2 {
		t.Errorf("set aside %d of 2", len(pool.SetAside()))
	}
}

func TestTokenPoolMovesOffASpentToken(t *testing.T) {
	b := &budgetServer{budget: map[string]int{"spent": 0, "fresh": 5}, revoked: map[string]bool{}, used: map[string]int{}}
	srv := httptest.NewServer(b)
	defer srv.Close()
	pool := trackers.NewTokenPool([]string{"spent", "fresh"}, nil)
	c := poolClient(t, pool, srv)
	for range 5 {
		if code := get(t, c, srv.URL); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if b.used["spent"] > 1 {
		t.Errorf("spent token sent %d requests", b.used["spent"])
	}
	if len(pool.SetAside()) != 0 {
		t.Error("a rate-limited token is not set aside, only refused ones")
	}
}
