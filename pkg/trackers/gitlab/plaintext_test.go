package gitlab

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// gitlabMarkdownTextReference is gitlabMarkdownText as it was before issue 9's
// work on it (a goldmark parser with GFM, a fresh parse context per call, the
// AST walked with a closure): the reference the converter must agree with
// byte for byte, since the event bytes and version hashes depend on it.
func gitlabMarkdownTextReference(md string) string {
	src := []byte(md)
	doc := gitlabMarkdownReference.Parser().Parse(text.NewReader(src))
	var b strings.Builder
	newline := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
	}
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		switch n := n.(type) {
		case *ast.HTMLBlock, *ast.RawHTML:
			return ast.WalkSkipChildren, nil
		case *ast.Text:
			if entering {
				b.Write(n.Segment.Value(src))
				switch {
				case n.HardLineBreak():
					b.WriteByte('\n')
				case n.SoftLineBreak():
					b.WriteByte(' ')
				}
			}
		case *ast.String:
			if entering {
				b.Write(n.Value)
			}
		case *ast.AutoLink:
			if entering {
				b.Write(n.Label(src))
			}
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			if entering {
				newline()
				lines := n.Lines()
				for i := range lines.Len() {
					seg := lines.At(i)
					b.Write(seg.Value(src))
				}
			}
		}
		if !entering && n.Type() == ast.TypeBlock {
			newline()
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}

// gitlabMarkdownReference is the reference's own parser (not shared with the
// converter, so a change to the converter's cannot hide in both).
var gitlabMarkdownReference = goldmark.New(goldmark.WithExtensions(extension.GFM))

func gitlabMdCompare(t *testing.T, md string) {
	t.Helper()
	if got, want := gitlabMarkdownText(md), gitlabMarkdownTextReference(md); got != want {
		t.Errorf("gitlabMarkdownText(%q) = %q, the reference gives %q", md, got, want)
	}
}

// gitlabMdPieces are what the generated texts are made of: the characters
// and line starts CommonMark and GFM give a meaning to, in the combinations
// the block and inline parsers look for, whitespace of every kind the
// paragraph and code parsers treat specially, plain words and multi-byte and
// invalid UTF-8.
var gitlabMdPieces = []string{
	"a", "word", "Word.", "words, more", " ", "  ", "   ", "    ", "\t", "\n", "\n\n", "\r", "\r\n", "\f", "\v", "\x00", "\u00a0", "\u2028",
	"(", ")", "[", "]", "![", "](", "<", ">", "</", "<b>", "</i>", "<div>\n", "<!--", "-->", "-", "!", "*", "**", "_", "__",
	"~", "~~", "~~~", "```", "`", "#", "## ", "#######", "> ", ">", "- [ ] ", "* [x] ", "+ [X]\t", "[ ]", "x", "é", "日本",
	"\xff", "\xc3", "2*3", "snake_case", "http://x/y", "https://example.com/a_b_", "www.example.org", "me@example.com",
	"1. ", "1) ", "12345. ", "0.", "3.5", "|", " | ", "|---|---|\n", "| a | b |\n", ":", "---", "***", "===", "\n---\n",
	"\n===\n", "&", "&amp;", "&#35;", "&#x41;", "&bogus;", "\\", "\\*", "\\\n", "=", "+", "+ ", "- ", "* ", "'", "\"",
	"[x]: http://r\n", "[x]", "[x][]", "{", "}", "$", "^", "@", "%", ";", ",", ".", "?", "/", "\n    code", "\n\tcode",
}

// TestGitLabMarkdownTextMatchesReference compares the converter with the
// reference on the known cases and 50,000 generated texts (a fixed seed: the
// same texts every run).
func TestGitLabMarkdownTextMatchesReference(t *testing.T) {
	t.Parallel()
	for _, md := range gitlabMdSeeds {
		gitlabMdCompare(t, md)
	}
	r := rand.New(rand.NewPCG(9, 4))
	var b strings.Builder
	for range 50_000 {
		b.Reset()
		for range r.IntN(24) {
			b.WriteString(gitlabMdPieces[r.IntN(len(gitlabMdPieces))])
		}
		gitlabMdCompare(t, b.String())
		if t.Failed() {
			return
		}
	}
}

// gitlabMdProsePieces make texts of plain prose, as most descriptions are,
// with the spacing and line structure goldmark changes (soft and hard
// breaks, blank lines, indents, trailing spaces) and the near misses the
// prose path must refuse (digits and a dot, "www."); gitlabMdOddPieces are
// rarer whitespace and characters it refuses.
var (
	gitlabMdProsePieces = []string{
		"a", "word", "Words", "more words", "é", "日本", "\xff", "\u00a0", "\u2028", "0", "42", "3.5", "1.", "www.", "WWW.", " ", "  ",
		"   ", "    ", "     ", "\n", "\n\n", "\n \n", "  \n", "     \n", ".", ",", ";", "?", "!", "'", "\"", "/", "%", "$",
	}
	gitlabMdOddPieces = []string{"\t", " \t", "\r", "\r\n", "\f", "\v", "\x00", ":", "@", "-", "*", "#", "(", ")"}
)

// TestGitLabMarkdownTextPlainMatchesReference compares the two on 50,000
// generated texts of mostly plain prose.
func TestGitLabMarkdownTextPlainMatchesReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 9))
	var b strings.Builder
	prose := 0
	for range 50_000 {
		b.Reset()
		for range r.IntN(32) {
			if r.IntN(50) == 0 {
				b.WriteString(gitlabMdOddPieces[r.IntN(len(gitlabMdOddPieces))])
			} else {
				b.WriteString(gitlabMdProsePieces[r.IntN(len(gitlabMdProsePieces))])
			}
		}
		if _, ok := gitlabProseText(b.String()); ok {
			prose++
		}
		gitlabMdCompare(t, b.String())
		if t.Failed() {
			return
		}
	}
	// The comparison is only worth something if the prose path took many.
	if prose < 10_000 {
		t.Errorf("only %d of 50,000 generated texts took the prose path", prose)
	}
	t.Logf("%d of 50,000 generated texts took the prose path", prose)
}

// gitlabMdSimpleGood make texts of the constructs gitlabSimpleText converts
// itself (list items, strong, code and links between words and line
// breaks); gitlabMdSimpleNear are near misses it must refuse or get right.
var (
	gitlabMdSimpleGood = []string{
		"a", "word", " word", " Steps to reproduce:", " more words.", "\nline", "\n\npara", "\n\n1. Item", "\n2. Open", "\n- Bullet",
		"\n10. Ten", "\n\n- b", " **bold**", " **two words**", " **x**.", " **x**:", " `code`", " `a b`", " `a**b`", " `[x](y)`",
		" `<b>`", " [the guide](https://example.com/guide)", " [a](b)", " [a b](c)", "3.5", "!", "?", ",", "é", "\xff",
		"\n# Title", "\n\n## Sub **b**", "\n###### Six", "\n* Star", "\n\n+ Plus", "\n\n* Star `c`",
	}
	gitlabMdSimpleNear = []string{
		"\n1.", "\n1) ", "\n* ", "\n ", "\n-", "\n1234567890. x", " ", "  ", "**", "*", "***", "**a", "b**", "**x**y", "a**b**",
		"` a`", "`", "``", "[a]", "[a](", "[a](b c)", "![a](b)", "[**a**](b)", "[a](http://x_y_)", "(", ")", ":", "http:",
		" https://x", " ftp:", "www.", "_", "~", "#", ">", "|", "<", "&", "\\", "\t", "\r", "\n\n", "\n",
		"\n####### seven", "\n#Tight", "\n# ", "\n#", " #", "\n* * *", "\n**", "\n+", "\n*",
	}
)

// TestGitLabMarkdownTextSimpleMatchesReference compares the converter with
// the reference on 50,000 texts of mostly simple Markdown.
func TestGitLabMarkdownTextSimpleMatchesReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(94, 9))
	var b strings.Builder
	simple := 0
	for range 50_000 {
		b.Reset()
		b.WriteString("Start")
		for range r.IntN(32) {
			if r.IntN(40) == 0 {
				b.WriteString(gitlabMdSimpleNear[r.IntN(len(gitlabMdSimpleNear))])
			} else {
				b.WriteString(gitlabMdSimpleGood[r.IntN(len(gitlabMdSimpleGood))])
			}
		}
		if _, ok := gitlabSimpleText(b.String()); ok {
			if _, ok := gitlabProseText(b.String()); !ok {
				simple++
			}
		}
		gitlabMdCompare(t, b.String())
		if t.Failed() {
			return
		}
	}
	// The comparison is only worth something if the simple path took many.
	if simple < 5_000 {
		t.Errorf("only %d of 50,000 generated texts took the simple Markdown path", simple)
	}
	t.Logf("%d of 50,000 generated texts took the simple Markdown path", simple)
	if _, ok := gitlabSimpleText(gitlabMdSeeds[len(gitlabMdSeeds)-1]); !ok {
		t.Error("cmd/bench's description does not take the simple Markdown path")
	}
}

var gitlabMdSeeds = []string{
	"", "plain words only", "Line one\nline two", "Para one.\n\nPara two.", "  indented\n    more", "    code block", "trailing  \nhard",
	"trailing \nsoft", "a\r\nb", "a\rb", "tab\there", "\tcode", "1. one\n2. two", "- a\n- b", "# Title\n\nBody", "Title\n===",
	"Title\n---", "> quoted", "**bold** _em_ `code`", "~~old~~", "see [docs](https://x) ![img](a.png)", "<b>tag</b> <!-- c -->",
	"```go\nx := 1\n```", "~~~\ncode\n~~~", "| a | b |\n|---|---|\n| 1 | 2 |", "- [x] done\n- [ ] todo", "www.example.com/a_b_",
	"https://example.com/x_y_ z", "me@example.com", "&amp; &copy; &#35;", "a\\*b", "[ref]\n\n[ref]: http://x", "\x00nul", "\u00a0nbsp\u00a0",
	"Intro\n\n- a **b**\n- c `d`\n\nSee [x](y).", "a **b**c", "a **b** **c**.", "`a` `b`` c", "[a](b)(c)", "1. x\n2. y\nz", "x\n1. y",
	"- a\n\n  b", "a\n- b", "# T\nx\n## U\n1. y", "a\n# b", "- a\n# b", "# a #", "* a\n+ b\n- c", "**a** http://x", "a [b](http://c) ftp:d", "10. ten\n\n1234567890. no",
	"line one  \nline two", "a     \nb", "a    \n  b   \n\n   c", "WwW.example.org", "12. twelve", "1.5 is not a list",
	"Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).",
}

// `go test -fuzz FuzzGitLabMarkdownTextMatchesReference` searches further.
func FuzzGitLabMarkdownTextMatchesReference(f *testing.F) {
	for _, s := range gitlabMdSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) { gitlabMdCompare(t, md) })
}

func BenchmarkGitLabMarkdownText(b *testing.B) {
	for _, c := range []struct{ name, md string }{
		{"markdown", gitlabMdSeeds[len(gitlabMdSeeds)-1]},
		{"plain", "The export drops the last row when the table has more than one page.\nIt happens in every browser."},
	} {
		b.Run(c.name+"/reference", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gitlabMarkdownTextReference(c.md)
			}
		})
		b.Run(c.name+"/converter", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gitlabMarkdownText(c.md)
			}
		})
	}
}
