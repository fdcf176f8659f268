package jirafake

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// quota is Jira Cloud's points-based quota for apps, as the fake keeps it:
// a fixed number of points per window aligned to the clock (an hour on
// Jira: "tenant-app-quota";q=…;w=3600), a fixed cost per request.
type quota struct {
	mu      sync.Mutex
	points  int64
	window  time.Duration
	cost    int64
	start   time.Time // the current window's start
	used    int64
	refused int
}

// SetQuota makes the fake keep a points-based quota of points per window,
// each request costing cost points (Jira charges a request 1 point plus
// one per object it returns; a fixed cost is enough to test pacing). Every
// answer then carries the budget headers Jira Cloud sends to OAuth 2.0
// apps: Beta-RateLimit-Policy: "tenant-app-quota";q=<points>;w=<seconds>,
// Beta-RateLimit: "tenant-app-quota";r=<left>;t=<seconds to the window's
// end>, and X-Beta-RateLimit-NearLimit: true under a fifth. A request that
// finds fewer points than its cost is answered 429 with Retry-After,
// RateLimit-Reason: jira-quota-tenant-based and r=0 (QuotaRefusals counts
// them). points 0 turns the quota off.
func (s *Server) SetQuota(points int64, window time.Duration, cost int64) {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	s.quota.points, s.quota.window, s.quota.cost = points, window, max(cost, 1)
	s.quota.start, s.quota.used, s.quota.refused = time.Time{}, 0, 0
}

// QuotaRefusals is how many requests the quota answered 429.
func (s *Server) QuotaRefusals() int {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	return s.quota.refused
}

// QuotaLeft is the points left in the current window.
func (s *Server) QuotaLeft() int64 {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	s.quota.roll(s.now())
	return s.quota.points - s.quota.used
}

// roll starts a new window when the current one has ended.
func (q *quota) roll(now time.Time) {
	if start := now.Truncate(q.window); !start.Equal(q.start) {
		q.start, q.used = start, 0
	}
}

// charge takes a request's points, sets the budget headers and reports
// whether the request may be served (false: answered 429).
func (s *Server) charge(w http.ResponseWriter) bool {
	q := &s.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.points <= 0 {
		return true
	}
	now := s.now()
	q.roll(now)
	end := q.start.Add(q.window)
	secs := int64((end.Sub(now) + time.Second - 1) / time.Second)
	h := w.Header()
	h.Set("Beta-RateLimit-Policy", fmt.Sprintf(`"tenant-app-quota";q=%d;w=%d`, q.points, int64(q.window/time.Second)))
	if q.used+q.cost > q.points {
		q.refused++
		h.Set("Beta-RateLimit", fmt.Sprintf(`"tenant-app-quota";r=0;t=%d`, secs))
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("RateLimit-Reason", "jira-quota-tenant-based")
		h.Set("X-Beta-RateLimit-Reason", "jira-quota-tenant-based")
		h.Set("X-Beta-RateLimit-Reset", end.UTC().Format("2006-01-02T15:04Z"))
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"errorMessages":["Rate limit exceeded."],"errors":{}}`))
		return false
	}
	q.used += q.cost
	left := q.points - q.used
	h.Set("Beta-RateLimit", fmt.Sprintf(`"tenant-app-quota";r=%d;t=%d`, left, secs))
	if left*5 < q.points {
		h.Set("X-Beta-RateLimit-NearLimit", "true")
	}
	return true
}
