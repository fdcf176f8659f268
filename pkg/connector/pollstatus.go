package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PollStatus is the part of a poll state that is shown on a connector: what
// the pollers last reported, without the cursor, validators and tickets.
type PollStatus struct {
	LastPoll     time.Time
	LastSuccess  time.Time
	LastError    string
	NextPoll     time.Time
	TicketsKnown int
	// Late is how late the last cycle started on a saturated replica.
	Late time.Duration
	// PoolSetAside and PoolUsable: a token pool's refused tokens (by
	// fingerprint) and how many still work.
	PoolSetAside []string
	PoolUsable   int
	// PoolRetry, PacedUntil and RateBudget: PollState's fields of the same names.
	PoolRetry  []PoolRetry
	PacedUntil time.Time
	RateBudget string
	// Webhook figures (PollState's fields of the same names).
	LastDelivery      time.Time
	DeliveriesRefused int64
	LastRefusal       string
	PollOnlyChanges   int64
	// AuthError and Reauthorize: an unusable OAuth grant and the command
	// that fixes it (PollState).
	AuthError, Reauthorize string
}

// Status is the shown part of st.
func (st PollState) Status() PollStatus {
	return PollStatus{LastPoll: st.LastPoll, LastSuccess: st.LastSuccess, LastError: st.LastError, NextPoll: st.NextPoll,
		TicketsKnown: st.knownTotal(), Late: st.Late, PoolSetAside: st.PoolSetAside, PoolUsable: st.PoolUsable,
		PoolRetry: st.PoolRetry, PacedUntil: st.PacedUntil, RateBudget: st.RateBudget,
		AuthError: st.AuthError, Reauthorize: st.Reauthorize,
		LastDelivery: st.LastDelivery, DeliveriesRefused: st.DeliveriesRefused, LastRefusal: st.LastRefusal, PollOnlyChanges: st.PollOnlyChanges}
}

// knownTotal is how many open tickets st holds: the loaded map, or the
// count a head key stores in place of it.
func (st PollState) knownTotal() int {
	if len(st.Known) > 0 {
		return len(st.Known)
	}
	return st.KnownCount
}

// StatusChange is one update seen by WatchStatus: the status of connector
// ID, or Deleted when its poll state was removed.
type StatusChange struct {
	ID      string
	Status  PollStatus
	Deleted bool
}

// WatchStatus calls fn with the status of every stored poll state, then
// with every change, until ctx ends; synced (when not nil) is called once,
// after the states stored when the watch began. It is how a reader keeps
// every connector's status without reading each state on demand. Keys that
// are not a connector id and undecodable states are skipped (the latter
// with an error to onErr). It returns nil when ctx ends, an error when the
// watch could not start or the server ended it (the caller may watch again).
func (s *StateStore) WatchStatus(ctx context.Context, fn func(StatusChange), synced func(), onErr func(error)) error {
	// "*" is one token: head keys only, not the <id>.k.* parts beside them.
	w, err := s.kv.Watch(ctx, "*")
	if err != nil {
		return fmt.Errorf("watch poll states: %w", err)
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
				return errors.New("watch poll states: the watch ended")
			}
			if e == nil {
				if synced != nil {
					synced()
				}
				continue
			}
			if !ValidID(e.Key()) {
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				fn(StatusChange{ID: e.Key(), Deleted: true})
				continue
			}
			var st PollState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				onErr(fmt.Errorf("decode poll state %s: %w", e.Key(), err))
				continue
			}
			fn(StatusChange{ID: e.Key(), Status: st.Status()})
		}
	}
}
