package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Encrypter is what the registry needs from the credential cipher. It has no
// Decrypt on purpose: the registry's Vault policy allows encrypt and rewrap only.
type Encrypter interface {
	Encrypt(ctx context.Context, keyContext string, plaintext []byte) (string, error)
	RewrapBatch(ctx context.Context, items []secrets.RewrapItem) ([]string, error)
}

// Tester runs a tracker's identity and access checks with a credential in clear
// that the admin just sent (an unsaved config, or a rotation).
type Tester interface {
	Test(ctx context.Context, c connector.Connector, secret connector.Secret) (trackers.TestResult, error)
}

// SavedTester tests a saved connector. The registry cannot decrypt, so it asks a
// worker that can (over NATS request/reply in production).
type SavedTester interface {
	TestSaved(ctx context.Context, c connector.Connector) (trackers.TestResult, error)
}

// Auditor records one mutation. It must never receive a secret.
type Auditor interface {
	Audit(ctx context.Context, rec AuditRecord)
}

// AuditRecord is what happened, by whom, to what.
type AuditRecord struct {
	Time        time.Time
	Caller      Caller
	Action      string
	ConnectorID string
	Outcome     string
	Fields      []string
}

// Domain errors the gRPC port maps to status codes.
var (
	errCredentialRequired = errors.New("credential required")
	errTestFailed         = errors.New("connection test failed")
)

// Service is the registry's application layer; the gRPC server is a thin port onto it.
type Service struct {
	trackers *trackers.Registry
	store    *connector.Store
	grants   *connector.GrantStore
	states   *connector.StateStore
	idx      *index
	ledger   *ledger.Store
	replay   func(ctx context.Context, resultID string) (subject string, replays int, err error)
	cipher   Encrypter
	tester   Tester
	saved    SavedTester
	hooks    HookRegistrar
	// publicURL is Deps.WebhookPublicURL (nil: only the config's).
	publicURL func() string
	audit     Auditor
	policy    trackers.EndpointPolicy
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
}

// sensitiveFields change where or how a stored credential is sent; changing
// them requires sending the credential again, so a compromised admin token
// cannot redirect a stored token to a server of its choice.
var sensitiveFields = []string{"base_url", "auth_mode", "username", "http_proxy_url", "ca_bundle_pem", "deployment", "oauth_client_id", "app_id", "oauth_grant_from"}

func (s *Service) checkEndpoints(c connector.Connector) error {
	var errs connector.ValidationError
	base := c.BaseURL
	if base == "" {
		base = s.trackers.DefaultBaseURL(c.System, c.Deployment)
	}
	if base != "" {
		if err := s.policy.CheckURL(base); err != nil {
			errs = append(errs, connector.FieldError{Field: "base_url", Description: err.Error()})
		}
	}
	if c.HTTPProxyURL != "" {
		if err := s.policy.CheckURL(c.HTTPProxyURL); err != nil {
			errs = append(errs, connector.FieldError{Field: "http_proxy_url", Description: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validate applies defaults, then checks fields, endpoints and the credential together,
// so one answer names every problem.
func (s *Service) validate(ctx context.Context, c *connector.Connector, secret *connector.Secret) error {
	c.ApplyDefaults(s.trackers)
	var all connector.ValidationError
	collect := func(err error) {
		var v connector.ValidationError
		if errors.As(err, &v) {
			all = append(all, v...)
		}
	}
	verr := c.Validate(s.trackers)
	collect(verr)
	if c.Webhook {
		if tr, ok := s.trackers.Lookup(c.System); ok {
			if _, ok := tr.(trackers.WebhookReceiver); !ok {
				all = append(all, connector.FieldError{Field: "webhook", Description: "is not available for " + string(c.System) + ": the hub verifies webhooks of GitHub, GitLab and Jira only"})
			}
		}
	}
	if verr == nil {
		collect(s.checkEndpoints(*c))
		cerr := s.checkContextConnectors(ctx, *c)
		var v connector.ValidationError
		if cerr != nil && !errors.As(cerr, &v) {
			return cerr // the store failed: not the caller's mistake
		}
		collect(cerr)
		gerr := s.checkGrantSource(ctx, *c)
		if gerr != nil && !errors.As(gerr, &v) {
			return gerr
		}
		collect(gerr)
	}
	if secret != nil {
		collect(connector.ValidateCredential(c.AuthMode, *secret))
		if tr, ok := s.trackers.Lookup(c.System); ok && c.AuthMode == connector.AuthBearer && len(connector.PoolTokens(*secret)) > 1 && !tr.Rules().TokenPools {
			all = append(all, connector.FieldError{Field: "credential", Description: fmt.Sprintf("%s takes one token: token pools (comma-separated tokens) are for GitHub and GitLab", c.System)})
		}
	}
	if len(all) > 0 {
		return all
	}
	return nil
}

// checkContextConnectors checks that each connector c names in
// context_connectors is stored and is a context source (its system's tracker
// reads context: trackers.SystemsWith[trackers.ContextReader]).
func (s *Service) checkContextConnectors(ctx context.Context, c connector.Connector) error {
	if len(c.ContextConnectors) == 0 {
		return nil
	}
	readers := trackers.SystemsWith[trackers.ContextReader](s.trackers)
	var errs connector.ValidationError
	for _, id := range c.ContextConnectors {
		cc, err := s.store.Get(ctx, id)
		switch {
		case errors.Is(err, connector.ErrNotFound):
			errs = append(errs, connector.FieldError{Field: "context_connectors", Description: fmt.Sprintf("connector %q does not exist", id)})
		case err != nil:
			return fmt.Errorf("read context connector %s: %w", id, err)
		case !slices.Contains(readers, cc.System):
			errs = append(errs, connector.FieldError{Field: "context_connectors", Description: fmt.Sprintf(
				"connector %q is a %s connector, not a context source (%s)", id, cc.System, joinSystems(readers))})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func joinSystems(systems []connector.System) string {
	if len(systems) == 0 {
		return "none registered"
	}
	out := make([]string, len(systems))
	for i, sys := range systems {
		out[i] = string(sys)
	}
	return strings.Join(out, ", ")
}

func newID(system connector.System) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(system) + "-" + string(b)
}

func (s *Service) encryptCredential(ctx context.Context, c *connector.Connector, secret connector.Secret) error {
	if secret.Empty() {
		c.Credential = connector.Credential{}
		return nil
	}
	c.Credential = connector.Credential{Binding: connector.BindingFields}
	ct, err := s.cipher.Encrypt(ctx, c.CredentialContext(), []byte(secret.Reveal()))
	if err != nil {
		return fmt.Errorf("encrypt credential of %s: %w", c.ID, err)
	}
	c.Credential = connector.Credential{
		Ciphertext:  ct,
		SetTime:     s.now().UTC(),
		Fingerprint: secrets.Fingerprint([]byte(secret.Reveal())),
		Binding:     connector.BindingFields,
		Kind:        connector.CredentialKindOf(c.AuthMode, secret),
	}
	// A pool is stored as one ciphertext (one binding, one rotation that
	// replaces the whole pool atomically); its tokens' fingerprints are kept
	// beside it so the status can name a token set aside.
	if c.Credential.Kind == connector.CredentialKindTokenPool {
		var fps []string
		for _, t := range connector.PoolTokens(secret) {
			fps = append(fps, secrets.Fingerprint([]byte(t)))
		}
		c.Credential.PoolFingerprints = strings.Join(fps, ",")
	}
	return nil
}

// Create validates, encrypts the credential and stores a new connector.
func (s *Service) Create(ctx context.Context, c connector.Connector, secret connector.Secret) (out connector.Connector, err error) {
	defer func() { s.record(ctx, "connector.create", out.ID, err, nil) }()
	generated := c.ID == ""
	if generated {
		c.ID = newID(c.System)
	}
	if err := s.validate(ctx, &c, &secret); err != nil {
		return connector.Connector{}, err
	}
	now := s.now().UTC()
	c.CreateTime, c.UpdateTime = now, now
	for attempt := 0; ; attempt++ {
		if err := s.encryptCredential(ctx, &c, secret); err != nil {
			return connector.Connector{}, err
		}
		c.WebhookSecret, c.WebhookHook = connector.Credential{}, connector.WebhookHook{}
		if c.Webhook {
			if _, err := s.newHookSecret(ctx, &c); err != nil {
				return connector.Connector{}, err
			}
		}
		out, err = s.stored(s.store.Create(ctx, c))
		if errors.Is(err, connector.ErrExists) && generated && attempt < 3 {
			c.ID = newID(c.System) // a generated id collided: draw again
			continue
		}
		if err == nil && out.AuthMode == connector.AuthOAuth2 {
			// A grant left behind under the id (its connector's deletion
			// could not remove it) is not this connector's authorization.
			s.dropGrant(ctx, out.ID)
		}
		if err == nil && s.needsRegistration(out) {
			return s.register(ctx, out)
		}
		return out, err
	}
}

// stored notes the revision of a successful write, so that later reads wait
// until the index shows it (read-your-writes).
func (s *Service) stored(c connector.Connector, err error) (connector.Connector, error) {
	if err == nil {
		s.idx.wrote(c.Revision)
	}
	return c, err
}

// Get reads one connector (from the index, with this replica's writes).
func (s *Service) Get(ctx context.Context, id string) (connector.Connector, error) {
	c, err := s.idx.get(ctx, id)
	if err != nil {
		return c, err
	}
	return s.withGrant(ctx, c)
}

// List returns the connectors of a system (all when system is empty), by id.
func (s *Service) List(ctx context.Context, system connector.System) ([]connector.Connector, error) {
	all, _, err := s.idx.page(ctx, system, "", 0)
	if err != nil {
		return nil, err
	}
	return all, s.withGrants(ctx, all)
}

// Page returns up to size connectors of a system (all when system is
// empty) whose ids follow after, by id, and whether more follow.
func (s *Service) Page(ctx context.Context, system connector.System, after string, size int) ([]connector.Connector, bool, error) {
	page, more, err := s.idx.page(ctx, system, after, size)
	if err != nil {
		return nil, false, err
	}
	return page, more, s.withGrants(ctx, page)
}

// withGrant adds to an oauth2 connector what may be shown of its grant
// (oauth_grants bucket): only a grant stored for the connector as it is now,
// since no other can be opened for it. A connector using another's grant
// (oauth_grant_from) shows that grant, and a grant's owner the connectors
// using it.
func (s *Service) withGrant(ctx context.Context, c connector.Connector) (connector.Connector, error) {
	cs := []connector.Connector{c}
	err := s.withGrants(ctx, cs)
	return cs[0], err
}

func (s *Service) withGrants(ctx context.Context, cs []connector.Connector) error {
	var users map[string][]string // grant owner → its users, read once
	for i := range cs {
		c := &cs[i]
		c.Grant, c.GrantUsers = connector.OAuthGrant{}, nil
		if c.AuthMode != connector.AuthOAuth2 {
			continue
		}
		if c.System == connector.Jira {
			if users == nil {
				all, _, err := s.idx.page(ctx, connector.Confluence, "", 0)
				if err != nil {
					return err
				}
				users = map[string][]string{}
				for _, u := range all {
					if u.OAuthGrantFrom != "" {
						users[u.OAuthGrantFrom] = append(users[u.OAuthGrantFrom], u.ID)
					}
				}
			}
			c.GrantUsers = users[c.ID]
		}
		owner, ok, err := s.grantOwner(ctx, *c)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		g, err := s.grants.Get(ctx, owner.ID)
		switch {
		case errors.Is(err, connector.ErrNoGrant):
		case err != nil:
			return err
		case g.For(owner):
			c.Grant = g
		}
	}
	return nil
}

// MoveLegacyGrants moves the grants that records written before the
// oauth_grants bucket hold into that bucket (unless it already has one for
// the connector), then rewrites those records without them. A record that
// changes meanwhile is left for the next start. It returns how many moved.
func (s *Service) MoveLegacyGrants(ctx context.Context) (int, error) {
	all, err := s.store.List(ctx)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, c := range all {
		if !connector.LegacyGrant(c) {
			continue
		}
		if _, err := s.grants.Get(ctx, c.ID); errors.Is(err, connector.ErrNoGrant) {
			if _, err := s.grants.Put(ctx, c.Grant); err != nil {
				return moved, err
			}
		} else if err != nil {
			return moved, err
		}
		c.Grant = connector.OAuthGrant{}
		if _, err := s.stored(s.store.Update(ctx, c)); err != nil && !errors.Is(err, connector.ErrConflict) {
			return moved, err
		}
		moved++
	}
	return moved, nil
}

// dropGrant removes connector id's grant. A failure is only logged: the
// grant names the configuration it was stored for, so workers and
// CredentialInfo already ignore it once the connector has changed.
func (s *Service) dropGrant(ctx context.Context, id string) {
	if err := s.grants.Delete(ctx, id); err != nil {
		s.log.WarnContext(ctx, "oauth grant not removed (unusable for the connector as it is now)", "connector", id, "error", err)
	}
}

// Update stores next, which the caller built from the stored connector by
// changing exactly the named fields. next.Revision must be the revision the
// caller read (or the one its etag names).
func (s *Service) Update(ctx context.Context, next connector.Connector, fields []string, secret connector.Secret) (out connector.Connector, err error) {
	defer func() { s.record(ctx, "connector.update", next.ID, err, fields) }()
	sensitive := slices.ContainsFunc(fields, func(f string) bool { return slices.Contains(sensitiveFields, f) })
	var sp *connector.Secret
	if !secret.Empty() {
		sp = &secret
	}
	if err := s.validate(ctx, &next, sp); err != nil {
		return connector.Connector{}, err
	}
	if sensitive && next.Credential.Set() && secret.Empty() {
		return connector.Connector{}, fmt.Errorf("%w: changing %s sends the stored credential elsewhere; send the credential again with the update",
			errCredentialRequired, strings.Join(fields, ", "))
	}
	if !secret.Empty() {
		if err := s.encryptCredential(ctx, &next, secret); err != nil {
			return connector.Connector{}, err
		}
	} else if next.AuthMode == connector.AuthAnonymous {
		next.Credential = connector.Credential{}
	} else if !next.Credential.Set() {
		return connector.Connector{}, connector.ValidationError{{Field: "credential", Description: "is required for auth mode " + string(next.AuthMode)}}
	}
	prev, err := s.store.Get(ctx, next.ID)
	if err != nil {
		return connector.Connector{}, err
	}
	if err := s.checkOwnerChange(ctx, next.ID, fields, false); err != nil {
		return connector.Connector{}, err
	}
	switch {
	case !next.Webhook:
		if prev.Webhook {
			s.unregister(ctx, prev) // turning webhook off deletes the hook
		}
		next.WebhookSecret, next.WebhookHook = connector.Credential{}, connector.WebhookHook{}
	case !prev.Webhook || !next.WebhookSecret.Set() || prev.WebhookSecretContext() != next.WebhookSecretContext():
		// Turned on, or the credential's binding moved (base URL, auth…): the
		// old secret no longer decrypts, so a new one replaces the hook.
		if prev.Webhook {
			s.unregister(ctx, prev)
		}
		if _, err := s.newHookSecret(ctx, &next); err != nil {
			return connector.Connector{}, err
		}
	}
	next.UpdateTime = s.now().UTC()
	out, err = s.stored(s.store.Update(ctx, next))
	if err != nil {
		return out, err
	}
	if (sensitive && next.AuthMode == connector.AuthOAuth2) || (next.AuthMode != connector.AuthOAuth2 && slices.Contains(fields, "auth_mode")) {
		// The refresh token was encrypted under the old binding (or the
		// connector no longer uses OAuth): it cannot be opened any more, so
		// the connector must be authorized again.
		s.dropGrant(ctx, next.ID)
	}
	if next.OAuthGrantFrom != "" && slices.Contains(fields, "oauth_grant_from") {
		// It uses another's grant from now on: its own is of no use.
		s.dropGrant(ctx, next.ID)
	}
	if s.needsRegistration(out) {
		if out, err = s.register(ctx, out); err != nil {
			return out, err
		}
	}
	return s.withGrant(ctx, out)
}

// SetOAuthGrant stores the refresh token of an oauth2 connector (from
// `hubctl connectors authorize` or pasted) in its grant (oauth_grants
// bucket), encrypted under the connector's refresh-token context; workers
// rotate it from then on. The connector record is not changed.
func (s *Service) SetOAuthGrant(ctx context.Context, id string, refresh connector.Secret, rev uint64) (out connector.Connector, err error) {
	defer func() { s.record(ctx, "credential.oauth_grant", id, err, []string{"oauth_refresh_token"}) }()
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return connector.Connector{}, err
	}
	if rev > 0 && rev != c.Revision {
		return connector.Connector{}, fmt.Errorf("%w: %s (etag is stale)", connector.ErrConflict, id)
	}
	if c.AuthMode != connector.AuthOAuth2 {
		return connector.Connector{}, connector.ValidationError{{Field: "auth_mode", Description: "is " + string(c.AuthMode) + "; only oauth2 connectors hold a refresh token"}}
	}
	if !c.Credential.Set() {
		return connector.Connector{}, connector.ValidationError{{Field: "credential", Description: "the client secret must be stored first"}}
	}
	if c.OAuthGrantFrom != "" {
		return connector.Connector{}, fmt.Errorf("%w: %s uses the OAuth grant of %s: authorize that one (`hubctl connectors authorize %s`), which asks for both connectors' scopes",
			errGrantInUse, id, c.OAuthGrantFrom, c.OAuthGrantFrom)
	}
	// The consent asked for the scopes of the connector and of every
	// connector using its grant (hubctl authorize builds the same union);
	// recorded so that a connector attached later can be checked against it.
	users, err := s.grantUsers(ctx, c.ID)
	if err != nil {
		return connector.Connector{}, err
	}
	deps := make([]connector.Connector, 0, len(users))
	for _, u := range users {
		if uc, err := s.store.Get(ctx, u); err == nil {
			deps = append(deps, uc)
		}
	}
	if err := connector.ValidateCredential(connector.AuthBearer, refresh); err != nil {
		return connector.Connector{}, connector.ValidationError{{Field: "refresh_token", Description: strings.TrimPrefix(err.Error(), "credential ")}}
	}
	ct, err := s.cipher.Encrypt(ctx, c.OAuthRefreshContext(), []byte(refresh.Reveal()))
	if err != nil {
		return connector.Connector{}, fmt.Errorf("encrypt refresh token of %s: %w", id, err)
	}
	now := s.now().UTC()
	g, err := s.grants.Put(ctx, connector.OAuthGrant{ConnectorID: c.ID, GrantTime: now, Context: c.GrantContextDigest(), Scopes: connector.ConsentScopes(c, deps...),
		Refresh: connector.Credential{Ciphertext: ct, SetTime: now, Fingerprint: secrets.Fingerprint([]byte(refresh.Reveal())), Binding: c.Credential.Binding}})
	if err != nil {
		return connector.Connector{}, err
	}
	c.Grant = g
	return s.withGrant(ctx, c)
}

// Delete removes a connector (only at revision rev when rev > 0) and forgets
// its poll state.
func (s *Service) Delete(ctx context.Context, id string, rev uint64) (err error) {
	defer func() { s.record(ctx, "connector.delete", id, err, nil) }()
	if err := s.checkOwnerChange(ctx, id, nil, true); err != nil {
		return err
	}
	if c, gerr := s.store.Get(ctx, id); gerr == nil && c.Webhook && (rev == 0 || rev == c.Revision) {
		s.unregister(ctx, c) // best effort: the hook goes with the connector
	}
	if err := s.store.Delete(ctx, id, rev); err != nil {
		return err
	}
	if last, err := s.store.LastRevision(ctx); err == nil {
		s.idx.wrote(last)
	} else {
		s.log.WarnContext(ctx, "connectors bucket revision unknown; a read right after this delete may still show the connector", "connector", id, "error", err)
	}
	if err := s.states.Delete(ctx, id); err != nil {
		s.log.WarnContext(ctx, "poll state of a deleted connector not removed", "connector", id, "error", err)
	}
	// Its grant goes too: a connector created again under the id with the
	// same configuration would otherwise inherit the old authorization.
	s.dropGrant(ctx, id)
	return nil
}

// Statuses are what the pollers last reported about each connector (zero
// for one never polled), from the index of poll states.
func (s *Service) Statuses(ctx context.Context, ids ...string) ([]connector.PollStatus, error) {
	return s.idx.status(ctx, ids...)
}

// Replay re-publishes a dead-lettered result.
func (s *Service) Replay(ctx context.Context, resultID string) (subject string, replays int, err error) {
	defer func() { s.record(ctx, "result.replay", "", err, []string{resultID}) }()
	return s.replay(ctx, resultID)
}

// NormalizeTicketKey turns what a person typed for a ticket of connector id
// (the full key, the number, "#12", the ticket's URL) into the key its
// events carry, by the rule of the connector's tracker (trackers.KeyNormalizer).
func (s *Service) NormalizeTicketKey(ctx context.Context, id, ticket string) (connector.System, string, error) {
	return s.normalizeTicketKey(ctx, id, ticket)
}

func (s *Service) normalizeTicketKey(ctx context.Context, id, ticket string) (connector.System, string, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return "", "", err
	}
	tr, ok := s.trackers.Lookup(c.System)
	if !ok {
		return c.System, "", fmt.Errorf("%w: %s", trackers.ErrUnknownSystem, c.System)
	}
	if _, ok := tr.(trackers.TicketReader); !ok {
		return c.System, "", fmt.Errorf("%w: connector %s is a %s connector, which has no tickets", trackers.ErrInvalidTicketKey, c.ID, c.System)
	}
	key, err := trackers.NormalizeKey(tr, c, ticket)
	return c.System, key, err
}

// TestUnsaved checks a configuration with the credential the admin sent.
func (s *Service) TestUnsaved(ctx context.Context, c connector.Connector, secret connector.Secret) (trackers.TestResult, error) {
	if c.ID == "" {
		c.ID = "unsaved"
	}
	if err := s.validate(ctx, &c, &secret); err != nil {
		return trackers.TestResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	defer cancel()
	return s.tester.Test(ctx, c, secret)
}

// TestSaved checks a stored connector through a worker that may decrypt,
// and records the token expiry the tracker reports.
func (s *Service) TestSaved(ctx context.Context, id string) (trackers.TestResult, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return trackers.TestResult{}, err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	res, err := s.saved.TestSaved(tctx, c)
	cancel()
	if err == nil && !res.ExpireTime.IsZero() && !res.ExpireTime.Equal(c.Credential.ExpireTime) && c.Credential.Set() {
		c.Credential.ExpireTime = res.ExpireTime.UTC()
		if _, uerr := s.stored(s.store.Update(ctx, c)); uerr != nil {
			s.log.WarnContext(ctx, "token expiry not recorded", "connector", id, "error", uerr)
		}
	}
	return res, err
}

// Rotate tests a new credential against the connector's tracker and, if it
// passes, replaces the stored one.
func (s *Service) Rotate(ctx context.Context, id string, secret connector.Secret, rev uint64) (out connector.Connector, res trackers.TestResult, err error) {
	defer func() { s.record(ctx, "credential.rotate", id, err, []string{"credential"}) }()
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return connector.Connector{}, trackers.TestResult{}, err
	}
	if rev > 0 && rev != c.Revision {
		return connector.Connector{}, trackers.TestResult{}, fmt.Errorf("%w: %s (etag is stale)", connector.ErrConflict, id)
	}
	if err := connector.ValidateCredential(c.AuthMode, secret); err != nil {
		return connector.Connector{}, trackers.TestResult{}, err
	}
	if secret.Empty() {
		return connector.Connector{}, trackers.TestResult{}, connector.ValidationError{{Field: "credential", Description: "anonymous connectors have no credential to rotate"}}
	}
	if c.AuthMode == connector.AuthOAuth2 {
		// The client secret alone reaches nothing: only a refresh (which
		// consumes the stored refresh token, which the registry may not
		// open) would test it. Workers use it at their next refresh; a
		// wrong one shows on the connector's status.
		res = trackers.TestResult{OK: true}
		res.Pass("client_secret", "stored; used at the next access-token refresh (the registry cannot test it without the refresh token)")
	} else {
		tctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
		res, err = s.tester.Test(tctx, c, secret)
		cancel()
		if err != nil {
			return connector.Connector{}, res, err
		}
	}
	if !res.OK {
		return connector.Connector{}, res, fmt.Errorf("%w: the new credential did not pass (%s); the old one stays", errTestFailed, failedChecks(res))
	}
	if err := s.encryptCredential(ctx, &c, secret); err != nil {
		return connector.Connector{}, res, err
	}
	c.Credential.ExpireTime = res.ExpireTime
	c.UpdateTime = s.now().UTC()
	out, err = s.stored(s.store.Update(ctx, c))
	if err != nil {
		return out, res, err
	}
	out, err = s.withGrant(ctx, out)
	return out, res, err
}

func failedChecks(res trackers.TestResult) string {
	var parts []string
	for _, c := range res.Checks {
		if !c.OK {
			parts = append(parts, c.Name+": "+c.Message)
		}
	}
	if len(res.MissingScopes) > 0 {
		parts = append(parts, "missing scopes: "+strings.Join(res.MissingScopes, ", "))
	}
	return strings.Join(parts, "; ")
}

// CredentialAge is one connector's credential age report.
type CredentialAge struct {
	Connector    connector.Connector
	Age          time.Duration
	Stale        bool
	Expiring     bool
	RefreshError string
}

// refreshConcurrency bounds the saved tests a refreshing check runs at once.
const refreshConcurrency = 4

// ExpiryWarning is how close to its expiry a credential counts as expiring.
const ExpiryWarning = 14 * 24 * time.Hour

// OAuthRefreshInactivity and OAuthGrantLifetime are Atlassian's limits on
// rotating refresh tokens: one unused this long expires, and none outlives
// its grant's consent by more than a year.
const (
	OAuthRefreshInactivity = 90 * 24 * time.Hour
	OAuthGrantLifetime     = 365 * 24 * time.Hour
)

// CheckCredentials reports the age of every credential; older than staleAfter
// (the configured default when zero) is stale.
func (s *Service) CheckCredentials(ctx context.Context, staleAfter time.Duration, refresh bool) ([]CredentialAge, error) {
	if staleAfter <= 0 {
		staleAfter = s.cfg.StaleAfter
	}
	all, err := s.List(ctx, "")
	if err != nil {
		return nil, err
	}
	refreshErrs := map[string]string{}
	if refresh {
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			sem = make(chan struct{}, refreshConcurrency)
		)
		for _, c := range all {
			if !c.Credential.Set() {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(id string) {
				defer func() { <-sem; wg.Done() }()
				res, err := s.TestSaved(ctx, id)
				msg := ""
				switch {
				case err != nil:
					msg = err.Error()
				case !res.OK:
					msg = "connection test failed: " + failedChecks(res)
				}
				if msg != "" {
					mu.Lock()
					refreshErrs[id] = msg
					mu.Unlock()
				}
			}(c.ID)
		}
		wg.Wait()
		if all, err = s.List(ctx, ""); err != nil {
			return nil, err
		}
	}
	now := s.now()
	out := make([]CredentialAge, 0, len(all))
	for _, c := range all {
		a := CredentialAge{Connector: c, RefreshError: refreshErrs[c.ID]}
		if c.Credential.Set() {
			a.Age = now.Sub(c.Credential.SetTime)
			a.Stale = a.Age > staleAfter
			a.Expiring = !c.Credential.ExpireTime.IsZero() && c.Credential.ExpireTime.Sub(now) < ExpiryWarning
		}
		if c.AuthMode == connector.AuthOAuth2 {
			// The refresh token, not the access token (minted hourly), is
			// what ages: Atlassian expires one unused for 90 days, and a
			// grant a year after consent.
			switch {
			case !c.Grant.Refresh.Set():
				a.Expiring = true
			case now.Sub(c.Grant.Refresh.SetTime) > OAuthRefreshInactivity-ExpiryWarning,
				!c.Grant.GrantTime.IsZero() && now.Sub(c.Grant.GrantTime) > OAuthGrantLifetime-ExpiryWarning:
				a.Expiring = true
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// RewrapReport counts what RewrapCredentials did.
type RewrapReport struct {
	Rewrapped, Unchanged int
	// RefreshRewrapped and RefreshUnchanged count OAuth refresh tokens
	// (oauth_grants bucket).
	RefreshRewrapped, RefreshUnchanged int
	Failed                             []string
}

// Rewrap re-encrypts every stored credential with the newest key version, in
// one batch call to the cipher. Items the cipher could not rewrap are reported
// as failed while the others are stored; a connector changed meanwhile is
// retried once.
func (s *Service) Rewrap(ctx context.Context) (rep RewrapReport, err error) {
	defer func() { s.record(ctx, "credential.rewrap", "", err, nil) }()
	all, err := s.List(ctx, "")
	if err != nil {
		return rep, err
	}
	if err := s.rewrapGrants(ctx, all, &rep); err != nil {
		return rep, err
	}
	hasSecret := func(c connector.Connector) bool { return c.Credential.Set() || c.WebhookSecret.Set() }
	all = slices.DeleteFunc(all, func(c connector.Connector) bool { return !hasSecret(c) })
	for round := 0; round < 2 && len(all) > 0; round++ {
		// Each connector's credential and webhook secret, when set, are
		// items of the one batch; cred[i] and hook[i] are their positions (-1: none).
		var items []secrets.RewrapItem
		cred, hook := make([]int, len(all)), make([]int, len(all))
		for i, c := range all {
			cred[i], hook[i] = -1, -1
			if c.Credential.Set() {
				cred[i] = len(items)
				items = append(items, secrets.RewrapItem{KeyContext: c.CredentialContext(), Ciphertext: c.Credential.Ciphertext})
			}
			if c.WebhookSecret.Set() {
				hook[i] = len(items)
				items = append(items, secrets.RewrapItem{KeyContext: c.WebhookSecretContext(), Ciphertext: c.WebhookSecret.Ciphertext})
			}
		}
		wrapped, err := s.cipher.RewrapBatch(ctx, items)
		var batchErr *secrets.BatchError
		if err != nil && !errors.As(err, &batchErr) {
			return rep, fmt.Errorf("rewrap credentials: %w", err)
		}
		failed := func(j int) error {
			if j < 0 || batchErr == nil {
				return nil
			}
			return batchErr.Failed[j]
		}
		var retry []connector.Connector
		for i, c := range all {
			ferr := failed(cred[i])
			if ferr == nil {
				ferr = failed(hook[i])
			}
			if ferr != nil {
				s.log.WarnContext(ctx, "rewrap: credential not rewrapped", "connector", c.ID, "error", ferr)
				rep.Failed = append(rep.Failed, c.ID)
				continue
			}
			// Vault returns a fresh ciphertext even when the key version did not
			// change; only a newer version is worth a write.
			changed := false
			if j := cred[i]; j >= 0 && keyVersion(wrapped[j]) != keyVersion(c.Credential.Ciphertext) {
				c.Credential.Ciphertext, changed = wrapped[j], true
			}
			if j := hook[i]; j >= 0 && keyVersion(wrapped[j]) != keyVersion(c.WebhookSecret.Ciphertext) {
				c.WebhookSecret.Ciphertext, changed = wrapped[j], true
			}
			if !changed {
				rep.Unchanged++
				continue
			}
			if _, err := s.stored(s.store.Update(ctx, c)); err != nil {
				if errors.Is(err, connector.ErrConflict) && round == 0 {
					if fresh, gerr := s.store.Get(ctx, c.ID); gerr == nil && hasSecret(fresh) {
						retry = append(retry, fresh)
						continue
					}
				}
				s.log.WarnContext(ctx, "rewrap: connector not updated", "connector", c.ID, "error", err)
				rep.Failed = append(rep.Failed, c.ID)
				continue
			}
			rep.Rewrapped++
		}
		all = retry
	}
	return rep, nil
}

// keyVersion is the "kind:vN" prefix of a self-describing ciphertext.
func keyVersion(ciphertext string) string {
	kind, rest, _ := strings.Cut(ciphertext, ":")
	version, _, _ := strings.Cut(rest, ":")
	return kind + ":" + version
}

// record sends the audit record of a mutation, successful or not.
func (s *Service) record(ctx context.Context, action, id string, err error, fields []string) {
	caller, _ := CallerFrom(ctx)
	outcome := "ok"
	if err != nil {
		outcome = errorCode(err).String()
	}
	s.audit.Audit(ctx, AuditRecord{Time: s.now().UTC(), Caller: caller, Action: action, ConnectorID: id, Outcome: outcome, Fields: fields})
}
