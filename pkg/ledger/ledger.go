// Package ledger records, per result, which writeback steps are done, so a
// redelivered result resumes where it stopped instead of repeating a comment
// or a sub-task. It lives in the writeback_ledger KV bucket; the registry
// reads it to replay a dead-lettered result.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors for errors.Is.
var (
	ErrNotFound = errors.New("no ledger entry for this result")
	ErrConflict = errors.New("ledger entry changed concurrently")
)

// Step states. A step is "started" before the tracker call and "done" after
// it; a started step found on redelivery may or may not have happened, so
// the writeback looks for its marker before doing it again. A step the
// tracker refused is "failed" (Note says why): later deliveries leave it
// alone, and a replay tries it again.
const (
	Started = "started"
	Done    = "done"
	Skipped = "skipped"
	Failed  = "failed"
)

// Step is one step's record.
type Step struct {
	State string `json:"state"`
	URL   string `json:"url,omitempty"`
	Key   string `json:"key,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Note  string `json:"note,omitempty"`
}

// Entry is everything known about one result's writeback.
type Entry struct {
	ResultID    string `json:"result_id"`
	ConnectorID string `json:"connector_id"`
	System      string `json:"system"`
	// Result is the ResultReady payload as protobuf JSON, kept for replay.
	Result json.RawMessage `json:"result,omitempty"`
	// Conflict decision, made once: the ticket changed after the base time.
	Decided       bool   `json:"decided,omitempty"`
	Conflict      bool   `json:"conflict,omitempty"`
	StatusOutcome string `json:"status_outcome,omitempty"`
	// Reporter to mention, read once with the conflict check.
	ReporterID    string          `json:"reporter_id,omitempty"`
	ReporterLogin string          `json:"reporter_login,omitempty"`
	ReporterName  string          `json:"reporter_name,omitempty"`
	Steps         map[string]Step `json:"steps,omitempty"`
	Completed     bool            `json:"completed,omitempty"`
	Failed        bool            `json:"failed,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Attempts      int             `json:"attempts,omitempty"`
	Replays       int             `json:"replays,omitempty"`
	UpdateTime    time.Time       `json:"update_time"`

	Revision uint64 `json:"-"`
}

// Key is the KV key of a result id (any string) — a hash, since result ids
// may hold characters KV keys may not.
func Key(resultID string) string {
	sum := sha256.Sum256([]byte(resultID))
	return "r_" + hex.EncodeToString(sum[:16])
}

// Store reads and writes entries with optimistic concurrency.
type Store struct{ kv jetstream.KeyValue }

// NewStore wraps the writeback_ledger bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Get returns a result's entry, or ErrNotFound.
func (s *Store) Get(ctx context.Context, resultID string) (Entry, error) {
	e, err := s.kv.Get(ctx, Key(resultID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, resultID)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("read ledger %s: %w", resultID, err)
	}
	var out Entry
	if err := json.Unmarshal(e.Value(), &out); err != nil {
		return Entry{}, fmt.Errorf("decode ledger %s: %w", resultID, err)
	}
	out.Revision = e.Revision()
	return out, nil
}

// Put writes e if it is still at e.Revision (0: must be new).
func (s *Store) Put(ctx context.Context, e Entry) (Entry, error) {
	e.UpdateTime = time.Now().UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encode ledger %s: %w", e.ResultID, err)
	}
	var rev uint64
	if e.Revision == 0 {
		rev, err = s.kv.Create(ctx, Key(e.ResultID), data)
	} else {
		rev, err = s.kv.Update(ctx, Key(e.ResultID), data, e.Revision)
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
			return e, fmt.Errorf("%w: %s", ErrConflict, e.ResultID)
		}
		return e, fmt.Errorf("write ledger %s: %w", e.ResultID, err)
	}
	e.Revision = rev
	return e, nil
}
