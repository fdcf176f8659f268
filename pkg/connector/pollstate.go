package connector

import (
	"context"
	"encoding/json"
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
	// Known maps ticket key → the update time last published for it.
	Known map[string]time.Time `json:"known,omitempty"`
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
	// Owner is the replica that last polled the connector.
	Owner string `json:"owner,omitempty"`

	// Revision is the KV revision the state was read at.
	Revision uint64 `json:"-"`
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

// StateStore reads and writes poll states with optimistic concurrency.
type StateStore struct{ kv jetstream.KeyValue }

// NewStateStore wraps the poll_state bucket.
func NewStateStore(kv jetstream.KeyValue) *StateStore { return &StateStore{kv: kv} }

// Get returns the state of a connector; a connector never polled has a zero state.
func (s *StateStore) Get(ctx context.Context, id string) (PollState, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return PollState{}, nil
	}
	if err != nil {
		return PollState{}, fmt.Errorf("read poll state %s: %w", id, err)
	}
	var st PollState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return PollState{}, fmt.Errorf("decode poll state %s: %w", id, err)
	}
	st.Revision = e.Revision()
	return st, nil
}

// Put stores st if the stored revision is still st.Revision (0: must not exist);
// ErrConflict otherwise. It returns the state with its new revision.
func (s *StateStore) Put(ctx context.Context, id string, st PollState) (PollState, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return st, fmt.Errorf("encode poll state %s: %w", id, err)
	}
	var rev uint64
	if st.Revision == 0 {
		rev, err = s.kv.Create(ctx, id, data)
	} else {
		rev, err = s.kv.Update(ctx, id, data, st.Revision)
	}
	if err != nil {
		if isWrongRevision(err) {
			return st, fmt.Errorf("%w: poll state %s", ErrConflict, id)
		}
		return st, fmt.Errorf("write poll state %s: %w", id, err)
	}
	st.Revision = rev
	return st, nil
}

// Delete forgets a connector's state (after the connector is deleted).
func (s *StateStore) Delete(ctx context.Context, id string) error {
	if err := s.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete poll state %s: %w", id, err)
	}
	return nil
}
