package poller

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// migrateKeys rewrites the ticket keys a poll state holds into the form the
// connector's tracker publishes now (trackers.KeyNormalizer): a state written
// before GitHub and GitLab published "owner/repo#12" knows its tickets as
// "12". Without it, the first listing after an upgrade would find every open
// ticket unknown (and publish it as discovered) and every known one missing
// (and publish it as closed). A known ticket keeps the update time last
// published, so it is published again only when it changes, as an update
// under its new key. Keys already in the new form, keys the tracker does not
// recognise, and trackers without a KeyNormalizer are left as they are, so
// this is a no-op after the first cycle. The rewritten state is saved with
// the cycle.
func migrateKeys(reg *trackers.Registry, c connector.Connector, st connector.PollState, log *slog.Logger) connector.PollState {
	tr, ok := reg.Lookup(c.System)
	if !ok {
		return st
	}
	if _, ok := tr.(trackers.KeyNormalizer); !ok {
		return st
	}
	renamed := map[string]string{}
	rename := func(key string) string {
		if to, ok := renamed[key]; ok {
			return to
		}
		to, err := trackers.NormalizeKey(tr, c, key)
		if err != nil {
			to = key
		}
		renamed[key] = to
		return to
	}
	moved := 0
	if len(st.Known) > 0 {
		known := make(map[string]time.Time, len(st.Known))
		for _, key := range slices.Sorted(maps.Keys(st.Known)) {
			at, to := st.Known[key], rename(key)
			if to != key {
				moved++
			}
			if prev, dup := known[to]; !dup || at.After(prev) {
				known[to] = at
			}
		}
		st.Known = known
	}
	pages := func(in []connector.PageCache) []connector.PageCache {
		out := slices.Clone(in)
		for i := range out {
			out[i].Keys = slices.Clone(out[i].Keys)
			for j, key := range out[i].Keys {
				out[i].Keys[j] = rename(key)
			}
		}
		return out
	}
	st.Pages, st.IncrementalPages = pages(st.Pages), pages(st.IncrementalPages)
	if moved > 0 && log != nil {
		log.Info("poll state: ticket keys moved to the published form", "connector", c.ID, "system", c.System, "keys", moved)
	}
	return st
}
