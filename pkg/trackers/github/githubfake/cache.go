package githubfake

import (
	"crypto/sha256"
	"time"

	json "github.com/goccy/go-json"
)

// The fake stands in for GitHub on another machine, so its own cost should
// stay small beside the client's: paging through a listing must not filter
// and sort every issue again for every page, nor re-encode an issue that
// has not changed. Both caches are tied to a generation that every lock
// taken by a write (or by a read outside the listing) bumps, so whatever
// changes, the next listing starts afresh.

// lock takes s.mu for anything that may change what a listing answers.
func (s *Server) lock() {
	s.mu.Lock()
	s.gen++
}

// listQuery is what a listing's result depends on besides the page.
type listQuery struct {
	st                                          *repoState
	state, creator, assignee, labels, sort, dir string
	since                                       time.Time
}

type listResult struct {
	gen uint64
	q   listQuery
	out []*Issue
}

// cachedList returns the last listing's sorted issues while nothing changed
// (the lock is held).
func (s *Server) cachedList(q listQuery) ([]*Issue, bool) {
	if r := s.lastList; r != nil && r.gen == s.gen && r.q == q {
		return r.out, true
	}
	return nil, false
}

type encodedIssue struct {
	gen uint64
	api string
	b   []byte
	sum [sha256.Size]byte // of b: a listing's ETag is a digest of its items' (conditional)
}

// issueBytes is issueJSON encoded, cached per issue and API base until the
// generation moves (the lock is held).
func (s *Server) issueBytes(api string, st *repoState, is *Issue) (encodedIssue, error) {
	if e, ok := s.encoded[is]; ok && e.gen == s.gen && e.api == api {
		return e, nil
	}
	b, err := json.Marshal(s.issueJSON(api, st, is))
	if err != nil {
		return encodedIssue{}, err
	}
	if s.encoded == nil || len(s.encoded) > 4*len(st.issues)+1024 {
		s.encoded = map[*Issue]encodedIssue{} // drop entries of removed repositories' issues
	}
	e := encodedIssue{gen: s.gen, api: api, b: b, sum: sha256.Sum256(b)}
	s.encoded[is] = e
	return e, nil
}
