// Package trackers holds the contracts every tracker system implements: the
// Tracker and capability interfaces, Session, Ticket, the sentinel errors and
// the one retry rule, the endpoint policy that keeps connectors away from
// internal metadata services (and the HTTP client every tracker call goes
// through), and the Registry value that maps systems to trackers. Each system
// lives in its own package (pkg/trackers/jira, github, gitlab, confluence);
// pkg/trackers/all names them all and builds the Registry.
package trackers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// ErrUnknownSystem reports a system no tracker is registered for.
var ErrUnknownSystem = errors.New("unknown tracker system")

// ErrInvalidConfig reports a connector configuration that cannot be tested as
// given (unsupported deployment or auth mode, missing credential, malformed
// project). Tracker-side failures are never this error: they are failed checks.
var ErrInvalidConfig = errors.New("invalid connector configuration")

// Check is one step of a connection test, e.g. "endpoint", "identity", "scopes", "project".
type Check struct {
	Name    string
	OK      bool
	Message string
}

// Check names used by the trackers.
const (
	CheckEndpoint    = "endpoint"
	CheckIdentity    = "identity"
	CheckScopes      = "scopes"
	CheckProject     = "project"
	CheckWriteAccess = "write_access"
	CheckSpace       = "space"
)

// TestResult is the outcome of a connection test.
type TestResult struct {
	OK                           bool // all checks passed
	Checks                       []Check
	Identity                     string // login / email / account the credential authenticates as
	GrantedScopes, MissingScopes []string
	ExpireTime                   time.Time // token expiry if the tracker reports it
}

// Pass records a check that passed.
func (r *TestResult) Pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Message: fmt.Sprintf(format, args...)})
}

// Fail records a check that failed.
func (r *TestResult) Fail(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Message: fmt.Sprintf(format, args...)})
}

// Options tune a connection test and the HTTP client behind it.
type Options struct {
	Policy    EndpointPolicy
	Timeout   time.Duration // per request; DefaultTimeout when zero
	UserAgent string        // DefaultUserAgent when empty
	Logger    *slog.Logger  // discarded when nil
	// MaxResponseBytes caps every response body (HUB_MAX_RESPONSE_BYTES);
	// DefaultMaxResponseBytes when zero. Reading past it fails with
	// ErrResponseTooLarge.
	MaxResponseBytes int64
	// Transports, when set, shares one HTTP transport (and its keep-alive
	// connections) between the sessions of every connector with the same
	// host, proxy and CA bundle; Sessions sets one up. Nil: each client
	// builds its own. Pacing and credentials stay per session.
	Transports *TransportPool
	// IdleConnTimeout closes keep-alive connections idle for longer;
	// DefaultIdleConnTimeout when zero.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost keeps this many idle connections to one host (a
	// worker sets it to the requests it runs against one host at once);
	// DefaultMaxIdleConnsPerHost when zero.
	MaxIdleConnsPerHost int
	// Observer, when set, sees every HTTP exchange of every session (the
	// process's metrics: status classes, rate-limit headers).
	Observer ResponseObserver
	// OAuth mints access tokens for AuthOAuth2 connectors (pkg/oauthgrant);
	// sessions of such connectors fail with ErrInvalidConfig without it.
	OAuth OAuthTokens
	// Pacer paces every session's requests on the rate-limit budget the
	// trackers report (pacing.go): one per process, so sessions of one
	// identity share it; NewSessions makes one when nil, and a session
	// built without either has its own.
	Pacer *Pacer
	// RoundTripper, when set, replaces the network transport of every
	// session (tests: a fake served in memory under testing/synctest).
	// The endpoint policy's URL check still applies; its dial check, with
	// no dialing, does not.
	RoundTripper http.RoundTripper
	// PoolRetry and PoolRetryMax: a token pool's token the tracker refused
	// is tried again after PoolRetry, then after twice as long each time it
	// is refused again, at most PoolRetryMax (HUB_POOL_RETRY,
	// HUB_POOL_RETRY_MAX; DefaultPoolRetry and DefaultPoolRetryMax when zero).
	PoolRetry, PoolRetryMax time.Duration
}

// ResponseObserver sees a session's HTTP exchanges: the answer, or err when
// the tracker was not reached. It must not keep or read the body.
type ResponseObserver interface {
	ObserveResponse(c connector.Connector, resp *http.Response, err error)
}

// Tracker is one system's implementation. What a connector of the system
// may hold (deployments, auth modes, key patterns, scopes) is its Rules;
// optional features are the interfaces in features.go, and a tracker
// supports a feature iff it implements it.
type Tracker interface {
	Rules() connector.Rules
}

// Session is what a tracker operation needs: the configuration, the clear
// credential, the base URL and an HTTP client built under the endpoint policy.
type Session struct {
	Connector connector.Connector
	Secret    connector.Secret
	BaseURL   *url.URL
	HTTP      *http.Client
	Logger    *slog.Logger
	// Pool holds every token of a credential of several comma-separated
	// tokens (GitHub, GitLab); nil for one token. Secret is then the pool's
	// first token: writes and connection tests use it alone, discovery
	// spreads over the pool (Pool.Transport).
	Pool *TokenPool

	probe *probe          // records whether the tracker answered at all
	paced *pacedTransport // paces requests on the tracker's budget (pacing.go)
	oauth OAuthTokens     // AuthOAuth2 only
	ua    string          // the User-Agent NewRequest sets (Options.UserAgent)
}

// NewSession prepares a connector for tracker calls: it validates the
// configuration (errors wrap ErrUnknownSystem or ErrInvalidConfig), resolves
// the base URL (the vendor default when the connector has none), refuses it
// under the endpoint policy (ErrEndpointRefused) and builds the HTTP client.
func NewSession(t Tracker, c connector.Connector, secret connector.Secret, opts Options) (*Session, error) {
	rules := t.Rules()
	if rules.System != c.System {
		return nil, fmt.Errorf("%w: %q is not %s", ErrUnknownSystem, c.System, rules.System)
	}
	if err := checkConfig(rules, c, secret); err != nil {
		return nil, err
	}
	base := c.BaseURL
	if base == "" {
		base = rules.DefaultBaseURL(c.Deployment)
	}
	if base == "" {
		return nil, fmt.Errorf("%w: %s %s needs a base URL", ErrInvalidConfig, c.System, c.Deployment)
	}
	if err := opts.Policy.CheckURL(base); err != nil {
		return nil, err
	}
	baseURL, err := url.Parse(base)
	if err != nil { // CheckURL parsed it already
		return nil, fmt.Errorf("%w: %w", ErrEndpointRefused, err)
	}
	hc, err := NewHTTPClient(c, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	// A client span per tracker call, with the URL redacted (tracing.go).
	pr := &probe{next: capBodies(traced(hc.Transport), opts.MaxResponseBytes)}
	pr.observer = opts.Observer
	pacer := opts.Pacer
	if pacer == nil {
		pacer = NewPacer(PacerConfig{})
	}
	paced := &pacedTransport{next: pr, pacer: pacer}
	if c.AuthMode == connector.AuthOAuth2 {
		// Access tokens change at every refresh; the quota is the app's on the site.
		paced.identity = "oauth2 " + c.OAuthClientID + " " + c.BaseURL
	}
	hc.Transport = paced
	if hc.Timeout > 0 {
		// The same bound, without http.Client's per-request timer
		// goroutine in front of a wrapped transport (deadline.go).
		hc.Transport, hc.Timeout = deadlineTransport{next: paced, timeout: hc.Timeout}, 0
	}
	pool := sessionPool(rules, c, secret, opts)
	if pool != nil {
		secret = connector.NewSecret(connector.PoolTokens(secret)[0])
	}
	s := &Session{
		Connector: c,
		Secret:    secret,
		Pool:      pool,
		BaseURL:   baseURL,
		HTTP:      hc,
		Logger:    opts.logger().With("system", string(c.System), "connector", c.ID),
		probe:     pr,
		paced:     paced,
		oauth:     opts.OAuth,
		ua:        opts.userAgent(),
	}
	pr.connector = &s.Connector
	return s, nil
}

// Test runs the tracker's identity and access checks for a configuration.
// Tracker-side failures (unreachable, 401, missing scope, unknown project) are
// failed Checks in the result, never errors; err is only for an invalid
// configuration (e.g. unknown system).
func Test(ctx context.Context, t Tracker, c connector.Connector, secret connector.Secret, opts Options) (TestResult, error) {
	checker, ok := t.(IdentityChecker)
	if !ok {
		return TestResult{}, fmt.Errorf("%w: %s has no connection test", ErrInvalidConfig, c.System)
	}
	s, err := NewSession(t, c, secret, opts)
	switch {
	case errors.Is(err, ErrEndpointRefused):
		var res TestResult
		res.Fail(CheckEndpoint, "%v", err)
		opts.logger().InfoContext(ctx, "tracker endpoint refused", "system", string(c.System), "connector", c.ID)
		return res, nil
	case err != nil:
		return TestResult{}, err
	}
	log := s.Logger

	var tracker TestResult
	checker.CheckIdentity(ctx, s, &tracker)

	res := tracker
	endpoint := Check{Name: CheckEndpoint, OK: true}
	host := s.BaseURL.Host
	switch terr := s.probe.unreachable(); {
	case terr != nil:
		endpoint.OK = false
		endpoint.Message = fmt.Sprintf("cannot reach %s: %s", host, trackerhttp.DescribeTransportError(terr))
	case !s.probe.contacted():
		endpoint.OK = false // every test makes a request; this guards the invariant
		endpoint.Message = fmt.Sprintf("%s was not contacted", host)
	default:
		endpoint.Message = fmt.Sprintf("%s reachable", host)
	}
	res.Checks = append([]Check{endpoint}, tracker.Checks...)
	res.OK = true
	for _, ch := range res.Checks {
		if !ch.OK {
			res.OK = false
			log.InfoContext(ctx, "tracker check failed", "check", ch.Name)
		}
	}
	log.DebugContext(ctx, "tracker test finished", "ok", res.OK, "checks", len(res.Checks))
	return res, nil
}

// checkConfig applies the system's rules that a session depends on: the
// deployment, the auth mode and its credential, and the project and space
// keys that become part of requests and queries.
func checkConfig(r connector.Rules, c connector.Connector, secret connector.Secret) error {
	if !r.Supports(c.Deployment) {
		return fmt.Errorf("%w: %s does not support deployment %q", ErrInvalidConfig, c.System, c.Deployment)
	}
	if !r.AcceptsAuth(c.Deployment, c.AuthMode) {
		return fmt.Errorf("%w: %s %s does not support auth mode %q", ErrInvalidConfig, c.System, c.Deployment, c.AuthMode)
	}
	if msg := r.ProjectError(c.Project); msg != "" {
		return fmt.Errorf("%w: project %q %s", ErrInvalidConfig, c.Project, msg)
	}
	for _, k := range c.SpaceKeys {
		if msg := r.SpaceKeyError(k); msg != "" {
			return fmt.Errorf("%w: space key %q %s", ErrInvalidConfig, k, msg)
		}
	}
	for _, w := range c.Watch {
		if msg := r.WatchError(w); msg != "" {
			return fmt.Errorf("%w: watch %q %s", ErrInvalidConfig, w, msg)
		}
	}
	switch c.AuthMode {
	case connector.AuthAnonymous:
		return nil
	case connector.AuthBasic:
		if c.Username == "" {
			return fmt.Errorf("%w: basic auth needs a username", ErrInvalidConfig)
		}
	}
	if secret.Empty() {
		return fmt.Errorf("%w: auth mode %s needs a credential", ErrInvalidConfig, c.AuthMode)
	}
	if c.AuthMode == connector.AuthBearer && len(connector.PoolTokens(secret)) > 1 && !r.TokenPools {
		return fmt.Errorf("%w: %s takes one token, not a pool of comma-separated tokens", ErrInvalidConfig, c.System)
	}
	return nil
}
