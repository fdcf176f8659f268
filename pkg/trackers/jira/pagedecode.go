package jira

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The search page reader.
//
// Why not the library: a discovery page is a hundred issues, and
// goccy/go-json's decode of it was a fifth of a Jira discovery window's
// CPU and seven allocations per issue (issue 9): an object per pointer
// field, a zeroed element per slice element (its slice decoder makes one
// to copy from), a copy of every description for json.RawMessage's
// UnmarshalJSON, and a second one inside it. This reader makes every
// string and raw description a view of the page, and allocates a few
// arrays per page for the issues' fields, statuses and labels.
//
// (The page is read into a slice of its own rather than the pooled
// buffer: the reader keeps it instead of copying it.)
//
// It is only a fast path, for the plainly spelled pages Jira sends: it
// reports ok=false, and the caller decodes with go-json as before, for
// anything where it might not agree with the library (malformed JSON,
// a known key in another case or twice, values of another type than the
// field's, numbers other than plain integers, invalid UTF-8, odd escapes)
// and for the fields discovery does not ask for (project, issuetype,
// entity properties of issues and comments).
// TestSearchPageDecodeMatchesLibrary and FuzzSearchPageDecode compare it
// with the library.

// cloudSearchPage is /rest/api/3/search/jql's answer.
type cloudSearchPage struct {
	Issues        []jiraIssue `json:"issues"`
	NextPageToken string      `json:"nextPageToken"`
	IsLast        *bool       `json:"isLast"`
}

// dcSearchPage is /rest/api/2/search's answer.
type dcSearchPage struct {
	StartAt    *int        `json:"startAt"`
	MaxResults int         `json:"maxResults"`
	Total      *int        `json:"total"`
	Issues     []jiraIssue `json:"issues"`
}

// fastDecoder is an answer that may decode itself without the library
// (c.do tries it first). raw becomes the decoder's: nothing may write to
// it afterwards (what it decodes views it).
type fastDecoder interface {
	decodeFast(raw []byte) bool
}

var (
	_ fastDecoder = (*cloudSearchPage)(nil)
	_ fastDecoder = (*dcSearchPage)(nil)
)

func (p *cloudSearchPage) decodeFast(raw []byte) bool {
	var out cloudSearchPage
	r := newPageReader(raw)
	ok := r.object([]string{"issues", "nextPageToken", "isLast"}, func(f int) bool {
		switch f {
		case 0:
			return r.issues(&out.Issues)
		case 1:
			return r.str(&out.NextPageToken)
		case 2:
			if r.null() {
				out.IsLast = nil
				return true
			}
			var b bool
			if !r.boolean(&b) {
				return false
			}
			out.IsLast = &b
			return true
		}
		return r.skip(0)
	})
	if !ok || !r.end() {
		return false
	}
	*p = out
	return true
}

func (p *dcSearchPage) decodeFast(raw []byte) bool {
	var out dcSearchPage
	r := newPageReader(raw)
	optInt := func(dst **int) bool {
		if r.null() {
			*dst = nil
			return true
		}
		n := new(int)
		*dst = n
		return r.integer(n)
	}
	ok := r.object([]string{"startAt", "maxResults", "total", "issues"}, func(f int) bool {
		switch f {
		case 0:
			return optInt(&out.StartAt)
		case 1:
			if r.null() {
				return true
			}
			return r.integer(&out.MaxResults)
		case 2:
			return optInt(&out.Total)
		case 3:
			return r.issues(&out.Issues)
		}
		return r.skip(0)
	})
	if !ok || !r.end() {
		return false
	}
	*p = out
	return true
}

// pageReader reads a page it owns (c.do reads a search page into a slice
// of its own): s is b as a string, and every string decoded views it.
type pageReader struct {
	b []byte
	s string
	i int
	// Chunks the issues' fields, statuses and labels are taken from: a
	// few arrays per page instead of an object or slice per issue each.
	// A full chunk is replaced, never grown (pointers into it stay put).
	fields []jiraFields
	nameds []jiraNamed
	strs   []string
}

// chunkLen is the length of a new chunk: a page's issues.
const chunkLen = jiraPageSize

func (r *pageReader) newFields() *jiraFields {
	if len(r.fields) == cap(r.fields) {
		r.fields = make([]jiraFields, 0, chunkLen)
	}
	r.fields = r.fields[:len(r.fields)+1]
	return &r.fields[len(r.fields)-1]
}

func (r *pageReader) newNamed() *jiraNamed {
	if len(r.nameds) == cap(r.nameds) {
		r.nameds = make([]jiraNamed, 0, chunkLen)
	}
	r.nameds = r.nameds[:len(r.nameds)+1]
	return &r.nameds[len(r.nameds)-1]
}

// keepStrings copies a list to the string chunks, capped (an append to
// it moves it, never into a neighbour's).
func (r *pageReader) keepStrings(list []string) []string {
	if cap(r.strs)-len(r.strs) < len(list) {
		r.strs = make([]string, 0, max(4*chunkLen, len(list)))
	}
	start := len(r.strs)
	r.strs = append(r.strs, list...)
	return r.strs[start:len(r.strs):len(r.strs)]
}

func newPageReader(raw []byte) *pageReader {
	return &pageReader{b: raw, s: unsafe.String(unsafe.SliceData(raw), len(raw))}
}

// maxSkipDepth bounds the nesting of skipped values (the library's limit
// is larger; deeper pages take its path).
const maxSkipDepth = 100

func (r *pageReader) ws() {
	for r.i < len(r.b) && r.b[r.i] <= ' ' && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

func (r *pageReader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

func (r *pageReader) next(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *pageReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *pageReader) literal(lit string) bool {
	r.ws()
	if strings.HasPrefix(r.s[r.i:], lit) {
		r.i += len(lit)
		return true
	}
	return false
}

func (r *pageReader) null() bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	return false
}

// object walks an object, calling member with the index of each key among
// names, or -1 for other keys (member then skips the value). A key that
// names a field in another case, a repeated field, or a key with escapes
// fails the read.
func (r *pageReader) object(names []string, member func(f int) bool) bool {
	if !r.next('{') {
		return false
	}
	if r.next('}') {
		return true
	}
	var seen uint32
	for {
		key, ok := r.key()
		if !ok || !r.next(':') {
			return false
		}
		f := -1
		for j, n := range names {
			if len(key) != len(n) {
				continue // keys are ASCII (key): no case variant of n
			}
			if key == n {
				f = j
				break
			}
			if strings.EqualFold(key, n) {
				return false // the library's case-insensitive match: its job
			}
		}
		if f >= 0 {
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
		}
		if !member(f) {
			return false
		}
		if r.next(',') {
			continue
		}
		return r.next('}')
	}
}

// key reads an object key without escapes (ASCII).
func (r *pageReader) key() (string, bool) {
	if !r.next('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return r.s[start : r.i-1], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return "", false
		}
		r.i++
	}
	return "", false
}

// str decodes a string field: null leaves it as it is.
func (r *pageReader) str(dst *string) bool {
	if r.null() {
		return true
	}
	s, ok := r.stringValue()
	*dst = s
	return ok
}

// stringValue reads a JSON string: a view of the page when it has no
// escapes, else unescaped. Invalid UTF-8, control characters and lone
// surrogates fail the read.
func (r *pageReader) stringValue() (string, bool) {
	return r.stringOf(true)
}

// stringOf is stringValue; without keep, an escaped string is checked as
// it would be read but not made (skip's strings: most of a page's escapes
// are in URLs no field keeps).
func (r *pageReader) stringOf(keep bool) (string, bool) {
	if !r.next('"') {
		return "", false
	}
	start := r.i
	// Eight plain ASCII bytes (no quote, backslash or control character)
	// at a time: most of a page is such strings.
	for r.i+8 <= len(r.b) && plain8(binary.LittleEndian.Uint64(r.b[r.i:])) {
		r.i += 8
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.s[start : r.i-1], true
		case c == '\\':
			return r.escaped(start, keep)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			r.i++
		default:
			rn, size := utf8.DecodeRune(r.b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				return "", false
			}
			r.i += size
		}
	}
	return "", false
}

// plain8 reports whether none of the eight bytes of x is a quote, a
// backslash, a control character or a byte of a multi-byte sequence
// (bit tricks over the word: a byte below n is one whose subtraction of n
// borrows into its top bit while its own top bit is clear; a false alarm
// only sends the bytes to the loop that reads them one by one).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(v uint64, n uint64) uint64 { return (v - ones*n) & ^v & highs }
	zeroAt := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return x&highs == 0 && below(x, 0x20) == 0 && zeroAt(x^(ones*'"')) == 0 && zeroAt(x^(ones*'\\')) == 0
}

// escaped is stringOf's path from the first backslash on.
func (r *pageReader) escaped(start int, keep bool) (string, bool) {
	var buf []byte // nil when not kept: appends to it are not made
	if keep {
		// Unescaped, a string is never longer than as written: sized
		// from its closing quote, buf never grows.
		end := r.i
		for end < len(r.b) && r.b[end] != '"' {
			if r.b[end] == '\\' {
				end++
			}
			end++
		}
		buf = make([]byte, 0, min(end, len(r.b))-start)
		buf = append(buf, r.b[start:r.i]...)
	}
	add := func(b ...byte) {
		if keep {
			buf = append(buf, b...)
		}
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !keep {
				return "", true
			}
			// buf is not written again: the string views it.
			return unsafe.String(unsafe.SliceData(buf), len(buf)), true
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", false
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				add(e)
			case 'b':
				add('\b')
			case 'f':
				add('\f')
			case 'n':
				add('\n')
			case 'r':
				add('\r')
			case 't':
				add('\t')
			case 'u':
				rn, ok := r.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(rn) {
					if rn >= 0xDC00 || r.i+1 >= len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
						return "", false
					}
					r.i += 2
					lo, ok := r.hex4()
					if !ok {
						return "", false
					}
					if rn = utf16.DecodeRune(rn, lo); rn == utf8.RuneError {
						return "", false
					}
				}
				if keep {
					buf = utf8.AppendRune(buf, rn)
				}
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			add(c)
			r.i++
		default:
			rn, size := utf8.DecodeRune(r.b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				return "", false
			}
			add(r.b[r.i : r.i+size]...)
			r.i += size
		}
	}
	return "", false
}

func (r *pageReader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var rn rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			rn = rn<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			rn = rn<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			rn = rn<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return rn, true
}

func (r *pageReader) boolean(dst *bool) bool {
	switch {
	case r.literal("true"):
		*dst = true
	case r.literal("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// integer reads a plain integer: an optional minus and up to 18 digits
// without a leading zero.
func (r *pageReader) integer(dst *int) bool {
	r.ws()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	n := r.i - digits
	if n == 0 || n > 18 || n > 1 && r.b[digits] == '0' {
		return false
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return false
	}
	v, err := strconv.Atoi(r.s[start:r.i])
	*dst = v
	return err == nil
}

// raw reads any value as its bytes (json.RawMessage's decode: null too).
func (r *pageReader) raw(dst *json.RawMessage) bool {
	r.ws()
	start := r.i
	if !r.skip(0) {
		return false
	}
	*dst = r.b[start:r.i:r.i]
	return true
}

// skip consumes any JSON value, checking its syntax.
func (r *pageReader) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch c := r.peek(); {
	case c == '{':
		r.i++
		if r.next('}') {
			return true
		}
		for {
			if _, ok := r.key(); !ok || !r.next(':') || !r.skip(depth+1) {
				return false
			}
			if r.next(',') {
				continue
			}
			return r.next('}')
		}
	case c == '[':
		r.i++
		if r.next(']') {
			return true
		}
		for {
			if !r.skip(depth + 1) {
				return false
			}
			if r.next(',') {
				continue
			}
			return r.next(']')
		}
	case c == '"':
		_, ok := r.stringOf(false)
		return ok
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	}
	return false
}

// number consumes a JSON number.
func (r *pageReader) number() bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || r.b[digits] == '0' && r.i-digits > 1 {
		return false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		frac := r.i
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
		if r.i == frac {
			return false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		exp := r.i
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
		if r.i == exp {
			return false
		}
	}
	return true
}

// array walks an array (null: nil, [] an empty slice, as the library
// decodes them), calling elem for each element.
func (r *pageReader) array(isNull *bool, elem func() bool) bool {
	if r.null() {
		*isNull = true
		return true
	}
	if !r.next('[') {
		return false
	}
	if r.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if r.next(',') {
			continue
		}
		return r.next(']')
	}
}

func (r *pageReader) issues(dst *[]jiraIssue) bool {
	// A page's issues number up to the page size: sized once.
	out := make([]jiraIssue, 0, jiraPageSize)
	var isNull bool
	ok := r.array(&isNull, func() bool {
		out = append(out, jiraIssue{})
		return r.issue(&out[len(out)-1])
	})
	if isNull {
		out = nil
	}
	*dst = out
	return ok
}

func (r *pageReader) issue(is *jiraIssue) bool {
	if r.null() {
		return true // a null element: the zero issue
	}
	return r.object([]string{"id", "key", "fields", "properties"}, func(f int) bool {
		switch f {
		case 0:
			return r.str(&is.ID)
		case 1:
			return r.str(&is.Key)
		case 2:
			if r.null() {
				is.Fields = nil
				return true
			}
			is.Fields = r.newFields()
			return r.issueFields(is.Fields)
		case 3:
			return false // entity properties: the library's
		}
		return r.skip(0)
	})
}

var fieldNames = []string{"summary", "description", "status", "labels", "priority", "reporter", "assignee",
	"created", "updated", "parent", "subtasks", "components", "comment", "attachment", "project", "issuetype"}

func (r *pageReader) issueFields(f *jiraFields) bool {
	return r.object(fieldNames, func(k int) bool {
		switch k {
		case 0:
			return r.str(&f.Summary)
		case 1:
			return r.raw(&f.Description)
		case 2:
			return r.namedRef(&f.Status)
		case 3:
			return r.strings(&f.Labels)
		case 4:
			return r.named(&f.Priority)
		case 5:
			return r.user(&f.Reporter)
		case 6:
			return r.user(&f.Assignee)
		case 7:
			return r.str(&f.Created)
		case 8:
			return r.str(&f.Updated)
		case 9:
			if r.null() {
				f.Parent = nil
				return true
			}
			f.Parent = new(jiraIssueRef)
			return r.issueRef(f.Parent)
		case 10:
			var isNull bool
			var out []jiraIssueRef
			ok := r.array(&isNull, func() bool {
				out = append(out, jiraIssueRef{})
				return r.issueRef(&out[len(out)-1])
			})
			if !isNull && out == nil {
				out = []jiraIssueRef{}
			}
			f.Subtasks = out
			return ok
		case 11:
			var isNull bool
			var out []jiraNamed
			ok := r.array(&isNull, func() bool {
				out = append(out, jiraNamed{})
				return r.named(&out[len(out)-1])
			})
			if !isNull && out == nil {
				out = []jiraNamed{}
			}
			f.Components = out
			return ok
		case 12:
			if r.null() {
				f.Comment = nil
				return true
			}
			f.Comment = new(jiraCommentPage)
			return r.commentPage(f.Comment)
		case 13:
			var isNull bool
			var out []jiraAttachment
			ok := r.array(&isNull, func() bool {
				out = append(out, jiraAttachment{})
				return r.attachment(&out[len(out)-1])
			})
			if !isNull && out == nil {
				out = []jiraAttachment{}
			}
			f.Attachment = out
			return ok
		case 14, 15:
			return r.null() // project, issue type: the library's
		}
		return r.skip(0)
	})
}

// commentPage decodes the comments a search page embeds (IndexComments).
func (r *pageReader) commentPage(p *jiraCommentPage) bool {
	return r.object([]string{"startAt", "maxResults", "total", "comments"}, func(f int) bool {
		switch f {
		case 0, 1, 2:
			if r.null() {
				return true
			}
			return r.integer([]*int{&p.StartAt, &p.MaxResults, &p.Total}[f])
		case 3:
			var isNull bool
			var out []jiraComment
			ok := r.array(&isNull, func() bool {
				out = append(out, jiraComment{})
				return r.comment(&out[len(out)-1])
			})
			if !isNull && out == nil {
				out = []jiraComment{}
			}
			p.Comments = out
			return ok
		}
		return r.skip(0)
	})
}

func (r *pageReader) comment(c *jiraComment) bool {
	if r.null() {
		return true
	}
	return r.object([]string{"id", "author", "body", "created", "properties"}, func(f int) bool {
		switch f {
		case 0:
			return r.str(&c.ID)
		case 1:
			if r.null() {
				c.Author = nil
				return true
			}
			c.Author = new(jiraUser)
			return r.user(c.Author)
		case 2:
			return r.raw(&c.Body)
		case 3:
			return r.str(&c.Created)
		case 4:
			return r.null() // entity properties: the library's
		}
		return r.skip(0)
	})
}

// attachment decodes an attachment's metadata (IndexAttachments). Its id
// is a string or an integer (jiraID); null ids are left to the library.
func (r *pageReader) attachment(a *jiraAttachment) bool {
	if r.null() {
		return true
	}
	return r.object([]string{"id", "filename", "mimeType", "size", "content"}, func(f int) bool {
		switch f {
		case 0:
			if r.peek() == '"' {
				s, ok := r.stringValue()
				a.ID = jiraID(s)
				return ok
			}
			r.ws()
			start := r.i
			var n int
			if !r.integer(&n) {
				return false
			}
			a.ID = jiraID(r.s[start:r.i])
			return true
		case 1:
			return r.str(&a.Filename)
		case 2:
			return r.str(&a.MimeType)
		case 3:
			if r.null() {
				return true
			}
			var n int
			ok := r.integer(&n)
			a.Size = int64(n)
			return ok
		case 4:
			return r.str(&a.Content)
		}
		return r.skip(0)
	})
}

func (r *pageReader) strings(dst *[]string) bool {
	var isNull bool
	var outArr [8]string // collected here, kept in the string chunks
	out := outArr[:0]
	ok := r.array(&isNull, func() bool {
		out = append(out, "")
		return r.str(&out[len(out)-1])
	})
	switch {
	case isNull:
		*dst = nil
	case len(out) == 0:
		*dst = []string{}
	default:
		*dst = r.keepStrings(out)
	}
	return ok
}

// named decodes into a jiraNamed value: null leaves it as it is.
func (r *pageReader) named(n *jiraNamed) bool {
	if r.null() {
		return true
	}
	return r.object([]string{"id", "name"}, func(f int) bool {
		switch f {
		case 0:
			return r.str(&n.ID)
		case 1:
			return r.str(&n.Name)
		}
		return r.skip(0)
	})
}

func (r *pageReader) namedRef(dst **jiraNamed) bool {
	if r.null() {
		*dst = nil
		return true
	}
	*dst = r.newNamed()
	return r.named(*dst)
}

func (r *pageReader) user(u *jiraUser) bool {
	if r.null() {
		return true
	}
	return r.object([]string{"accountId", "name", "key", "emailAddress", "displayName"}, func(f int) bool {
		switch f {
		case 0:
			return r.str(&u.AccountID)
		case 1:
			return r.str(&u.Name)
		case 2:
			return r.str(&u.Key)
		case 3:
			return r.str(&u.EmailAddress)
		case 4:
			return r.str(&u.DisplayName)
		}
		return r.skip(0)
	})
}

func (r *pageReader) issueRef(ref *jiraIssueRef) bool {
	if r.null() {
		return true
	}
	return r.object([]string{"id", "key", "fields"}, func(f int) bool {
		switch f {
		case 0:
			return r.str(&ref.ID)
		case 1:
			return r.str(&ref.Key)
		case 2:
			if r.null() {
				return true
			}
			return r.object([]string{"summary", "status"}, func(g int) bool {
				switch g {
				case 0:
					return r.str(&ref.Fields.Summary)
				case 1:
					return r.namedRef(&ref.Fields.Status)
				}
				return r.skip(0)
			})
		}
		return r.skip(0)
	})
}
