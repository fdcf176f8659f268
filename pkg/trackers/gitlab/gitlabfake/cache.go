package gitlabfake

import (
	"slices"
	"time"
)

// The fake stands in for GitLab on another machine, so its own cost should
// stay small beside the client's: paging through a listing must not filter
// and sort every issue again for every page, nor re-encode an issue that
// has not changed. Both caches are tied to a generation that every lock
// taken by a write (or an inspection) bumps; the listing's own locks and
// the per-request lookups (projects, tokens, rate limits) leave it.

// lock takes s.mu for anything that may change what a listing answers.
func (s *Server) lock() {
	s.mu.Lock()
	s.gen++
}

// listQuery is what a listing's sorted result depends on besides the page.
type listQuery struct {
	project                      int64
	state, orderBy               string
	desc                         bool
	after, before                time.Time
	labels, notLabels, assignees string
	iids                         string
}

type listResult struct {
	gen  uint64
	q    listQuery
	list []*issueState
}

// cachedList returns the last listing's sorted issues while nothing changed
// (the lock is held).
func (s *Server) cachedList(q listQuery) ([]*issueState, bool) {
	if r := s.lastList; r != nil && r.gen == s.gen && r.q == q {
		return r.list, true
	}
	return nil, false
}

type encodedIssue struct {
	gen  uint64
	base string
	b    []byte
}

// cachedIssue is an issue's JSON as last served for base, if nothing
// changed since (the lock is held).
func (s *Server) cachedIssue(is *issueState, base string) ([]byte, bool) {
	if e, ok := s.encoded[is]; ok && e.gen == s.gen && e.base == base {
		return e.b, true
	}
	return nil, false
}

// keepEncoded stores renderings made at generation gen (it takes the lock).
func (s *Server) keepEncoded(gen uint64, base string, refs []*issueState, bodies [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	if s.encoded == nil || len(s.encoded) > 2*len(s.issues)+1024 {
		s.encoded = map[*issueState]encodedIssue{}
	}
	for i, is := range refs {
		if bodies[i] != nil {
			s.encoded[is] = encodedIssue{gen: gen, base: base, b: bodies[i]}
		}
	}
}

func joinIDs(ids []int64) string {
	b := []byte{}
	for _, id := range slices.Sorted(slices.Values(ids)) {
		b = append(b, byte(id), byte(id>>8), byte(id>>16), byte(id>>24), byte(id>>32), byte(id>>40), byte(id>>48), byte(id>>56))
	}
	return string(b)
}
