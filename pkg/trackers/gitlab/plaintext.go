package gitlab

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// gitlabMarkdown parses GitLab Flavored Markdown closely enough for text.
// Every extension of GFM can change the text (tables end a line per cell,
// strikethrough and task lists drop their markers, linkify keeps a URL's
// underscores from reading as emphasis), so all of them stay.
//
// The parser is goldmark's default one (goldmark.DefaultParser) but for the
// link reference definitions, which are looked for only in paragraphs that
// hold a '[' (gitlabLinkRefTransformer).
var gitlabMarkdown = goldmark.New(
	goldmark.WithParser(parser.NewParser(
		parser.WithBlockParsers(parser.DefaultBlockParsers()...),
		parser.WithInlineParsers(parser.DefaultInlineParsers()...),
		parser.WithParagraphTransformers(util.Prioritized(gitlabLinkRefTransformer{}, 100)), // 100: as goldmark's default
	)),
	goldmark.WithExtensions(extension.GFM),
)

// gitlabLinkRefTransformer is goldmark's LinkReferenceParagraphTransformer
// run only on paragraphs with a '[' in them. A link reference definition
// starts with '[' (goldmark's parseLinkReferenceDefinition gives up at once
// on a paragraph whose first character is anything else), and goldmark's
// transformer costs two allocations per paragraph even when it finds none.
type gitlabLinkRefTransformer struct{}

func (gitlabLinkRefTransformer) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	lines := node.Lines()
	for i := range lines.Len() {
		if seg := lines.At(i); bytes.IndexByte(seg.Value(reader.Source()), '[') >= 0 {
			parser.LinkReferenceParagraphTransformer.Transform(node, reader, pc)
			return
		}
	}
}

// gitlabMarkdownText renders Markdown as plain text: the words without the
// markup, one line per block; raw HTML (hidden markers among it) is dropped.
//
// Its output is pinned byte for byte to the converter as it was before
// issue 9 (plaintext_test.go keeps that one and compares both over generated
// and fuzzed inputs): the event bytes and version hashes depend on it.
func gitlabMarkdownText(md string) string {
	if t, ok := gitlabProseText(md); ok {
		return t
	}
	if t, ok := gitlabSimpleText(md); ok {
		return t
	}
	src := []byte(md)
	doc := gitlabMarkdown.Parser().Parse(text.NewReader(src))
	w := gitlabTextWalker{src: src}
	// The text is about as long as the Markdown: one allocation instead of
	// the builder's doublings (issue 9: four or five per description).
	w.b.Grow(len(md) + 16)
	_ = ast.Walk(doc, w.walk)
	return strings.TrimSpace(w.b.String())
}

// gitlabProseByte marks the ASCII bytes gitlabProseText accepts: letters,
// digits, space, newline and punctuation no CommonMark or GFM parser (nor
// linkify) starts on. '.' is accepted but checked where it can end an
// ordered-list marker. Bytes from 0x80 (UTF-8 beyond ASCII) are accepted:
// goldmark gives none of them a meaning (only its final trim sees Unicode
// spaces, and strings.TrimSpace trims the same here).
var gitlabProseByte = func() (t [128]bool) {
	for c := byte('a'); c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte(" \n.,;?!'\"/%$") {
		t[c] = true
	}
	return t
}()

// gitlabProseText is the text of Markdown that is prose only: no byte with a
// meaning to goldmark's parsers, no line indented four or more spaces (code),
// no line starting with digits and a dot (ordered list), no "www." (linkify).
// It reports false for anything else, which goldmark then converts. For
// prose goldmark's text is the paragraphs' lines with their leading and
// trailing spaces removed, joined by a space within a paragraph (a newline
// after a line that ended in two or more spaces, a hard break) and by a
// newline between paragraphs (blank lines); then trimmed. (Of a hard
// break's n spaces goldmark keeps n-3 before the newline, a quirk kept here.)
//
// Hand-written because most descriptions are prose and goldmark spends
// about twenty allocations on one paragraph (issue 9: the parse was 21 % of
// a GitLab ticket's CPU); plaintext_test.go compares it with goldmark's
// conversion over generated prose and a fuzz target.
func gitlabProseText(md string) (string, bool) {
	for i := 0; i < len(md); i++ {
		if c := md[i]; c < 0x80 && !gitlabProseByte[c] {
			return "", false
		}
	}
	if gitlabHasFoldWWW(md) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(md))
	inPara, trail := false, ""
	for rest := md; ; {
		line, more, found := strings.Cut(rest, "\n")
		lead := len(line) - len(strings.TrimLeft(line, " "))
		if lead >= 4 {
			return "", false
		}
		content := strings.TrimRight(line[lead:], " ")
		switch {
		case content == "":
			inPara = false
		case gitlabOrderedMarker(content):
			return "", false
		default:
			switch {
			case inPara && len(trail) >= 2:
				// goldmark keeps all but three of a hard break's spaces.
				b.WriteString(trail[min(3, len(trail)):])
				b.WriteByte('\n')
			case inPara:
				b.WriteByte(' ')
			case b.Len() > 0:
				b.WriteByte('\n')
			}
			b.WriteString(content)
			inPara, trail = true, line[lead+len(content):]
		}
		if !found {
			break
		}
		rest = more
	}
	return strings.TrimSpace(b.String()), true
}

// gitlabOrderedMarker reports whether a line starts with digits and a dot,
// as an ordered list item does (whatever follows; a wider test than
// CommonMark's, which is enough for refusing).
func gitlabOrderedMarker(line string) bool {
	i := 0
	for i < len(line) && '0' <= line[i] && line[i] <= '9' {
		i++
	}
	return i > 0 && i < len(line) && line[i] == '.'
}

// gitlabHasFoldWWW reports whether s holds "www." in any case.
func gitlabHasFoldWWW(s string) bool {
	for i := strings.IndexByte(s, '.'); i >= 0; {
		if i >= 3 && strings.EqualFold(s[i-3:i], "www") {
			return true
		}
		j := strings.IndexByte(s[i+1:], '.')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// gitlabSimpleText is the text of Markdown made only of the commonest
// constructs, written plainly: paragraphs of unindented lines, "# " to
// "###### " headings, one-line items of "1. ", "- ", "* " and "+ " lists set
// off by blank lines (or a heading), and within a line
// prose, **strong** words, `code` and [links](url). It reports false for
// anything else or anything near it (indents, trailing spaces, lazy
// continuations, other markers, delimiters that may not match), which
// goldmark then converts. Its text is goldmark's: each block on a line, a
// paragraph's lines joined by spaces, markers, brackets and destinations
// dropped.
//
// Hand-written for the same reason as gitlabProseText, for descriptions
// with a little formatting (cmd/bench's is one); plaintext_test.go compares
// it with goldmark over generated texts biased to these constructs and the
// fuzz target.
func gitlabSimpleText(md string) (string, bool) {
	if gitlabHasFoldWWW(md) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(md))
	const (
		blank = iota
		para
		item
	)
	prev := blank
	for rest := md; ; {
		line, more, found := strings.Cut(rest, "\n")
		switch {
		case line == "":
			prev = blank
		case line[0] == ' ' || line[len(line)-1] == ' ':
			return "", false
		default:
			if h, ok := gitlabSimpleHeading(line); ok {
				// A heading is a block of its own: it ends a paragraph, and
				// what follows starts anew (as after a blank line).
				if prev == item {
					return "", false
				}
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				if !gitlabSimpleInline(&b, h) {
					return "", false
				}
				prev = blank
				break
			}
			content, isItem := gitlabSimpleItem(line)
			if !isItem {
				content = line
			}
			switch {
			case isItem && prev != para, !isItem && prev == blank && gitlabSimpleParaStart(line):
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
			case !isItem && prev == para && gitlabSimpleParaStart(line):
				b.WriteByte(' ')
			default: // an item after a paragraph line or a line after an item
				return "", false
			}
			if !gitlabSimpleInline(&b, content) {
				return "", false
			}
			prev = para
			if isItem {
				prev = item
			}
		}
		if !found {
			break
		}
		rest = more
	}
	return strings.TrimSpace(b.String()), true
}

// gitlabSimpleHeading returns an ATX heading's text: after one to six '#'
// and one space, starting with a letter (and, as the inline text allows no
// '#', without a closing sequence).
func gitlabSimpleHeading(line string) (string, bool) {
	i := 0
	for i < len(line) && i < 7 && line[i] == '#' {
		i++
	}
	if i == 0 || i > 6 || !strings.HasPrefix(line[i:], " ") || i+1 >= len(line) || !gitlabIsLetter(line[i+1]) {
		return "", false
	}
	return line[i+1:], true
}

// gitlabSimpleItem returns a list item line's text: after "- ", "* ", "+ "
// or after one to nine digits and ". ", starting with a letter.
func gitlabSimpleItem(line string) (string, bool) {
	i := 0
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "+ ") {
		i = 2
	} else {
		for i < len(line) && i < 10 && '0' <= line[i] && line[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 || !strings.HasPrefix(line[i:], ". ") {
			return "", false
		}
		i += 2
	}
	if i < len(line) && gitlabIsLetter(line[i]) {
		return line[i:], true
	}
	return "", false
}

// gitlabSimpleParaStart reports whether a line starts a paragraph line no
// block parser takes: a letter, a digit not starting an ordered-list marker,
// a link or a single backtick.
func gitlabSimpleParaStart(line string) bool {
	c := line[0]
	switch {
	case gitlabIsLetter(c), c == '[':
		return true
	case '0' <= c && c <= '9':
		return !gitlabOrderedMarker(line)
	case c == '`':
		return len(line) > 1 && line[1] != '`'
	}
	return false
}

func gitlabIsLetter(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

func gitlabIsAlnum(c byte) bool { return gitlabIsLetter(c) || '0' <= c && c <= '9' }

// gitlabSimpleInline writes a line's text: prose, **strong** (opened after a
// space or at the start, before a letter or digit, closed after one and
// before a space, the end or punctuation), `code` (one backtick each side,
// no space at either end) and [text](url) (no brackets, parentheses or
// spaces inside). It reports false for anything else.
func gitlabSimpleInline(b *strings.Builder, s string) bool {
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '*':
			if !strings.HasPrefix(s[i:], "**") || i > 0 && s[i-1] != ' ' || i+2 >= len(s) || !gitlabIsAlnum(s[i+2]) {
				return false
			}
			j := strings.Index(s[i+2:], "**")
			if j < 0 {
				return false
			}
			inner, k := s[i+2:i+2+j], i+2+j+2
			if !gitlabIsAlnum(inner[len(inner)-1]) || !gitlabSimpleProse(inner) ||
				k < len(s) && !strings.ContainsRune(" .,;:!?", rune(s[k])) {
				return false
			}
			b.WriteString(inner)
			i = k
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j <= 0 || s[i+1] == ' ' || s[i+j] == ' ' || i+j+2 < len(s) && s[i+j+2] == '`' {
				return false
			}
			code := s[i+1 : i+1+j]
			for k := range len(code) {
				if code[k] < 0x20 || code[k] == 0x7f {
					return false
				}
			}
			b.WriteString(code)
			i += j + 2
		case c == '[':
			j := strings.IndexByte(s[i+1:], ']')
			if j <= 0 || i > 0 && s[i-1] == '!' || !strings.HasPrefix(s[i+1+j+1:], "(") {
				return false
			}
			text, rest := s[i+1:i+1+j], s[i+1+j+2:]
			k := strings.IndexByte(rest, ')')
			if k <= 0 || !gitlabSimpleProse(text) || strings.IndexFunc(rest[:k], gitlabNotURLRune) >= 0 {
				return false
			}
			b.WriteString(text)
			i += 1 + j + 2 + k + 1
		default:
			j := i
			for j < len(s) && s[j] != '*' && s[j] != '`' && s[j] != '[' {
				j++
			}
			if !gitlabSimpleProse(s[i:j]) {
				return false
			}
			b.WriteString(s[i:j])
			i = j
		}
	}
	return true
}

// gitlabSimpleProse reports whether s is prose goldmark leaves as it is:
// gitlabProseText's bytes and ':', but no "http:", "https:" or "ftp:" that
// linkify would take (nor "www.", refused for the whole text).
func gitlabSimpleProse(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			if i >= 3 && strings.EqualFold(s[i-3:i], "ftp") || i >= 4 && strings.EqualFold(s[i-4:i], "http") ||
				i >= 5 && strings.EqualFold(s[i-5:i], "https") {
				return false
			}
			continue
		}
		if c < 0x80 && !gitlabProseByte[c] || c == '\n' {
			return false
		}
	}
	return true
}

// gitlabNotURLRune reports a rune gitlabSimpleInline does not accept in a
// link destination.
func gitlabNotURLRune(r rune) bool {
	return !(r < 0x80 && (gitlabIsAlnum(byte(r)) || strings.ContainsRune("-._~:/?#=%+,;", r)))
}

// gitlabTextWalker collects a document's text. A struct with a method rather
// than a closure over locals: the closure and every local it captured were
// allocated per call.
type gitlabTextWalker struct {
	src []byte
	b   strings.Builder
}

// newline ends the current line unless the text is empty or already ends one.
func (w *gitlabTextWalker) newline() {
	if w.b.Len() > 0 && !strings.HasSuffix(w.b.String(), "\n") {
		w.b.WriteByte('\n')
	}
}

func (w *gitlabTextWalker) walk(n ast.Node, entering bool) (ast.WalkStatus, error) {
	switch n := n.(type) {
	case *ast.HTMLBlock, *ast.RawHTML:
		return ast.WalkSkipChildren, nil
	case *ast.Text:
		if entering {
			w.b.Write(n.Segment.Value(w.src))
			switch {
			case n.HardLineBreak():
				w.b.WriteByte('\n')
			case n.SoftLineBreak():
				w.b.WriteByte(' ')
			}
		}
	case *ast.String:
		if entering {
			w.b.Write(n.Value)
		}
	case *ast.AutoLink:
		if entering {
			w.b.Write(n.Label(w.src))
		}
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		if entering {
			w.newline()
			lines := n.Lines()
			for i := range lines.Len() {
				seg := lines.At(i)
				w.b.Write(seg.Value(w.src))
			}
		}
	}
	if !entering && n.Type() == ast.TypeBlock {
		w.newline()
	}
	return ast.WalkContinue, nil
}
