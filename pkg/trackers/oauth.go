package trackers

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// OAuthTokens gives an AuthOAuth2 connector's current access token and
// where its calls go. pkg/oauthgrant implements it (refresh, cache,
// rotation of the refresh token); the session only asks.
type OAuthTokens interface {
	// Access returns an access token for c, whose client secret is
	// clientSecret. Errors wrap ErrUnauthorized when the grant is unusable
	// (re-authorize), ErrTransient when the token endpoint did not answer.
	Access(ctx context.Context, c connector.Connector, clientSecret connector.Secret) (OAuthAccess, error)
	// Forget drops connector id's cached access token (the gateway refused
	// it before its expiry: revoked), so the next call refreshes.
	Forget(id string)
}

// OAuthAccess is a minted access token (never stored) and the API root of
// the connector's site on the gateway: https://api.atlassian.com/ex/{product}/{cloudId}.
type OAuthAccess struct {
	Token   connector.Secret
	APIRoot *url.URL
}

// oauthRequestURL is base/path for an OAuth session: the gateway's site
// root instead of the site URL, and the bearer token to send.
func (s *Session) oauthRequestURL(ctx context.Context, path string) (*url.URL, connector.Secret, error) {
	if s.oauth == nil {
		return nil, connector.Secret{}, fmt.Errorf("%w: auth mode oauth2 needs the OAuth token service (HUB_ATLASSIAN_* settings)", ErrInvalidConfig)
	}
	acc, err := s.oauth.Access(ctx, s.Connector, s.Secret)
	if err != nil {
		return nil, connector.Secret{}, err
	}
	return acc.APIRoot.JoinPath(path), acc.Token, nil
}

// ErrGrantInvalid is an OAuth grant the authorization server no longer
// accepts (the refresh token was revoked, expired or replaced), or none
// stored: nothing works until the connector is re-authorized. Errors that
// carry it also wrap ErrUnauthorized, so the retry rule never retries them.
var ErrGrantInvalid = errors.New("OAuth grant is not usable")
