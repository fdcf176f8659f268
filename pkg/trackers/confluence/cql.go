package confluence

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Bounds on what a search sends to Confluence, so a long ticket cannot build
// a query the site refuses or that costs it a full scan.
const (
	MaxSearchTerms   = 32
	maxSearchTermLen = 128 // bytes, cut at a rune boundary
)

// SearchTerms cleans search terms the way Search will send them:
// invalid UTF-8 and control characters become spaces, runs of white space
// confluenceCollapse, each term is trimmed and capped at 128 bytes, empty and repeated
// (case-insensitively) terms are dropped, and at most MaxSearchTerms remain.
// A term may hold spaces: it is then searched as a phrase.
func SearchTerms(raw []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range raw {
		t = confluenceCleanTerm(t)
		if t == "" || seen[strings.ToLower(t)] {
			continue
		}
		seen[strings.ToLower(t)] = true
		out = append(out, t)
		if len(out) == MaxSearchTerms {
			break
		}
	}
	return out
}

func confluenceCleanTerm(t string) string {
	t = strings.ToValidUTF8(t, " ")
	t = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, t)
	t = strings.Join(strings.Fields(t), " ")
	if len(t) > maxSearchTermLen {
		cut := maxSearchTermLen
		for cut > 0 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		t = strings.TrimSpace(t[:cut])
	}
	return t
}

// confluenceQuote returns s as a CQL double-quoted string literal: backslash and
// double quote are escaped with a backslash. s must hold no control
// characters (SearchTerms removes them).
func confluenceQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		if r == '\\' || r == '"' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// confluencePhrases returns terms as Lucene phrases joined by OR. Confluence
// hands the value of a text clause (siteSearch ~ "…") to a Lucene query
// parser; quoting each term as a phrase makes operators (AND, -, *, ~, :)
// in a ticket's text plain words, and OR ranks pages matching more terms
// higher without requiring all of them (a bare list would require all).
// Inside a phrase only backslash and double quote are special.
func confluencePhrases(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(t) + `"`
	}
	return strings.Join(parts, " OR ")
}

// confluenceTextField is the CQL text field a search uses: Cloud's siteSearch
// (what the site's own search box runs, title and body with its relevance) and
// Data Center's text, which its CQL reference documents for every version.
func confluenceTextField(d connector.Deployment) string {
	if d == connector.Cloud {
		return "siteSearch"
	}
	return "text"
}

// confluenceCQL builds the page search:
//
//	siteSearch ~ "\"t1\" OR \"t2\"" AND space in ("A","B") AND type = page
//
// Every term is a quoted, escaped Lucene phrase inside a quoted, escaped CQL
// string; space keys must be valid keys and are quoted too. terms must already
// be cleaned (SearchTerms).
func confluenceCQL(d connector.Deployment, terms, spaces []string) (string, error) {
	if len(terms) == 0 {
		return "", fmt.Errorf("%w: no search terms", trackers.ErrInvalidSearch)
	}
	var b strings.Builder
	b.WriteString(confluenceTextField(d))
	b.WriteString(" ~ ")
	b.WriteString(confluenceQuote(confluencePhrases(terms)))
	if len(spaces) > 0 {
		quoted := make([]string, len(spaces))
		for i, k := range spaces {
			if !spaceKey.MatchString(k) {
				return "", fmt.Errorf("%w: %q is not a Confluence space key", trackers.ErrInvalidSearch, k)
			}
			quoted[i] = confluenceQuote(k)
		}
		b.WriteString(" AND space in (")
		b.WriteString(strings.Join(quoted, ","))
		b.WriteString(")")
	}
	b.WriteString(" AND type = page")
	return b.String(), nil
}
