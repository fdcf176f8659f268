package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
	"github.com/google/go-github/v92/github"
)

// githubError maps a go-github failure onto the frameworks' errors:
//
//   - 403/429 with Retry-After: *RateLimitError, Reason "secondary rate limit"
//     (GitHub: do not retry until that many seconds have passed);
//   - 403/429 with X-RateLimit-Remaining: 0: *RateLimitError until
//     X-RateLimit-Reset, Reason "primary rate limit";
//   - other 429s and secondary limits without a wait: one minute, as GitHub asks;
//   - 401 and other 403s: ErrUnauthorized; 404/410: notFound;
//   - 5xx, timeouts and dropped connections: ErrTransient;
//   - undecodable bodies: ErrMalformedResponse.
//
// what names the operation ("list issues of acme/widgets"). Messages carry
// GitHub's message but never a URL or a header value of the request.
func githubError(ctx context.Context, err error, what string, notFound error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var (
		rle *github.RateLimitError
		are *github.AbuseRateLimitError
		er  *github.ErrorResponse
	)
	switch {
	case errors.As(err, &rle):
		if rl := githubRateLimit(rle.Response); rl != nil {
			return rl
		}
		return &trackers.RateLimitError{RetryAfter: githubUntil(rle.Rate.Reset.Time), Reason: "primary rate limit"}
	case errors.As(err, &are):
		if rl := githubRateLimit(are.Response); rl != nil {
			return rl
		}
		wait := are.GetRetryAfter()
		if wait <= 0 {
			wait = time.Minute
		}
		return &trackers.RateLimitError{RetryAfter: wait, Reason: "secondary rate limit"}
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		msg := fmt.Sprintf("github %s: HTTP %d", what, code)
		if er.Message != "" {
			msg += ": " + er.Message
		}
		if rl := githubRateLimit(er.Response); rl != nil {
			return rl
		}
		switch {
		case code == http.StatusUnauthorized, code == http.StatusForbidden:
			return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, msg)
		case code == http.StatusNotFound, code == http.StatusGone:
			return fmt.Errorf("%w: %s", notFound, msg)
		case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
			return fmt.Errorf("%w: %s", trackers.ErrTransient, msg)
		case code >= 400:
			return fmt.Errorf("%w: %s", trackers.ErrRejected, msg)
		}
		return errors.New(msg)
	case errors.Is(err, trackers.ErrEndpointRefused):
		return err
	case errors.As(err, new(*trackers.RateLimitError)):
		rl, _ := trackers.PacedError(err) // not sent: the budget is low (trackers.Pacer)
		return rl
	case errors.Is(err, trackers.ErrResponseTooLarge):
		return fmt.Errorf("github %s: %w", what, err)
	case trackerhttp.IsJSONError(err):
		return fmt.Errorf("%w: github %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	// Transport failures: the tracker did not answer (in time).
	return fmt.Errorf("%w: github %s: %s", trackers.ErrTransient, what, trackerhttp.DescribeTransportError(err))
}

// githubRateLimit reads a rate-limit answer (403 or 429) from its headers, or
// returns nil when resp is not one. Retry-After wins over X-RateLimit-Reset,
// and a bare 429 waits a minute, as GitHub's best practices say.
func githubRateLimit(resp *http.Response) *trackers.RateLimitError {
	if resp == nil || (resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests) {
		return nil
	}
	h := resp.Header
	if d, ok := githubParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
		return &trackers.RateLimitError{RetryAfter: max(d, time.Second), Reason: "secondary rate limit"}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		wait := time.Minute
		if sec, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			wait = githubUntil(time.Unix(sec, 0))
		}
		return &trackers.RateLimitError{RetryAfter: wait, Reason: "primary rate limit"}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &trackers.RateLimitError{RetryAfter: time.Minute, Reason: "rate limit"}
	}
	return nil
}

// githubParseRetryAfter reads Retry-After: delay seconds or an HTTP date.
func githubParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return trackerhttp.ParseRetryAfter(v, now)
}

func githubUntil(t time.Time) time.Duration {
	return max(time.Until(t).Round(time.Second), time.Second)
}

// GitHub asks integrations to leave at least a second between mutating
// requests (POST, PATCH, PUT, DELETE) of one user, or risk a secondary rate
// limit. githubMutations paces them per API host and token, across sessions.
const githubMutationGap = time.Second

var githubMutations = newGitHubMutationPacer(githubMutationGap, time.Now, trackers.Sleep)

// WriteGap is the pace of one token's mutations: the writeback gives a
// result waiting for it no shared writer (trackers.WritePacer).
func (Tracker) WriteGap() time.Duration { return githubMutationGap }

// githubMutationPacer hands out send times at least gap apart per key. A caller
// reserves the next free slot and waits for it, so concurrent callers queue
// in order instead of all waking at once.
type githubMutationPacer struct {
	gap   time.Duration
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu   sync.Mutex
	next map[string]time.Time // earliest time the next mutation of a key may go

	// observe, when set (tests), hears of every mutation let go: its key,
	// the time it was due and the time the pacer let it go.
	observe atomic.Pointer[func(key string, due, released time.Time)]
}

func newGitHubMutationPacer(gap time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *githubMutationPacer {
	return &githubMutationPacer{gap: gap, now: now, sleep: sleep, next: map[string]time.Time{}}
}

// wait blocks until key may send a mutation, or ctx ends.
func (p *githubMutationPacer) wait(ctx context.Context, key string) error {
	p.mu.Lock()
	now := p.now()
	at := now
	if n, ok := p.next[key]; ok && n.After(now) {
		at = n
	}
	if len(p.next) >= 1024 { // forget keys that have been idle for a gap
		for k, n := range p.next {
			if !n.After(now) {
				delete(p.next, k)
			}
		}
	}
	p.next[key] = at.Add(p.gap)
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		if err := p.sleep(ctx, d); err != nil {
			return err
		}
	}
	if obs := p.observe.Load(); obs != nil {
		(*obs)(key, at, p.now())
	}
	return nil
}

// githubPacedTransport paces the mutating requests of one token.
type githubPacedTransport struct {
	next  http.RoundTripper
	pacer *githubMutationPacer
	key   string
}

func (t githubPacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if err := t.pacer.wait(req.Context(), t.key); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
	}
	return t.next.RoundTrip(req)
}

// githubPacerKey identifies a token on an API host without keeping the
// token; for a GitHub App, the installation (its tokens share one budget).
// A token pool's writes all go out with its first token: that is the key.
func githubPacerKey(s *trackers.Session) string {
	id := s.Secret.Reveal()
	if c := s.Connector; c.AuthMode == connector.AuthGitHubApp {
		id = fmt.Sprintf("github-app\x00%d\x00%d\x00%s", c.AppID, c.InstallationID, strings.ToLower(c.Project))
		if c.InstallationID != 0 {
			id = fmt.Sprintf("github-app\x00%d\x00%d", c.AppID, c.InstallationID)
		}
	}
	sum := sha256.Sum256([]byte(s.BaseURL.Host + "\x00" + id))
	return hex.EncodeToString(sum[:16])
}
