package github

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// githubMdRegexps are githubPlainText's passes as the regular expressions it
// was written with (until issue 9): the reference the hand-written passes
// must agree with byte for byte.
var githubMdRegexps = [len(githubMdPasses)]struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?s)<!--.*?-->`), ""},
	{regexp.MustCompile("(?m)^[ \t]*(```|~~~).*$\n?"), ""},
	{regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`), "$1"},
	{regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`), "$1"},
	{regexp.MustCompile(`</?[A-Za-z][^>]*>`), ""},
	{regexp.MustCompile(`(\*\*|__|~~)(.+?)(\*\*|__|~~)`), "$2"},
	{regexp.MustCompile(`(^|[\s(])[*_]([^*_\s][^*_]*?)[*_]`), "$1$2"},
	{regexp.MustCompile(`(?m)^[ \t]*(#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+\[[ xX]\][ \t]+)`), ""},
}

// githubPlainTextRegexp is githubPlainText as it was: every regexp in order.
func githubPlainTextRegexp(md string) string {
	t := md
	for _, p := range githubMdRegexps {
		t = p.re.ReplaceAllString(t, p.repl)
	}
	return strings.TrimSpace(strings.ReplaceAll(t, "`", ""))
}

// githubMdCompare checks the whole conversion and every pass alone against
// the regexps.
func githubMdCompare(t *testing.T, md string) {
	t.Helper()
	if got, want := githubPlainText(md), githubPlainTextRegexp(md); got != want {
		t.Errorf("githubPlainText(%q) = %q, the regexps give %q", md, got, want)
	}
	for i, pass := range githubMdPasses {
		out, changed := pass(nil, []byte(md))
		got := md
		if changed {
			got = string(out)
		}
		if want := githubMdRegexps[i].re.ReplaceAllString(md, githubMdRegexps[i].repl); got != want {
			t.Errorf("pass %d (%s) on %q = %q (changed %v), the regexp gives %q", i+1, githubMdRegexps[i].re, md, got, changed, want)
		}
	}
}

// githubMdPieces are what the generated texts are made of: every character
// a pattern looks at, in the combinations the patterns look for, plain words
// and multi-byte and invalid UTF-8.
var githubMdPieces = []string{
	"a", "word", " ", "  ", "\t", "\n", "\n\n", "\r", "\f", "(", ")", "[", "]", "![", "](", "<", ">", "</", "<b>", "</i>",
	"<!--", "-->", "-", "!", "*", "**", "_", "__", "~", "~~", "~~~", "```", "`", "#", "## ", "#######", "> ", ">",
	"- [ ] ", "* [x] ", "+ [X]\t", "-", "[ ]", "x", "é", "日本", "\xff", "\xc3", "2*3", "snake_case", "http://x/y", "1. ",
}

// TestGitHubPlainTextMatchesRegexps compares the hand-written conversion and
// each of its passes with the regexps on the known cases and 30,000
// generated texts (a fixed seed: the same texts every run).
func TestGitHubPlainTextMatchesRegexps(t *testing.T) {
	t.Parallel()
	for _, md := range githubMdSeeds {
		githubMdCompare(t, md)
	}
	r := rand.New(rand.NewPCG(9, 4))
	var b strings.Builder
	for range 30_000 {
		b.Reset()
		for range r.IntN(24) {
			b.WriteString(githubMdPieces[r.IntN(len(githubMdPieces))])
		}
		githubMdCompare(t, b.String())
		if t.Failed() {
			return
		}
	}
}

var githubMdSeeds = []string{
	"Fix **the** thing", "# Title\n\n> quoted _word_ and ~~old~~", "see [docs](https://x) ![img](a.png)",
	"```go\nx := 1\n```", "~~~\ncode\n~~~", "keep snake_case_name and 2*3*4", "body\n\n<!-- connectorhub:m -->",
	"- [x] done\n- [ ] todo", "a <b>bold</b> move", "<!-- a **b** -->**c**", "<i>*</i>x*", "[a](b)**c**", "__x__ _y_ (*z*)",
	"plain words only", "", "![](x)", "* [ ] task", "<a href=\"[x](y)\">t</a>", "***x**", "**\n**", "*a\nb*", "_ a_",
	"####### seven", "###### six", "#\tt", ">>x", "  > q", "-  [x]  a", "-[x] a", "[[[[a]", "[a](", "[a]x(b)", "![a![b](c)",
	"<!-->", "<!---->", "<a", "< a>", "</>", "```", "  ~~~ x\ny", "**a** **b**", "~~a__", "(_a_)", "\n*a*", "é*a*", "\xff**a**",
	"Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).",
}

// `go test -fuzz FuzzGitHubPlainTextMatchesRegexps` searches further.
func FuzzGitHubPlainTextMatchesRegexps(f *testing.F) {
	for _, s := range githubMdSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) { githubMdCompare(t, md) })
}

func BenchmarkGitHubPlainText(b *testing.B) {
	const md = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."
	b.Run("regexps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			githubPlainTextRegexp(md)
		}
	})
	b.Run("by hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			githubPlainText(md)
		}
	})
}
