package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store errors, for errors.Is.
var (
	ErrNotFound = errors.New("connector not found")
	ErrExists   = errors.New("connector already exists")
	// ErrConflict means the record changed since it was read (optimistic concurrency).
	ErrConflict = errors.New("connector was changed concurrently")
)

// record is the stored form; Version lets a later schema migrate old records.
type record struct {
	Version   int `json:"v"`
	Connector     // embedded: its fields at the top level
	// LegacyOAuthRefresh and LegacyOAuthGrantTime are where records written
	// before the oauth_grants bucket held an oauth2 connector's grant. Only
	// read (into Connector.Grant, see LegacyGrant), never written: the
	// registry moves such a grant to the bucket (registry.MoveLegacyGrants).
	LegacyOAuthRefresh   Credential `json:"oauth_refresh,omitzero"`
	LegacyOAuthGrantTime time.Time  `json:"oauth_grant_time,omitzero"`
}

// LegacyGrant reports whether c, as read from the store, carries a grant
// in its record (written before the oauth_grants bucket); c.Grant is then
// that grant.
func LegacyGrant(c Connector) bool { return c.Grant.Revision == 0 && c.Grant.Refresh.Set() }

const recordVersion = 1

// Store keeps connectors in a JetStream KV bucket; the KV revision is the
// optimistic-concurrency token.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore wraps the `connectors` bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Create stores a new connector; ErrExists if the id is taken.
func (s *Store) Create(ctx context.Context, c Connector) (Connector, error) {
	data, err := encode(c)
	if err != nil {
		return Connector{}, err
	}
	rev, err := s.kv.Create(ctx, c.ID, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Connector{}, fmt.Errorf("%w: %s", ErrExists, c.ID)
	}
	if err != nil {
		return Connector{}, fmt.Errorf("store connector %s: %w", c.ID, err)
	}
	c.Revision = rev
	return c, nil
}

// Get reads one connector.
func (s *Store) Get(ctx context.Context, id string) (Connector, error) {
	if !ValidID(id) {
		return Connector{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Connector{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Connector{}, fmt.Errorf("read connector %s: %w", id, err)
	}
	return decode(e)
}

// List returns every connector, ordered by id.
func (s *Store) List(ctx context.Context) ([]Connector, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list connectors: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	out := make([]Connector, 0, len(ids))
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted between listing and reading
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Update replaces a connector if its stored revision is still c.Revision.
func (s *Store) Update(ctx context.Context, c Connector) (Connector, error) {
	data, err := encode(c)
	if err != nil {
		return Connector{}, err
	}
	rev, err := s.kv.Update(ctx, c.ID, data, c.Revision)
	if err != nil {
		if isWrongRevision(err) {
			return Connector{}, fmt.Errorf("%w: %s", ErrConflict, c.ID)
		}
		return Connector{}, fmt.Errorf("update connector %s: %w", c.ID, err)
	}
	c.Revision = rev
	return c, nil
}

// Delete removes a connector; with revision > 0 only if it is still that revision.
func (s *Store) Delete(ctx context.Context, id string, revision uint64) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	var opts []jetstream.KVDeleteOpt
	if revision > 0 {
		opts = append(opts, jetstream.LastRevision(revision))
	}
	if err := s.kv.Purge(ctx, id, opts...); err != nil {
		if isWrongRevision(err) {
			return fmt.Errorf("%w: %s", ErrConflict, id)
		}
		return fmt.Errorf("delete connector %s: %w", id, err)
	}
	return nil
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

func encode(c Connector) ([]byte, error) {
	data, err := json.Marshal(record{Version: recordVersion, Connector: c})
	if err != nil {
		return nil, fmt.Errorf("encode connector %s: %w", c.ID, err)
	}
	return data, nil
}

func decode(e jetstream.KeyValueEntry) (Connector, error) {
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Connector{}, fmt.Errorf("decode connector %s: %w", e.Key(), err)
	}
	if r.Version != recordVersion {
		return Connector{}, fmt.Errorf("decode connector %s: unknown record version %d", e.Key(), r.Version)
	}
	r.Connector.Revision = e.Revision()
	r.Connector.Grant = OAuthGrant{}
	if r.LegacyOAuthRefresh.Set() {
		r.Connector.Grant = OAuthGrant{ConnectorID: r.Connector.ID, Refresh: r.LegacyOAuthRefresh, GrantTime: r.LegacyOAuthGrantTime,
			Context: r.Connector.GrantContextDigest()}
	}
	return r.Connector, nil
}

// Change is one update seen by Watch: the connector as stored, or its id
// with Deleted set. Revision is the KV revision of the change (of the
// delete marker for a deletion).
type Change struct {
	Connector Connector
	Deleted   bool
	Revision  uint64
}

// Watch calls fn with every stored connector, then with every change, until
// ctx ends. Undecodable records are skipped with an error to onErr.
func (s *Store) Watch(ctx context.Context, fn func(Change), onErr func(error)) error {
	return s.WatchSynced(ctx, fn, nil, onErr)
}

// WatchSynced is Watch that also calls synced (when not nil) once, after
// the connectors stored when the watch began have all been given to fn.
// It returns nil when ctx ends, an error when the watch could not start or
// the server ended it (the caller may watch again).
func (s *Store) WatchSynced(ctx context.Context, fn func(Change), synced func(), onErr func(error)) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch connectors: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("watch connectors: the watch ended")
			}
			if e == nil { // end of the initial values
				if synced != nil {
					synced()
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				fn(Change{Connector: Connector{ID: e.Key()}, Deleted: true, Revision: e.Revision()})
				continue
			}
			c, err := decode(e)
			if err != nil {
				onErr(err)
				continue
			}
			fn(Change{Connector: c, Revision: e.Revision()})
		}
	}
}

// LastRevision is the newest revision in the bucket (of any key, deletions
// included): a reader that has seen it has seen every write made before.
func (s *Store) LastRevision(ctx context.Context) (uint64, error) {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("connectors bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, errors.New("connectors bucket status: not a JetStream bucket")
	}
	return bs.StreamInfo().State.LastSeq, nil
}
