package knowledge

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Ticket is the part of a ticket a query is built from.
type Ticket struct {
	Summary     string
	Description string // plain text or markup (Markdown, Jira wiki, HTML)
	Labels      []string
	Components  []string
}

// Markup and noise removed before words are counted. Order matters: code
// blocks and links go before tags and punctuation.
var (
	fencedCode   = regexp.MustCompile("(?s)```.*?```|~~~.*?~~~")
	wikiBlocks   = regexp.MustCompile(`(?is)\{(code|noformat|quote|panel)(:[^}]*)?\}.*?\{(code|noformat|quote|panel)\}`)
	wikiMacros   = regexp.MustCompile(`\{[a-zA-Z]+(:[^}]*)?\}`)
	mdImages     = regexp.MustCompile(`!\[[^\]]*\]\([^)]*\)|![^!\s]+!`)
	mdLinks      = regexp.MustCompile(`\[([^\]|]*)\]\([^)]*\)`)
	wikiLinks    = regexp.MustCompile(`\[([^\]|]*)\|[^\]]*\]`)
	mentions     = regexp.MustCompile(`\[~[^\]]*\]|(^|\s)@[\w.-]+`)
	urls         = regexp.MustCompile(`(?i)\b(?:https?|ftp)://\S+|\bwww\.\S+`)
	emails       = regexp.MustCompile(`\S+@\S+\.\S+`)
	htmlTags     = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)
	htmlEntities = regexp.MustCompile(`&[a-zA-Z]+;|&#[0-9]+;`)
	hexish       = regexp.MustCompile(`^(?:0x)?[0-9a-f]{8,}$`)
)

// stopWords are common English words and tracker boilerplate that match
// every page.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
a about above after again against all also am an and any are as at be because been before being below
between both but by can cannot could did do does doing down during each either else etc even ever every
few for from further get gets got had has have having he her here hers herself him himself his how however
i if in into is it its itself just let like may me might more most much must my myself need no nor not now
of off on once only or other our ours ourselves out over own per please same see seem seems she should since
so some such than thank thanks that the their theirs them themselves then there these they this those
though through thus to too under until up upon us use used using very via was we were what when where
whether which while who whom whose why will with within without would yet you your yours yourself
hi hello regards cheers ticket issue task story bug todo tbd fyi asap eg ie
`) {
		m[w] = true
	}
	return m
}()

// stripMarkup turns a description into the words a person reads.
func stripMarkup(s string) string {
	for _, re := range []*regexp.Regexp{fencedCode, wikiBlocks, mdImages} {
		s = re.ReplaceAllString(s, " ")
	}
	s = mdLinks.ReplaceAllString(s, " $1 ")
	s = wikiLinks.ReplaceAllString(s, " $1 ")
	for _, re := range []*regexp.Regexp{mentions, urls, emails, wikiMacros, htmlTags, htmlEntities} {
		s = re.ReplaceAllString(s, " ")
	}
	return s
}

// words splits text into lower-case words of letters and digits; a word may
// hold inner hyphens, dots or underscores (v1.2, on-call, max_conns).
func words(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.'
	}) {
		f = strings.Trim(f, "-_.")
		if f != "" {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

// keep says whether a word is worth searching for.
func keep(w string) bool {
	if len([]rune(w)) < 2 || stopWords[w] || hexish.MatchString(w) {
		return false
	}
	return strings.IndexFunc(w, unicode.IsLetter) >= 0 // not a bare number
}

// BuildTerms builds a search from a ticket: markup, stop words and numbers
// removed, each word weighted by where it appears (summary 3, labels and
// components 2, description 1 per occurrence), the heaviest maxTerms kept,
// heaviest first (ties in order of first appearance).
func BuildTerms(t Ticket, maxTerms int) []string {
	type term struct {
		weight, first int
	}
	seen := map[string]*term{}
	var order []string
	add := func(text string, weight int) {
		for _, w := range words(text) {
			if !keep(w) {
				continue
			}
			if t, ok := seen[w]; ok {
				t.weight += weight
				continue
			}
			seen[w] = &term{weight: weight, first: len(order)}
			order = append(order, w)
		}
	}
	add(stripMarkup(t.Summary), 3)
	for _, l := range slices.Concat(t.Labels, t.Components) {
		add(l, 2)
	}
	add(stripMarkup(t.Description), 1)
	slices.SortStableFunc(order, func(a, b string) int {
		return cmp.Compare(seen[b].weight, seen[a].weight)
	})
	if maxTerms > 0 && len(order) > maxTerms {
		order = order[:maxTerms]
	}
	return order
}

// ParseQuery splits a caller's query into terms: "quoted words" stay one
// phrase, other words are split as in BuildTerms. Stop words are dropped
// unless nothing else is left.
func ParseQuery(q string, maxTerms int) []string {
	var phrases, plain, all []string
	for i, part := range strings.Split(q, `"`) {
		if i%2 == 1 { // inside quotes
			if p := strings.Join(words(part), " "); p != "" {
				phrases = append(phrases, p)
			}
			continue
		}
		for _, w := range words(part) {
			all = append(all, w)
			if keep(w) {
				plain = append(plain, w)
			}
		}
	}
	if len(phrases) == 0 && len(plain) == 0 {
		plain = all
	}
	var out []string
	for _, t := range slices.Concat(phrases, plain) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if maxTerms > 0 && len(out) > maxTerms {
		out = out[:maxTerms]
	}
	return out
}
