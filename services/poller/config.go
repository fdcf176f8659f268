// Package poller discovers tickets: any number of poller replicas share the
// connectors of their systems through leases in the poll_leases KV bucket
// (no leader), poll each connector once per its interval through the
// tracker's Discoverer, and publish ticket.discovered / updated / closed
// events with deterministic ids, advancing the cursor only past what was
// published.
package poller

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Config tunes a poller replica. Env variables map onto it.
type Config struct {
	// Systems this replica polls; empty: every system with discovery. New
	// refuses a system the tracker registry cannot discover on.
	Systems []string `env:"POLLER_SYSTEMS" envSeparator:","`
	// Zone is the edge site this replica serves: it polls only connectors
	// whose zone is this one. Empty (a central replica): it polls only
	// connectors without a zone. Replicas count each other per zone and
	// system, so a zone's connectors are shared among that zone's replicas.
	Zone string `env:"POLLER_ZONE"`
	// ReplicaID names this replica in leases; default host-pid.
	ReplicaID string `env:"POLLER_REPLICA_ID"`
	// LeaseTTL is the poll_leases bucket's TTL: the hub provisions the bucket
	// with it (bus.ProvisionOptions.LeaseTTL), and New refuses to start a
	// replica when the bucket's TTL differs. Leases are renewed every third
	// of it; a dead replica's connectors are taken over within it.
	LeaseTTL time.Duration `env:"POLLER_LEASE_TTL" envDefault:"30s"`
	// Tick is how often the scheduler looks for due connectors.
	Tick time.Duration `env:"POLLER_TICK" envDefault:"1s"`
	// Lookback widens incremental queries below the cursor, so clock skew and
	// minute-precision query languages cannot lose a ticket; dedup ids make
	// the overlap harmless.
	Lookback time.Duration `env:"POLLER_LOOKBACK" envDefault:"2m"`
	// ReconcileEvery runs a full listing (closure detection) every N cycles on
	// trackers whose full listing is not cheap.
	ReconcileEvery int `env:"POLLER_RECONCILE_EVERY" envDefault:"10"`
	// Concurrency bounds connectors polled at once by this replica: the
	// scheduler's worker slots. A due connector waits for a free slot.
	Concurrency int `env:"POLLER_CONCURRENCY" envDefault:"64"`
	// HostConcurrency bounds the cycles under way against one tracker host,
	// so one slow tracker cannot take every slot. Half the slots by default:
	// many connectors share a host (github.com, a company's Jira), and at
	// 150 ms an answer, 32 slots poll 12,800 of them a minute.
	HostConcurrency int `env:"POLLER_HOST_CONCURRENCY" envDefault:"32"`
	// CycleTimeout bounds one poll cycle, so a hanging tracker cannot hold
	// a slot; a cycle cut short counts as a transient failure.
	CycleTimeout time.Duration `env:"POLLER_CYCLE_TIMEOUT" envDefault:"5m"`
	// MaxDefer caps how long a tracker's Retry-After may hold a connector back.
	MaxDefer time.Duration `env:"POLLER_MAX_DEFER" envDefault:"15m"`
	// BackoffMax caps the backoff across cycles of a connector whose tracker
	// keeps failing (5xx, timeouts): the wait doubles from the poll interval
	// with each failed cycle, and resets on success.
	BackoffMax time.Duration `env:"POLLER_BACKOFF_MAX" envDefault:"15m"`
	// MaxPages bounds one listing, a guard against a tracker that never ends.
	MaxPages int `env:"POLLER_MAX_PAGES" envDefault:"500"`
	// Retries of a transient failure within one cycle, with exponential backoff and jitter.
	Retries     int           `env:"POLLER_RETRIES" envDefault:"3"`
	RetryBase   time.Duration `env:"POLLER_RETRY_BASE" envDefault:"500ms"`
	RetryMax    time.Duration `env:"POLLER_RETRY_MAX" envDefault:"30s"`
	RequestTime time.Duration `env:"POLLER_REQUEST_TIMEOUT" envDefault:"30s"`
	// MaxInlineWait: a rate limit asking for at most this long is waited out
	// inside the cycle; a longer one defers the connector.
	MaxInlineWait time.Duration `env:"POLLER_MAX_INLINE_WAIT" envDefault:"5s"`
	// MaxBodyBytes caps a ticket's description and each of its comments in
	// an event; the rest is left out, with a marker saying how much.
	MaxBodyBytes int `env:"POLLER_MAX_BODY_BYTES" envDefault:"65536"`
	// MaxEventBytes caps a whole event (the server's payload limit caps it
	// too): beyond it the oldest comments are left out, then more of the
	// description, with a marker saying how many, so an oversized ticket
	// never blocks its connector.
	MaxEventBytes int `env:"POLLER_MAX_EVENT_BYTES" envDefault:"524288"`
	// SaveEvery spaces the poll-state saves within a listing: acknowledged
	// pages are saved at most this often, and always at the end of the
	// listing or when it is cut short. A replica that dies in between
	// publishes those pages again (their event ids make them duplicates).
	// 0 saves after every page.
	SaveEvery time.Duration `env:"POLLER_SAVE_EVERY" envDefault:"250ms"`
	// WebhookReconcile is the poll interval of a connector with
	// `webhook: true` while its webhooks are healthy (a notice came within
	// this interval): the poll is then only the reconcile that recovers
	// lost deliveries. Never shorter than the connector's own interval.
	WebhookReconcile time.Duration `env:"POLLER_WEBHOOK_RECONCILE_INTERVAL" envDefault:"10m"`
	// StateCacheMiB bounds the replica's cache of decoded poll-state parts
	// (the known tickets and page caches of the connectors it polls, kept
	// so an idle cycle does not decode them again), in MiB of heap,
	// estimated; least recently polled connectors are dropped first. 0
	// turns the cache off (every cycle decodes its connector's parts).
	// Sizing: docs/capacity.md.
	StateCacheMiB int `env:"POLLER_STATE_CACHE_MIB" envDefault:"32"`
}

// DefaultConfig is what an empty environment gives: the envDefault tags
// above are the one place a default is written. It panics only on a
// malformed tag, a bug the tests catch.
func DefaultConfig() Config {
	return envparse.Must(envparse.ParseAsWithOptions[Config](envparse.Options{Environment: map[string]string{}}))
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.WebhookReconcile <= 0 {
		errs = append(errs, errors.New("POLLER_WEBHOOK_RECONCILE_INTERVAL must be positive"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, errors.New("POLLER_LEASE_TTL must be at least 1s"))
	}
	if c.Tick <= 0 || c.Tick > c.LeaseTTL/3 {
		errs = append(errs, errors.New("POLLER_TICK must be positive and at most a third of the lease TTL"))
	}
	if c.SaveEvery < 0 {
		return errors.New("POLLER_SAVE_EVERY must not be negative")
	}
	if c.Lookback < 0 {
		errs = append(errs, errors.New("POLLER_LOOKBACK must not be negative"))
	}
	if c.ReconcileEvery < 1 || c.Concurrency < 1 || c.HostConcurrency < 1 || c.MaxPages < 1 || c.Retries < 0 {
		errs = append(errs, errors.New("POLLER_RECONCILE_EVERY, POLLER_CONCURRENCY, POLLER_HOST_CONCURRENCY and POLLER_MAX_PAGES must be at least 1, POLLER_RETRIES at least 0"))
	}
	if c.StateCacheMiB < 0 {
		errs = append(errs, errors.New("POLLER_STATE_CACHE_MIB must not be negative"))
	}
	if c.CycleTimeout <= 0 {
		errs = append(errs, errors.New("POLLER_CYCLE_TIMEOUT must be positive"))
	}
	if c.MaxDefer <= 0 || c.BackoffMax <= 0 {
		errs = append(errs, errors.New("POLLER_MAX_DEFER and POLLER_BACKOFF_MAX must be positive"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxEventBytes < 16384 {
		errs = append(errs, errors.New("POLLER_MAX_BODY_BYTES must be at least 1024 and POLLER_MAX_EVENT_BYTES at least 16384"))
	}
	if c.Zone != "" && !connector.ValidZone(c.Zone) {
		errs = append(errs, fmt.Errorf("POLLER_ZONE %q: 1-32 lowercase letters, digits and '-', starting with a letter", c.Zone))
	}
	if c.ReplicaID != "" && !validReplicaID(c.ReplicaID) {
		errs = append(errs, fmt.Errorf("POLLER_REPLICA_ID %q: letters, digits, '-' and '_' only", c.ReplicaID))
	}
	return errors.Join(errs...)
}

func validReplicaID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func defaultReplicaID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if validReplicaID(string(r)) {
			b.WriteRune(r)
		}
	}
	id := fmt.Sprintf("%s-%d", b.String(), os.Getpid())
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return strings.TrimLeft(id, "-")
}
