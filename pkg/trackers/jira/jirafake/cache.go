package jirafake

import (
	"net/http"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// The fake stands in for a Jira on another machine, so its own cost should
// stay small beside the client's: a listing of N issues in pages must not
// cost N² (every page re-running the query) nor re-encode an issue that has
// not changed. Both caches are tied to a generation that every lock taken
// outside a search bumps: whatever a write changes (an issue, its parent,
// a user, the workflow), the next search starts afresh.

// lock takes s.mu for anything that may change what a search answers.
func (s *Server) lock() {
	s.mu.Lock()
	s.gen++
}

// searchResult is the last query evaluated, for the pages that follow it.
type searchResult struct {
	gen   uint64
	jql   string
	user  *User
	now   time.Time // set only when the query reads the clock (relative dates)
	found []*issue
}

// runCached is run, reusing the last result while nothing changed and the
// same caller pages through the same query (the lock is held).
func (s *Server) runCached(c caller, jql string) ([]*issue, error) {
	var now time.Time
	if q, err := s.parseJQL(jql); err == nil && q.relative() {
		now = s.now()
	}
	if r := s.lastSearch; r != nil && r.gen == s.gen && r.jql == jql && r.user == c.user && r.now.Equal(now) {
		return r.found, nil
	}
	found, err := s.run(c, jql)
	if err != nil {
		return nil, err
	}
	s.lastSearch = &searchResult{gen: s.gen, jql: jql, user: c.user, now: now, found: found}
	return found, nil
}

// parsedJQL is the last query text parsed and what it parsed to.
type parsedJQL struct {
	jql string
	q   Query
	err error
}

// parseJQL is ParseJQL, reusing the last result for the same text (the
// lock is held): a listing's pages send the same JQL, and parsing it two
// or three times per page was most of the fake's remaining allocations
// per search. A Query is only read once parsed.
func (s *Server) parseJQL(jql string) (Query, error) {
	if p := s.lastParsed; p != nil && p.jql == jql {
		return p.q, p.err
	}
	q, err := ParseJQL(jql)
	s.lastParsed = &parsedJQL{jql: jql, q: q, err: err}
	return q, err
}

// relative reports whether the query compares with a date relative to now.
func (q Query) relative() bool {
	for _, c := range q.clauses {
		for _, v := range c.values {
			if relativeDate.MatchString(v.text) {
				return true
			}
		}
	}
	return false
}

// encodedIssue is an issue's JSON as last served, and what it depended on.
type encodedIssue struct {
	gen uint64
	key string
	b   []byte
}

// issueBytes is issueJSON encoded, cached per issue until the generation
// moves or a request asks for a different rendering (key: renderKey of the
// host, API version, fields, properties, the caller's zone).
func (s *Server) issueBytes(r *http.Request, c caller, is *issue, fields fieldSet, key string, props []string) ([]byte, error) {
	if e := is.enc; e != nil && e.gen == s.gen && e.key == key {
		return e.b, nil
	}
	b, err := json.Marshal(s.issueJSON(r, c, is, fields, props))
	if err != nil {
		return nil, err
	}
	is.enc = &encodedIssue{gen: s.gen, key: key, b: b}
	return b, nil
}

func renderKey(base string, isV3 bool, loc *time.Location, fieldsKey string, props []string) string {
	var b strings.Builder
	b.WriteString(base)
	if isV3 {
		b.WriteString("|3|")
	} else {
		b.WriteString("|2|")
	}
	b.WriteString(loc.String())
	b.WriteByte('|')
	b.WriteString(fieldsKey)
	b.WriteByte('|')
	b.WriteString(strings.Join(props, ","))
	return b.String()
}

// key is a canonical spelling of a field set, for cache keys.
func (f fieldSet) key() string {
	names := make([]string, 0, len(f))
	for n, on := range f {
		if on {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// encodeIssues encodes a page of issues (the lock is held).
func (s *Server) encodeIssues(r *http.Request, c caller, page []*issue, fields fieldSet, props []string) ([][]byte, error) {
	// One rendering for the whole page (it was spelled per issue, five
	// allocations each: issue 9).
	key := renderKey(fakehttp.BaseURL(r), v3(r), s.zoneOf(c.user), fields.key(), props)
	items := make([][]byte, 0, len(page))
	for _, is := range page {
		b, err := s.issueBytes(r, c, is, fields, key, props)
		if err != nil {
			return nil, err
		}
		items = append(items, b)
	}
	return items, nil
}
