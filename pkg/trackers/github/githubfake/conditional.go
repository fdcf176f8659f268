package githubfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

const rateLimitDocs = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"

// rateLimits is the primary rate limit: a budget per caller per hour.
type rateLimits struct {
	limit   int
	resetAt time.Time
	used    map[string]int // by caller (login, or "" for anonymous)
	total   int            // points used since the fake started, all windows
}

func newRateLimits(limit int) rateLimits {
	if limit <= 0 {
		limit = 5000
	}
	return rateLimits{limit: limit, resetAt: time.Now().Add(time.Hour).Truncate(time.Second), used: map[string]int{}}
}

// roll starts a new window when the current one has ended. Callers hold s.mu.
func (rl *rateLimits) roll(now time.Time) {
	for !now.Before(rl.resetAt) {
		rl.resetAt = rl.resetAt.Add(time.Hour)
		clear(rl.used)
	}
}

// RateLimitUsed is the number of primary rate-limit points callers have
// spent since the fake started: one per answered request except 304 Not
// Modified answers, which GitHub does not count.
func (s *Server) RateLimitUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.total
}

// RateLimitUsedBy is what one caller (a login, or "installation/<id>")
// spent in the current window.
func (s *Server) RateLimitUsedBy(who string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.used[who]
}

// MutationTimes are the arrival times of every POST, PATCH, PUT and DELETE
// the fake served, in order (GitHub asks clients to leave a second between them).
func (s *Server) MutationTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mutations)
}

// caller names whose budget a request spends: the token's login, "" when
// anonymous, and ok false for a token the fake does not know (its 401 is
// answered by the endpoint).
func (s *Server) caller(r *http.Request) (string, bool) {
	if r.Header.Get("Authorization") == "" {
		return "", true
	}
	value, _ := fakehttp.Bearer(r, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	if !ok || value == "" {
		if strings.Count(value, ".") == 2 {
			return "app-jwt", true // an app's own requests (apps.go)
		}
		return "", false
	}
	if t.Installation != 0 {
		return "installation/" + strconv.FormatInt(t.Installation, 10), true // an installation's own budget
	}
	return t.Login, true
}

// conditional serves next with GitHub's validators and rate-limit headers:
// a 200 answer to GET gets a strong ETag over its body, a request whose
// If-None-Match names it is answered 304 without a body and spends nothing,
// and every other answer spends one point of the caller's primary limit.
// A caller who has spent the limit is answered 403 until the window resets.
func (s *Server) conditional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := s.caller(r)
		now := time.Now()
		s.mu.Lock()
		s.rate.roll(now)
		exhausted := s.rate.used[who] >= s.rate.limit
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.mutations = append(s.mutations, now)
		}
		s.mu.Unlock()
		if exhausted {
			s.writeRateHeaders(w, who)
			setCommonHeaders(w)
			fakehttp.JSON(w, http.StatusForbidden, map[string]string{
				"message":           "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)",
				"documentation_url": rateLimitDocs + "#about-the-primary-rate-limit",
				"status":            "403",
			})
			return
		}

		cw := &conditionalWriter{s: s, w: w, r: r, who: who}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// conditionalWriter is the answer conditional passes to the endpoint. An
// endpoint that knows a digest of its body before writing it (a listing,
// from its items' cached digests: contentDigestHeader) is streamed: the
// validators, the 304 decision and the rate-limit headers are settled when
// it writes its header, and its body goes straight out (or nowhere, for a
// 304). Any other answer is recorded, as its ETag is a hash of its body:
// recording a page of a hundred issues copied it once more per request
// (issue 9). A streamed endpoint must not hold s.mu while it writes.
type conditionalWriter struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	who string

	decided   bool // streaming or recording chosen (at the header)
	streaming bool
	discard   bool // a streamed 304: the body is dropped
	rec       *recorder
}

func (c *conditionalWriter) Header() http.Header {
	if c.rec != nil {
		return c.rec.header
	}
	return c.w.Header()
}

func (c *conditionalWriter) WriteHeader(code int) {
	if c.decided {
		if c.rec != nil {
			c.rec.WriteHeader(code)
		}
		return
	}
	c.decided = true
	h := c.w.Header()
	digest := h.Get(contentDigestHeader)
	if digest == "" {
		// Record: the header the endpoint set so far moves into the recorder.
		c.rec = &recorder{header: h.Clone(), status: http.StatusOK}
		clear(h)
		c.rec.WriteHeader(code)
		return
	}
	c.streaming = true
	h.Del(contentDigestHeader)
	status := c.s.validate(c.r, c.who, h, code, []byte("digest:"+digest))
	c.discard = status == http.StatusNotModified
	c.s.writeRateHeaders(c.w, c.who)
	c.w.WriteHeader(status)
}

func (c *conditionalWriter) Write(b []byte) (int, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	switch {
	case c.rec != nil:
		return c.rec.Write(b)
	case c.discard:
		return 0, http.ErrBodyNotAllowed // as net/http answers a 304's Write
	}
	return c.w.Write(b)
}

// finish sends a recorded answer once the endpoint is done (an endpoint
// that wrote nothing is an empty 200).
func (c *conditionalWriter) finish() {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if c.streaming {
		return
	}
	rec, s := c.rec, c.s
	body := rec.body.Bytes()
	var content []byte
	if c.r.Method == http.MethodGet && rec.status == http.StatusOK {
		content = body
	}
	status := s.validate(c.r, c.who, rec.header, rec.status, content)
	if status == http.StatusNotModified {
		body = nil
	}
	for k, vs := range rec.header {
		c.w.Header()[k] = vs
	}
	s.writeRateHeaders(c.w, c.who)
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// validate sets GitHub's validators on a 200 answer to GET (content
// identifies its body: the body, or a digest of it) and answers the status
// to send: 304 without Content-Type and Content-Length when If-None-Match
// names the ETag. Every answer but a 304 spends a point of who's limit.
func (s *Server) validate(r *http.Request, who string, h http.Header, status int, content []byte) int {
	if r.Method == http.MethodGet && status == http.StatusOK {
		// Validators are per caller, as GitHub's are (Vary: Authorization):
		// another token's ETag does not match.
		sum := sha256.Sum256(append([]byte(who+"\x00"), content...))
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			status = http.StatusNotModified
			h.Del("Content-Type")
			h.Del("Content-Length")
		}
	}
	if status != http.StatusNotModified {
		s.mu.Lock()
		s.rate.used[who]++
		s.rate.total++
		s.mu.Unlock()
	}
	return status
}

func (s *Server) writeRateHeaders(w http.ResponseWriter, who string) {
	s.mu.Lock()
	used, limit, reset := s.rate.used[who], s.rate.limit, s.rate.resetAt
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

// contentDigestHeader is how a handler hands conditional a digest that
// identifies its body; it is removed before the answer goes out.
const contentDigestHeader = "X-Fake-Content-Digest"

// etagMatches applies If-None-Match's weak comparison: "*" or any listed
// validator equal to etag once W/ prefixes are ignored.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for v := range strings.SplitSeq(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}

// recorder buffers an answer so its ETag can be computed before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// SecondaryRateLimit is the answer GitHub gives when a secondary rate limit
// is hit (too many concurrent requests or mutations): 403 with Retry-After in
// seconds. Queue it with s.Faults.Add; set Times to repeat it.
func SecondaryRateLimit(retryAfter time.Duration) faults.Fault {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	return faults.Fault{
		Status: http.StatusForbidden,
		Header: http.Header{
			"Retry-After":           {strconv.Itoa(secs)},
			"X-Ratelimit-Limit":     {"5000"},
			"X-Ratelimit-Remaining": {"4990"},
			"X-Ratelimit-Resource":  {"core"},
		},
		Body: fmt.Sprintf(`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":%q,"status":"403"}`,
			rateLimitDocs+"#about-secondary-rate-limits"),
	}
}

// PrimaryRateLimit is the answer GitHub gives when the hourly limit is spent:
// 403 with X-RateLimit-Remaining: 0 and the reset time in epoch seconds.
// (Options.RateLimit makes the fake run out by itself.)
func PrimaryRateLimit(reset time.Time) faults.Fault {
	return faults.Fault{
		Status: http.StatusForbidden,
		Header: http.Header{
			"X-Ratelimit-Limit":     {"5000"},
			"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Used":      {"5000"},
			"X-Ratelimit-Resource":  {"core"},
			"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
		},
		Body: fmt.Sprintf(`{"message":"API rate limit exceeded for user.","documentation_url":%q,"status":"403"}`,
			rateLimitDocs+"#about-the-primary-rate-limit"),
	}
}
