package poller

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Keys in the poll_leases bucket. The bucket's TTL expires a lease (and a
// replica heartbeat) that is not renewed, so a dead replica's connectors are
// free again within one TTL.
//
// Leases are per connector and a connector has one zone, so only that
// zone's replicas ever compete for its lease. Heartbeats are per zone: a
// central replica writes replica.<system>.<id> (the key form from before
// zones), an edge replica zone.<zone>.replica.<system>.<id>, so each side
// divides only its own connectors by only its own replicas.
const (
	leasePrefix   = "lease."
	replicaPrefix = "replica."
	zonePrefix    = "zone."
)

// leases is this replica's view of the leases it holds.
type leases struct {
	kv      jetstream.KeyValue
	replica string
	// heartbeats is the key prefix of this replica's zone's heartbeats.
	heartbeats string

	mu    sync.Mutex
	owned map[string]uint64 // connector id → revision of our lease entry
}

func newLeases(kv jetstream.KeyValue, replica, zone string) *leases {
	hb := replicaPrefix
	if zone != "" {
		hb = zonePrefix + zone + "." + replicaPrefix
	}
	return &leases{kv: kv, replica: replica, heartbeats: hb, owned: map[string]uint64{}}
}

func (l *leases) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.owned)
}

func (l *leases) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.owned))
	for id := range l.owned {
		out = append(out, id)
	}
	return out
}

// acquire takes the lease of a connector if nobody holds it.
func (l *leases) acquire(ctx context.Context, id string) (bool, error) {
	rev, err := l.kv.Create(ctx, leasePrefix+id, []byte(l.replica))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.owned[id] = rev
	l.mu.Unlock()
	return true, nil
}

// renew extends every lease held; a lease that changed hands is dropped.
func (l *leases) renew(ctx context.Context) (lost []string, err error) {
	for _, id := range l.ids() {
		l.mu.Lock()
		rev := l.owned[id]
		l.mu.Unlock()
		next, uerr := l.kv.Update(ctx, leasePrefix+id, []byte(l.replica), rev)
		l.mu.Lock()
		switch {
		case uerr == nil:
			l.owned[id] = next
		case isWrongRevision(uerr):
			delete(l.owned, id)
			lost = append(lost, id)
		default:
			err = uerr
		}
		l.mu.Unlock()
	}
	return lost, err
}

// release gives a lease back so another replica can take it at once.
func (l *leases) release(ctx context.Context, id string) {
	l.mu.Lock()
	rev, ok := l.owned[id]
	delete(l.owned, id)
	l.mu.Unlock()
	if ok {
		_ = l.kv.Delete(ctx, leasePrefix+id, jetstream.LastRevision(rev))
	}
}

func (l *leases) releaseAll(ctx context.Context) {
	for _, id := range l.ids() {
		l.release(ctx, id)
	}
}

// heartbeat records this replica as alive for each system it polls;
// liveReplicas counts, per system, the heartbeats younger than the TTL, so
// replicas can share each system's connectors fairly without a leader (and a
// replica polling only Jira does not count as a GitHub replica).
func (l *leases) heartbeat(ctx context.Context, systems []connector.System) error {
	for _, sys := range systems {
		if _, err := l.kv.Put(ctx, l.heartbeats+string(sys)+"."+l.replica, []byte("alive")); err != nil {
			return err
		}
	}
	return nil
}

func (l *leases) liveReplicas(ctx context.Context) map[connector.System]int {
	out := map[connector.System]int{}
	lister, err := l.kv.ListKeysFiltered(ctx, l.heartbeats+">")
	if err != nil {
		return out
	}
	defer func() { _ = lister.Stop() }()
	for k := range lister.Keys() {
		sys, _, ok := strings.Cut(strings.TrimPrefix(k, l.heartbeats), ".")
		if ok {
			out[connector.System(sys)]++
		}
	}
	return out
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}
