package github

import (
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// PacedMutation is one mutation the pacer let go: when it was due (its
// reserved slot) and when it went.
type PacedMutation struct{ Due, Released time.Time }

var (
	pacedMu     sync.Mutex
	paced       = map[string][]PacedMutation{}
	pacedRecord sync.Once
)

// RecordPacing makes the shared mutation pacer record what it lets go, for
// every test of the package from now on.
func RecordPacing() {
	pacedRecord.Do(func() {
		obs := func(key string, due, released time.Time) {
			pacedMu.Lock()
			defer pacedMu.Unlock()
			paced[key] = append(paced[key], PacedMutation{Due: due, Released: released})
		}
		githubMutations.observe.Store(&obs)
	})
}

// PacedMutations are the mutations recorded for s's token on s's host.
func PacedMutations(s *trackers.Session) []PacedMutation {
	pacedMu.Lock()
	defer pacedMu.Unlock()
	return append([]PacedMutation(nil), paced[githubPacerKey(s)]...)
}
