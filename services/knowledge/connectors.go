package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// connectorSet follows the connectors bucket and keeps the connectors in
// memory (the Confluence ones apart), so a ticket costs no KV reads to find
// its knowledge and context sources. The
// watcher reports keys and revisions only; each change is read through
// connector.Store, which owns the record format.
type connectorSet struct {
	store *connector.Store
	log   *slog.Logger
	// onEnabled, when set, hears of every enabled Confluence connector stored
	// (after the set holds it): becameEnabled when it was absent or disabled
	// before, loading while the initial state is read.
	onEnabled func(c connector.Connector, becameEnabled, loading bool)

	mu   sync.RWMutex
	byID map[string]connector.Connector
	// others holds every other connector: the ticket connectors (for their
	// context_connectors) and the context sources they name.
	others map[string]connector.Connector
}

// watchConnectors loads the Confluence connectors and follows changes until
// ctx ends. It returns once the initial state is loaded. onEnabled may be nil.
func watchConnectors(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger, onEnabled func(c connector.Connector, becameEnabled, loading bool)) (*connectorSet, error) {
	cs := &connectorSet{store: connector.NewStore(kv), log: log, onEnabled: onEnabled, byID: map[string]connector.Connector{}, others: map[string]connector.Connector{}}
	w, err := kv.WatchAll(ctx, jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("knowledge: watch connectors: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("knowledge: connectors watcher closed while loading")
			}
			if e == nil { // initial values done
				go cs.follow(ctx, w)
				return cs, nil
			}
			cs.apply(ctx, e, true)
		}
	}
}

func (cs *connectorSet) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				cs.apply(ctx, e, false)
			}
		}
	}
}

func (cs *connectorSet) apply(ctx context.Context, e jetstream.KeyValueEntry, loading bool) {
	id := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		cs.remove(id)
		return
	}
	c, err := cs.store.Get(ctx, id)
	switch {
	case errors.Is(err, connector.ErrNotFound):
		cs.remove(id)
		return
	case err != nil:
		cs.log.WarnContext(ctx, "knowledge: read connector", "connector", id, "error", err)
		return
	}
	if c.System != connector.Confluence {
		cs.mu.Lock()
		delete(cs.byID, id)
		if old, had := cs.others[id]; !had || old.Revision <= c.Revision {
			cs.others[id] = c
		}
		cs.mu.Unlock()
		return
	}
	cs.mu.Lock()
	delete(cs.others, id)
	old, had := cs.byID[id]
	if had && old.Revision > c.Revision {
		cs.mu.Unlock()
		return // a newer read already landed
	}
	cs.byID[id] = c
	cs.mu.Unlock()
	if c.Enabled && cs.onEnabled != nil {
		cs.onEnabled(c, !had || !old.Enabled, loading)
	}
}

func (cs *connectorSet) remove(id string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.byID, id)
	delete(cs.others, id)
}

// get returns any connector the set holds (Confluence or not).
func (cs *connectorSet) get(id string) (connector.Connector, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	if c, ok := cs.others[id]; ok {
		return c, true
	}
	c, ok := cs.byID[id]
	return c, ok
}

// enabled returns the enabled Confluence connectors, by id; only those named
// in ids when ids is not empty.
func (cs *connectorSet) enabled(ids []string) []connector.Connector {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	var out []connector.Connector
	for id, c := range cs.byID {
		if c.Enabled && (len(ids) == 0 || slices.Contains(ids, id)) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b connector.Connector) int { return strings.Compare(a.ID, b.ID) })
	return out
}
