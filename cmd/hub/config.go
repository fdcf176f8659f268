package main

import (
	"errors"
	"fmt"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/services/knowledge"
	"github.com/connectorhub/connectorhub/services/poller"
	"github.com/connectorhub/connectorhub/services/registry"
	"github.com/connectorhub/connectorhub/services/webhooks"
	"github.com/connectorhub/connectorhub/services/writeback"
)

// Config is the all-in-one hub's configuration; environment variables map
// onto it (flags override the few that matter on a command line).
type Config struct {
	// DataDir holds the embedded NATS store, the local keyring and the
	// generated admin token.
	DataDir string `env:"HUB_DATA_DIR"`
	// NATSListen is where the embedded NATS also accepts TCP clients (the nats
	// CLI, services in other processes); empty: in-process only.
	NATSListen string `env:"HUB_NATS_LISTEN" envDefault:"127.0.0.1:4222"`
	// NATSURL, when set, is a shared NATS server used instead of the embedded one.
	NATSURL string `env:"HUB_NATS_URL"`
	// NATSCreds is the credential for a shared NATS (HUB_NATS_URL): an nkey
	// seed file or a .creds file used by every service of the process, or a
	// directory written by hub --provision-nats, from which each service takes
	// its role's <role>.nk (and operator.nk, if present, provisions).
	NATSCreds string `env:"HUB_NATS_CREDS"`
	// NATSTLSCert/Key/CA: with the embedded server, TLS on its TCP listener
	// (the CA then requires client certificates); with HUB_NATS_URL, the
	// client certificate and the CA that verifies the server.
	NATSTLSCert string `env:"HUB_NATS_TLS_CERT"`
	NATSTLSKey  string `env:"HUB_NATS_TLS_KEY"`
	NATSTLSCA   string `env:"HUB_NATS_TLS_CA"`
	// JSDomain is the JetStream domain of the central cluster, for a
	// process at an edge site whose HUB_NATS_URL is a leaf node: its
	// JetStream API calls go to $JS.<domain>.API and reach the central
	// streams and buckets through the leaf connection. Empty: the server's own.
	JSDomain string `env:"HUB_JS_DOMAIN"`
	// Target is "all" or a comma list of registry, poller, writeback, knowledge.
	Target    string `env:"HUB_TARGET" envDefault:"all"`
	StateFile string `env:"HUB_STATE_FILE"`
	LogLevel  string `env:"HUB_LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"HUB_LOG_FORMAT" envDefault:"text"`
	// AdminAddr is the admin HTTP listener (/healthz, /readyz, /metrics) of
	// this process, whatever its target; empty: none. Separate processes on
	// one host each need their own.
	AdminAddr string `env:"HUB_ADMIN_ADDR" envDefault:"127.0.0.1:7401"`
	// Pprof adds Go's profiling endpoints (/debug/pprof/: heap, goroutine,
	// profile, …) to the admin listener. Off by default: a heap profile
	// shows the shape of the process's data (never secrets in clear, but
	// connector ids and URLs), so turn it on only where the admin address is
	// private (it listens on loopback by default).
	Pprof bool `env:"HUB_PPROF" envDefault:"false"`
	// ShutdownDelay: after SIGTERM, /readyz answers 503 for this long before
	// the services stop taking work, so a load balancer or a supervisor sees
	// the process leave before it does.
	ShutdownDelay time.Duration `env:"HUB_SHUTDOWN_DELAY" envDefault:"0s"`
	// AllowEndpoints is HUB_ALLOW_ENDPOINTS, the endpoint allow-list of every
	// service: the registry and knowledge read it into their own configs, and
	// the hub builds the poller's, the writeback's and the test responder's
	// tracker options from it.
	AllowEndpoints []string `env:"HUB_ALLOW_ENDPOINTS" envSeparator:","`
	// MaxResponseBytes is HUB_MAX_RESPONSE_BYTES, the cap on every tracker
	// response body (0: trackers.DefaultMaxResponseBytes).
	MaxResponseBytes int64 `env:"HUB_MAX_RESPONSE_BYTES"`
	// PaceBelow and PaceMaxWait (HUB_PACE_BELOW, HUB_PACE_MAX_WAIT): the
	// workers pace a credential's requests once less than this fraction of
	// the tracker's rate-limit budget is left, and wait at most this long
	// for a request's turn inside a call (trackers.PacerConfig).
	PaceBelow   float64       `env:"HUB_PACE_BELOW" envDefault:"0.2"`
	PaceMaxWait time.Duration `env:"HUB_PACE_MAX_WAIT" envDefault:"5s"`
	// PoolRetry and PoolRetryMax (HUB_POOL_RETRY, HUB_POOL_RETRY_MAX): a
	// token pool's refused token is tried again after the first, doubling
	// up to the second.
	PoolRetry    time.Duration `env:"HUB_POOL_RETRY" envDefault:"5m"`
	PoolRetryMax time.Duration `env:"HUB_POOL_RETRY_MAX" envDefault:"6h"`

	Registry  registry.Config
	Poller    poller.Config
	Writeback writeback.Config
	Knowledge knowledge.Config
	Webhooks  webhooks.Config
	Vault     VaultEnv
	// OAuth are the Atlassian OAuth 2.0 (3LO) endpoints the workers mint
	// access tokens at, for oauth2 connectors: HUB_ATLASSIAN_AUTH_URL,
	// HUB_ATLASSIAN_TOKEN_URL, HUB_ATLASSIAN_API_URL (Atlassian's by default).
	OAuth   oauthgrant.Endpoints `envPrefix:"HUB_ATLASSIAN_"`
	Streams StreamsEnv
	// Sandbox starts fake trackers with seeded tickets and registers connectors to them.
	Sandbox       bool   `env:"HUB_SANDBOX"`
	SandboxListen string `env:"HUB_SANDBOX_LISTEN" envDefault:"127.0.0.1:7411"`
	// SandboxRegistry, with --target fakes, is the registry's gRPC address
	// where the fakes register their connectors (empty: they only serve).
	SandboxRegistry string `env:"HUB_SANDBOX_REGISTRY"`
	// SandboxAdvertise, with --target fakes, is the host name the connectors
	// use to reach the fakes (a container's service name); empty: the
	// listen address.
	SandboxAdvertise string `env:"HUB_SANDBOX_ADVERTISE"`
	// SandboxTokenFile, with --target fakes, holds the admin API token the
	// fakes register their connectors with (the registry's <data dir>/admin.token
	// on a shared volume, or a token of HUB_API_TOKENS).
	SandboxTokenFile string `env:"HUB_SANDBOX_TOKEN_FILE"`
}

// StreamsEnv shapes the streams and buckets a provisioning process creates
// or updates (bus.Provision): replicas, and retention per stream. A zero
// limit takes the stream's default (bus.DefaultLimits: TICKETS 7 days,
// RESULTS 3 days, WRITEBACK 30 days, AUDIT a year, each at most 1 GiB); a
// negative one means no limit. Every provisioning process should carry the
// same values: the last one started wins.
type StreamsEnv struct {
	// Replicas of every stream and bucket (3 on a 3-node cluster); at most
	// the cluster's size.
	Replicas          int           `env:"HUB_STREAM_REPLICAS" envDefault:"1"`
	TicketsMaxAge     time.Duration `env:"HUB_TICKETS_MAX_AGE"`
	TicketsMaxBytes   int64         `env:"HUB_TICKETS_MAX_BYTES"`
	ResultsMaxAge     time.Duration `env:"HUB_RESULTS_MAX_AGE"`
	ResultsMaxBytes   int64         `env:"HUB_RESULTS_MAX_BYTES"`
	WritebackMaxAge   time.Duration `env:"HUB_WRITEBACK_MAX_AGE"`
	WritebackMaxBytes int64         `env:"HUB_WRITEBACK_MAX_BYTES"`
	AuditMaxAge       time.Duration `env:"HUB_AUDIT_MAX_AGE"`
	AuditMaxBytes     int64         `env:"HUB_AUDIT_MAX_BYTES"`
}

// provisionOptions is the bus.Provision options of this process.
func (c Config) provisionOptions() bus.ProvisionOptions {
	s := c.Streams
	return bus.ProvisionOptions{LeaseTTL: c.Poller.LeaseTTL, Replicas: s.Replicas, Limits: map[string]bus.StreamLimits{
		bus.StreamTickets:   {MaxAge: s.TicketsMaxAge, MaxBytes: s.TicketsMaxBytes},
		bus.StreamResults:   {MaxAge: s.ResultsMaxAge, MaxBytes: s.ResultsMaxBytes},
		bus.StreamWriteback: {MaxAge: s.WritebackMaxAge, MaxBytes: s.WritebackMaxBytes},
		bus.StreamAudit:     {MaxAge: s.AuditMaxAge, MaxBytes: s.AuditMaxBytes},
	}}
}

// VaultEnv selects Vault transit instead of the local keyring when Addr is set.
type VaultEnv struct {
	Addr     string `env:"VAULT_ADDR"`
	Token    string `env:"VAULT_TOKEN"`
	RoleID   string `env:"VAULT_ROLE_ID"`
	SecretID string `env:"VAULT_SECRET_ID"`
	// RoleIDFile and SecretIDFile name files holding the AppRole role id and
	// secret id (mounted secrets), read at start instead of VAULT_ROLE_ID
	// and VAULT_SECRET_ID.
	RoleIDFile   string        `env:"VAULT_ROLE_ID_FILE"`
	SecretIDFile string        `env:"VAULT_SECRET_ID_FILE"`
	Namespace    string        `env:"VAULT_NAMESPACE"`
	CACert       string        `env:"VAULT_CACERT"`
	Mount        string        `env:"VAULT_TRANSIT_MOUNT" envDefault:"transit"`
	Key          string        `env:"VAULT_TRANSIT_KEY" envDefault:"connectorhub"`
	Timeout      time.Duration `env:"VAULT_TIMEOUT" envDefault:"10s"`
}

// secretsConfig turns the env into a VaultConfig; tokens are never logged
// (VaultConfig redacts itself).
func (v VaultEnv) secretsConfig(log *slog.Logger) secrets.VaultConfig {
	cfg := secrets.VaultConfig{Address: v.Addr, Token: v.Token, Namespace: v.Namespace, CACert: v.CACert,
		TransitMount: v.Mount, KeyName: v.Key, Timeout: v.Timeout, Logger: log}
	if v.RoleID != "" {
		cfg.Token = ""
		cfg.AppRole = &secrets.AppRoleAuth{RoleID: v.RoleID, SecretID: v.SecretID}
	}
	return cfg
}

// loadConfig reads the configuration from environ (env.ToMap(os.Environ()) in
// main). What environ leaves unset takes the envDefault tags, the hub's and
// each service's: the one place a default is written.
func loadConfig(environ map[string]string) (Config, error) {
	var cfg Config
	getenv := func(k string) string { return environ[k] }
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	if cfg.DataDir == "" {
		base := getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return cfg, errors.New("HUB_DATA_DIR is not set and there is no home directory")
			}
			base = filepath.Join(home, ".local", "share")
		}
		cfg.DataDir = filepath.Join(base, "connectorhub")
	}
	if cfg.StateFile == "" {
		cfg.StateFile = hubstate.PathFromEnv(getenv)
	}
	return cfg, nil
}

// natsClientAuth is how this process authenticates to a shared NATS.
func (c Config) natsClientAuth() bus.ClientAuth {
	return bus.ClientAuth{CredsFile: c.NATSCreds, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey, TLSCA: c.NATSTLSCA}
}

// Validate checks the parts main can check before starting anything.
func (c Config) Validate() error {
	var errs []error
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		errs = append(errs, errors.New("HUB_NATS_TLS_CERT and HUB_NATS_TLS_KEY go together"))
	}
	if c.NATSURL == "" && c.NATSTLSCA != "" && c.NATSTLSCert == "" {
		errs = append(errs, errors.New("HUB_NATS_TLS_CA on the embedded NATS needs HUB_NATS_TLS_CERT and HUB_NATS_TLS_KEY"))
	}
	if c.NATSURL == "" && c.NATSCreds != "" {
		errs = append(errs, errors.New("HUB_NATS_CREDS is for a shared NATS (HUB_NATS_URL); the embedded one keeps its credentials in <data dir>/"+credsDirName))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("HUB_LOG_FORMAT %q: want text or json", c.LogFormat))
	}
	if _, err := trackers.ParseAllowList(c.AllowEndpoints); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, errors.New("HUB_SHUTDOWN_DELAY must not be negative"))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("HUB_MAX_RESPONSE_BYTES must not be negative"))
	}
	if c.PaceBelow >= 1 {
		errs = append(errs, errors.New("HUB_PACE_BELOW must be below 1 (a fraction of the budget; 0 or less: pace only when the tracker says it is near its limit)"))
	}
	if c.PaceMaxWait < 0 || c.PoolRetry < 0 || c.PoolRetryMax < 0 {
		errs = append(errs, errors.New("HUB_PACE_MAX_WAIT, HUB_POOL_RETRY and HUB_POOL_RETRY_MAX must not be negative"))
	}
	if c.PoolRetryMax > 0 && c.PoolRetryMax < c.PoolRetry {
		errs = append(errs, errors.New("HUB_POOL_RETRY_MAX must not be below HUB_POOL_RETRY"))
	}
	if err := c.provisionOptions().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("stream settings (HUB_STREAM_REPLICAS, HUB_<STREAM>_MAX_AGE/_MAX_BYTES): %w", err))
	}
	if err := c.Poller.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Writeback.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Knowledge.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Webhooks.Validate(); err != nil {
		errs = append(errs, err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("HUB_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// paceBelow maps HUB_PACE_BELOW onto PacerConfig.Below, where 0 means the
// default: a setting of 0 (or less) asks to pace only near the limit.
func paceBelow(v float64) float64 {
	if v <= 0 {
		return -1
	}
	return v
}
