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

		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		status, body := rec.status, rec.body.Bytes()
		digest := rec.header.Get(contentDigestHeader)
		rec.header.Del(contentDigestHeader)
		if r.Method == http.MethodGet && status == http.StatusOK {
			// Validators are per caller, as GitHub's are (Vary: Authorization):
			// another token's ETag does not match.
			// A handler that knows a digest of its body (a listing, from
			// its items' cached digests) saves hashing the body.
			content := body
			if digest != "" {
				content = []byte("digest:" + digest)
			}
			sum := sha256.Sum256(append([]byte(who+"\x00"), content...))
			etag := `"` + hex.EncodeToString(sum[:16]) + `"`
			rec.header.Set("ETag", etag)
			rec.header.Set("Cache-Control", "private, max-age=60, s-maxage=60")
			rec.header.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
			if etagMatches(r.Header.Get("If-None-Match"), etag) {
				status, body = http.StatusNotModified, nil
				rec.header.Del("Content-Type")
				rec.header.Del("Content-Length")
			}
		}
		if status != http.StatusNotModified {
			s.mu.Lock()
			s.rate.used[who]++
			s.rate.total++
			s.mu.Unlock()
		}
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		s.writeRateHeaders(w, who)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
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
