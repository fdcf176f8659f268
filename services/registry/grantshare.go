package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
)

// A Confluence connector may use a Jira connector's OAuth grant
// (oauth_grant_from): one consent and one rotating refresh token for both
// products of a site. Two grants of one app and user would do no good:
// with rotating refresh tokens each refresh retires the other's token.
// The rules the registry keeps are here; workers check the structural ones
// again (connector.SharedGrantProblem) before they open the owner's token.

// errGrantInUse refuses a change that would break the connectors using a
// grant (deleting its owner, moving it to another site or app).
var errGrantInUse = errors.New("the connector's OAuth grant is in use")

// grantUsers are the ids of the connectors whose oauth_grant_from is id.
func (s *Service) grantUsers(ctx context.Context, id string) ([]string, error) {
	all, _, err := s.idx.page(ctx, connector.Confluence, "", 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range all {
		if c.OAuthGrantFrom == id && c.ID != id {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// checkGrantSource checks that c may use the grant oauth_grant_from names:
// the source exists, is a Jira Cloud oauth2 connector of the same site and
// app that uses its own grant, and the scopes its grant was authorized for
// cover c's. With no grant stored yet any scopes pass: authorizing the
// source asks for its scopes and those of every connector using its grant.
func (s *Service) checkGrantSource(ctx context.Context, c connector.Connector) error {
	if c.OAuthGrantFrom == "" {
		return nil
	}
	field := func(desc string) error {
		return connector.ValidationError{{Field: "oauth_grant_from", Description: desc}}
	}
	src, err := s.store.Get(ctx, c.OAuthGrantFrom)
	if errors.Is(err, connector.ErrNotFound) {
		return field(fmt.Sprintf("connector %q does not exist", c.OAuthGrantFrom))
	}
	if err != nil {
		return fmt.Errorf("read grant source %s: %w", c.OAuthGrantFrom, err)
	}
	if why := connector.SharedGrantProblem(c, src); why != "" {
		return field(why)
	}
	g, err := s.grants.Get(ctx, src.ID)
	switch {
	case errors.Is(err, connector.ErrNoGrant):
		return nil
	case err != nil:
		return err
	case !g.For(src):
		return nil // left from another configuration: authorize asks anew
	}
	have := g.Scopes
	if len(have) == 0 {
		have = src.OAuthScopes // a grant stored before scopes were recorded
	}
	if missing := connector.MissingScopes(have, c.OAuthScopes); len(missing) > 0 {
		union := connector.ConsentScopes(src, c)
		return field(fmt.Sprintf("the grant of %q was authorized for %s, which lacks %s; add them to %q and authorize it again, then retry: "+
			"`hubctl connectors update %s %s` and `hubctl connectors authorize %s`",
			src.ID, strings.Join(have, " "), strings.Join(missing, " "), src.ID,
			src.ID, scopeFlags(union), src.ID))
	}
	return nil
}

func scopeFlags(scopes []string) string {
	var b strings.Builder
	for i, sc := range scopes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("--oauth-scope " + sc)
	}
	return b.String()
}

// ownerFields are the fields of a grant's owner that its users depend on:
// changing them drops or moves the grant.
var ownerFields = []string{"system", "base_url", "auth_mode", "deployment", "oauth_client_id", "http_proxy_url", "ca_bundle_pem"}

// checkOwnerChange refuses deleting the owner of a grant in use (fields
// nil) or changing what its users depend on.
func (s *Service) checkOwnerChange(ctx context.Context, id string, fields []string, deleting bool) error {
	if !deleting && !slices.ContainsFunc(fields, func(f string) bool { return slices.Contains(ownerFields, f) }) {
		return nil
	}
	users, err := s.grantUsers(ctx, id)
	if err != nil || len(users) == 0 {
		return err
	}
	what := "deleting it"
	if !deleting {
		what = "changing its site, auth mode, app, proxy or CA (the grant was authorized for them)"
	}
	return fmt.Errorf("%w: %s is the OAuth grant source of %s; %s would break them: point them at another Jira connector (`hubctl connectors update ID --oauth-grant-from OTHER`) or delete them first",
		errGrantInUse, id, strings.Join(users, ", "), what)
}

// grantOwner is the connector whose grant c shows: c, or its
// oauth_grant_from source when that is a valid source for it ("" ok false
// when the source is missing or does not match: c shows no grant).
func (s *Service) grantOwner(ctx context.Context, c connector.Connector) (connector.Connector, bool, error) {
	if c.OAuthGrantFrom == "" {
		return c, true, nil
	}
	src, err := s.idx.get(ctx, c.OAuthGrantFrom)
	if errors.Is(err, connector.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	return src, connector.SharedGrantProblem(c, src) == "", nil
}

// withSharedStatus shows on a connector using another's grant the auth
// error its source's poller last reported (the grant is one: when it is
// unusable, both connectors are, and the fix is to authorize the source).
func (s *Service) withSharedStatus(ctx context.Context, cs []connector.Connector, sts []connector.PollStatus) error {
	for i, c := range cs {
		if c.OAuthGrantFrom == "" || sts[i].AuthError != "" {
			continue
		}
		src, err := s.idx.status(ctx, c.OAuthGrantFrom)
		if err != nil {
			return err
		}
		if src[0].AuthError != "" {
			sts[i].AuthError = "the grant of " + c.OAuthGrantFrom + ": " + src[0].AuthError
			sts[i].Reauthorize = src[0].Reauthorize
		}
	}
	return nil
}

// rewrapGrants re-encrypts every stored refresh token under the newest key
// version (one batch call), each under its owner's refresh-token context,
// and stores it with compare-and-swap on the grant's revision: a grant a
// worker rotated meanwhile keeps the worker's token (which the worker
// encrypted under the newest key) and is counted unchanged, never
// overwritten with the older token.
func (s *Service) rewrapGrants(ctx context.Context, conns []connector.Connector, rep *RewrapReport) error {
	grants, err := s.grants.List(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]connector.Connector, len(conns))
	for _, c := range conns {
		byID[c.ID] = c
	}
	var (
		todo  []connector.OAuthGrant
		items []secrets.RewrapItem
	)
	for _, g := range grants {
		c, ok := byID[g.ConnectorID]
		if !ok || !g.For(c) || !g.Refresh.Set() {
			continue // left behind by a deletion or a change: nobody can open it
		}
		todo = append(todo, g)
		items = append(items, secrets.RewrapItem{KeyContext: c.OAuthRefreshContext(), Ciphertext: g.Refresh.Ciphertext})
	}
	if len(items) == 0 {
		return nil
	}
	wrapped, err := s.cipher.RewrapBatch(ctx, items)
	var batchErr *secrets.BatchError
	if err != nil && !errors.As(err, &batchErr) {
		return fmt.Errorf("rewrap refresh tokens: %w", err)
	}
	for i, g := range todo {
		if batchErr != nil && batchErr.Failed[i] != nil {
			s.log.WarnContext(ctx, "rewrap: refresh token not rewrapped", "connector", g.ConnectorID, "error", batchErr.Failed[i])
			rep.Failed = append(rep.Failed, g.ConnectorID)
			continue
		}
		if keyVersion(wrapped[i]) == keyVersion(g.Refresh.Ciphertext) {
			rep.RefreshUnchanged++
			continue
		}
		g.Refresh.Ciphertext = wrapped[i]
		_, err := s.grants.Update(ctx, g)
		switch {
		case errors.Is(err, connector.ErrConflict):
			// A worker rotated the token (or it was re-authorized or
			// dropped) since it was read: that write wins.
			s.log.InfoContext(ctx, "rewrap: refresh token rotated meanwhile; kept the newer one", "connector", g.ConnectorID)
			rep.RefreshUnchanged++
		case err != nil:
			s.log.WarnContext(ctx, "rewrap: refresh token not stored", "connector", g.ConnectorID, "error", err)
			rep.Failed = append(rep.Failed, g.ConnectorID)
		default:
			rep.RefreshRewrapped++
		}
	}
	return nil
}
