// Package oauthgrant keeps the OAuth 2.0 (3LO) grants of Atlassian Cloud
// connectors (auth mode oauth2) usable: it mints access tokens with the
// stored refresh token, caches them in memory until shortly before they
// expire (one refresh at a time per connector), finds the site's cloudId
// and stores each rotated refresh token encrypted in the connector's grant
// (the oauth_grants bucket, connector.GrantStore), with the grant's KV
// revision as compare-and-swap so that two replicas refreshing at once
// cannot lose it. It never writes the connector record: workers may not.
//
// The token exchange itself is golang.org/x/oauth2's; this package adds
// what it does not do: rotation under optimistic concurrency, the
// accessible-resources lookup, and the sorting of failures onto the
// trackers' sentinels.
package oauthgrant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/oauth2"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Endpoints are the OAuth 2.0 authorization server and API gateway. Tests
// point them at a fake on 127.0.0.1; production uses Atlassian's.
type Endpoints struct {
	AuthURL  string `env:"AUTH_URL" envDefault:"https://auth.atlassian.com/authorize"`
	TokenURL string `env:"TOKEN_URL" envDefault:"https://auth.atlassian.com/oauth/token"`
	// APIURL is the gateway: {APIURL}/oauth/token/accessible-resources and
	// {APIURL}/ex/{jira|confluence}/{cloudId}/….
	APIURL string `env:"API_URL" envDefault:"https://api.atlassian.com"`
}

// Atlassian returns Atlassian Cloud's endpoints.
func Atlassian() Endpoints {
	return Endpoints{AuthURL: "https://auth.atlassian.com/authorize", TokenURL: "https://auth.atlassian.com/oauth/token", APIURL: "https://api.atlassian.com"}
}

// Validate checks the endpoints under the endpoint policy.
func (e Endpoints) Validate(p trackers.EndpointPolicy) error {
	for _, u := range []string{e.AuthURL, e.TokenURL, e.APIURL} {
		if err := p.CheckURL(u); err != nil {
			return err
		}
	}
	return nil
}

// ErrGrantInvalid is a refresh token the authorization server no longer
// accepts (revoked, expired, or replaced by a newer authorization), or no
// refresh token at all. Errors carrying it also wrap trackers.ErrUnauthorized.
var ErrGrantInvalid = trackers.ErrGrantInvalid

// Grants is the grant store as the manager uses it (connector.GrantStore):
// Get returns an error wrapping connector.ErrNoGrant when there is none,
// Update one wrapping connector.ErrConflict when the revision moved on.
type Grants interface {
	Get(ctx context.Context, id string) (connector.OAuthGrant, error)
	Update(ctx context.Context, g connector.OAuthGrant) (connector.OAuthGrant, error)
}

var _ Grants = (*connector.GrantStore)(nil)

// Cipher opens and seals refresh tokens. Workers need encrypt as well as
// decrypt for this (deploy/vault/workers.hcl).
type Cipher interface {
	Encrypt(ctx context.Context, keyContext string, plaintext []byte) (string, error)
	Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error)
}

// Connectors reads connector records (connector.Store): a Confluence
// connector that uses a Jira connector's grant (OAuthGrantFrom) refreshes
// under that connector's key context, read from its record.
type Connectors interface {
	Get(ctx context.Context, id string) (connector.Connector, error)
}

var _ Connectors = (*connector.Store)(nil)

// Config tunes a Manager.
type Config struct {
	Endpoints Endpoints
	// Early: an access token is refreshed this long before it expires.
	Early time.Duration
	// RotationGrace: after invalid_grant on a refresh token still stored,
	// how long to wait for another replica that may just have used it to
	// store its successor, before the grant is declared unusable.
	RotationGrace time.Duration
	// TrackerOptions build the HTTP client to the authorization server and
	// gateway (endpoint policy, timeouts, the connector's proxy and CA).
	TrackerOptions trackers.Options
	// Connectors resolves OAuthGrantFrom; without it a connector that uses
	// another's grant fails as misconfigured.
	Connectors Connectors
	Logger     *slog.Logger
	Now        func() time.Time
}

// Manager implements trackers.OAuthTokens over the grant store.
type Manager struct {
	cfg    Config
	grants Grants
	cipher Cipher
	log    *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // by grant owner
	// owners maps a connector using another's grant to that owner (Forget).
	owners map[string]string
}

var _ trackers.OAuthTokens = (*Manager)(nil)

// entry is one connector's in-memory state. Its mutex makes refreshes of
// one connector single-flight within the process.
type entry struct {
	mu sync.Mutex
	// binding is the connector's credential context the cached values
	// belong to: a changed connector (base URL, client id…) drops them.
	binding string
	// grantTime is the authorization the cached values come from: a new
	// one (SetOAuthGrant) drops them at the next refresh.
	grantTime time.Time
	access    connector.Secret
	expiry    time.Time
	// cloudID is the site's id on the gateway (accessible-resources), the
	// same for Jira and Confluence of the site.
	cloudID string
	// pending is a rotated refresh token the store did not take (KV
	// unreachable): kept in memory and stored before the next refresh.
	pending connector.Secret
	// pendingFor is the ciphertext of the token pending replaced: pending is
	// stored only over it, never over a token someone else stored since.
	pendingFor string
	// invalidFor is the refresh-token ciphertext found unusable: until the
	// record holds another, Access fails at once without asking the server.
	invalidFor string
	invalidErr error
}

// reset drops what belongs to another grant (the mutex stays held).
func (e *entry) reset(binding string, grantTime time.Time) {
	e.binding, e.grantTime, e.access, e.expiry, e.cloudID = binding, grantTime, connector.Secret{}, time.Time{}, ""
	e.pending, e.pendingFor, e.invalidFor, e.invalidErr = connector.Secret{}, "", "", nil
}

// New returns a Manager storing rotated refresh tokens in grants.
func New(cfg Config, grants Grants, cipher Cipher) *Manager {
	if cfg.Early <= 0 {
		cfg.Early = 2 * time.Minute
	}
	if cfg.RotationGrace <= 0 {
		cfg.RotationGrace = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Endpoints == (Endpoints{}) {
		cfg.Endpoints = Atlassian()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, grants: grants, cipher: cipher, log: log, entries: map[string]*entry{}, owners: map[string]string{}}
}

func (m *Manager) entry(id string) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if !ok {
		e = &entry{}
		m.entries[id] = e
	}
	return e
}

// Forget drops connector id's cached access token (refused by the gateway,
// or the connector was deleted). A rotated refresh token not stored yet is
// kept: it is the only live one.
func (m *Manager) Forget(id string) {
	m.mu.Lock()
	if owner, ok := m.owners[id]; ok {
		id = owner
	}
	e, ok := m.entries[id]
	m.mu.Unlock()
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.access, e.expiry = connector.Secret{}, time.Time{}
}

// ReauthorizeCommand is what an operator runs to fix an unusable grant.
func ReauthorizeCommand(id string) string { return "hubctl connectors authorize " + id }

// Access returns a valid access token for c and the gateway root of its
// site, refreshing (and rotating the stored refresh token) when the cached
// one is missing or about to expire.
//
// A connector that uses another's grant (OAuthGrantFrom: a Confluence
// connector on a Jira connector's consent) shares that connector's entry:
// one access token and one refresh at a time per grant in this process,
// the grant record of the owner (the same compare-and-swap across
// processes) and the owner's key context, after checking again what the
// registry checked (a Jira oauth2 owner of the same site and client id).
func (m *Manager) Access(ctx context.Context, c connector.Connector, clientSecret connector.Secret) (trackers.OAuthAccess, error) {
	if c.AuthMode != connector.AuthOAuth2 {
		return trackers.OAuthAccess{}, fmt.Errorf("%w: connector %s does not use oauth2", trackers.ErrInvalidConfig, c.ID)
	}
	owner, err := m.owner(ctx, c)
	if err != nil {
		return trackers.OAuthAccess{}, err
	}
	e := m.entry(owner.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if key := owner.CredentialContext(); e.binding != key {
		e.reset(key, time.Time{})
	}
	if e.access.Empty() || !m.cfg.Now().Before(e.expiry.Add(-m.cfg.Early)) || e.cloudID == "" {
		if err := m.refresh(ctx, owner, clientSecret, e); err != nil {
			return trackers.OAuthAccess{}, err
		}
	}
	root, err := m.root(c.System, e.cloudID)
	if err != nil {
		return trackers.OAuthAccess{}, err
	}
	return trackers.OAuthAccess{Token: e.access, APIRoot: root}, nil
}

// owner is the connector whose grant c uses: c itself, or the connector
// OAuthGrantFrom names, read from the store and checked.
func (m *Manager) owner(ctx context.Context, c connector.Connector) (connector.Connector, error) {
	if c.OAuthGrantFrom == "" {
		return c, nil
	}
	if m.cfg.Connectors == nil {
		return c, fmt.Errorf("%w: connector %s uses the grant of %s but this token service cannot read connectors", trackers.ErrInvalidConfig, c.ID, c.OAuthGrantFrom)
	}
	m.mu.Lock()
	m.owners[c.ID] = c.OAuthGrantFrom
	m.mu.Unlock()
	src, err := m.cfg.Connectors.Get(ctx, c.OAuthGrantFrom)
	if errors.Is(err, connector.ErrNotFound) {
		return c, fmt.Errorf("%w: %w: connector %s uses the grant of %s, which does not exist; name another Jira oauth2 connector (`hubctl connectors update %s --oauth-grant-from ID`)",
			trackers.ErrUnauthorized, ErrGrantInvalid, c.ID, c.OAuthGrantFrom, c.ID)
	}
	if err != nil {
		return c, fmt.Errorf("%w: oauth2 %s: read connector %s: %w", trackers.ErrTransient, c.ID, c.OAuthGrantFrom, err)
	}
	if why := connector.SharedGrantProblem(c, src); why != "" {
		return c, fmt.Errorf("%w: %w: connector %s cannot use the grant of %s: %s", trackers.ErrUnauthorized, ErrGrantInvalid, c.ID, src.ID, why)
	}
	return src, nil
}

// root is {APIURL}/ex/{system}/{cloudID}.
func (m *Manager) root(system connector.System, cloudID string) (*url.URL, error) {
	api, err := url.Parse(m.cfg.Endpoints.APIURL)
	if err != nil {
		return nil, fmt.Errorf("%w: oauth2 API URL: %v", trackers.ErrInvalidConfig, err)
	}
	return api.JoinPath("ex", string(system), cloudID), nil
}

// oauthConfig is the x/oauth2 view of a connector's app.
func (m *Manager) oauthConfig(c connector.Connector, secret connector.Secret) *oauth2.Config {
	return OAuth2Config(m.cfg.Endpoints, c, secret, "")
}

// OAuth2Config is the x/oauth2 configuration of c's app at ep (redirect
// only for the authorization code flow). The client id and secret go in the
// request body, as Atlassian documents.
func OAuth2Config(ep Endpoints, c connector.Connector, secret connector.Secret, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.OAuthClientID,
		ClientSecret: secret.Reveal(),
		Endpoint:     oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL:  redirect,
		Scopes:       c.OAuthScopes,
	}
}

func (m *Manager) httpClient(c connector.Connector) (*http.Client, error) {
	hc, err := trackers.NewHTTPClient(c, m.cfg.TrackerOptions)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	return hc, nil
}

// refresh mints an access token for c. It reads the grant first (the
// cached copy may predate another replica's rotation), and on invalid_grant
// re-reads it: a refresh token replaced meanwhile is another replica's
// rotation, and the loser refreshes again with the winner's token.
func (m *Manager) refresh(ctx context.Context, c connector.Connector, secret connector.Secret, e *entry) error {
	hc, err := m.httpClient(c)
	if err != nil {
		return err
	}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	cur, err := m.grant(ctx, c, e)
	if err != nil {
		return err
	}
	if err := m.storePending(ctx, c, &cur, e); err != nil {
		return err
	}
	var graceEnd time.Time
	for {
		if !cur.Refresh.Set() {
			return m.invalid(e, c, cur, "no refresh token is stored")
		}
		if e.invalidFor == cur.Refresh.Ciphertext {
			return e.invalidErr
		}
		clear, err := m.cipher.Decrypt(ctx, c.OAuthRefreshContext(), cur.Refresh.Ciphertext)
		if err != nil {
			return fmt.Errorf("%w: oauth2 %s: refresh token: %w", trackers.ErrDecrypt, c.ID, err)
		}
		used := connector.NewSecret(string(clear))
		tok, err := m.exchange(hctx, c, secret, used)
		if err != nil {
			if !isInvalidGrant(err) {
				return m.tokenError(ctx, c.ID, err)
			}
			// The token was refused. Another replica may have used it a
			// moment ago and be about to store its successor: wait for the
			// grant to change, for a bounded time.
			if graceEnd.IsZero() {
				graceEnd = m.cfg.Now().Add(m.cfg.RotationGrace)
			}
			next, changed, err := m.awaitRotation(ctx, c, cur, graceEnd)
			if err != nil {
				return err
			}
			if !changed {
				return m.invalid(e, c, cur, "the authorization server refused the refresh token (invalid_grant): it was revoked, expired or replaced")
			}
			m.log.InfoContext(ctx, "oauth2 refresh token rotated by another replica; refreshing with it", "connector", c.ID)
			cur = next
			continue
		}
		if err := m.rotate(ctx, c, &cur, used, tok, e); err != nil {
			return err
		}
		return m.cache(ctx, c, tok, hc, e)
	}
}

// grant reads c's grant. No grant, or one stored for another configuration
// of the connector (its refresh token cannot be opened for c), is an
// unusable grant; a new authorization drops what was cached of the old one.
func (m *Manager) grant(ctx context.Context, c connector.Connector, e *entry) (connector.OAuthGrant, error) {
	g, err := m.grants.Get(ctx, c.ID)
	if errors.Is(err, connector.ErrNoGrant) {
		return g, m.invalid(e, c, g, "no refresh token is stored")
	}
	if err != nil {
		return g, fmt.Errorf("%w: oauth2 %s: read the grant: %w", trackers.ErrTransient, c.ID, err)
	}
	if !g.GrantTime.Equal(e.grantTime) {
		e.reset(e.binding, g.GrantTime)
	}
	if !g.For(c) {
		return g, m.invalid(e, c, g, "the stored grant was authorized for another configuration of the connector (base URL, auth mode or client id)")
	}
	return g, nil
}

// rotate stores tok's new refresh token (when the server issued one) in
// the grant, compare-and-swap on its revision. On a conflict it re-reads:
// when the grant still holds the token just used, it stores again on the
// new revision; when it holds another one (a concurrent refresh won, or a
// new authorization), that one stays and ours is dropped: the access token
// in hand is valid either way.
func (m *Manager) rotate(ctx context.Context, c connector.Connector, cur *connector.OAuthGrant, used connector.Secret, tok *oauth2.Token, e *entry) error {
	if tok.RefreshToken == "" || tok.RefreshToken == used.Reveal() {
		return nil // not rotated
	}
	fresh := connector.NewSecret(tok.RefreshToken)
	for range 5 {
		next, err := m.withRefresh(ctx, c, *cur, fresh)
		if err != nil {
			return err
		}
		stored, err := m.grants.Update(ctx, next)
		if err == nil {
			*cur = stored
			e.pending = connector.Secret{}
			return nil
		}
		if !errors.Is(err, connector.ErrConflict) {
			// The vendor has already retired the used token: keep the new
			// one in memory and store it before the next refresh.
			e.pending, e.pendingFor = fresh, cur.Refresh.Ciphertext
			m.log.WarnContext(ctx, "oauth2 rotated refresh token not stored yet; kept in memory", "connector", c.ID, "error", err.Error())
			return nil
		}
		latest, gerr := m.grants.Get(ctx, c.ID)
		if errors.Is(gerr, connector.ErrNoGrant) {
			return nil // deleted meanwhile (connector deleted or reconfigured)
		}
		if gerr != nil {
			e.pending, e.pendingFor = fresh, cur.Refresh.Ciphertext
			return nil
		}
		if !latest.GrantTime.Equal(cur.GrantTime) || !latest.For(c) {
			// Re-authorized or reconfigured meanwhile: that grant wins.
			*cur = latest
			return nil
		}
		if latest.Refresh.Ciphertext != cur.Refresh.Ciphertext {
			m.log.InfoContext(ctx, "oauth2 concurrent refresh: another replica stored its refresh token first; keeping it", "connector", c.ID)
			*cur = latest
			return nil
		}
		*cur = latest // the same token on a new revision: store ours over it
	}
	e.pending, e.pendingFor = fresh, cur.Refresh.Ciphertext
	return nil
}

// storePending stores a rotated refresh token an earlier refresh could not
// store, before it is used.
func (m *Manager) storePending(ctx context.Context, c connector.Connector, cur *connector.OAuthGrant, e *entry) error {
	if e.pending.Empty() {
		return nil
	}
	if cur.Refresh.Ciphertext != e.pendingFor {
		e.pending, e.pendingFor = connector.Secret{}, "" // the grant moved on: its token wins
		return nil
	}
	next, err := m.withRefresh(ctx, c, *cur, e.pending)
	if err != nil {
		return err
	}
	stored, err := m.grants.Update(ctx, next)
	if err != nil {
		return fmt.Errorf("%w: oauth2 %s: storing the rotated refresh token: %w", trackers.ErrTransient, c.ID, err)
	}
	*cur = stored
	e.pending = connector.Secret{}
	return nil
}

// withRefresh is g holding rt, encrypted under c's refresh-token context
// (bound to the connector id, system, base URL, auth mode and client id).
func (m *Manager) withRefresh(ctx context.Context, c connector.Connector, g connector.OAuthGrant, rt connector.Secret) (connector.OAuthGrant, error) {
	ct, err := m.cipher.Encrypt(ctx, c.OAuthRefreshContext(), []byte(rt.Reveal()))
	if err != nil {
		return g, fmt.Errorf("%w: oauth2 %s: encrypt the rotated refresh token: %w", trackers.ErrTransient, c.ID, err)
	}
	g.Refresh = connector.Credential{Ciphertext: ct, SetTime: m.cfg.Now().UTC(), Fingerprint: secrets.Fingerprint([]byte(rt.Reveal())), Binding: c.Credential.Binding}
	g.Context = c.GrantContextDigest()
	return g, nil
}

// awaitRotation re-reads the grant until its refresh token differs from
// cur's or until is reached.
func (m *Manager) awaitRotation(ctx context.Context, c connector.Connector, cur connector.OAuthGrant, until time.Time) (connector.OAuthGrant, bool, error) {
	wait := 100 * time.Millisecond
	for {
		latest, err := m.grants.Get(ctx, c.ID)
		if errors.Is(err, connector.ErrNoGrant) {
			return cur, false, nil // dropped meanwhile: nothing to refresh with
		}
		if err != nil {
			return cur, false, fmt.Errorf("%w: oauth2 %s: re-read the grant: %w", trackers.ErrTransient, c.ID, err)
		}
		if latest.Refresh.Ciphertext != cur.Refresh.Ciphertext && latest.For(c) {
			return latest, true, nil
		}
		if !m.cfg.Now().Before(until) {
			return cur, false, nil
		}
		select {
		case <-ctx.Done():
			return cur, false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (m *Manager) invalid(e *entry, c connector.Connector, g connector.OAuthGrant, why string) error {
	e.invalidFor = g.Refresh.Ciphertext
	e.invalidErr = fmt.Errorf("%w: %w: connector %s: %s; re-authorize with `%s`", trackers.ErrUnauthorized, ErrGrantInvalid, c.ID, why, ReauthorizeCommand(c.ID))
	e.access = connector.Secret{}
	return e.invalidErr
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// tokenError sorts a failed token request onto the sentinels. The message
// names the OAuth error code, never the response body.
func (m *Manager) tokenError(ctx context.Context, id string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		switch {
		case code == http.StatusTooManyRequests:
			d, _ := trackersRetryAfter(re.Response.Header, m.cfg.Now())
			return fmt.Errorf("oauth2 %s: token endpoint: %w", id, &trackers.RateLimitError{RetryAfter: d, Reason: re.Response.Header.Get("RateLimit-Reason")})
		case code >= 500:
			return fmt.Errorf("%w: oauth2 %s: token endpoint answered HTTP %d", trackers.ErrTransient, id, code)
		default:
			// invalid_client, unauthorized_client: the app's id or secret.
			return fmt.Errorf("%w: oauth2 %s: token endpoint refused the app (HTTP %d, %s); check the client id and rotate the client secret (`hubctl secrets rotate %s`)",
				trackers.ErrUnauthorized, id, code, safeCode(re.ErrorCode), id)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("oauth2 %s: %w", id, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL
	}
	return fmt.Errorf("%w: oauth2 %s: token endpoint: %v", trackers.ErrTransient, id, err)
}

func trackersRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
		var secs int
		if _, err := fmt.Sscanf(v, "%d", &secs); err == nil {
			return time.Duration(secs) * time.Second, true
		}
	}
	return 30 * time.Second, false
}

func safeCode(s string) string {
	if s == "" {
		return "no error code"
	}
	if len(s) > 40 || strings.ContainsAny(s, " \n\t") {
		return "unexpected error code"
	}
	return s
}

// cache keeps tok in memory and resolves the site's cloudId (once per grant).
func (m *Manager) cache(ctx context.Context, c connector.Connector, tok *oauth2.Token, hc *http.Client, e *entry) error {
	access := connector.NewSecret(tok.AccessToken)
	if e.cloudID == "" {
		id, err := m.siteID(ctx, c, access, hc)
		if err != nil {
			return err
		}
		e.cloudID = id
	}
	e.access = access
	e.expiry = tok.Expiry
	if e.expiry.IsZero() {
		e.expiry = m.cfg.Now().Add(m.cfg.Early + time.Minute) // the server named no lifetime: ask again soon
	}
	e.invalidFor, e.invalidErr = "", nil
	return nil
}

// Resource is one entry of GET /oauth/token/accessible-resources: a site
// the grant covers.
type Resource struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Scopes []string `json:"scopes"`
}

// siteID finds the cloudId of c's site among the grant's resources.
func (m *Manager) siteID(ctx context.Context, c connector.Connector, access connector.Secret, hc *http.Client) (string, error) {
	ctx = context.WithValue(ctx, connectorKey{}, c.ID)
	res, err := AccessibleResources(ctx, hc, m.cfg.Endpoints, access)
	if err != nil {
		return "", fmt.Errorf("oauth2 %s: %w", c.ID, err)
	}
	want := siteOf(c.BaseURL)
	var seen []string
	for _, r := range res {
		if siteOf(r.URL) == want && r.ID != "" {
			return r.ID, nil
		}
		seen = append(seen, siteOf(r.URL))
	}
	return "", fmt.Errorf("%w: oauth2 %s: the grant does not cover %s (it covers: %s); authorize the app for that site",
		trackers.ErrUnauthorized, c.ID, want, strings.Join(seen, ", "))
}

// siteOf is scheme://host of a site URL, lower case (a Confluence base URL
// may end in /wiki).
func siteOf(raw string) string { return connector.Site(raw) }

// AccessibleResources lists the sites an access token may call.
func AccessibleResources(ctx context.Context, hc *http.Client, ep Endpoints, access connector.Secret) ([]Resource, error) {
	u, err := url.JoinPath(ep.APIURL, "oauth/token/accessible-resources")
	if err != nil {
		return nil, fmt.Errorf("%w: oauth2 API URL: %v", trackers.ErrInvalidConfig, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", trackers.ErrInvalidConfig, err)
	}
	ctx, span := startSpan(ctx, "oauth2 accessible-resources", http.MethodGet, u)
	defer span.End()
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+access.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		span.SetStatus(codes.Error, "the gateway did not answer")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: accessible-resources: the gateway did not answer", trackers.ErrTransient)
	}
	defer resp.Body.Close()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode != http.StatusOK {
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: accessible-resources: reading the answer", trackers.ErrTransient)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d, _ := trackersRetryAfter(resp.Header, time.Now())
		return nil, &trackers.RateLimitError{RetryAfter: d, Reason: resp.Header.Get("RateLimit-Reason")}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: accessible-resources: HTTP %d", trackers.ErrUnauthorized, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: accessible-resources: HTTP %d", trackers.ErrTransient, resp.StatusCode)
	}
	var out []Resource
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: accessible-resources: %v", trackers.ErrMalformedResponse, err)
	}
	return out, nil
}
