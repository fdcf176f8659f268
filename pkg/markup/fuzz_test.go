package markup

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// Seeds beyond these live in testdata/fuzz/<FuzzName>/.
var markdownSeeds = []string{
	"# Title\n\nSome **bold** and *em* and `code` and ~~strike~~ [link](https://example.com).\n",
	"- a\n  - b\n    1. c\n\n> quote\n> # heading\n\n```go\nx := 1\n```\n",
	"| a | b |\n|---|---|\n| 1 | 2 |\n\n---\n<div>html</div>\n",
	"***`code`*** ![img](x.png) <https://auto> www.example.com foo@bar.com",
	"{code} [~admin] {noformat} h1. x\n* y\n# z\n|a|b|\n----",
	"- > | a |\n  > |---|\n  > | b |\n",
	"a  \nb\\\nc &amp; &#123; &bogus; \\*",
}

func FuzzMarkdownToADF(f *testing.F) {
	for _, s := range markdownSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		doc, err := MarkdownToADF(md)
		if err != nil {
			t.Fatalf("MarkdownToADF(%q): %v", md, err)
		}
		if err := ValidateADF(doc); err != nil {
			t.Fatalf("MarkdownToADF(%q) = %s: %v", md, doc, err)
		}
		withMention, err := MarkdownToADF(md, WithMention("5b10ac8d82e05b22cc7d4ef5", "Ann"))
		if err != nil {
			t.Fatalf("MarkdownToADF(%q, WithMention): %v", md, err)
		}
		if !strings.Contains(string(withMention), `"type":"mention"`) {
			t.Fatalf("mention missing: %s", withMention)
		}
		// Round trip: the Markdown written back reads as the same text.
		back, err := ADFToMarkdown(doc)
		if err != nil {
			t.Fatalf("ADFToMarkdown(%s): %v", doc, err)
		}
		doc2, err := MarkdownToADF(back)
		if err != nil {
			t.Fatalf("MarkdownToADF(%q) (round trip): %v", back, err)
		}
		// Structure too. Marks are left out: overlapping emphasis ("*a **b* c**") has no exact
		// Markdown spelling, and goldmark's autolinker depends on context.
		if a, b := withoutMarks(t, doc), withoutMarks(t, doc2); a != b {
			t.Fatalf("round trip changed the document\nmd:   %q\nback: %q\ndoc:  %s\nnow:  %s", md, back, a, b)
		}
		if a, b := adfText(t, doc), adfText(t, doc2); a != b {
			t.Fatalf("round trip changed the text\nmd:   %q\nback: %q\ntext: %q\nnow:  %q", md, back, a, b)
		}
	})
}

// adfText is the text of all text nodes, whitespace collapsed.
func adfText(t *testing.T, doc json.RawMessage) string {
	t.Helper()
	var root adfNode
	if err := json.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(*adfNode)
	walk = func(n *adfNode) {
		if n.Type == kindText {
			b.WriteString(n.Text)
		} else {
			b.WriteByte(' ')
		}
		for _, k := range n.Content {
			walk(k)
		}
	}
	walk(&root)
	// Markdown cannot hold NUL: CommonMark reads it as U+FFFD.
	text := strings.ReplaceAll(b.String(), "\x00", "\uFFFD")
	return strings.Join(strings.FieldsFunc(text, unicode.IsSpace), " ")
}

// withoutMarks re-encodes a document without marks, merging the text they split.
func withoutMarks(t *testing.T, doc json.RawMessage) string {
	t.Helper()
	var root adfNode
	if err := json.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	var strip func(*adfNode)
	strip = func(n *adfNode) {
		var kids []*adfNode
		for _, k := range n.Content {
			strip(k)
			k.Marks = nil
			if last := len(kids) - 1; last >= 0 && k.Type == kindText && kids[last].Type == kindText {
				kids[last] = &adfNode{Type: kindText, Text: kids[last].Text + k.Text}
				continue
			}
			kids = append(kids, k)
		}
		n.Content = kids
	}
	strip(&root)
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func FuzzMarkdownToWiki(f *testing.F) {
	for _, s := range markdownSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := MarkdownToWiki(md)
		if err := checkWikiMacros(out); err != "" {
			t.Fatalf("MarkdownToWiki(%q):\n%s\n%s", md, out, err)
		}
		// Plain text (every Markdown punctuation escaped) must come out with no markup at all.
		plain := MarkdownToWiki(escapeMarkdownAll(md))
		if i := unescapedIndex(plain, "{[|"); i >= 0 {
			t.Fatalf("plain text %q gave unescaped %q at %d:\n%s", md, plain[i], i, plain)
		}
	})
}

// escapeMarkdownAll turns arbitrary text into Markdown that means exactly that text, as
// paragraphs (leading blanks would make code blocks, so they go).
func escapeMarkdownAll(s string) string {
	var b strings.Builder
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimLeft(line, " \t\r\f\v")
		for _, r := range line {
			if r < 128 && unicode.IsPunct(r) || r < 128 && unicode.IsSymbol(r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// unescapedIndex finds a byte of set that no backslash escapes. Every backslash in our output
// is an escape or half of a "\\" line break, because text backslashes become &#92;.
func unescapedIndex(s, set string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case strings.IndexByte(set, s[i]) >= 0:
			return i
		}
	}
	return -1
}

// checkWikiMacros verifies that outside code blocks every "{" belongs to markup we emit
// ({{mono}}, {*} effects, {quote} and code fences on their own line), that no "[~" mention
// appears, and that a code block's content cannot close it early.
func checkWikiMacros(out string) string {
	fence := ""
	for _, line := range strings.Split(out, "\n") {
		lower := strings.ToLower(line)
		if fence != "" {
			if line == fence {
				fence = ""
			} else if strings.Contains(lower, fence[:len(fence)-1]) {
				return "code content contains its fence: " + line
			}
			continue
		}
		switch {
		case line == "{code}" || strings.HasPrefix(line, "{code:") && strings.HasSuffix(line, "}"):
			fence = "{code}"
			continue
		case line == "{noformat}":
			fence = "{noformat}"
			continue
		case line == "{quote}":
			continue
		}
		for i := 0; i < len(line); i++ {
			switch {
			case line[i] == '\\':
				i++
			case strings.HasPrefix(line[i:], "{{"):
				end := strings.Index(line[i+2:], "}}")
				if end < 0 {
					return "unclosed {{ in: " + line
				}
				if j := unescapedIndex(line[i+2:i+2+end], "{}"); j >= 0 {
					return "unescaped brace inside {{}}: " + line
				}
				i += end + 3
			case line[i] == '{':
				if i+2 < len(line) && line[i+2] == '}' && strings.IndexByte("*_-+", line[i+1]) >= 0 {
					i += 2
					continue
				}
				return "unescaped { in: " + line
			case strings.HasPrefix(line[i:], "[~"):
				return "mention in: " + line
			}
		}
	}
	if fence != "" {
		return "unclosed " + fence
	}
	return ""
}

func FuzzADFToMarkdown(f *testing.F) {
	f.Add(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"hi","marks":[{"type":"strong"}]}]}]}`)
	f.Add(`{"type":"doc","version":1,"content":[{"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[{"type":"mention","attrs":{"id":"1","text":"@A"}},{"type":"emoji","attrs":{"shortName":":x:"}}]}]}]}`)
	f.Add(`{"type":"doc","version":1,"content":[{"type":"mediaSingle","content":[{"type":"media","attrs":{"type":"file","id":"1","collection":""}}]},{"type":"blockCard","attrs":{"url":"https://x"}}]}`)
	f.Add(`null`)
	f.Add(`"plain *text*"`)
	for _, s := range markdownSeeds {
		doc, err := MarkdownToADF(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(doc))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		// Random bytes rarely make valid ADF, so also build a document from the input's text.
		checkADFTextSurvives(t, docFromText(doc))
		md, err := ADFToMarkdown(json.RawMessage(doc))
		if err != nil {
			if ValidateADF(json.RawMessage(doc)) == nil {
				t.Fatalf("valid ADF rejected: %v\n%s", err, doc)
			}
			return
		}
		if _, err := ADFToText(json.RawMessage(doc)); err != nil {
			t.Fatalf("ADFToText failed where ADFToMarkdown did not: %v", err)
		}
		back, err := MarkdownToADF(md)
		if err != nil {
			t.Fatalf("MarkdownToADF(ADFToMarkdown(%s) = %q): %v", doc, md, err)
		}
		// A valid document made of the nodes Markdown can express keeps its text.
		if ValidateADF(json.RawMessage(doc)) == nil && onlyMarkdownNodes(doc) {
			if a, b := adfText(t, json.RawMessage(doc)), adfText(t, back); a != b {
				t.Fatalf("text changed\ndoc:  %s\nmd:   %q\ntext: %q\nnow:  %q", doc, md, a, b)
			}
		}
	})
}

func FuzzWikiToMarkdown(f *testing.F) {
	f.Add("h1. *x* _y_ {{z}}\n* a\n** b\n{code:go}\nx\n{code}\n||h||\n|c|\n[a|http://x] [~u] !i.png!")
	f.Add("{quote}{panel}{quote}x{panel}")
	f.Fuzz(func(t *testing.T, s string) {
		md := WikiToMarkdown(s)
		_ = WikiToText(s)
		if _, err := MarkdownToADF(md); err != nil {
			t.Fatalf("MarkdownToADF(WikiToMarkdown(%q) = %q): %v", s, md, err)
		}
	})
}

// onlyMarkdownNodes reports whether a document uses only nodes and marks with a Markdown form.
func onlyMarkdownNodes(doc string) bool {
	var root adfNode
	if json.Unmarshal([]byte(doc), &root) != nil {
		return false
	}
	ok := true
	var walk func(*adfNode)
	walk = func(n *adfNode) {
		switch n.Type {
		case kindDoc, kindParagraph, kindHeading, kindText, kindHardBreak, kindCodeBlock, kindBulletList,
			kindOrderedList, kindListItem, kindBlockquote, kindRule, kindTable, kindTableRow, kindTableHeader,
			kindTableCell:
		default:
			ok = false
		}
		for _, m := range n.Marks {
			if m.Type == "underline" || m.Type == "textColor" || m.Type == "backgroundColor" || m.Type == "subsup" {
				ok = false
			}
		}
		for _, k := range n.Content {
			walk(k)
		}
	}
	walk(&root)
	return ok
}

// docFromText builds a valid ADF document from arbitrary text: segments split at "\x01" become
// text nodes whose first byte picks their marks, placed in a paragraph, a heading, a list item
// or a table cell.
func docFromText(s string) json.RawMessage {
	var inline []*adfNode
	for _, seg := range strings.Split(strings.ToValidUTF8(s, "?"), "\x01") {
		if len(seg) < 2 {
			continue
		}
		bits, text := seg[0], seg[1:]
		n := &adfNode{Type: kindText, Text: text}
		switch {
		case bits&1 != 0:
			n.Marks = append(n.Marks, adfMark{Type: "code"})
		default:
			for i, m := range []string{"strong", "em", "strike"} {
				if bits&(2<<i) != 0 {
					n.Marks = append(n.Marks, adfMark{Type: m})
				}
			}
		}
		if bits&16 != 0 {
			n.Marks = append(n.Marks, adfMark{Type: "link", Attrs: map[string]any{"href": "https://e.com/" + text}})
		}
		if bits&32 != 0 {
			inline = append(inline, &adfNode{Type: kindHardBreak})
		}
		inline = append(inline, n)
	}
	para := &adfNode{Type: kindParagraph, Content: inline}
	var block *adfNode
	switch len(s) % 4 {
	case 0:
		block = para
	case 1:
		block = &adfNode{Type: kindHeading, Attrs: map[string]any{"level": 2}, Content: inline}
	case 2:
		block = &adfNode{Type: kindBulletList, Content: []*adfNode{{Type: kindListItem, Content: []*adfNode{para}}}}
	case 3:
		block = &adfNode{Type: kindTable, Content: []*adfNode{{Type: kindTableRow, Content: []*adfNode{
			{Type: kindTableHeader, Content: []*adfNode{para}}}}}}
	}
	out, _ := json.Marshal(adfDoc{Type: kindDoc, Version: 1, Content: []*adfNode{block}})
	return out
}

// checkADFTextSurvives renders a valid document as Markdown and back and compares the text.
func checkADFTextSurvives(t *testing.T, doc json.RawMessage) {
	t.Helper()
	if ValidateADF(doc) != nil {
		return
	}
	md, err := ADFToMarkdown(doc)
	if err != nil {
		t.Fatalf("ADFToMarkdown(%s): %v", doc, err)
	}
	back, err := MarkdownToADF(md)
	if err != nil {
		t.Fatalf("MarkdownToADF(%q): %v", md, err)
	}
	if a, b := adfText(t, doc), adfText(t, back); a != b {
		t.Fatalf("text changed\ndoc:  %s\nmd:   %q\ntext: %q\nnow:  %q", doc, md, a, b)
	}
}
