// Package registry is the gRPC connector registry: it owns connector
// configurations, encrypts their credentials before storage, tests connections,
// reports capabilities and publishes an audit event per mutation.
package registry

import (
	"errors"
	"net/url"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/pkg/apiauth"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Config is the registry's configuration. Env variables map onto it (see cmd/hub).
type Config struct {
	// ListenAddr is where the gRPC server listens.
	ListenAddr string `env:"REGISTRY_LISTEN_ADDR" envDefault:"127.0.0.1:7400"`
	// Tokens are "name:role:token" triples, comma separated (HUB_API_TOKENS).
	Tokens []string `env:"HUB_API_TOKENS" envSeparator:","`
	// TokensFile holds one "name:role:token" per line; # starts a comment.
	TokensFile string `env:"HUB_API_TOKENS_FILE"`
	// AllowEndpoints lists CIDRs explicitly allowed as tracker endpoints even though
	// they are link-local or otherwise refused (e.g. "169.254.10.0/24"); every
	// service reads the same setting (trackers.ParseAllowList).
	AllowEndpoints []string `env:"HUB_ALLOW_ENDPOINTS" envSeparator:","`
	// MaxResponseBytes is HUB_MAX_RESPONSE_BYTES, the cap on every tracker
	// response body (0: trackers.DefaultMaxResponseBytes).
	MaxResponseBytes int64 `env:"HUB_MAX_RESPONSE_BYTES"`
	// StaleAfter is the credential age at which CheckCredentials calls it stale.
	StaleAfter time.Duration `env:"REGISTRY_CREDENTIAL_STALE_AFTER" envDefault:"2160h"`
	// TestTimeout bounds one connection test.
	TestTimeout time.Duration `env:"REGISTRY_TEST_TIMEOUT" envDefault:"20s"`
	// WebhookPublicURL is the receiver's URL as the trackers reach it
	// (services/webhooks behind its proxy, e.g. https://hooks.example.com);
	// a connector's hook points at <it>/webhooks/<id>. Empty: hooks are
	// registered by hand (hubctl connectors webhook ID).
	WebhookPublicURL string `env:"REGISTRY_WEBHOOK_PUBLIC_URL"`
	// DrainTimeout bounds graceful shutdown before in-flight calls are cut.
	DrainTimeout time.Duration `env:"REGISTRY_DRAIN_TIMEOUT" envDefault:"10s"`
}

// DefaultConfig is what an empty environment gives: the envDefault tags
// above are the one place a default is written. It panics only on a
// malformed tag, a bug the tests catch.
func DefaultConfig() Config {
	return env.Must(env.ParseAsWithOptions[Config](env.Options{Environment: map[string]string{}}))
}

// Validate checks the configuration and parses what needs parsing.
func (c Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" {
		errs = append(errs, errors.New("REGISTRY_LISTEN_ADDR is empty"))
	}
	if _, err := trackers.ParseAllowList(c.AllowEndpoints); err != nil {
		errs = append(errs, err)
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("HUB_MAX_RESPONSE_BYTES must not be negative"))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, errors.New("REGISTRY_CREDENTIAL_STALE_AFTER must be positive"))
	}
	if c.TestTimeout <= 0 {
		errs = append(errs, errors.New("REGISTRY_TEST_TIMEOUT must be positive"))
	}
	if u := c.WebhookPublicURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
			errs = append(errs, errors.New("REGISTRY_WEBHOOK_PUBLIC_URL must be an http(s) URL without query or fragment"))
		}
	}
	if _, err := c.apiTokens(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// apiTokens reads the tokens from the list and the file. Errors never echo a token.
func (c Config) apiTokens() ([]apiauth.Token, error) {
	return apiauth.Load(c.Tokens, c.TokensFile)
}
