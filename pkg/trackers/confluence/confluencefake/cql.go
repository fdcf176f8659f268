package confluencefake

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// The CQL subset the fake understands: clauses joined by AND, each
//
//	type = page | type = space | type in (page, space)
//	space = KEY | space.key = KEY | space in ("A", "B")
//	siteSearch ~ "…" | text ~ "…" | title ~ "…"
//
// Values are bare words or double- or single-quoted strings with backslash
// escapes. The value of a text clause is itself parsed as Lucene (see
// parseLucene). Anything else (OR and NOT between clauses, other fields and
// operators) is an error, which the fake answers with 400 as Confluence
// answers a query it cannot parse.

// query is a parsed CQL query.
type query struct {
	types  []string // lower case; empty means any
	spaces []string // empty means any
	// text holds the text clauses (siteSearch, text, title); all must match.
	text []textClause
}

type textClause struct {
	field string // sitesearch, text or title
	q     luceneQuery
}

type cqlToken struct {
	kind byte // 'w' word, 's' string, or the punctuation itself: ( ) , = ~
	val  string
}

var errCQL = errors.New("cannot parse cql")

func lexCQL(s string) ([]cqlToken, error) {
	var out []cqlToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',' || c == '=' || c == '~':
			out = append(out, cqlToken{kind: c})
			i++
		case c == '!':
			return nil, fmt.Errorf("%w: negation (!=, !~) is not supported by the fake", errCQL)
		case c == '"' || c == '\'':
			val, n, err := unquote(s[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, cqlToken{kind: 's', val: val})
			i += n
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()=,~!\"'", rune(s[j])) {
				j++
			}
			out = append(out, cqlToken{kind: 'w', val: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// unquote reads a quoted string at the start of s and returns its value and
// the number of bytes it took. A backslash takes the next character as is.
func unquote(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", 0, fmt.Errorf("%w: dangling escape", errCQL)
			}
			i++
			b.WriteByte(s[i])
		case q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated string", errCQL)
}

func parseCQL(cql string) (query, error) {
	toks, err := lexCQL(cql)
	if err != nil {
		return query{}, err
	}
	var q query
	i := 0
	next := func() (cqlToken, bool) {
		if i >= len(toks) {
			return cqlToken{}, false
		}
		i++
		return toks[i-1], true
	}
	value := func() (string, error) {
		t, ok := next()
		if !ok || (t.kind != 'w' && t.kind != 's') {
			return "", fmt.Errorf("%w: expected a value", errCQL)
		}
		return t.val, nil
	}
	for {
		f, ok := next()
		if !ok || f.kind != 'w' {
			return query{}, fmt.Errorf("%w: expected a field", errCQL)
		}
		field := strings.ToLower(f.val)
		op, ok := next()
		if !ok {
			return query{}, fmt.Errorf("%w: expected an operator after %s", errCQL, f.val)
		}
		var vals []string
		switch {
		case op.kind == '=' || op.kind == '~':
			v, err := value()
			if err != nil {
				return query{}, err
			}
			vals = []string{v}
		case op.kind == 'w' && strings.EqualFold(op.val, "in"):
			if t, ok := next(); !ok || t.kind != '(' {
				return query{}, fmt.Errorf("%w: expected ( after in", errCQL)
			}
			for {
				v, err := value()
				if err != nil {
					return query{}, err
				}
				vals = append(vals, v)
				t, ok := next()
				if ok && t.kind == ')' {
					break
				}
				if !ok || t.kind != ',' {
					return query{}, fmt.Errorf("%w: expected , or ) in a list", errCQL)
				}
			}
		default:
			return query{}, fmt.Errorf("%w: unsupported operator %q", errCQL, op.val+string(op.kind))
		}
		textOp := op.kind == '~'
		switch field {
		case "type":
			if textOp {
				return query{}, fmt.Errorf("%w: type does not support ~", errCQL)
			}
			for _, v := range vals {
				q.types = append(q.types, strings.ToLower(v))
			}
		case "space", "space.key":
			if textOp {
				return query{}, fmt.Errorf("%w: space does not support ~", errCQL)
			}
			q.spaces = append(q.spaces, vals...)
		case "sitesearch", "text", "title":
			if !textOp {
				return query{}, fmt.Errorf("%w: %s supports only ~", errCQL, f.val)
			}
			lq, err := parseLucene(vals[0])
			if err != nil {
				return query{}, err
			}
			q.text = append(q.text, textClause{field: field, q: lq})
		default:
			return query{}, fmt.Errorf("unsupported field %q", f.val)
		}
		t, ok := next()
		if !ok {
			return q, nil
		}
		if t.kind != 'w' || !strings.EqualFold(t.val, "and") {
			return query{}, fmt.Errorf("%w: only AND joins clauses in the fake, got %q", errCQL, t.val+string(t.kind))
		}
	}
}

// luceneQuery is the text of a text clause: groups joined by OR; a page
// matches a group when it holds every item of it (Confluence's text ~ "a b"
// finds pages with both words). An item is a phrase of analysed words.
type luceneQuery struct {
	groups [][][]string
}

// parseLucene reads the subset: "phrases" (backslash escapes) and bare words,
// OR between them. AND and NOT as words are refused rather than guessed at.
func parseLucene(s string) (luceneQuery, error) {
	var (
		q     luceneQuery
		group [][]string
	)
	flush := func() error {
		if len(group) == 0 {
			return fmt.Errorf("%w: empty side of OR in text", errCQL)
		}
		q.groups = append(q.groups, group)
		group = nil
		return nil
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			val, n, err := unquote(s[i:])
			if err != nil {
				return luceneQuery{}, err
			}
			i += n
			if words := analyse(val); len(words) > 0 {
				group = append(group, words)
			}
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '"' {
				j++
			}
			w := s[i:j]
			i = j
			switch w {
			case "OR", "||":
				if err := flush(); err != nil {
					return luceneQuery{}, err
				}
			case "AND", "NOT", "&&", "!":
				return luceneQuery{}, fmt.Errorf("%w: the fake's text search supports only OR", errCQL)
			default:
				if words := analyse(w); len(words) > 0 {
					group = append(group, words)
				}
			}
		}
	}
	if len(group) > 0 || len(q.groups) > 0 {
		if err := flush(); err != nil {
			return luceneQuery{}, err
		}
	}
	return q, nil
}

// analyse splits text into lower-case words of letters and digits, as an
// index analyser would.
func analyse(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// matchPhrase returns the index of the first occurrence of phrase in words, or -1.
func matchPhrase(words, phrase []string) int {
outer:
	for i := 0; i+len(phrase) <= len(words); i++ {
		for j, p := range phrase {
			if words[i+j] != p {
				continue outer
			}
		}
		return i
	}
	return -1
}
