package markup

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// treeRenderer is a goldmark renderer that converts the Markdown AST to the shared tree and
// hands it to emit, which writes the target format.
type treeRenderer struct {
	emit func(w io.Writer, blocks []*node) error
}

var _ renderer.Renderer = (*treeRenderer)(nil)

// Render implements renderer.Renderer.
func (r *treeRenderer) Render(w io.Writer, source []byte, n ast.Node) error {
	c := mdConverter{src: source}
	return r.emit(w, c.blocks(n, inDoc))
}

// AddOptions implements renderer.Renderer; the renderer has no goldmark options.
func (r *treeRenderer) AddOptions(...renderer.Option) {}

// convertMarkdown parses md (CommonMark + GFM tables, strikethrough and autolinks) and renders it
// with emit.
func convertMarkdown(md string, emit func(io.Writer, []*node) error) ([]byte, error) {
	g := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
		goldmark.WithRenderer(&treeRenderer{emit: emit}),
	)
	// Normalise line endings, and replace NUL and invalid UTF-8 up front (as CommonMark asks) so
	// that delimiter rules see the same characters the output will hold.
	md = normalizeInput.Replace(strings.ToValidUTF8(md, "\uFFFD"))
	var buf bytes.Buffer
	if err := g.Convert([]byte(md), &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// container says which block kinds the enclosing ADF node accepts.
type container int

const (
	inDoc  container = iota // everything
	inNest                  // blockquote and listItem: paragraphs, lists, code blocks
)

type mdConverter struct {
	src []byte
}

func (c *mdConverter) blocks(parent ast.Node, where container) []*node {
	var out []*node
	for child := parent.FirstChild(); child != nil; child = child.NextSibling() {
		out = append(out, c.block(child, where)...)
	}
	return out
}

func (c *mdConverter) block(n ast.Node, where container) []*node {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		if p := c.paragraph(n, style{}); p != nil {
			return []*node{p}
		}
		return nil
	case *ast.Heading:
		if where == inDoc {
			kids := tidyInline(breaksToSpaces(c.inlines(n, style{})))
			if len(kids) == 0 {
				return nil
			}
			h := block(kindHeading, kids...)
			h.attrs = map[string]any{"level": min(max(n.Level, 1), 6)}
			return []*node{h}
		}
		if p := c.paragraph(n, style{strong: true}); p != nil {
			return []*node{p}
		}
		return nil
	case *ast.ThematicBreak:
		if where == inDoc {
			return []*node{block(kindRule)}
		}
		return nil
	case *ast.CodeBlock:
		return []*node{codeBlock(c.lines(n), "")}
	case *ast.FencedCodeBlock:
		return []*node{codeBlock(c.lines(n), unescape(n.Language(c.src)))}
	case *ast.Blockquote:
		inner := c.blocks(n, inNest)
		if where != inDoc || len(inner) == 0 {
			return inner // ADF quotes do not nest: flatten
		}
		return []*node{block(kindBlockquote, inner...)}
	case *ast.List:
		if l := c.list(n); l != nil {
			return []*node{l}
		}
		return nil
	case *east.Table:
		if where == inDoc {
			return []*node{c.table(n)}
		}
		return c.tableAsParagraphs(n)
	case *ast.HTMLBlock:
		lines := strings.Split(strings.TrimRight(c.lines(n)+closure(n, c.src), "\n"), "\n")
		var kids []*node
		for i, l := range lines {
			if i > 0 {
				kids = append(kids, block(kindHardBreak))
			}
			kids = append(kids, textNode(l, style{}))
		}
		if kids = mergeText(kids); len(kids) == 0 {
			return nil
		}
		return []*node{block(kindParagraph, tidyInline(kids)...)}
	default:
		if n.FirstChild() == nil {
			return nil
		}
		if n.FirstChild().Type() == ast.TypeBlock {
			return c.blocks(n, where)
		}
		if p := c.paragraph(n, style{}); p != nil {
			return []*node{p}
		}
		return nil
	}
}

// breaksToSpaces turns hard breaks into spaces (a setext heading may hold one, ATX cannot).
func breaksToSpaces(kids []*node) []*node {
	out := make([]*node, len(kids))
	for i, k := range kids {
		out[i] = k
		if k.kind == kindHardBreak {
			out[i] = textNode(" ", style{})
		}
	}
	return mergeText(out)
}

func closure(n *ast.HTMLBlock, src []byte) string {
	if !n.HasClosure() {
		return ""
	}
	return string(n.ClosureLine.Value(src))
}

func codeBlock(content, lang string) *node {
	content = strings.TrimSuffix(content, "\n")
	b := block(kindCodeBlock)
	if content != "" {
		b.kids = []*node{{kind: kindText, text: content}}
	}
	lang = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '`' {
			return -1
		}
		return r
	}, lang)
	if lang != "" {
		b.attrs = map[string]any{"language": lang}
	}
	return b
}

func (c *mdConverter) lines(n ast.Node) string {
	var b strings.Builder
	l := n.Lines()
	for i := range l.Len() {
		seg := l.At(i)
		b.Write(seg.Value(c.src))
	}
	return strings.ReplaceAll(b.String(), "\x00", "\uFFFD")
}

func (c *mdConverter) paragraph(n ast.Node, st style) *node {
	kids := tidyInline(c.inlines(n, st))
	if len(kids) == 0 {
		return nil
	}
	return block(kindParagraph, kids...)
}

// tidyInline puts inline content in canonical form: whitespace at the edge of formatted text
// moves out of marks its neighbours do not share, and hard breaks and whitespace at the edges of
// the paragraph and around hard breaks go (Markdown cannot keep them).
func tidyInline(kids []*node) []*node {
	kids = prepareRuns(kids)
	for i, k := range kids {
		if k.kind != kindHardBreak {
			continue
		}
		if i > 0 && kids[i-1].kind == kindText && !kids[i-1].st.code {
			t := *kids[i-1]
			t.text = strings.TrimRightFunc(t.text, unicode.IsSpace)
			kids[i-1] = &t
		}
		if i+1 < len(kids) && kids[i+1].kind == kindText && !kids[i+1].st.code {
			t := *kids[i+1]
			t.text = strings.TrimLeftFunc(t.text, unicode.IsSpace)
			kids[i+1] = &t
		}
	}
	kids = mergeText(kids)
	for {
		switch {
		case len(kids) > 0 && kids[0].kind == kindHardBreak:
			kids = kids[1:]
		case len(kids) > 0 && kids[len(kids)-1].kind == kindHardBreak:
			kids = kids[:len(kids)-1]
		case len(kids) > 0 && kids[0].kind == kindText && !kids[0].st.code &&
			strings.TrimLeftFunc(kids[0].text, unicode.IsSpace) != kids[0].text:
			t := *kids[0]
			t.text = strings.TrimLeftFunc(t.text, unicode.IsSpace)
			kids = mergeText(append([]*node{&t}, kids[1:]...))
		case len(kids) > 0 && kids[len(kids)-1].kind == kindText && !kids[len(kids)-1].st.code &&
			strings.TrimRightFunc(kids[len(kids)-1].text, unicode.IsSpace) != kids[len(kids)-1].text:
			t := *kids[len(kids)-1]
			t.text = strings.TrimRightFunc(t.text, unicode.IsSpace)
			kids = mergeText(append(kids[:len(kids)-1:len(kids)-1], &t))
		default:
			return kids
		}
	}
}

func (c *mdConverter) list(n *ast.List) *node {
	kind := kindBulletList
	if n.IsOrdered() {
		kind = kindOrderedList
	}
	l := block(kind)
	if n.IsOrdered() && n.Start != 1 && n.Start >= 0 {
		l.attrs = map[string]any{"order": n.Start}
	}
	for item := n.FirstChild(); item != nil; item = item.NextSibling() {
		content := c.blocks(item, inNest)
		if len(content) == 0 {
			continue // an empty item says nothing; ADF would need a placeholder paragraph
		}
		if content[0].kind != kindParagraph && content[0].kind != kindCodeBlock {
			content = append([]*node{block(kindParagraph)}, content...)
		}
		l.kids = append(l.kids, block(kindListItem, content...))
	}
	if len(l.kids) == 0 {
		return nil
	}
	return l
}

func (c *mdConverter) table(n *east.Table) *node {
	t := block(kindTable)
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		cellKind := kindTableCell
		if _, ok := row.(*east.TableHeader); ok {
			cellKind = kindTableHeader
		}
		r := block(kindTableRow)
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			p := c.paragraph(cell, style{})
			if p == nil {
				p = block(kindParagraph)
			}
			r.kids = append(r.kids, block(cellKind, p))
		}
		if len(r.kids) > 0 {
			t.kids = append(t.kids, r)
		}
	}
	if len(t.kids) == 0 {
		t.kids = []*node{block(kindTableRow, block(kindTableCell, block(kindParagraph)))}
	}
	return t
}

// tableAsParagraphs degrades a table nested where ADF allows none: one paragraph per row,
// cells separated by " | ".
func (c *mdConverter) tableAsParagraphs(n *east.Table) []*node {
	var out []*node
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		var kids []*node
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			if cell != row.FirstChild() {
				kids = append(kids, textNode(" | ", style{}))
			}
			kids = append(kids, c.inlines(cell, style{})...)
		}
		if kids = tidyInline(mergeText(kids)); len(kids) > 0 {
			out = append(out, block(kindParagraph, kids...))
		}
	}
	return out
}

func (c *mdConverter) inlines(parent ast.Node, st style) []*node {
	var out []*node
	for n := parent.FirstChild(); n != nil; n = n.NextSibling() {
		out = c.inline(out, n, st)
	}
	return mergeText(out)
}

func (c *mdConverter) inline(out []*node, n ast.Node, st style) []*node {
	switch n := n.(type) {
	case *ast.Text:
		v := string(n.Segment.Value(c.src))
		if !n.IsRaw() {
			v = unescape([]byte(v))
		}
		out = append(out, textNode(v, st))
		switch {
		case n.HardLineBreak():
			out = append(out, block(kindHardBreak))
		case n.SoftLineBreak():
			out = append(out, textNode(" ", st))
		}
	case *ast.String:
		v := string(n.Value)
		if !n.IsRaw() && !n.IsCode() {
			v = unescape(n.Value)
		}
		out = append(out, textNode(v, st))
	case *ast.CodeSpan:
		var b strings.Builder
		for t := n.FirstChild(); t != nil; t = t.NextSibling() {
			if txt, ok := t.(*ast.Text); ok {
				b.Write(txt.Segment.Value(c.src))
			}
		}
		code := st
		code.code = true
		out = append(out, textNode(strings.ReplaceAll(b.String(), "\n", " "), code))
	case *ast.Emphasis:
		inner := st
		if n.Level >= 2 {
			inner.strong = true
		} else {
			inner.em = true
		}
		for k := n.FirstChild(); k != nil; k = k.NextSibling() {
			out = c.inline(out, k, inner)
		}
	case *east.Strikethrough:
		inner := st
		inner.strike = true
		for k := n.FirstChild(); k != nil; k = k.NextSibling() {
			out = c.inline(out, k, inner)
		}
	case *ast.Link:
		href := string(util.URLEscape(n.Destination, true))
		inner := st
		if safeHref(href) {
			inner.href = href
		}
		before := len(out)
		for k := n.FirstChild(); k != nil; k = k.NextSibling() {
			out = c.inline(out, k, inner)
		}
		if len(mergeText(out[before:])) == 0 && href != "" {
			out = append(out, textNode(href, inner))
		}
	case *ast.Image:
		dest := string(util.URLEscape(n.Destination, true))
		alt := plainText(block(kindParagraph, c.inlines(n, style{})...))
		if alt == "" {
			alt = dest
		}
		inner := st
		if inner.href == "" && safeHref(dest) {
			inner.href = dest
		}
		out = append(out, textNode(alt, inner))
	case *ast.AutoLink:
		href := string(n.URL(c.src))
		if n.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(href), "mailto:") {
			href = "mailto:" + href
		}
		href = string(util.URLEscape([]byte(href), false))
		inner := st
		if safeHref(href) {
			inner.href = href
		}
		out = append(out, textNode(string(n.Label(c.src)), inner))
	case *ast.RawHTML:
		var b strings.Builder
		for i := range n.Segments.Len() {
			seg := n.Segments.At(i)
			b.Write(seg.Value(c.src))
		}
		out = append(out, textNode(strings.ReplaceAll(b.String(), "\n", " "), st))
	default:
		for k := n.FirstChild(); k != nil; k = k.NextSibling() {
			out = c.inline(out, k, st)
		}
	}
	return out
}

// unescape resolves backslash escapes and entity references of Markdown text in one pass, the
// way goldmark's HTML writer does.
func unescape(src []byte) string {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case ch == '\\' && i+1 < len(src) && util.IsPunct(src[i+1]):
			b.WriteByte(src[i+1])
			i++
		case ch == 0:
			b.WriteString("\uFFFD")
		case ch == '&':
			if r, n := entity(src[i:]); n > 0 {
				b.WriteString(r)
				i += n - 1
				continue
			}
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// entity decodes an HTML entity at the start of s, returning its text and length.
func entity(s []byte) (string, int) {
	end := bytes.IndexByte(s, ';')
	if end < 2 || end > 40 {
		return "", 0
	}
	body := string(s[1:end])
	if body[0] == '#' {
		num := body[1:]
		base := 10
		if num != "" && (num[0] == 'x' || num[0] == 'X') {
			num, base = num[1:], 16
		}
		if num == "" || len(num) > 7 {
			return "", 0
		}
		v, err := strconv.ParseUint(num, base, 32)
		if err != nil {
			return "", 0
		}
		r := util.ToValidRune(rune(v))
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		return string(r), end + 1
	}
	if e, ok := util.LookUpHTML5EntityByName(body); ok {
		return string(e.Characters), end + 1
	}
	return "", 0
}
