package gitlabfake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// Request is one request the fake received, as RequestLog reports it.
type Request struct {
	Method string
	// Path is the escaped path ("/api/v4/projects/acme%2Fwidgets/issues").
	Path  string
	Query url.Values
}

// maxLog bounds the request log, so a long benchmark does not grow it forever.
const maxLog = 10000

// record logs every request (faults included) for RequestLog.
func (s *Server) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) >= maxLog {
		s.log = slices.Delete(s.log, 0, maxLog/2)
	}
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query()})
}

// RequestLog returns the requests received so far (the most recent 5,000 to
// 10,000 once there were more), in order. Requests counts them all.
func (s *Server) RequestLog() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// CountRequests is how many logged requests have the method and a path
// ending in pathSuffix ("" matches every path).
func (s *Server) CountRequests(method, pathSuffix string) int {
	n := 0
	for _, r := range s.RequestLog() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// advertisedLimit is what the RateLimit-Limit header says when the fake does
// not enforce a limit (gitlab.com's authenticated API limit).
const advertisedLimit = 2000

// window is one client's fixed one-minute rate-limit window.
type window struct {
	start time.Time
	used  int
}

// rateLimited sends GitLab's RateLimit-* headers on every answer and, when
// Options.RateLimit is set, answers 429 with Retry-After once a client has
// used up its requests for the current minute.
func (s *Server) rateLimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := r.Header.Get("PRIVATE-TOKEN")
		if client == "" {
			client, _ = fakehttp.Bearer(r, false)
		}
		if client == "" {
			client = "anonymous"
		}
		limit := s.opts.RateLimit
		if limit <= 0 {
			limit = advertisedLimit
		}
		now := time.Now()
		s.mu.Lock()
		win := s.limits[client]
		if win == nil || now.Sub(win.start) >= time.Minute {
			win = &window{start: now.Truncate(time.Minute)}
			s.limits[client] = win
		}
		win.used++
		used := win.used
		reset := win.start.Add(time.Minute)
		s.mu.Unlock()

		setRateLimitHeaders(w.Header(), limit, used, reset)
		if s.opts.RateLimit > 0 && used > limit {
			wait := max(int(time.Until(reset).Round(time.Second)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			fakehttp.Text(w, http.StatusTooManyRequests, "Retry later\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func setRateLimitHeaders(h http.Header, limit, used int, reset time.Time) {
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Observed", strconv.Itoa(used))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
}

// RateLimitNext makes the next answer a 429 as GitLab sends it: Retry-After
// and RateLimit-* headers, and a plain-text body.
func (s *Server) RateLimitNext(retryAfter time.Duration) {
	limit := s.opts.RateLimit
	if limit <= 0 {
		limit = advertisedLimit
	}
	h := http.Header{}
	setRateLimitHeaders(h, limit, limit+1, time.Now().Add(retryAfter))
	h.Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	h.Set("Content-Type", "text/plain")
	s.Faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: h, Body: "Retry later\n"})
}

// ServerErrorNext makes the next n answers a 500 with GitLab's error body.
func (s *Server) ServerErrorNext(n int) { s.FailNext(n, http.StatusInternalServerError) }

// MalformedNext makes the next answer a 200 whose JSON body is cut short
// (GitLab lists are arrays).
func (s *Server) MalformedNext() {
	s.Faults.Fail(1, http.StatusOK, `[{"id":1,"iid":1,"title":"trunc`)
}
