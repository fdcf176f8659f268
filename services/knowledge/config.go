// Package knowledge is the knowledge service: it enriches discovered and
// updated tickets with Confluence pages (ticket.enriched events) and answers
// searches from other services over NATS (micro endpoint knowledge.search)
// and gRPC (connectorhub.v1.KnowledgeService/Search).
package knowledge

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/pkg/apiauth"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Config is the knowledge service's configuration. Env variables map onto it.
type Config struct {
	// ListenAddr is where the gRPC server listens; empty disables gRPC unless
	// Deps.Listener is given.
	ListenAddr string `env:"KNOWLEDGE_LISTEN_ADDR" envDefault:"127.0.0.1:7420"`
	// Tokens and TokensFile are the registry's API tokens ("name:role:token");
	// any role may search. gRPC needs at least one.
	Tokens     []string `env:"HUB_API_TOKENS" envSeparator:","`
	TokensFile string   `env:"HUB_API_TOKENS_FILE"`

	// Consumer is the durable consumer on TICKETS that replicas share.
	Consumer string `env:"KNOWLEDGE_CONSUMER" envDefault:"knowledge"`
	// Concurrency is how many tickets one replica enriches at once.
	Concurrency int `env:"KNOWLEDGE_CONCURRENCY" envDefault:"4"`
	// MaxHits is how many pages an enrichment carries per Confluence connector.
	MaxHits int `env:"KNOWLEDGE_MAX_HITS" envDefault:"5"`
	// DefaultLimit is a search's limit when the caller gives none.
	DefaultLimit int `env:"KNOWLEDGE_DEFAULT_LIMIT" envDefault:"10"`
	// MaxTerms bounds the words a query built from a ticket keeps.
	MaxTerms int `env:"KNOWLEDGE_MAX_TERMS" envDefault:"12"`

	// SearchTimeout bounds one connector's search, page bodies included.
	SearchTimeout time.Duration `env:"KNOWLEDGE_SEARCH_TIMEOUT" envDefault:"10s"`
	// RequestTimeout is the deadline of a search request (NATS or gRPC) when
	// the caller sets none shorter.
	RequestTimeout time.Duration `env:"KNOWLEDGE_REQUEST_TIMEOUT" envDefault:"15s"`
	// CacheTTL is how long a (connector, query) result is reused.
	CacheTTL time.Duration `env:"KNOWLEDGE_CACHE_TTL" envDefault:"10m"`
	// StateTTL is how long the query of a ticket is remembered, so an update
	// that leaves the query as it was is not enriched again.
	StateTTL time.Duration `env:"KNOWLEDGE_STATE_TTL" envDefault:"720h"`
	// BucketReplicas of the knowledge_cache and knowledge_state buckets.
	BucketReplicas int `env:"KNOWLEDGE_BUCKET_REPLICAS" envDefault:"1"`

	// FullText adds each hit's page body as plain text (Confluence REST v2
	// pages, storage format), capped at FullTextMaxBytes, for every
	// connector; a connector can also ask for it alone (full_text).
	FullText         bool `env:"KNOWLEDGE_FULL_TEXT" envDefault:"false"`
	FullTextMaxBytes int  `env:"KNOWLEDGE_FULL_TEXT_MAX_BYTES" envDefault:"16384"`

	// FailureBackoff is how long a connector that failed (unreachable, 5xx)
	// is not asked again; a rate limit uses its Retry-After instead.
	FailureBackoff time.Duration `env:"KNOWLEDGE_FAILURE_BACKOFF" envDefault:"30s"`
	// MaxRetryWait is the longest Retry-After waited for in place (once);
	// longer ones fail the search at once with the reason.
	MaxRetryWait time.Duration `env:"KNOWLEDGE_MAX_RETRY_WAIT" envDefault:"2s"`
	// AllowEndpoints lists CIDRs Confluence may live in although the endpoint
	// policy refuses them by default (link-local); every service reads the
	// same setting (trackers.ParseAllowList).
	AllowEndpoints []string `env:"HUB_ALLOW_ENDPOINTS" envSeparator:","`
	// MaxResponseBytes is HUB_MAX_RESPONSE_BYTES, the cap on every tracker
	// response body (0: trackers.DefaultMaxResponseBytes).
	MaxResponseBytes int64 `env:"HUB_MAX_RESPONSE_BYTES"`
	// ContextTimeout is the one deadline under which every watched scope of
	// a ticket's context connectors is read (concurrently); a scope not read
	// by then is reported "timed out after …" and the event goes out.
	ContextTimeout time.Duration `env:"KNOWLEDGE_CONTEXT_TIMEOUT" envDefault:"2s"`
	// ContextCacheTTL is how long a scope's report is reused.
	ContextCacheTTL time.Duration `env:"KNOWLEDGE_CONTEXT_CACHE_TTL" envDefault:"1m"`
	// ContextCacheSize bounds the reports kept (least recently used go first).
	ContextCacheSize int `env:"KNOWLEDGE_CONTEXT_CACHE_SIZE" envDefault:"1024"`

	// DrainTimeout bounds graceful shutdown.
	DrainTimeout time.Duration `env:"KNOWLEDGE_DRAIN_TIMEOUT" envDefault:"10s"`
}

// DefaultConfig is what an empty environment gives: the envDefault tags
// above are the one place a default is written. It panics only on a
// malformed tag, a bug the tests catch.
func DefaultConfig() Config {
	return env.Must(env.ParseAsWithOptions[Config](env.Options{Environment: map[string]string{}}))
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	atLeast := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("%s must be in %d..%d, got %d", name, lo, hi, v))
		}
	}
	if c.Consumer == "" || strings.ContainsAny(c.Consumer, ".*> \t") {
		errs = append(errs, fmt.Errorf("KNOWLEDGE_CONSUMER %q is not a consumer name", c.Consumer))
	}
	atLeast("KNOWLEDGE_CONCURRENCY", c.Concurrency, 1, 256)
	atLeast("KNOWLEDGE_MAX_HITS", c.MaxHits, 1, 100)
	atLeast("KNOWLEDGE_DEFAULT_LIMIT", c.DefaultLimit, 1, 100)
	atLeast("KNOWLEDGE_MAX_TERMS", c.MaxTerms, 1, 32)
	atLeast("KNOWLEDGE_BUCKET_REPLICAS", c.BucketReplicas, 1, 5)
	positive("KNOWLEDGE_SEARCH_TIMEOUT", c.SearchTimeout)
	positive("KNOWLEDGE_REQUEST_TIMEOUT", c.RequestTimeout)
	positive("KNOWLEDGE_STATE_TTL", c.StateTTL)
	positive("KNOWLEDGE_FAILURE_BACKOFF", c.FailureBackoff)
	positive("KNOWLEDGE_DRAIN_TIMEOUT", c.DrainTimeout)
	positive("KNOWLEDGE_CONTEXT_TIMEOUT", c.ContextTimeout)
	positive("KNOWLEDGE_CONTEXT_CACHE_TTL", c.ContextCacheTTL)
	atLeast("KNOWLEDGE_CONTEXT_CACHE_SIZE", c.ContextCacheSize, 1, 1<<20)
	if c.CacheTTL < time.Second {
		errs = append(errs, errors.New("KNOWLEDGE_CACHE_TTL must be at least 1s"))
	}
	if c.MaxRetryWait < 0 {
		errs = append(errs, errors.New("KNOWLEDGE_MAX_RETRY_WAIT must not be negative"))
	}
	// Checked even when off: a connector may ask for full text on its own.
	atLeast("KNOWLEDGE_FULL_TEXT_MAX_BYTES", c.FullTextMaxBytes, 256, 1<<20)
	if _, err := trackers.ParseAllowList(c.AllowEndpoints); err != nil {
		errs = append(errs, err)
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("HUB_MAX_RESPONSE_BYTES must not be negative"))
	}
	if _, err := c.apiTokens(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// apiTokens reads the registry's "name:role:token" entries (pkg/apiauth).
func (c Config) apiTokens() ([]apiauth.Token, error) {
	return apiauth.Load(c.Tokens, c.TokensFile)
}
