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

// SetAppClock makes the installation sources created from now on read
// now; the returned func restores the real clock. Tests that call it must
// not run in parallel with each other.
func SetAppClock(now func() time.Time) (restore func()) {
	appClock = now
	return func() { appClock = time.Now }
}

// AppMints is how many installation tokens the source of s's installation minted.
func AppMints(s *trackers.Session) int64 {
	src, err := appSourceFor(s)
	if err != nil {
		return -1
	}
	return src.mints.Load()
}

// AppJWT signs an app JWT as a session of s would.
func AppJWT(s *trackers.Session) (string, error) {
	src, err := appSourceFor(s)
	if err != nil {
		return "", err
	}
	return src.jwt()
}
