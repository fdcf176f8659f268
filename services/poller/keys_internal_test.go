package poller

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
)

func TestMigrateKeysMovesOnlyWhatTheTrackerRecognises(t *testing.T) {
	t.Parallel()
	github := connector.Connector{System: connector.GitHub, Project: "acme/widgets"}
	for _, tc := range []struct {
		name  string
		c     connector.Connector
		moves map[string]string // stored key → key after the migration
	}{
		{"github numbers", github, map[string]string{"1": "acme/widgets#1", "12": "acme/widgets#12"}},
		{"github keys already moved", github, map[string]string{"acme/widgets#1": "acme/widgets#1"}},
		{"github key of a repository the connector no longer names", github, map[string]string{"acme/old#3": "acme/old#3"}},
		{"gitlab path", connector.Connector{System: connector.GitLab, Project: "grp/sub/proj", BaseURL: "https://gitlab.com"}, map[string]string{"7": "grp/sub/proj#7"}},
		{"gitlab numeric project", connector.Connector{System: connector.GitLab, Project: "4711", BaseURL: "https://gitlab.com"}, map[string]string{"7": "4711#7"}},
		{"jira keys stay", connector.Connector{System: connector.Jira, Project: "PROJ"}, map[string]string{"PROJ-1": "PROJ-1", "OPS-2": "OPS-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stored := slices.Sorted(maps.Keys(tc.moves))
			st := connector.PollState{Known: map[string]time.Time{}, Pages: []connector.PageCache{{ETag: "e", Keys: slices.Clone(stored)}}}
			at := map[string]time.Time{}
			for i, k := range stored {
				at[k] = time.Date(2026, 1, 2, 3, i, 0, 0, time.UTC)
				st.Known[k] = at[k]
			}
			got := migrateKeys(all.Registry(), tc.c, st, nil)
			if len(got.Known) != len(tc.moves) {
				t.Errorf("known = %v, want %d tickets", got.Known, len(tc.moves))
			}
			for from, to := range tc.moves {
				if !got.Known[to].Equal(at[from]) {
					t.Errorf("%s → %s: known at %v, want the update time stored for %s (%v)", from, to, got.Known[to], from, at[from])
				}
				if !slices.Contains(got.Pages[0].Keys, to) {
					t.Errorf("page keys %v lack %s", got.Pages[0].Keys, to)
				}
			}
			if got.Pages[0].ETag != "e" || !slices.Equal(st.Pages[0].Keys, stored) {
				t.Errorf("page cache: etag %q, caller's keys %v (want them untouched: %v)", got.Pages[0].ETag, st.Pages[0].Keys, stored)
			}
		})
	}
}

// The walk over every known key runs once per state: a migrated state says
// so, and later cycles leave it alone.
func TestMigrateKeysRunsOncePerState(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitHub, Project: "acme/widgets"}
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	st := migrateKeys(all.Registry(), c, connector.PollState{Known: map[string]time.Time{"1": at}}, nil)
	if st.KeyForm != keyFormPublished || !st.Known["acme/widgets#1"].Equal(at) {
		t.Fatalf("first migration: key form %d, known %v", st.KeyForm, st.Known)
	}
	// A bare key in a migrated state is no longer taken for an old one.
	st.Known = map[string]time.Time{"2": at}
	if got := migrateKeys(all.Registry(), c, st, nil); len(got.Known) != 1 || !got.Known["2"].Equal(at) {
		t.Errorf("a migrated state was walked again: known %v", got.Known)
	}
}
