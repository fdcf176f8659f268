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
	if o.Storage != jetstream.FileStorage && o.Storage != jetstream.MemoryStorage {
		errs = append(errs, fmt.Errorf("%w: unknown storage type %d", ErrInvalidOptions, o.Storage))
	}
	return errors.Join(errs...)
}

// StreamConfigs returns the configuration of every stream in the contract.
func (o ProvisionOptions) StreamConfigs() []jetstream.StreamConfig {
	o = o.withDefaults()
	stream := func(name, desc, subject string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
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

// KeyValueConfigs returns the configuration of every KV bucket in the contract.
//
// Every bucket keeps one revision per key (History 1): connectors hold
// credential ciphertext, and older revisions would escape key rotation's
// rewrap; the other buckets only need the latest value.
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
	return []jetstream.KeyValueConfig{
		kv(BucketConnectors, "connector configs; revision is the optimistic-concurrency token"),
		leases,
		kv(BucketPollState, "poll cursors, ETags and known tickets per connector"),
		kv(BucketWritebackLedger, "writeback steps already done per result id"),
	}
}

// Provision creates every stream and KV bucket of the contract, or updates
// them to opts when they already exist. Calling it again is harmless.
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
