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

// connectorSet follows the connectors bucket and keeps the Confluence
// connectors in memory, so a ticket costs no KV reads to find them. The
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
}

// watchConnectors loads the Confluence connectors and follows changes until
// ctx ends. It returns once the initial state is loaded. onEnabled may be nil.
func watchConnectors(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger, onEnabled func(c connector.Connector, becameEnabled, loading bool)) (*connectorSet, error) {
	cs := &connectorSet{store: connector.NewStore(kv), log: log, onEnabled: onEnabled, byID: map[string]connector.Connector{}}
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
		cs.remove(id)
		return
	}
	cs.mu.Lock()
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
