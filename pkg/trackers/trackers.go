// Package trackers holds what connectorhub knows about each tracker system:
// connection tests (identity and access checks), the endpoint policy that keeps
// connectors away from internal metadata services, the HTTP client every
// tracker call goes through, and capabilities derived from the code.
package trackers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
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

func (r *TestResult) pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Message: fmt.Sprintf(format, args...)})
}

func (r *TestResult) fail(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Message: fmt.Sprintf(format, args...)})
}

// Options tune a connection test and the HTTP client behind it.
type Options struct {
	Policy    EndpointPolicy
	Timeout   time.Duration // per request; DefaultTimeout when zero
	UserAgent string        // DefaultUserAgent when empty
	Logger    *slog.Logger  // discarded when nil
}

// Tracker is what each system registers. Optional features are the interfaces
// in features.go; a tracker supports a feature iff it implements it.
type Tracker interface {
	System() connector.System
	Deployments() []connector.Deployment
	AuthModes(d connector.Deployment) []connector.AuthMode
	// DefaultBaseURL is "" where the user must give one.
	DefaultBaseURL(d connector.Deployment) string
	RequiredScopes() []string
	// ValidateConfig checks the system-specific parts of a configuration
	// (project format, space keys) and wraps ErrInvalidConfig.
	ValidateConfig(c connector.Connector) error
}

// registered holds one tracker per system: adding a system means adding its
// type here.
var registered = map[connector.System]Tracker{
	connector.Jira:       jiraTracker{},
	connector.GitHub:     githubTracker{},
	connector.GitLab:     gitlabTracker{},
	connector.Confluence: confluenceTracker{},
}

// Lookup returns the tracker registered for a system.
func Lookup(system connector.System) (Tracker, bool) {
	t, ok := registered[system]
	return t, ok
}

// DefaultBaseURL returns the vendor's URL for a deployment, or "" where the
// user must give one (Jira, Confluence, self-hosted, unknown systems).
func DefaultBaseURL(system connector.System, d connector.Deployment) string {
	t, ok := registered[system]
	if !ok {
		return ""
	}
	return t.DefaultBaseURL(d)
}

// RequiredScopes returns the token scopes a system needs, nil where tokens
// carry no scopes (Atlassian API tokens and PATs).
func RequiredScopes(system connector.System) []string {
	t, ok := registered[system]
	if !ok {
		return nil
	}
	return slices.Clone(t.RequiredScopes())
}

// Session is what a tracker operation needs: the configuration, the clear
// credential, the base URL and an HTTP client built under the endpoint policy.
type Session struct {
	Connector connector.Connector
	Secret    connector.Secret
	BaseURL   *url.URL
	HTTP      *http.Client
	Logger    *slog.Logger

	probe *probe // records whether the tracker answered at all
}

// NewSession prepares a connector for tracker calls: it validates the
// configuration (errors wrap ErrUnknownSystem or ErrInvalidConfig), resolves
// the base URL (the vendor default when the connector has none), refuses it
// under the endpoint policy (ErrEndpointRefused) and builds the HTTP client.
func NewSession(c connector.Connector, secret connector.Secret, opts Options) (*Session, error) {
	t, ok := registered[c.System]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSystem, c.System)
	}
	if err := validateCommon(t, c, secret); err != nil {
		return nil, err
	}
	if err := t.ValidateConfig(c); err != nil {
		return nil, err
	}
	base := c.BaseURL
	if base == "" {
		base = t.DefaultBaseURL(c.Deployment)
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
	pr := &probe{next: hc.Transport}
	hc.Transport = pr
	return &Session{
		Connector: c,
		Secret:    secret,
		BaseURL:   baseURL,
		HTTP:      hc,
		Logger:    opts.logger().With("system", string(c.System), "connector", c.ID),
		probe:     pr,
	}, nil
}

// Test runs the tracker's identity and access checks for a configuration.
// Tracker-side failures (unreachable, 401, missing scope, unknown project) are
// failed Checks in the result, never errors; err is only for an invalid
// configuration (e.g. unknown system).
func Test(ctx context.Context, c connector.Connector, secret connector.Secret, opts Options) (TestResult, error) {
	t, ok := registered[c.System]
	if !ok {
		return TestResult{}, fmt.Errorf("%w: %q", ErrUnknownSystem, c.System)
	}
	checker, ok := t.(IdentityChecker)
	if !ok {
		return TestResult{}, fmt.Errorf("%w: %s has no connection test", ErrInvalidConfig, c.System)
	}
	s, err := NewSession(c, secret, opts)
	switch {
	case errors.Is(err, ErrEndpointRefused):
		var res TestResult
		res.fail(CheckEndpoint, "%v", err)
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
		endpoint.Message = fmt.Sprintf("cannot reach %s: %s", host, describeTransportError(terr))
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

func validateCommon(t Tracker, c connector.Connector, secret connector.Secret) error {
	if !slices.Contains(t.Deployments(), c.Deployment) {
		return fmt.Errorf("%w: %s does not support deployment %q", ErrInvalidConfig, c.System, c.Deployment)
	}
	if !slices.Contains(t.AuthModes(c.Deployment), c.AuthMode) {
		return fmt.Errorf("%w: %s %s does not support auth mode %q", ErrInvalidConfig, c.System, c.Deployment, c.AuthMode)
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
	return nil
}
