package trackers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// WritePacer is a tracker that spaces the writes of one credential on one
// host (GitHub: a second between mutations), waiting inside the write call.
// It is not a feature: frameworks read it so that a write waiting for its
// pace never holds a resource other connectors need (services/writeback
// gives such writes no shared writer, see its slots.go).
type WritePacer interface {
	WriteGap() time.Duration
}

// Proactive pacing. A tracker reports on ordinary answers how much of a
// rate-limit budget is left and when the window ends (ReadBudget). Once
// less than PacerConfig.Below of it is left (or the tracker says it is near
// its limit), the Pacer spreads the requests of that (host, identity) over
// the time to the window's end, so the budget lasts until it resets instead
// of running out into a 429; when less than one request's cost is left,
// requests wait for the reset. At the reset, full speed returns. A 429's
// Retry-After holds back every request of the identity, not only the one
// that got it.
//
// The budget a process sees is the tracker's own figure on its answers, so
// it includes what other replicas (and other programs using the same
// credential) spent; the pacing state itself is per process.
//
// Hand-written: golang.org/x/time/rate is a token bucket with a fixed rate,
// while here the rate follows the tracker's figures on every answer; the
// reservation scheme is the same (a request reserves the next free slot).

// Pacing defaults (HUB_PACE_BELOW, HUB_PACE_MAX_WAIT).
const (
	DefaultPaceBelow   = 0.2
	DefaultPaceMaxWait = 5 * time.Second
)

// PacerConfig tunes a Pacer.
type PacerConfig struct {
	// Below: pace once less than this fraction of a budget is left (0:
	// DefaultPaceBelow; negative: only when the tracker says it is near
	// its limit or less than a request's cost is left).
	Below float64
	// MaxWait: the longest a request waits for its turn inside a call (0:
	// DefaultPaceMaxWait). A longer wait is not waited: the call fails at
	// once with a *RateLimitError naming it, so the poller defers the
	// connector and writeback redelivers, and no worker is held.
	MaxWait time.Duration
}

func (c PacerConfig) below() float64 {
	if c.Below == 0 {
		return DefaultPaceBelow
	}
	return max(c.Below, 0)
}

func (c PacerConfig) maxWait() time.Duration {
	if c.MaxWait <= 0 {
		return DefaultPaceMaxWait
	}
	return c.MaxWait
}

// Pacer keeps the budget of every (host, identity) a process talks to.
// Sessions share one per process (Options.Pacer; NewSessions makes one).
type Pacer struct {
	cfg PacerConfig

	mu sync.Mutex
	m  map[string]*paceState
}

// maxPaceKeys bounds the pacer's map; past it, windows that ended are dropped.
const maxPaceKeys = 16384

type paceState struct {
	b Budget
	// observed is Remaining as last reported, and cost the points one
	// request takes (a moving average of the drops between answers; at
	// least 1). Remaining in b also counts down by cost per request sent
	// since, so concurrent requests see each other before their answers.
	observed int64
	cost     float64
	// next is the earliest send time of the next request while paced.
	next time.Time
	// blocked holds every request back until then (a 429's Retry-After).
	blocked time.Time
}

// NewPacer returns a pacer with no budgets known.
func NewPacer(cfg PacerConfig) *Pacer {
	return &Pacer{cfg: cfg, m: map[string]*paceState{}}
}

// PaceStatus is what may be shown about one identity's budget.
type PaceStatus struct {
	Budget
	// PacedUntil is when its requests return to full speed (the window's
	// end, or the end of a 429's wait); zero when not paced.
	PacedUntil time.Time
}

// Status is the budget of key as last reported; ok is false when none is
// known or its window has ended.
func (p *Pacer) Status(key string) (PaceStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.m[key]
	now := time.Now()
	if st == nil || !now.Before(st.b.Reset) && !now.Before(st.blocked) {
		return PaceStatus{}, false
	}
	out := PaceStatus{Budget: st.b}
	out.Remaining = st.observed
	switch {
	case p.low(st) && now.Before(st.b.Reset):
		out.PacedUntil = latestTime(st.b.Reset, st.blocked)
	case now.Before(st.blocked):
		out.PacedUntil = st.blocked
	}
	return out, true
}

// low reports whether st's budget is below the pacing threshold.
func (p *Pacer) low(st *paceState) bool {
	rem := float64(st.b.Remaining)
	switch {
	case st.b.NearLimit:
		return true
	case rem < 2*st.cost:
		return true
	case st.b.Limit > 0:
		return rem < p.cfg.below()*float64(st.b.Limit)
	}
	return false
}

// reserve returns how long a request of key must wait before it is sent.
// When the wait is at most limit the slot is taken (ok); otherwise nothing
// is reserved and the caller is told how long it would have been.
func (p *Pacer) reserve(key string, limit time.Duration) (wait time.Duration, reason string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.m[key]
	if st == nil {
		return 0, "", true
	}
	now := time.Now()
	if now.Before(st.blocked) {
		wait = st.blocked.Sub(now)
		return wait, "rate limited: waiting for the tracker's Retry-After", wait <= limit
	}
	if !now.Before(st.b.Reset) {
		delete(p.m, key) // the window has ended: full speed until the next figures
		return 0, "", true
	}
	if !p.low(st) {
		st.b.Remaining -= int64(st.cost)
		return 0, "", true
	}
	left := st.b.Reset.Sub(now)
	usable := float64(st.b.Remaining) - st.cost // keep one request's points spare
	var at time.Time
	var gap time.Duration
	if usable < st.cost {
		// Spent: wait for the window's end (a second more: the tracker's
		// seconds are rounded).
		at = st.b.Reset.Add(time.Second)
		reason = fmt.Sprintf("rate-limit budget spent (%d left of %s), waiting for its reset", st.b.Remaining, budgetName(st.b))
	} else {
		gap = time.Duration(float64(left) * st.cost / usable)
		at = latestTime(now, st.next)
		reason = fmt.Sprintf("rate-limit budget low (%d left of %s), requests spread to its reset", st.b.Remaining, budgetName(st.b))
	}
	wait = at.Sub(now)
	if wait > limit {
		return wait, reason, false
	}
	st.next = at.Add(gap)
	st.b.Remaining -= int64(st.cost)
	return wait, reason, true
}

func budgetName(b Budget) string {
	name := "the budget"
	if b.Policy != "" {
		name = b.Policy
	}
	if b.Limit > 0 {
		name = fmt.Sprintf("%d (%s)", b.Limit, name)
	}
	return name
}

// observe records what an answer to a request of key says of its budget.
func (p *Pacer) observe(key string, resp *http.Response) {
	now := time.Now()
	b, ok := ReadBudget(resp.Header, now)
	var blocked time.Time
	// A 429, or GitHub's secondary rate limit (403 with Retry-After).
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden && resp.Header.Get("Retry-After") != "" {
		if d, ok := trackerhttp.ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok && d > 0 {
			blocked = now.Add(d)
		}
	}
	if !ok && blocked.IsZero() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.m[key]
	if st == nil {
		if len(p.m) >= maxPaceKeys {
			p.prune(now)
		}
		st = &paceState{cost: 1, observed: -1}
		p.m[key] = st
	}
	if blocked.After(st.blocked) {
		st.blocked = blocked
	}
	if !ok {
		return
	}
	sameWindow := st.observed >= 0 && b.Policy == st.b.Policy && absDuration(b.Reset.Sub(st.b.Reset)) <= 5*time.Second
	if sameWindow && b.Remaining < st.observed {
		// The drop since the last answer: this request's cost, plus
		// whatever others spent meanwhile, which pacing must leave room
		// for as well.
		drop := float64(st.observed - b.Remaining)
		st.cost = max(1, 0.7*st.cost+0.3*drop)
	}
	if !sameWindow {
		st.next = time.Time{}
	}
	st.b, st.observed = b, b.Remaining
}

// prune drops the budgets whose window and wait have ended.
func (p *Pacer) prune(now time.Time) {
	for k, st := range p.m {
		if !now.Before(st.b.Reset) && !now.Before(st.blocked) {
			delete(p.m, k)
		}
	}
}

// wait holds a request of key until its turn, or fails with a
// *RateLimitError when the turn is further than MaxWait or past ctx's deadline.
func (p *Pacer) wait(ctx context.Context, key string) error {
	limit := p.cfg.maxWait()
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl))
	}
	d, reason, ok := p.reserve(key, limit)
	if !ok {
		return &RateLimitError{RetryAfter: max(d.Round(time.Second), time.Second), Reason: "paced: " + reason}
	}
	return Sleep(ctx, d)
}

// Sleep waits d, or until ctx ends (its error then); d ≤ 0 returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func latestTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// pacedTransport paces a session's requests per (host, identity) and
// records the budget their answers report. The identity is the request's
// credential (its Authorization or PRIVATE-TOKEN header, by digest: each
// token of a pool, each GitHub installation token is its own), or the
// session's own when the credential changes under a fixed budget (an
// OAuth app's access tokens share the app's quota on the site).
type pacedTransport struct {
	next     http.RoundTripper
	pacer    *Pacer
	identity string // fixed identity; "" to take it from the request

	mu   sync.Mutex
	last string // the key of the session's last request (its status)
	// memo is the key of the last (host, credential) seen: a session sends
	// one credential to one host almost always, and deriving the key (a
	// digest of the credential, a lower-cased host, a concatenation) cost
	// five allocations per request. It holds the credential header as the
	// request carried it, in memory only, like the session's own Secret.
	memo keyMemo
}

type keyMemo struct{ host, auth, token, key string }

// credentialHeaders are the request headers that name the identity a
// budget belongs to, canonical (read without allocating).
const (
	authorizationHeader = "Authorization"
	privateTokenHeader  = "Private-Token" // GitLab's PRIVATE-TOKEN
)

func (t *pacedTransport) key(req *http.Request) string {
	id := t.identity
	if id == "" {
		id = secrets.Fingerprint([]byte(req.Header.Get(authorizationHeader) + "\n" + req.Header.Get(privateTokenHeader)))
	}
	return strings.ToLower(req.URL.Host) + " " + id
}

func (t *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := keyMemo{host: req.URL.Host}
	if t.identity == "" {
		m.auth, m.token = req.Header.Get(authorizationHeader), req.Header.Get(privateTokenHeader)
	}
	t.mu.Lock()
	key := t.memo.key
	if key == "" || t.memo.host != m.host || t.memo.auth != m.auth || t.memo.token != m.token {
		t.mu.Unlock()
		m.key = t.key(req)
		key = m.key
		t.mu.Lock()
		t.memo = m
	}
	t.last = key
	t.mu.Unlock()
	if err := t.pacer.wait(req.Context(), key); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must close it, even on error
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.pacer.observe(key, resp)
	}
	return resp, err
}

func (t *pacedTransport) lastKey() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Pace is the budget of the identity the session last sent a request
// with, as the tracker last reported it; ok is false when none is known.
func (s *Session) Pace() (PaceStatus, bool) {
	if s.paced == nil {
		return PaceStatus{}, false
	}
	key := s.paced.lastKey()
	if key == "" {
		return PaceStatus{}, false
	}
	return s.paced.pacer.Status(key)
}

// PacedError returns the *RateLimitError in err when the pacer refused to
// send the request (its turn was too far): the clients map it as the rate
// limit it is, not as a transport failure.
func PacedError(err error) (*RateLimitError, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl, true
	}
	return nil, false
}
