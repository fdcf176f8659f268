package confluence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// The tests below parse what confluenceCQL builds with their own strict
// reader of CQL and of Lucene phrases, so a term that escapes its quotes
// (adds a clause, an operator, a field) shows up as a structure mismatch.

type cfTok struct {
	kind byte // 'w' word, 's' string, or ( ) , = ~
	val  string
}

func cfLex(s string) ([]cfTok, error) {
	var out []cfTok
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case strings.IndexByte("(),=~", c) >= 0:
			out = append(out, cfTok{kind: c})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
					if j == len(s) {
						return nil, errors.New("dangling escape")
					}
				}
				b.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, errors.New("unterminated string")
			}
			out = append(out, cfTok{kind: 's', val: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && strings.IndexByte(` (),=~"`, s[j]) < 0 {
				j++
			}
			out = append(out, cfTok{kind: 'w', val: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// cfPhrases reads `"a" OR "b" OR …` strictly and returns the phrases.
func cfPhrases(s string) ([]string, error) {
	var out []string
	for i := 0; ; {
		if i >= len(s) || s[i] != '"' {
			return nil, fmt.Errorf("phrase %d does not start with a quote: %q", len(out), s[i:])
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' {
				j++
				if j == len(s) {
					return nil, errors.New("dangling escape in phrase")
				}
			}
			b.WriteByte(s[j])
		}
		if j == len(s) {
			return nil, errors.New("unterminated phrase")
		}
		out = append(out, b.String())
		rest := s[j+1:]
		if rest == "" {
			return out, nil
		}
		if !strings.HasPrefix(rest, " OR ") {
			return nil, fmt.Errorf("expected OR between phrases, got %q", rest)
		}
		i = j + 1 + len(" OR ")
	}
}

// checkCQL asserts that cql is exactly
// <field> ~ "<phrases>" [AND space in ("K",…)] AND type = page
// with the given phrases and spaces.
func checkCQL(t *testing.T, d connector.Deployment, cql string, terms, spaces []string) {
	t.Helper()
	toks, err := cfLex(cql)
	if err != nil {
		t.Fatalf("CQL %q does not lex: %v", cql, err)
	}
	want := []cfTok{{kind: 'w', val: confluenceTextField(d)}, {kind: '~'}, {kind: 's'}}
	if len(spaces) > 0 {
		want = append(want, cfTok{kind: 'w', val: "AND"}, cfTok{kind: 'w', val: "space"}, cfTok{kind: 'w', val: "in"}, cfTok{kind: '('})
		for i := range spaces {
			if i > 0 {
				want = append(want, cfTok{kind: ','})
			}
			want = append(want, cfTok{kind: 's', val: spaces[i]})
		}
		want = append(want, cfTok{kind: ')'})
	}
	want = append(want, cfTok{kind: 'w', val: "AND"}, cfTok{kind: 'w', val: "type"}, cfTok{kind: '='}, cfTok{kind: 'w', val: "page"})
	if len(toks) != len(want) {
		t.Fatalf("CQL %q has %d tokens, want %d: %+v", cql, len(toks), len(want), toks)
	}
	for i, w := range want {
		if toks[i].kind != w.kind || (i != 2 && toks[i].val != w.val) {
			t.Fatalf("CQL %q token %d = %+v, want %+v", cql, i, toks[i], w)
		}
	}
	phrases, err := cfPhrases(toks[2].val)
	if err != nil {
		t.Fatalf("CQL %q text %q: %v", cql, toks[2].val, err)
	}
	if !slices.Equal(phrases, terms) {
		t.Fatalf("CQL %q searches %q, want %q", cql, phrases, terms)
	}
}

func TestConfluenceCQLQuotesEveryTerm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dep    connector.Deployment
		terms  []string
		spaces []string
		want   string
	}{
		{"plain words", connector.Cloud, []string{"payment", "gateway"}, []string{"ENG", "OPS"},
			`siteSearch ~ "\"payment\" OR \"gateway\"" AND space in ("ENG","OPS") AND type = page`},
		{"quotes and backslashes", connector.Cloud, []string{`say "hi"`, `C:\path`}, nil,
			`siteSearch ~ "\"say \\\"hi\\\"\" OR \"C:\\\\path\"" AND type = page`},
		{"operators stay words", connector.SelfHosted, []string{`x" OR type = blogpost OR "y`, "AND", "-a*"}, []string{"~mia"},
			`text ~ "\"x\\\" OR type = blogpost OR \\\"y\" OR \"AND\" OR \"-a*\"" AND space in ("~mia") AND type = page`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := confluenceCQL(tt.dep, tt.terms, tt.spaces)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("CQL =\n%s\nwant\n%s", got, tt.want)
			}
			checkCQL(t, tt.dep, got, tt.terms, tt.spaces)
		})
	}
}

func TestConfluenceCQLRefuses(t *testing.T) {
	t.Parallel()
	if _, err := confluenceCQL(connector.Cloud, nil, nil); !errors.Is(err, trackers.ErrInvalidSearch) {
		t.Errorf("no terms: err = %v, want ErrInvalidSearch", err)
	}
	for _, key := range []string{`ENG") OR type = space OR space in ("X`, "", "A B", `E"NG`} {
		if _, err := confluenceCQL(connector.Cloud, []string{"x"}, []string{key}); !errors.Is(err, trackers.ErrInvalidSearch) {
			t.Errorf("space %q: err = %v, want ErrInvalidSearch", key, err)
		}
	}
}

func TestConfluenceSearchTerms(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 100) // 200 bytes
	got := SearchTerms([]string{"  a\tb\n", "A B", "", "\x00\x01", "ok\xffgo", long})
	if len(got) != 3 || got[0] != "a b" || got[1] != "ok go" {
		t.Fatalf("terms = %q", got)
	}
	if len(got[2]) > maxSearchTermLen || !utf8.ValidString(got[2]) {
		t.Errorf("long term not cut at a rune boundary: %d bytes", len(got[2]))
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	if n := len(SearchTerms(many)); n != MaxSearchTerms {
		t.Errorf("%d terms kept, want %d", n, MaxSearchTerms)
	}
}

// FuzzConfluenceCQL checks that no term or space key can change the query's
// structure: the CQL always reads back as one text clause holding exactly the
// cleaned terms as phrases, the spaces, and type = page.
func FuzzConfluenceCQL(f *testing.F) {
	f.Add("payment gateway", "timeout", "ENG")
	f.Add(`"; DROP`, `\`, "~mia")
	f.Add(`a" OR space = "X`, `\"`, `ENG") OR ("`)
	f.Add("\x00\n\r", "AND OR NOT", "")
	f.Fuzz(func(t *testing.T, a, b, space string) {
		terms := SearchTerms([]string{a, b})
		for _, term := range terms {
			if !utf8.ValidString(term) || strings.IndexFunc(term, unicode.IsControl) >= 0 || term != strings.TrimSpace(term) {
				t.Fatalf("cleaned term %q has invalid UTF-8, control characters or outer spaces", term)
			}
		}
		var spaces []string
		if space != "" {
			spaces = []string{space, "ENG"}
		}
		for _, d := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
			cql, err := confluenceCQL(d, terms, spaces)
			switch {
			case len(terms) == 0:
				if !errors.Is(err, trackers.ErrInvalidSearch) {
					t.Fatalf("no terms: err = %v", err)
				}
				continue
			case space != "" && !spaceKey.MatchString(space):
				if !errors.Is(err, trackers.ErrInvalidSearch) {
					t.Fatalf("space %q accepted", space)
				}
				continue
			case err != nil:
				t.Fatalf("confluenceCQL(%q, %q): %v", terms, spaces, err)
			}
			checkCQL(t, d, cql, terms, spaces)
		}
	})
}
