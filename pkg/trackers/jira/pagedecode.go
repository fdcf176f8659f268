package jira

import (
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// The search page reader: Jira's field mapping on trackerhttp's one-pass
// scanner (the ViewScanner, whose strings view the page).
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
// reports ok=false, and the caller decodes with go-json as before, on any
// error of the scan. The scan fails where it might not agree with the
// library: malformed JSON, a known key in another case, twice, with
// escapes or with non-ASCII bytes (the library's case folding), values of
// another type than the field's, numbers that are not integers where an
// integer is read, and strings read (not skipped) with raw control
// characters, or with escapes and invalid UTF-8 or unpaired surrogates
// (trackerhttp.ViewScanner); and for the fields discovery does not ask for
// (project, issuetype, entity properties of issues and comments).
// Skipped values are checked as trackerhttp.Scanner.Skip checks them: their
// syntax, not their strings' contents (go-json does not look into those
// either). TestSearchPageDecodeMatchesLibrary and FuzzSearchPageDecode
// compare it with the library.

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
	var r pageReader
	err := trackerhttp.DecodeViews(raw, func(s trackerhttp.ViewScanner) {
		r.s = s
		var seen uint32
		s.Object("page", func(key []byte) {
			switch r.field(key, pageNames, &seen) {
			case 0:
				r.issues(&out.Issues)
			case 1:
				out.NextPageToken = s.String("nextPageToken")
			case 2:
				if s.Kind() == 'n' {
					s.Skip()
					out.IsLast = nil
					return
				}
				b := s.Bool("isLast")
				out.IsLast = &b
			default:
				s.Skip()
			}
		})
	})
	if err != nil {
		return false
	}
	*p = out
	return true
}

var pageNames = []string{"issues", "nextPageToken", "isLast"}

var dcPageNames = []string{"startAt", "maxResults", "total", "issues"}

func (p *dcSearchPage) decodeFast(raw []byte) bool {
	var out dcSearchPage
	var r pageReader
	err := trackerhttp.DecodeViews(raw, func(s trackerhttp.ViewScanner) {
		r.s = s
		optInt := func(dst **int, name string) {
			if s.Kind() == 'n' {
				s.Skip()
				*dst = nil
				return
			}
			n := int(s.Int64(name))
			*dst = &n
		}
		var seen uint32
		s.Object("page", func(key []byte) {
			switch r.field(key, dcPageNames, &seen) {
			case 0:
				optInt(&out.StartAt, "startAt")
			case 1:
				out.MaxResults = int(s.Int64("maxResults"))
			case 2:
				optInt(&out.Total, "total")
			case 3:
				r.issues(&out.Issues)
			default:
				s.Skip()
			}
		})
	})
	if err != nil {
		return false
	}
	*p = out
	return true
}

// pageReader is Jira's field mapping over the scan of a page it owns (c.do
// reads a search page into a slice of its own): every string decoded
// views it.
type pageReader struct {
	s trackerhttp.ViewScanner
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

// field is the index of key among names, or -1 for other keys (the
// caller then skips the value). A key with escapes or non-ASCII bytes, a
// key that names a field in another case, or a repeated field fails the
// scan: the library matches keys case-insensitively (with Unicode's
// folds) and lets the last of a repeated field win, and the reader does
// not try to agree with it there.
func (r *pageReader) field(key []byte, names []string, seen *uint32) int {
	if r.s.KeyEscaped() {
		r.s.Failf("a key with escapes")
		return -1
	}
	for j, n := range names {
		if string(key) == n { // an ASCII key then
			if *seen&(1<<j) != 0 {
				r.s.Failf("field %s twice", n)
				return -1
			}
			*seen |= 1 << j
			return j
		}
	}
	// Another key: refused if the library could take it for a field (its
	// case folding, Unicode's included), else skipped by the caller.
	for _, c := range key {
		if c >= utf8.RuneSelf {
			r.s.Failf("a non-ASCII key")
			return -1
		}
	}
	for _, n := range names {
		if len(key) == len(n) && strings.EqualFold(string(key), n) { // key is ASCII: no other length folds to n
			r.s.Failf("field %s in another case", n)
			return -1
		}
	}
	return -1
}

// array reads an array (null: nil, [] an empty slice, as the library
// decodes them) calling elem for each element; the result tells null
// apart.
func (r *pageReader) array(name string, elem func()) (isNull bool) {
	if r.s.Kind() == 'n' {
		r.s.Skip()
		return true
	}
	r.s.Array(name, elem)
	return false
}

func (r *pageReader) issues(dst *[]jiraIssue) {
	// A page's issues number up to the page size: sized once.
	out := make([]jiraIssue, 0, jiraPageSize)
	if r.array("issues", func() {
		out = append(out, jiraIssue{})
		r.issue(&out[len(out)-1])
	}) {
		out = nil
	}
	*dst = out
}

var issueNames = []string{"id", "key", "fields", "properties"}

func (r *pageReader) issue(is *jiraIssue) {
	s := r.s
	var seen uint32
	s.Object("issue", func(key []byte) { // null: the zero issue
		switch r.field(key, issueNames, &seen) {
		case 0:
			is.ID = s.String("id")
		case 1:
			is.Key = s.String("key")
		case 2:
			if s.Kind() == 'n' {
				s.Skip()
				is.Fields = nil
				return
			}
			is.Fields = r.newFields()
			r.issueFields(is.Fields)
		case 3:
			s.Failf("entity properties: the library's")
		default:
			s.Skip()
		}
	})
}

var fieldNames = []string{"summary", "description", "status", "labels", "priority", "reporter", "assignee",
	"created", "updated", "parent", "subtasks", "components", "comment", "attachment", "project", "issuetype"}

func (r *pageReader) issueFields(f *jiraFields) {
	s := r.s
	var seen uint32
	s.Object("fields", func(key []byte) {
		switch r.field(key, fieldNames, &seen) {
		case 0:
			f.Summary = s.String("summary")
		case 1:
			f.Description = s.Raw()
		case 2:
			r.namedRef(&f.Status, "status")
		case 3:
			r.strings(&f.Labels)
		case 4:
			r.named(&f.Priority, "priority")
		case 5:
			r.user(&f.Reporter, "reporter")
		case 6:
			r.user(&f.Assignee, "assignee")
		case 7:
			f.Created = s.String("created")
		case 8:
			f.Updated = s.String("updated")
		case 9:
			if s.Kind() == 'n' {
				s.Skip()
				f.Parent = nil
				return
			}
			f.Parent = new(jiraIssueRef)
			r.issueRef(f.Parent)
		case 10:
			var out []jiraIssueRef
			if !r.array("subtasks", func() {
				out = append(out, jiraIssueRef{})
				r.issueRef(&out[len(out)-1])
			}) && out == nil {
				out = []jiraIssueRef{}
			}
			f.Subtasks = out
		case 11:
			var out []jiraNamed
			if !r.array("components", func() {
				out = append(out, jiraNamed{})
				r.named(&out[len(out)-1], "components")
			}) && out == nil {
				out = []jiraNamed{}
			}
			f.Components = out
		case 12:
			if s.Kind() == 'n' {
				s.Skip()
				f.Comment = nil
				return
			}
			f.Comment = new(jiraCommentPage)
			r.commentPage(f.Comment)
		case 13:
			var out []jiraAttachment
			if !r.array("attachment", func() {
				out = append(out, jiraAttachment{})
				r.attachment(&out[len(out)-1])
			}) && out == nil {
				out = []jiraAttachment{}
			}
			f.Attachment = out
		case 14, 15:
			if s.Kind() != 'n' {
				s.Failf("project, issue type: the library's")
				return
			}
			s.Skip()
		default:
			s.Skip()
		}
	})
}

var commentPageNames = []string{"startAt", "maxResults", "total", "comments"}

// commentPage decodes the comments a search page embeds (IndexComments).
func (r *pageReader) commentPage(p *jiraCommentPage) {
	s := r.s
	var seen uint32
	s.Object("comment", func(key []byte) {
		switch f := r.field(key, commentPageNames, &seen); f {
		case 0, 1, 2:
			*[]*int{&p.StartAt, &p.MaxResults, &p.Total}[f] = int(s.Int64(commentPageNames[f]))
		case 3:
			var out []jiraComment
			if !r.array("comments", func() {
				out = append(out, jiraComment{})
				r.comment(&out[len(out)-1])
			}) && out == nil {
				out = []jiraComment{}
			}
			p.Comments = out
		default:
			s.Skip()
		}
	})
}

var commentNames = []string{"id", "author", "body", "created", "properties"}

func (r *pageReader) comment(c *jiraComment) {
	s := r.s
	var seen uint32
	s.Object("comments", func(key []byte) { // null: the zero comment
		switch r.field(key, commentNames, &seen) {
		case 0:
			c.ID = s.String("id")
		case 1:
			if s.Kind() == 'n' {
				s.Skip()
				c.Author = nil
				return
			}
			c.Author = new(jiraUser)
			r.user(c.Author, "author")
		case 2:
			c.Body = s.Raw()
		case 3:
			c.Created = s.String("created")
		case 4:
			if s.Kind() != 'n' {
				s.Failf("entity properties: the library's")
				return
			}
			s.Skip()
		default:
			s.Skip()
		}
	})
}

var attachmentNames = []string{"id", "filename", "mimeType", "size", "content"}

// attachment decodes an attachment's metadata (IndexAttachments). Its id
// is a string or an integer (jiraID); other ids (null, fractions) are left
// to the library.
func (r *pageReader) attachment(a *jiraAttachment) {
	s := r.s
	var seen uint32
	s.Object("attachment", func(key []byte) { // null: the zero attachment
		switch r.field(key, attachmentNames, &seen) {
		case 0:
			if s.Kind() == '"' {
				a.ID = jiraID(s.String("id"))
				return
			}
			num := s.RawNumber("id")
			for i, c := range num {
				if (c < '0' || c > '9') && (i > 0 || c != '-') {
					s.Failf("attachment id %q is not an integer", num)
					return
				}
			}
			if len(num) > 0 {
				a.ID = jiraID(unsafe.String(&num[0], len(num))) // a view of the page
			}
		case 1:
			a.Filename = s.String("filename")
		case 2:
			a.MimeType = s.String("mimeType")
		case 3:
			a.Size = s.Int64("size")
		case 4:
			a.Content = s.String("content")
		default:
			s.Skip()
		}
	})
}

// strings reads a list of strings (labels).
func (r *pageReader) strings(dst *[]string) {
	var outArr [8]string // collected here, kept in the string chunks
	out := outArr[:0]
	switch {
	case r.array("labels", func() { out = append(out, r.s.String("labels")) }):
		*dst = nil
	case len(out) == 0:
		*dst = []string{}
	default:
		*dst = r.keepStrings(out)
	}
}

var namedNames = []string{"id", "name"}

// named decodes into a jiraNamed value: null leaves it as it is.
func (r *pageReader) named(n *jiraNamed, name string) {
	s := r.s
	var seen uint32
	s.Object(name, func(key []byte) {
		switch r.field(key, namedNames, &seen) {
		case 0:
			n.ID = s.String("id")
		case 1:
			n.Name = s.String("name")
		default:
			s.Skip()
		}
	})
}

func (r *pageReader) namedRef(dst **jiraNamed, name string) {
	if r.s.Kind() == 'n' {
		r.s.Skip()
		*dst = nil
		return
	}
	*dst = r.newNamed()
	r.named(*dst, name)
}

var userNames = []string{"accountId", "name", "key", "emailAddress", "displayName"}

func (r *pageReader) user(u *jiraUser, name string) {
	s := r.s
	var seen uint32
	s.Object(name, func(key []byte) { // null leaves it as it is
		switch r.field(key, userNames, &seen) {
		case 0:
			u.AccountID = s.String("accountId")
		case 1:
			u.Name = s.String("name")
		case 2:
			u.Key = s.String("key")
		case 3:
			u.EmailAddress = s.String("emailAddress")
		case 4:
			u.DisplayName = s.String("displayName")
		default:
			s.Skip()
		}
	})
}

var issueRefNames = []string{"id", "key", "fields"}

var issueRefFieldNames = []string{"summary", "status"}

func (r *pageReader) issueRef(ref *jiraIssueRef) {
	s := r.s
	var seen uint32
	s.Object("parent", func(key []byte) { // null: the zero reference
		switch r.field(key, issueRefNames, &seen) {
		case 0:
			ref.ID = s.String("id")
		case 1:
			ref.Key = s.String("key")
		case 2:
			var seenFields uint32
			s.Object("fields", func(key []byte) { // null leaves them as they are
				switch r.field(key, issueRefFieldNames, &seenFields) {
				case 0:
					ref.Fields.Summary = s.String("summary")
				case 1:
					r.namedRef(&ref.Fields.Status, "status")
				default:
					s.Skip()
				}
			})
		default:
			s.Skip()
		}
	})
}
