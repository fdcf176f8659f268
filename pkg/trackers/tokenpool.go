package trackers

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
)

// TokenPool spreads one connector's discovery requests over several tokens
// (a credential of comma-separated tokens, Airbyte's form): each request
// goes out with the token that has the most rate-limit budget left, as the
// tracker last reported it (X-RateLimit-Remaining on GitHub,
// RateLimit-Remaining on GitLab). A token the tracker refuses (401) is set
// aside and the request is sent again with another one, so the connector
// keeps working while one token is revoked. A set-aside token comes back by
// itself: once its cool-down has passed (DefaultPoolRetry, doubling with
// each refusal up to DefaultPoolRetryMax; WithRetry) it takes the next
// request's place, and is restored when the tracker accepts it or set aside
// again, for twice as long, when refused (the request then goes out with
// another token, as before). A rate-limited answer
// is sent again with a token that still has budget. Writes never use the
// pool: Session.Secret is its first token, one identity per connector.
//
// Hand-written: the pickers in client libraries (go-github, client-go)
// take one token per client and know nothing of budgets.
type TokenPool struct {
	now                 func() time.Time
	retryBase, retryMax time.Duration

	mu     sync.Mutex
	tokens []poolToken
	// etagOf remembers which token fetched a URL last: a conditional
	// request (If-None-Match) goes out with that token while it is usable,
	// because GitHub keeps validators per token (Vary: Authorization) and a
	// 304 costs no budget. Bounded by maxEtagURLs.
	etagOf map[string]int
}

const maxEtagURLs = 4096

type poolToken struct {
	value       string
	fingerprint string
	remaining   int64 // -1: not known yet (or the window has reset)
	reset       time.Time
	sent        int64
	setAside    bool
	reason      string
	// refusals counts the 401s in a row; retryAt is when a set-aside
	// token is tried again.
	refusals int
	retryAt  time.Time
}

// PoolTokenStatus is what may be shown about one token of a pool: never the token.
type PoolTokenStatus struct {
	Fingerprint string
	// Remaining is the budget the tracker last reported; -1 when unknown.
	Remaining int64
	SetAside  bool
	Reason    string
	// RetryAt is when a set-aside token is tried again.
	RetryAt time.Time
}

// Token pool retry defaults (HUB_POOL_RETRY, HUB_POOL_RETRY_MAX).
const (
	DefaultPoolRetry    = 5 * time.Minute
	DefaultPoolRetryMax = 6 * time.Hour
)

// NewTokenPool returns a pool of the given tokens (at least one).
func NewTokenPool(tokens []string, now func() time.Time) *TokenPool {
	if now == nil {
		now = time.Now
	}
	p := &TokenPool{now: now, retryBase: DefaultPoolRetry, retryMax: DefaultPoolRetryMax}
	for _, t := range tokens {
		p.tokens = append(p.tokens, poolToken{value: t, fingerprint: secrets.Fingerprint([]byte(t)), remaining: -1})
	}
	return p
}

// WithRetry sets the cool-down of a refused token: base after the first
// refusal, doubling with each one after, at most ceiling (zero: the defaults).
func (p *TokenPool) WithRetry(base, ceiling time.Duration) *TokenPool {
	if base > 0 {
		p.retryBase = base
	}
	if ceiling > 0 {
		p.retryMax = ceiling
	}
	p.retryMax = max(p.retryMax, p.retryBase)
	return p
}

// coolDown is the wait after the n-th refusal in a row.
func (p *TokenPool) coolDown(n int) time.Duration {
	d := p.retryBase
	for i := 1; i < n && d < p.retryMax; i++ {
		d *= 2
	}
	return min(d, p.retryMax)
}

// Len is the number of tokens in the pool.
func (p *TokenPool) Len() int { return len(p.tokens) }

// Status lists every token's fingerprint, budget and whether it is set aside, in pool order.
func (p *TokenPool) Status() []PoolTokenStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PoolTokenStatus, len(p.tokens))
	for i, t := range p.tokens {
		out[i] = PoolTokenStatus{Fingerprint: t.fingerprint, Remaining: t.remaining, SetAside: t.setAside, Reason: t.reason}
		if t.setAside {
			out[i].RetryAt = t.retryAt
		}
	}
	return out
}

// SetAside lists the tokens set aside.
func (p *TokenPool) SetAside() []PoolTokenStatus {
	var out []PoolTokenStatus
	for _, st := range p.Status() {
		if st.SetAside {
			out = append(out, st)
		}
	}
	return out
}

// pick returns the usable token with the most budget, skipping tried ones.
// An unknown budget counts as the most, so every token is tried once; ties
// go to the token that sent fewer requests. ok is false when none is left
// (then the first token not tried, set aside or not, is returned, so the
// caller sees the tracker's own refusal). A set-aside token whose cool-down
// has passed goes first: the request is its probe (and its next try is
// pushed a cool-down on at once, so one request probes it, not every one).
func (p *TokenPool) pick(tried []bool, conditionalURL string) (int, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for i := range p.tokens {
		t := &p.tokens[i]
		if !tried[i] && t.setAside && !t.retryAt.IsZero() && !now.Before(t.retryAt) {
			t.retryAt = now.Add(p.coolDown(t.refusals + 1))
			t.sent++
			return i, t.value, true
		}
	}
	if conditionalURL != "" {
		if i, ok := p.etagOf[conditionalURL]; ok && !tried[i] && !p.tokens[i].setAside && p.tokens[i].remaining != 0 {
			p.tokens[i].sent++
			return i, p.tokens[i].value, true
		}
	}
	best, bestRem := -1, int64(-1)
	for i := range p.tokens {
		t := &p.tokens[i]
		if tried[i] || t.setAside {
			continue
		}
		if t.remaining >= 0 && !t.reset.IsZero() && !now.Before(t.reset) {
			t.remaining = -1 // the window has reset
		}
		rem := t.remaining
		if rem < 0 {
			rem = math.MaxInt64
		}
		if best < 0 || rem > bestRem || rem == bestRem && t.sent < p.tokens[best].sent {
			best, bestRem = i, rem
		}
	}
	if best < 0 || bestRem == 0 {
		if best < 0 {
			for i := range p.tokens {
				if !tried[i] {
					return i, p.tokens[i].value, false
				}
			}
			return -1, "", false
		}
		p.tokens[best].sent++
		return best, p.tokens[best].value, false
	}
	p.tokens[best].sent++
	return best, p.tokens[best].value, true
}

// observe records an answer to token i (for url) and reports whether
// another token should be tried: it was refused (set aside) or rate limited.
func (p *TokenPool) observe(i int, url string, resp *http.Response) (retry bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &p.tokens[i]
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotModified {
		if p.etagOf == nil || len(p.etagOf) >= maxEtagURLs {
			p.etagOf = map[string]int{}
		}
		p.etagOf[url] = i
	}
	h := resp.Header
	if v, ok := headerInt64(h, "X-Ratelimit-Remaining", "Ratelimit-Remaining"); ok {
		t.remaining = v
		if r, ok := headerInt64(h, "X-Ratelimit-Reset", "Ratelimit-Reset"); ok && r > 0 {
			t.reset = time.Unix(r, 0)
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		t.refusals++
		t.setAside, t.reason = true, "refused by the tracker (401): revoked or expired"
		t.retryAt = p.now().Add(p.coolDown(t.refusals))
		return true
	}
	if t.setAside {
		// A probe the tracker did not refuse: the token authenticates again.
		t.setAside, t.reason, t.refusals, t.retryAt = false, "", 0, time.Time{}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusForbidden && t.remaining == 0:
		t.remaining = 0
		if t.reset.IsZero() || !t.reset.After(p.now()) {
			t.reset = p.now().Add(time.Minute)
		}
		return true
	}
	return false
}

func headerInt64(h http.Header, names ...string) (int64, bool) {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				return i, true
			}
		}
	}
	return 0, false
}

// Transport sends each request to host with a token of the pool (set puts
// it on the request), and sends a body-less request again with another
// token when the first was refused or rate limited. Requests to other hosts
// go out untouched.
func (p *TokenPool) Transport(next http.RoundTripper, host string, set func(*http.Request, string)) http.RoundTripper {
	return &poolTransport{pool: p, next: next, host: host, set: set}
}

type poolTransport struct {
	pool *TokenPool
	next http.RoundTripper
	host string
	set  func(*http.Request, string)
}

func (t *poolTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.host) {
		return t.next.RoundTrip(req)
	}
	tried := make([]bool, t.pool.Len())
	url := req.URL.String()
	conditional := ""
	if req.Header.Get("If-None-Match") != "" {
		conditional = url
	}
	for {
		i, tok, ok := t.pool.pick(tried, conditional)
		if i < 0 {
			i, tok = 0, t.pool.tokens[0].value // cannot happen with a non-empty pool
		}
		tried[i] = true
		r := req.Clone(req.Context())
		t.set(r, tok)
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if !t.pool.observe(i, url, resp) || !ok || req.Body != nil && req.Body != http.NoBody || !t.pool.anyLeft(tried) {
			return resp, nil
		}
		// Another token may do: drop this answer and try it.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}
}

// anyLeft reports whether a token not yet tried is usable.
func (p *TokenPool) anyLeft(tried []bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, t := range p.tokens {
		due := t.setAside && !t.retryAt.IsZero() && !p.now().Before(t.retryAt)
		if !tried[i] && (!t.setAside || due) && t.remaining != 0 {
			return true
		}
	}
	return false
}

// sessionPool builds the pool of a credential of several tokens on a system
// that allows pools; nil for a single token.
func sessionPool(r connector.Rules, c connector.Connector, secret connector.Secret, opts Options) *TokenPool {
	if !r.TokenPools || c.AuthMode != connector.AuthBearer {
		return nil
	}
	toks := connector.PoolTokens(secret)
	if len(toks) < 2 {
		return nil
	}
	return NewTokenPool(toks, nil).WithRetry(opts.PoolRetry, opts.PoolRetryMax)
}
