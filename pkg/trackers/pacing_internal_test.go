package trackers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// quotaHandler keeps a budget of limit requests per hour for each bearer
// token, answering GitHub's X-RateLimit-* headers, 403 once spent.
type quotaHandler struct {
	limit int
	mu    sync.Mutex
	used  map[string]int
}

func (q *quotaHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("Authorization")
	q.mu.Lock()
	defer q.mu.Unlock()
	reset := time.Now().Truncate(time.Hour).Add(time.Hour)
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if q.used[tok] >= q.limit {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	q.used[tok]++
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(q.limit-q.used[tok]))
}

func send(t *testing.T, c *http.Client, ctx context.Context, tok string) error {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.test/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d for %s: the pacer let a request into the limit", resp.StatusCode, tok)
	}
	return nil
}

// Budgets are per identity: one token paced to a crawl leaves another
// token on the same host at full speed; a turn beyond the caller's
// deadline is refused at once, unsent, as a rate limit.
func TestPacerKeepsIdentitiesApartAndRespectsTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &quotaHandler{limit: 50, used: map[string]int{}}
		c := &http.Client{Transport: &pacedTransport{next: fakehttp.InMemory(h), pacer: NewPacer(PacerConfig{MaxWait: time.Minute})}}
		ctx := context.Background()
		for range 41 { // 9 left: under a fifth
			if err := send(t, c, ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for range 30 {
			if err := send(t, c, ctx, "b"); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("token b waited %s for token a's budget", d)
		}
		// a: 8 left after the next one, an hour to go: a turn every ~7.5 min.
		if err := send(t, c, ctx, "a"); err != nil {
			t.Fatal(err)
		}
		dl, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		before := h.used["Bearer a"]
		err := send(t, c, dl, "a")
		var rl *RateLimitError
		if !errors.As(err, &rl) || !strings.HasPrefix(rl.Reason, "paced: ") || rl.RetryAfter < 5*time.Minute {
			t.Fatalf("a turn past the deadline: %v", err)
		}
		if h.used["Bearer a"] != before {
			t.Fatal("the refused request was sent")
		}
		// Waited out, it goes; and every request of the hour stays within the budget.
		time.Sleep(rl.RetryAfter)
		for time.Now().Before(start.Add(time.Hour)) {
			err := send(t, c, ctx, "a")
			if errors.As(err, &rl) {
				time.Sleep(rl.RetryAfter)
			} else if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A secondary limit (403 + Retry-After) with budget left pauses the
// identity until the Retry-After, not until the budget's window ends.
func TestPacerShowsARetryAfterWithBudgetLeft(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(PacerConfig{})
		h := http.Header{"Retry-After": {"60"}, "X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"4000"},
			"X-Ratelimit-Reset": {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}
		p.observe("k", &http.Response{StatusCode: http.StatusForbidden, Header: h})
		st, ok := p.Status("k")
		if !ok || !st.PacedUntil.Equal(time.Now().Add(time.Minute)) || st.Remaining != 4000 {
			t.Fatalf("status %+v, %v; want paced for the minute only", st, ok)
		}
		time.Sleep(time.Minute)
		if st, ok := p.Status("k"); !ok || !st.PacedUntil.IsZero() {
			t.Fatalf("after the Retry-After: %+v, %v", st, ok)
		}
	})
}
