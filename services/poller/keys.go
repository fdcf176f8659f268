package poller

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// keyFormPublished is PollState.KeyForm once migrateKeys has run: every key
// is in the form the tracker publishes (issue 17's "owner/repo#12").
const keyFormPublished = 1

// migrateKeys rewrites the ticket keys a poll state holds into the form the
// connector's tracker publishes now (trackers.KeyNormalizer): a state written
// before GitHub and GitLab published "owner/repo#12" knows its tickets as
// "12". Without it, the first listing after an upgrade would find every open
// ticket unknown (and publish it as discovered) and every known one missing
// (and publish it as closed). A known ticket keeps the update time last
// published, so it is published again only when it changes, as an update
// under its new key. Keys already in the new form, keys the tracker does not
// recognise, and trackers without a KeyNormalizer are left as they are, so
// the state records
// that it was migrated (KeyForm), so later cycles skip the walk. The rewritten state is saved with
// the cycle.
func migrateKeys(reg *trackers.Registry, c connector.Connector, st connector.PollState, log *slog.Logger) connector.PollState {
	if st.KeyForm >= keyFormPublished {
		return st // migrated once: an idle cycle does not walk every known key
	}
	st.KeyForm = keyFormPublished
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
	// Only moved keys are changed (ForgetKnown/SetKnownVersion), and page caches
	// only when one of their keys moved: the state store then saves what
	// moved, not the whole known set, every cycle.
	moved := 0
	for _, key := range slices.Sorted(maps.Keys(st.Known)) {
		to := rename(key)
		if to == key {
			continue
		}
		moved++
		at, fp := st.Known[key], st.KnownPrint(key)
		st.ForgetKnown(key)
		if prev, dup := st.Known[to]; !dup || at.After(prev) {
			st.SetKnownVersion(to, at, fp) // the fingerprint moves with it
		}
	}
	pages := func(in []connector.PageCache) []connector.PageCache {
		var out []connector.PageCache
		for i := range in {
			for j, key := range in[i].Keys {
				if to := rename(key); to != key {
					if out == nil {
						out = slices.Clone(in)
					}
					if &out[i].Keys[0] == &in[i].Keys[0] {
						out[i].Keys = slices.Clone(in[i].Keys)
					}
					out[i].Keys[j] = to
				}
			}
		}
		if out == nil {
			return in
		}
		return out
	}
	st.Pages, st.IncrementalPages = pages(st.Pages), pages(st.IncrementalPages)
	if moved > 0 && log != nil {
		log.Info("poll state: ticket keys moved to the published form", "connector", c.ID, "system", c.System, "keys", moved)
	}
	return st
}
