package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Provisioning defaults.
const (
	DefaultReplicas = 1
	// DefaultDuplicateWindow is longer than the 2-minute minimum so that a
	// poller's lookback overlap or a quick replay is still deduplicated.
	DefaultDuplicateWindow = 5 * time.Minute
	DefaultLeaseTTL        = 30 * time.Second

	// MinDuplicateWindow is the contract's lower bound (docs/architecture.md, "The bus contract").
	MinDuplicateWindow = 2 * time.Minute
	// WebhookDedupWindow is how long a webhook delivery id is remembered:
	// longer than any tracker's retries (GitHub's manual redeliveries keep
	// the id; Jira retries for up to about 30 minutes).
	WebhookDedupWindow = time.Hour
	// maxReplicas is JetStream's own upper bound.
	maxReplicas = 5
)

// StreamLimits bounds what one stream keeps (JetStream limits retention,
// discard old): a message goes when it is older than MaxAge or when the
// stream would exceed MaxBytes. A zero field takes the stream's default
// (DefaultLimits); a negative one means no limit.
type StreamLimits struct {
	MaxAge   time.Duration
	MaxBytes int64
}

const gib = 1 << 30

// DefaultLimits are the retention defaults per stream, sized to the data:
//   - TICKETS: a week. Consumers read ticket events as they come; a week
//     covers a consumer down over a long weekend and a replay after a fix.
//   - RESULTS: three days. The writeback acknowledges a result once written
//     back or failed (within its delivery budget: minutes), so a result is
//     kept until written back even across a writeback outage of days, then
//     goes; the ledger, not the stream, records what was done.
//   - WRITEBACK: 30 days, the outcomes operators and agents look back on.
//   - AUDIT: a year, the registry's audit trail.
//
// Each stream is also capped at 1 GiB (older messages go first), so a flood
// cannot fill the servers' disks; raise it with the HUB_<STREAM>_MAX_BYTES
// settings when a stream's rate needs more for its age.
var DefaultLimits = map[string]StreamLimits{
	StreamTickets:   {MaxAge: 7 * 24 * time.Hour, MaxBytes: gib},
	StreamResults:   {MaxAge: 3 * 24 * time.Hour, MaxBytes: gib},
	StreamWriteback: {MaxAge: 30 * 24 * time.Hour, MaxBytes: gib},
	StreamAudit:     {MaxAge: 365 * 24 * time.Hour, MaxBytes: gib},
}

// ErrInvalidOptions is returned by Validate for unusable options.
var ErrInvalidOptions = errors.New("bus: invalid options")

// ProvisionOptions shapes the streams and buckets Provision creates.
// The zero value means every default (file storage, one replica).
type ProvisionOptions struct {
	// Replicas per stream and bucket; 0 means DefaultReplicas. Must not exceed
	// the cluster size (a single server accepts only 1).
	Replicas int
	// DuplicateWindow of every stream; 0 means DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// LeaseTTL is the age after which a poll_leases entry expires; 0 means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Storage of streams and buckets; the zero value is jetstream.FileStorage.
	// Storage cannot be changed once a stream exists.
	Storage jetstream.StorageType
	// Limits per stream name; a stream absent or a zero field takes
	// DefaultLimits. Changed limits are applied to existing streams.
	Limits map[string]StreamLimits
}

// limits is the effective retention of stream name: o.Limits over
// DefaultLimits, with a negative value meaning "no limit" (JetStream's -1
// for bytes, 0 for age).
func (o ProvisionOptions) limits(name string) StreamLimits {
	l, d := o.Limits[name], DefaultLimits[name]
	if l.MaxAge == 0 {
		l.MaxAge = d.MaxAge
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxAge < 0 {
		l.MaxAge = 0
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = -1
	}
	return l
}

// withDefaults returns o with zero fields replaced by defaults.
func (o ProvisionOptions) withDefaults() ProvisionOptions {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	return o
}

// Validate checks the options after applying defaults.
func (o ProvisionOptions) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Replicas < 1 || o.Replicas > maxReplicas {
		errs = append(errs, fmt.Errorf("%w: replicas %d not in 1..%d", ErrInvalidOptions, o.Replicas, maxReplicas))
	}
	if o.DuplicateWindow < MinDuplicateWindow {
		errs = append(errs, fmt.Errorf("%w: duplicate window %s below %s", ErrInvalidOptions, o.DuplicateWindow, MinDuplicateWindow))
	}
	if o.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("%w: lease TTL %s below 1s", ErrInvalidOptions, o.LeaseTTL))
	}
	for name := range o.Limits {
		if _, ok := DefaultLimits[name]; !ok {
			errs = append(errs, fmt.Errorf("%w: limits for %q, which is not a stream", ErrInvalidOptions, name))
		}
		if eff := o.limits(name); eff.MaxAge != 0 && eff.MaxAge < o.DuplicateWindow {
			errs = append(errs, fmt.Errorf("%w: %s max age %s below the duplicate window %s", ErrInvalidOptions, name, eff.MaxAge, o.DuplicateWindow))
		}
	}
	if o.Storage != jetstream.FileStorage && o.Storage != jetstream.MemoryStorage {
		errs = append(errs, fmt.Errorf("%w: unknown storage type %d", ErrInvalidOptions, o.Storage))
	}
	return errors.Join(errs...)
}

// StreamConfigs returns the configuration of every stream in the contract.
func (o ProvisionOptions) StreamConfigs() []jetstream.StreamConfig {
	o = o.withDefaults()
	stream := func(name, desc, subject string) jetstream.StreamConfig {
		l := o.limits(name)
		return jetstream.StreamConfig{
			MaxAge:      l.MaxAge,
			MaxBytes:    l.MaxBytes,
			Name:        name,
			Description: desc,
			Subjects:    []string{subject + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Storage:     o.Storage,
			Replicas:    o.Replicas,
			Duplicates:  o.DuplicateWindow,
		}
	}
	// WEBHOOKS holds the notices of verified deliveries. Its duplicate
	// window is the webhook dedup state: a delivery id seen within it (by
	// any replica, before or after a restart) is refused as a replay.
	webhooks := stream(StreamWebhooks, "verified webhook deliveries: which tickets changed", subjectWebhook)
	webhooks.Duplicates = max(o.DuplicateWindow, WebhookDedupWindow)
	webhooks.MaxAge = 24 * time.Hour
	return []jetstream.StreamConfig{
		stream(StreamTickets, "ticket events: discovered, updated, closed, enriched", subjectTicket),
		stream(StreamResults, "results published by agents for writeback", subjectResult),
		stream(StreamWriteback, "writeback outcomes: completed, failed", subjectWriteback),
		stream(StreamAudit, "registry audit trail", subjectAudit),
		webhooks,
	}
}

// TicketVersionsTTL is how long a ticket's record in BucketTicketVersions
// lives without being rewritten.
const TicketVersionsTTL = 30 * 24 * time.Hour

// KeyValueConfigs returns the configuration of every KV bucket in the contract.
//
// Every bucket keeps one revision per key (History 1): connectors and
// oauth_grants hold credential ciphertext, and older revisions would escape
// key rotation's rewrap (and keep refresh tokens already replaced); the other
// buckets only need the latest value.
func (o ProvisionOptions) KeyValueConfigs() []jetstream.KeyValueConfig {
	o = o.withDefaults()
	kv := func(bucket, desc string) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: desc,
			History:     1,
			Storage:     o.Storage,
			Replicas:    o.Replicas,
		}
	}
	leases := kv(BucketPollLeases, "per-connector poll leases")
	leases.TTL = o.LeaseTTL
	// A writeback record is rewritten at every writeback of its ticket; one
	// idle for longer is forgotten. The pollers' former field-hash records
	// are no longer written and expire this long after their last write.
	versions := kv(BucketTicketVersions, "field hashes of the last published version and the writeback's own changes, per ticket")
	versions.TTL = TicketVersionsTTL
	return []jetstream.KeyValueConfig{
		kv(BucketConnectors, "connector configs; revision is the optimistic-concurrency token"),
		kv(BucketOAuthGrants, "encrypted OAuth refresh tokens per connector; revision is the compare-and-swap token of a rotation"),
		leases,
		kv(BucketPollState, "poll cursors, ETags and known tickets per connector"),
		kv(BucketWritebackLedger, "writeback steps already done per result id"),
		versions,
	}
}

// Provision creates every stream and KV bucket of the contract, or updates
// them to opts when they already exist (replicas, retention limits,
// duplicate window, lease TTL; messages are kept). Calling it again is
// harmless.
func Provision(ctx context.Context, js jetstream.JetStream, opts ProvisionOptions) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	for _, cfg := range opts.StreamConfigs() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: provision stream %s: %w", cfg.Name, err)
		}
	}
	for _, cfg := range opts.KeyValueConfigs() {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("bus: provision bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}
