package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PollState is what the pollers keep per connector in the poll_state bucket:
// the cursor, the tickets known to be in the discovered set, conditional
// request validators, and the status the registry shows.
type PollState struct {
	// Cursor is the newest update time of a ticket whose event was published.
	// It never moves past what was published.
	Cursor time.Time `json:"cursor,omitzero"`
	// Known maps ticket key → the update time last published for it. Change
	// it through SetKnownVersion (or SetKnown) and ForgetKnown: a save then
	// writes only the changes (pollstate_layout.go).
	Known map[string]time.Time `json:"known,omitempty"`
	// KnownCount is len(Known) as last stored; Head returns it without
	// reading the known tickets.
	KnownCount int `json:"known_count,omitempty"`
	// Pages caches the last full listing page by page, and IncrementalPages
	// the last incremental one, for conditional requests (ETag / 304).
	Pages            []PageCache `json:"pages,omitempty"`
	IncrementalPages []PageCache `json:"incremental_pages,omitempty"`
	// Cycles counts completed poll cycles (reconciles run every N).
	Cycles int64 `json:"cycles"`
	// Resync asks the next cycle for a full listing with full payloads.
	Resync bool `json:"resync,omitempty"`

	LastPoll    time.Time `json:"last_poll,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	NextPoll    time.Time `json:"next_poll,omitzero"`
	// AuthError says why the connector's OAuth grant cannot be used (the
	// last cycle failed on it), and Reauthorize the command that fixes it.
	AuthError   string `json:"auth_error,omitempty"`
	Reauthorize string `json:"reauthorize,omitempty"`
	// DeferredUntil holds polling back after a long rate limit or while
	// backing off from a failing tracker.
	DeferredUntil time.Time `json:"deferred_until,omitzero"`
	// DeferredRevision is the connector revision the deferral was recorded
	// for: an update, a re-enable or a recreate (a new revision) lifts it.
	// Zero (a state written before it existed) holds for every revision.
	DeferredRevision uint64 `json:"deferred_revision,omitempty"`
	// Failures counts consecutive cycles that failed with a transient error
	// (5xx, timeouts); the backoff across cycles grows with it.
	Failures int `json:"failures,omitempty"`
	// Late is how long after its due time the last cycle started, when that
	// was more than the scheduler's resolution (two ticks): the replica was
	// saturated. Zero when on time.
	Late time.Duration `json:"late,omitempty"`
	// PoolSetAside: fingerprints of a token pool's tokens the tracker
	// refused (401) in the last cycle's session, set aside while the others
	// work; PoolUsable is how many of the pool remain usable (0 without a pool).
	PoolSetAside []string `json:"pool_set_aside,omitempty"`
	PoolUsable   int      `json:"pool_usable,omitempty"`
	// PoolRetry is when each set-aside token is tried again.
	PoolRetry []PoolRetry `json:"pool_retry,omitempty"`
	// PacedUntil: the tracker's rate-limit budget for the connector's
	// credential ran low in the last cycle, and its requests are spread
	// until then (the window's end); RateBudget is that budget as the
	// tracker last reported it, for people.
	PacedUntil time.Time `json:"paced_until,omitzero"`
	RateBudget string    `json:"rate_budget,omitempty"`
	// Owner is the replica that last polled the connector.
	Owner string `json:"owner,omitempty"`
	// KeyForm is the form of the ticket keys in Known (0: as first stored,
	// possibly bare numbers; see the poller's migrateKeys). A state already
	// in the current form is not checked key by key again.
	KeyForm int `json:"key_form,omitempty"`

	// Webhook figures of a connector with webhook: true, kept by the lease
	// holder's cycles (one writer; no extra write per delivery).
	// LastDelivery is when the last accepted delivery's notice came;
	// DeliveriesRefused and LastRefusal sum the receiver's refusals
	// (reported in batches); PollOnlyChanges counts events a cycle not
	// asked for by a notice published: changes no delivery announced.
	LastDelivery      time.Time `json:"last_delivery,omitzero"`
	DeliveriesRefused int64     `json:"deliveries_refused,omitempty"`
	LastRefusal       string    `json:"last_refusal,omitempty"`
	PollOnlyChanges   int64     `json:"poll_only_changes,omitempty"`

	// Revision is the KV revision the state was read at.
	Revision uint64 `json:"-"`

	// The fingerprint of the version Known holds for a ticket (KnownPrint),
	// when it has one: saved with it in the same parts, forgotten with it.
	// Opaque here (pkg/ticketver makes them). They are not copied into a
	// map at load (half of a load's cost at 10,000 tickets, and the poller
	// asks only for updated tickets'): printSrc are the parts the state was
	// read or saved as, in order (the last that sets a ticket has its
	// print), prints the changes made since ("" for cleared).
	prints   map[string]string
	printSrc []*part
	track    *knownTrack
}

// PoolRetry is when a token pool's set-aside token (by fingerprint) is tried again.
type PoolRetry struct {
	Fingerprint string    `json:"fingerprint"`
	At          time.Time `json:"at"`
}

// Due is when a connector with this state and poll interval is next due: an
// interval after the last poll, or later if the tracker asked to wait. A
// changed interval applies at once.
func (st PollState) Due(interval time.Duration) time.Time {
	due := time.Time{}
	if !st.LastPoll.IsZero() {
		due = st.LastPoll.Add(interval)
	}
	if st.DeferredUntil.After(due) {
		due = st.DeferredUntil
	}
	return due
}

// DueFor is Due for a connector at the given revision: a deferral recorded
// for another revision of the connector (before an update, a re-enable or a
// recreate) no longer holds.
func (st PollState) DueFor(interval time.Duration, revision uint64) time.Time {
	if st.DeferredRevision != 0 && st.DeferredRevision != revision {
		st.DeferredUntil = time.Time{}
	}
	return st.Due(interval)
}

// PageCache is one page of a listing as last answered.
type PageCache struct {
	// Since is the incremental query's lower bound (zero for full listings);
	// a cached page only answers the same query.
	Since time.Time `json:"since,omitzero"`
	Token string    `json:"token,omitempty"`
	ETag  string    `json:"etag,omitempty"`
	Next  string    `json:"next,omitempty"`
	// Keys are the tickets of a whole-set page (incremental pages keep none).
	Keys []string `json:"keys,omitempty"`
}

// StateStore reads and writes poll states with optimistic concurrency. It
// keeps the decoded parts it last read or wrote (partCache), so a load
// decodes only the parts that changed since.
type StateStore struct {
	kv    jetstream.KeyValue
	cache partCache
}

// StateStoreOption tunes a StateStore.
type StateStoreOption func(*StateStore)

// WithPartCacheBytes bounds the cache of decoded parts to about n bytes of
// heap (DefaultPartCacheBytes without this option); 0 or less disables it,
// so every load decodes every part.
func WithPartCacheBytes(n int64) StateStoreOption {
	return func(s *StateStore) { s.cache.budget = n }
}

// NewStateStore wraps the poll_state bucket.
func NewStateStore(kv jetstream.KeyValue, opts ...StateStoreOption) *StateStore {
	s := &StateStore{kv: kv, cache: partCache{budget: DefaultPartCacheBytes}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// CacheStats says what the cache of decoded parts holds: connectors, parts
// and their estimated bytes.
func (s *StateStore) CacheStats() (connectors, parts int, bytes int64) {
	return s.cache.stats()
}

// Get returns the state of a connector with its known tickets (Load); a
// connector never polled has a zero state.
func (s *StateStore) Get(ctx context.Context, id string) (PollState, error) {
	return s.Load(ctx, id)
}

// Head returns the state of a connector without its known tickets (Known is
// nil, KnownCount says how many there are): one read, whatever the count.
// Saving a state read this way would forget every known ticket, so Put
// refuses it.
func (s *StateStore) Head(ctx context.Context, id string) (PollState, error) {
	st, _, err := s.readHead(ctx, id)
	st.Known = nil
	st.track = &knownTrack{headOnly: true}
	return st, err
}

// Put stores st if the stored revision is still st.Revision (0: must not exist);
// ErrConflict otherwise. It returns the state with its new revision. It writes
// the changes made through SetKnown and ForgetKnown since the state was read,
// or every known ticket when Known was changed otherwise.
func (s *StateStore) Put(ctx context.Context, id string, st PollState) (PollState, error) {
	if st.track != nil && st.track.headOnly {
		return st, fmt.Errorf("write poll state %s: read with Head, it has no known tickets", id)
	}
	return s.save(ctx, id, st)
}

// Delete forgets a connector's state (after the connector is deleted).
func (s *StateStore) Delete(ctx context.Context, id string) error {
	if err := s.deleteParts(ctx, id); err != nil {
		return err
	}
	s.cache.drop(id)
	if err := s.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete poll state %s: %w", id, err)
	}
	return nil
}
