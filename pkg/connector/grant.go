package connector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoGrant means a connector has no stored OAuth grant (never authorized,
// deleted with its connector, or dropped when the connector's base URL,
// auth mode or client id changed).
var ErrNoGrant = errors.New("no OAuth grant stored")

// OAuthGrant is the OAuth 2.0 grant of an AuthOAuth2 connector, kept in the
// oauth_grants bucket under the connector's id, apart from the connector
// record: workers rotate the refresh token on every refresh (compare-and-swap
// on the grant's revision, pkg/oauthgrant), so they may write this bucket
// and never the connectors one, and a rotation does not change the
// connector's revision (its etag, or a pause recorded for that revision).
type OAuthGrant struct {
	// ConnectorID repeats the key.
	ConnectorID string `json:"connector_id"`
	// Refresh is the refresh token, encrypted under the connector's
	// OAuthRefreshContext; its SetTime is the last rotation, its Fingerprint
	// the token's.
	Refresh Credential `json:"refresh"`
	// GrantTime is when the grant was authorized (the registry's
	// SetOAuthGrant); rotations keep it.
	GrantTime time.Time `json:"grant_time"`
	// Context is ContextDigest of the connector the token was encrypted for:
	// a grant whose connector changed since (another base URL or client id)
	// is told apart without trying to decrypt it.
	Context string `json:"context"`
	// Scopes are the scopes the consent asked for (the owner's scopes with
	// those of every connector using the grant, OAuthGrantFrom), recorded
	// by the registry when the grant is stored; empty for a grant stored
	// before they were recorded (then the owner's scopes stand for them).
	Scopes []string `json:"scopes,omitempty"`
	// Revision is the grant's KV revision (compare-and-swap token).
	Revision uint64 `json:"-"`
}

// For reports whether g was stored for c as it is now (same binding
// context): only then can its refresh token be opened for c.
func (g OAuthGrant) For(c Connector) bool {
	return g.ConnectorID == c.ID && g.Context == c.GrantContextDigest()
}

// GrantContextDigest is a digest of the refresh token's key context (not
// secret, but not the context itself: that names the proxy and CA).
func (c Connector) GrantContextDigest() string {
	sum := sha256.Sum256([]byte(c.OAuthRefreshContext()))
	return hex.EncodeToString(sum[:16])
}

type grantRecord struct {
	Version    int `json:"v"`
	OAuthGrant     // embedded: its fields at the top level
}

const grantRecordVersion = 1

// GrantStore keeps OAuth grants in the oauth_grants KV bucket, key =
// connector id; the KV revision is the optimistic-concurrency token.
type GrantStore struct {
	kv jetstream.KeyValue
}

// NewGrantStore wraps the `oauth_grants` bucket.
func NewGrantStore(kv jetstream.KeyValue) *GrantStore { return &GrantStore{kv: kv} }

// Get reads the grant of connector id; ErrNoGrant when there is none.
func (s *GrantStore) Get(ctx context.Context, id string) (OAuthGrant, error) {
	if !ValidID(id) {
		return OAuthGrant{}, fmt.Errorf("%w: %q", ErrNoGrant, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return OAuthGrant{}, fmt.Errorf("%w: %s", ErrNoGrant, id)
	}
	if err != nil {
		return OAuthGrant{}, fmt.Errorf("read oauth grant %s: %w", id, err)
	}
	var r grantRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return OAuthGrant{}, fmt.Errorf("decode oauth grant %s: %w", id, err)
	}
	if r.Version != grantRecordVersion {
		return OAuthGrant{}, fmt.Errorf("decode oauth grant %s: unknown record version %d", id, r.Version)
	}
	r.OAuthGrant.Revision = e.Revision()
	return r.OAuthGrant, nil
}

// Put stores g whatever is stored (a new authorization replaces the old
// grant and any rotation in flight, which then loses its compare-and-swap).
func (s *GrantStore) Put(ctx context.Context, g OAuthGrant) (OAuthGrant, error) {
	data, err := encodeGrant(g)
	if err != nil {
		return OAuthGrant{}, err
	}
	rev, err := s.kv.Put(ctx, g.ConnectorID, data)
	if err != nil {
		return OAuthGrant{}, fmt.Errorf("store oauth grant %s: %w", g.ConnectorID, err)
	}
	g.Revision = rev
	return g, nil
}

// Update replaces the grant if its stored revision is still g.Revision
// (ErrConflict otherwise, also when it was deleted meanwhile).
func (s *GrantStore) Update(ctx context.Context, g OAuthGrant) (OAuthGrant, error) {
	if g.Revision == 0 {
		return OAuthGrant{}, fmt.Errorf("%w: oauth grant %s: no revision to update", ErrConflict, g.ConnectorID)
	}
	data, err := encodeGrant(g)
	if err != nil {
		return OAuthGrant{}, err
	}
	rev, err := s.kv.Update(ctx, g.ConnectorID, data, g.Revision)
	if err != nil {
		if isWrongRevision(err) {
			return OAuthGrant{}, fmt.Errorf("%w: oauth grant %s", ErrConflict, g.ConnectorID)
		}
		return OAuthGrant{}, fmt.Errorf("update oauth grant %s: %w", g.ConnectorID, err)
	}
	g.Revision = rev
	return g, nil
}

// Delete removes the grant of connector id (no error when there is none).
// Purge, not a delete marker: the bucket keeps no ciphertext of it.
func (s *GrantStore) Delete(ctx context.Context, id string) error {
	if err := s.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete oauth grant %s: %w", id, err)
	}
	return nil
}

func encodeGrant(g OAuthGrant) ([]byte, error) {
	if !ValidID(g.ConnectorID) {
		return nil, fmt.Errorf("oauth grant: invalid connector id %q", g.ConnectorID)
	}
	data, err := json.Marshal(grantRecord{Version: grantRecordVersion, OAuthGrant: g})
	if err != nil {
		return nil, fmt.Errorf("encode oauth grant %s: %w", g.ConnectorID, err)
	}
	return data, nil
}

// Site is scheme://host of a site URL, lower case: a Jira base URL and a
// Confluence one (…/wiki) of one Atlassian Cloud site have the same Site.
func Site(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(raw), "/"))
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// SharedGrantProblem says why dep (a connector with OAuthGrantFrom) may not
// use src's grant, "" when it may: src must be a Jira Cloud oauth2
// connector that uses its own grant, of the same site and with the same
// client id. The registry checks it on every write of either connector;
// workers check it again before they open src's refresh token for dep.
func SharedGrantProblem(dep, src Connector) string {
	switch {
	case src.ID != dep.OAuthGrantFrom:
		return fmt.Sprintf("connector %q is not the one named (%q)", src.ID, dep.OAuthGrantFrom)
	case src.System != Jira || src.AuthMode != AuthOAuth2:
		return fmt.Sprintf("connector %q is a %s connector with auth mode %s; the grant must come from a Jira connector with auth mode oauth2", src.ID, src.System, src.AuthMode)
	case src.OAuthGrantFrom != "":
		return fmt.Sprintf("connector %q uses the grant of %q itself; name %q", src.ID, src.OAuthGrantFrom, src.OAuthGrantFrom)
	case src.Deployment != Cloud || dep.Deployment != Cloud:
		return "OAuth 2.0 grants are shared on Atlassian Cloud only"
	case Site(src.BaseURL) != Site(dep.BaseURL):
		return fmt.Sprintf("connector %q is for site %s, this connector for %s: a grant serves one site", src.ID, Site(src.BaseURL), Site(dep.BaseURL))
	case src.OAuthClientID != dep.OAuthClientID:
		return fmt.Sprintf("connector %q uses another OAuth app (client id %q, this connector %q): the grant belongs to one app", src.ID, src.OAuthClientID, dep.OAuthClientID)
	}
	return ""
}

// ConsentScopes is what authorizing owner asks for: its scopes with those
// of every connector using its grant, each once, in first-seen order.
func ConsentScopes(owner Connector, dependants ...Connector) []string {
	var out []string
	for _, c := range append([]Connector{owner}, dependants...) {
		for _, s := range c.OAuthScopes {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// MissingScopes are the scopes of want that have lacks.
func MissingScopes(have, want []string) []string {
	var out []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			out = append(out, s)
		}
	}
	return out
}

// List returns every grant in the bucket (the registry's rewrap).
func (s *GrantStore) List(ctx context.Context) ([]OAuthGrant, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list oauth grants: %w", err)
	}
	defer func() { _ = keys.Stop() }()
	var out []OAuthGrant
	seen := map[string]bool{}
	for id := range keys.Keys() {
		if seen[id] {
			continue // a key written during the listing can show twice
		}
		seen[id] = true
		g, err := s.Get(ctx, id)
		if errors.Is(err, ErrNoGrant) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}
