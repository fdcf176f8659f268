package markup

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// ADFToMarkdown renders an ADF document (a Jira Cloud description or comment) as CommonMark
// with GFM tables and strikethrough. Text is escaped so it reads back as the same text. Mentions
// become "@Name", emoji their character or shortName, cards their URL, media "[attachment]",
// panels and expands quotes, unknown nodes their text content. Marks without a Markdown form
// (underline, colours) are dropped, and so is emphasis in the rare paragraph where overlapping
// marks have no Markdown spelling that reads back the same (the text is always kept). JSON null
// gives "", a JSON string is taken as plain text.
// The replacers are built once: strings.NewReplacer builds its lookup
// tables on first use, which cost more than the conversion of a short
// description when it was done per call (issue 9's profile). A Replacer
// is safe for concurrent use.
var (
	crlfToLF        = strings.NewReplacer("\r\n", "\n", "\r", "\n")
	crlfToSpace     = strings.NewReplacer("\r\n", " ", "\r", " ")
	newlinesToSpace = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")
	normalizeInput  = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "\uFFFD")
)

func ADFToMarkdown(doc json.RawMessage) (string, error) {
	sc := getScratch()
	defer sc.release()
	root, err := parseADFIn(doc, sc)
	if err != nil {
		return "", err
	}
	return strings.Clone((&mdWriter{sc: sc}).document(root)), nil
}

// ADFToText renders an ADF document as plain text: blocks separated by blank lines, list items
// with "- " or "1. ", table cells separated by " | ", links as "text (url)".
func ADFToText(doc json.RawMessage) (string, error) {
	sc := getScratch()
	defer sc.release()
	root, err := parseADFIn(doc, sc)
	if err != nil {
		return "", err
	}
	return strings.Clone((&mdWriter{plain: true, sc: sc}).document(root)), nil
}

// ADFToTextAndMarkdown is ADFToText and ADFToMarkdown of one document,
// parsed once.
func ADFToTextAndMarkdown(doc json.RawMessage) (text, md string, err error) {
	sc := getScratch()
	defer sc.release()
	root, err := parseADFIn(doc, sc)
	if err != nil {
		return "", "", err
	}
	text, md = bothOf(root, sc)
	return text, md, nil
}

// bothOf renders a tree as text and as Markdown. The text pass keeps each
// inline container's runs and mark tree and the Markdown pass, which walks
// the tree in the same order, takes them instead of making them again.
func bothOf(root *node, sc *scratch) (text, md string) {
	// The memo and both writers' arrays are sc's (see scratch).
	memo := &sc.memo
	memo.record, memo.next, memo.entries = true, 0, memo.entries[:0]
	tw := &mdWriter{plain: true, memo: memo, sc: sc}
	text = tw.document(root)
	memo.record = false
	md = (&mdWriter{memo: memo, sc: sc}).document(root)
	return copyOut(text, md)
}

// copyOut copies a conversion's text and Markdown, which may be views of
// its scratch arena (see mdWriter.open), into one array of their own.
func copyOut(text, md string) (string, string) {
	if len(text)+len(md) == 0 {
		return "", ""
	}
	b := make([]byte, 0, len(text)+len(md))
	b = append(append(b, text...), md...)
	all := unsafe.String(unsafe.SliceData(b), len(b))
	return all[:len(text)], all[len(text):]
}

// runMemo holds the runs of the inline containers of one tree, in the order
// a writer renders them, for a second writer over the same tree.
type runMemo struct {
	record  bool
	entries []memoRuns
	next    int
}

type memoRuns struct {
	first *node // the container's first node, its length and depth: the key
	n     int
	depth int
	runs  []*node
	tree  *span // built when first needed
}

// runsOf is tidyInline(w.flattenInline(kids, depth)) and a place to keep the
// runs' mark tree: from the memo when it holds them as the next entry.
func (w *mdWriter) runsOf(kids []*node, depth int) ([]*node, **span) {
	var first *node
	if len(kids) > 0 {
		first = kids[0]
	}
	if m := w.memo; m != nil && !m.record && m.next < len(m.entries) {
		e := &m.entries[m.next]
		if e.first == first && e.n == len(kids) && e.depth == depth {
			m.next++
			return e.runs, &e.tree
		}
		w.memo = nil // out of step: make every run from now on
	}
	runs := tidyInline(w.flattenInline(kids, depth))
	if m := w.memo; m != nil && m.record {
		m.entries = append(m.entries, memoRuns{first: first, n: len(kids), depth: depth, runs: runs})
		return runs, &m.entries[len(m.entries)-1].tree
	}
	return runs, new(*span)
}

// mdWriter renders the shared tree as Markdown, or as plain text when plain is set.
type mdWriter struct {
	memo  *runMemo // set by bothOf
	plain bool
	// inTable is set while rendering a table cell.
	inTable bool
	// sc holds the writer's scratch arrays: runs (sc.slab, see
	// flattenInline), mark trees (sc.spans), a buffer per mark depth
	// (sc.bufs, see mdBuf) and the arena the renderings are written to
	// (sc.arena, see open). A writer without one makes its own.
	sc *scratch
}

// open is an empty buffer at the tail of the arena (sc.arena) with room
// for n bytes. The arena holds a document's renderings (inline content,
// lists, joined blocks), one after the other: each is a string over its
// own bytes, which are never written again while the conversion runs (a
// buffer or builder per paragraph, list and join was an allocation each,
// issue 9). The entry points copy their result out (copyOut) before the
// scratch, arena included, goes back to the pool.
func (w *mdWriter) open(n int) mdBuf {
	sc := w.scratch()
	start := len(sc.arena)
	if cap(sc.arena)-start < n {
		// A new array: the strings over the old one stay valid.
		sc.arena, start = make([]byte, 0, max(n, 2*cap(sc.arena), 1024)), 0
	}
	return mdBuf{b: sc.arena[start:start]}
}

// close makes what was written to b (from open) part of the arena, and
// returns it.
func (w *mdWriter) close(b mdBuf) string {
	sc := w.scratch()
	start := len(sc.arena)
	if start+len(b.b) <= cap(sc.arena) && unsafe.SliceData(b.b) == unsafe.SliceData(sc.arena[start:cap(sc.arena)]) {
		sc.arena = sc.arena[:start+len(b.b)] // written in place
	} else {
		sc.arena = b.b // grown elsewhere: that array is the arena now
	}
	return b.view()
}

// join is strings.Join written to the arena.
func (w *mdWriter) join(parts []string, sep string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	n := len(sep) * (len(parts) - 1)
	for _, p := range parts {
		n += len(p)
	}
	b := w.open(n)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return w.close(b)
}

// scratch is the writer's scratch (see mdWriter.sc), made when it has none.
func (w *mdWriter) scratch() *scratch {
	if w.sc == nil {
		w.sc = new(scratch)
	}
	return w.sc
}

// maxDepth bounds nesting so hostile documents cannot blow up rendering cost.
const maxDepth = 64

func (w *mdWriter) document(root *node) string {
	var s string
	if root.kind == kindDoc {
		s = w.blocks(root.kids, 0)
	} else {
		s = w.blocks([]*node{root}, 0)
	}
	return strings.TrimRight(s, "\n ")
}

func (w *mdWriter) blocks(nodes []*node, depth int) string {
	// Most containers hold a few blocks: their parts stay on the stack
	// (growing the slice append by append was three allocations a call).
	var partsArr [8]string
	parts := partsArr[:0]
	var inline []*node
	prev := ""   // kind of the last block written
	alt := false // whether that block was a list with the alternative marker
	flush := func() {
		if len(inline) > 0 {
			if s := w.inlines(inline, depth); strings.TrimSpace(s) != "" {
				parts = append(parts, s)
				prev = kindParagraph
			}
			inline = nil
		}
	}
	for _, n := range nodes {
		if isInlineKind(n.kind) {
			inline = append(inline, n) // lenient: inline content directly in a block container
			continue
		}
		flush()
		s := ""
		if isList(n.kind) {
			alt = n.kind == prev && !alt
			s = w.list(n, depth, alt)
		} else {
			s = w.block(n, depth)
		}
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
			prev = n.kind
		}
	}
	flush()
	return w.join(parts, "\n\n")
}

func isList(k string) bool { return k == kindBulletList || k == kindOrderedList }

func isInlineKind(k string) bool {
	switch k {
	case kindText, kindHardBreak, kindMention, "emoji", "inlineCard", "date", "status", "placeholder",
		"inlineExtension", "mediaInline":
		return true
	}
	return false
}

func (w *mdWriter) block(n *node, depth int) string {
	if depth > maxDepth {
		return w.escape(plainText(n), true)
	}
	switch n.kind {
	case kindParagraph:
		return w.inlines(n.kids, depth)
	case kindHeading:
		text := strings.TrimSpace(w.inlinesBreak(n.kids, " ", depth))
		if w.plain || text == "" {
			return text
		}
		level, _ := n.attrInt("level")
		level = min(max(level, 1), 6)
		if endsUnescaped(text, '#') {
			text = text[:len(text)-1] + `\#` // would read as a closing sequence
		}
		return strings.Repeat("#", level) + " " + text
	case kindCodeBlock:
		return w.codeBlock(n)
	case kindBulletList, kindOrderedList:
		return w.list(n, depth, false)
	case kindBlockquote, "panel":
		return w.quote(w.blocks(n.kids, depth+1))
	case "expand", "nestedExpand":
		body := w.blocks(n.kids, depth+1)
		if title := n.attrString("title"); title != "" {
			t := w.escape(title, false)
			if !w.plain {
				t = "**" + t + "**"
			}
			body = t + "\n\n" + body
		}
		return w.quote(body)
	case kindRule:
		return "---"
	case kindTable:
		return w.table(n, depth)
	case "mediaSingle", "mediaGroup":
		var parts []string
		for _, k := range n.kids {
			if k.kind == "media" {
				parts = append(parts, "[attachment]")
			}
		}
		return strings.Join(parts, " ")
	case "media":
		return "[attachment]"
	case "blockCard", "embedCard":
		return w.cardURL(n)
	case kindListItem, kindTableRow, kindTableCell, kindTableHeader:
		return w.blocks(n.kids, depth+1)
	default:
		if len(n.kids) > 0 {
			return w.blocks(n.kids, depth+1)
		}
		if n.text != "" {
			return w.escape(n.text, true)
		}
		if t := n.attrString("text"); t != "" {
			return w.escape(t, true)
		}
		return ""
	}
}

func (w *mdWriter) quote(body string) string {
	if w.plain || body == "" {
		return body
	}
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n")
}

func (w *mdWriter) codeBlock(n *node) string {
	content := crlfToLF.Replace(plainText(n))
	if w.plain {
		return content
	}
	fence := strings.Repeat("`", max(3, longestRun(content, '`')+1))
	lang := strings.Map(func(r rune) rune {
		if r == '`' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return -1
		}
		return r
	}, n.attrString("language"))
	return fence + lang + "\n" + content + "\n" + fence
}

func longestRun(s string, c rune) int {
	best, cur := 0, 0
	for _, r := range s {
		if r == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// list renders a list; alt picks the other marker ("*" or ")") so that a list right after one of
// the same kind does not merge with it.
func (w *mdWriter) list(n *node, depth int, alt bool) string {
	bullet, delim := "- ", ". "
	if alt {
		bullet, delim = "* ", ") "
	}
	start := 1
	if n.kind == kindOrderedList {
		if o, ok := n.attrInt("order"); ok && o >= 0 && o+len(n.kids) < 1e9 { // CommonMark allows 9 digits
			start = o
		}
	}
	// The items are written straight into out, without a marker string, a
	// split and joins per item (issue 9).
	// Each item's body is rendered first, so that out is sized once; a
	// body of one block is that block's string, without a builder.
	var bodiesArr [8]string
	bodies := bodiesArr[:0]
	size := 0
	for _, item := range n.kids {
		b := w.itemBody(item, depth)
		bodies = append(bodies, b)
		size += 24 + len(b) + strings.Count(b, "\n")*(len(bullet)+11)
	}
	out := w.open(size)
	for i, body := range bodies {
		head, tail := bullet, ""
		if n.kind == kindOrderedList {
			head, tail = strconv.Itoa(start+i), delim
		}
		if i > 0 {
			out.WriteByte('\n')
		}
		// The first line follows the marker, with trailing blanks trimmed
		// (the marker's own too when the line is empty); the others are
		// indented by the marker's width unless empty.
		first, rest, more := strings.Cut(body, "\n")
		if f := strings.TrimRight(first, " "); f != "" {
			out.WriteString(head)
			out.WriteString(tail)
			out.WriteString(f)
		} else if tail != "" {
			out.WriteString(head)
			out.WriteString(strings.TrimRight(tail, " "))
		} else {
			out.WriteString(strings.TrimRight(head, " "))
		}
		width := len(head) + len(tail)
		for more {
			var line string
			line, rest, more = strings.Cut(rest, "\n")
			out.WriteByte('\n')
			if line != "" {
				writeSpaces(&out, width)
				out.WriteString(line)
			}
		}
	}
	return w.close(out)
}

// itemBody renders a list item's blocks: a nested list follows the line
// before it, other blocks are a blank line apart.
func (w *mdWriter) itemBody(item *node, depth int) string {
	var partsArr [4]string
	parts := partsArr[:0]
	var sepsArr [4]string
	seps := sepsArr[:0] // what goes before each part but the first
	prev, alt := "", false
	for _, k := range item.kids {
		var s string
		switch {
		case isInlineKind(k.kind):
			s = w.inlines([]*node{k}, depth)
		case isList(k.kind):
			alt = k.kind == prev && !alt
			s = w.list(k, depth+1, alt)
		default:
			s = w.block(k, depth+1)
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if isList(k.kind) {
			seps = append(seps, "\n") // a nested list keeps the item tight
		} else {
			seps = append(seps, "\n\n")
		}
		parts = append(parts, s)
		prev = k.kind
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	size := 0
	for i, p := range parts {
		size += len(seps[i]) + len(p)
	}
	body := w.open(size)
	for i, p := range parts {
		if i > 0 {
			body.WriteString(seps[i])
		}
		body.WriteString(p)
	}
	return w.close(body)
}

const spaces = "                                "

func writeSpaces(b *mdBuf, n int) {
	for n > len(spaces) {
		b.WriteString(spaces)
		n -= len(spaces)
	}
	b.WriteString(spaces[:n])
}

func (w *mdWriter) table(n *node, depth int) string {
	var rows [][]string
	cols := 0
	for _, r := range n.kids {
		if r.kind != kindTableRow {
			continue
		}
		var cells []string
		for _, c := range r.kids {
			cells = append(cells, w.cell(c, depth))
		}
		cols = max(cols, len(cells))
		rows = append(rows, cells)
	}
	if len(rows) == 0 || cols == 0 {
		return ""
	}
	var b strings.Builder
	for i, r := range rows {
		for len(r) < cols {
			r = append(r, "")
		}
		if w.plain {
			b.WriteString(strings.Join(r, " | "))
		} else {
			b.WriteString("| " + strings.Join(r, " | ") + " |")
		}
		if i < len(rows)-1 || (i == 0 && !w.plain) {
			b.WriteByte('\n')
		}
		if i == 0 && !w.plain {
			b.WriteString("|" + strings.Repeat(" --- |", cols))
			if len(rows) > 1 {
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// cell renders a table cell's blocks on one line.
func (w *mdWriter) cell(c *node, depth int) string {
	saved := w.inTable
	w.inTable = true
	defer func() { w.inTable = saved }()
	var parts []string
	for _, k := range c.kids {
		var s string
		switch {
		case k.kind == kindParagraph || k.kind == kindHeading:
			s = w.inlinesBreak(k.kids, " ", depth)
		case isInlineKind(k.kind):
			s = w.inlinesBreak([]*node{k}, " ", depth)
		case k.kind == kindCodeBlock && !w.plain:
			s = w.codeSpan(plainText(k))
		default:
			s = w.escape(plainText(k), false)
		}
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func (w *mdWriter) inlines(kids []*node, depth int) string {
	brk := "\\\n"
	if w.plain {
		brk = "\n"
	}
	return w.inlinesBreak(kids, brk, depth)
}

// inlinesBreak renders inline content; brk is what a hard break becomes.
func (w *mdWriter) inlinesBreak(kids []*node, brk string, depth int) string {
	runs, tree := w.runsOf(kids, depth)
	out := w.renderTree(runs, tree, brk)
	if w.plain || (!alwaysReadBack && !needsReadBack(runs)) || readsBack(out, runs) {
		return out
	}
	// Overlapping emphasis ("*a **b* c**") can produce delimiter runs CommonMark reads
	// differently. Keep the text exact instead: drop emphasis and strikethrough here.
	plainer := make([]*node, len(runs))
	for i, r := range runs {
		c := *r
		c.st = style{code: r.st.code, href: r.st.href}
		plainer[i] = &c
	}
	return w.render(mergeText(plainer), brk)
}

func (w *mdWriter) render(runs []*node, brk string) string {
	return w.renderTree(runs, new(*span), brk)
}

// renderTree is render with a place for the runs' mark tree: built there
// when still nil.
func (w *mdWriter) renderTree(runs []*node, tree **span, brk string) string {
	// Room for the text and some escapes and delimiters, so the buffer
	// does not grow run by run.
	size := 16
	for _, r := range runs {
		size += len(r.text) + 8
	}
	b := w.open(size)
	if unmarked(runs) {
		// The mark tree of unmarked runs is a root over the runs: write
		// them as spans would, without building it (issue 9).
		for _, r := range runs {
			w.run(&b, r, brk)
		}
	} else {
		if *tree == nil {
			*tree = buildSpansIn(runs, w.scratch())
		}
		w.spans(&b, *tree, runs, brk, 0)
	}
	return strings.TrimRightFunc(w.close(b), unicode.IsSpace)
}

// mdBuf is the buffer inline Markdown is written to. Unlike a
// strings.Builder, one can be emptied and written again without giving up
// its array: a mark's body is written into its depth's scratch buffer
// (w.scratch), read through view and copied out before that buffer is used
// again (a builder per mark was an allocation each, issue 9).
type mdBuf struct{ b []byte }

func (m *mdBuf) WriteString(s string)   { m.b = append(m.b, s...) }
func (m *mdBuf) WriteByte(c byte) error { m.b = append(m.b, c); return nil }
func (m *mdBuf) WriteRune(r rune)       { m.b = utf8.AppendRune(m.b, r) }

// view is the content as a string that is valid until m is written again.
func (m *mdBuf) view() string { return unsafe.String(unsafe.SliceData(m.b), len(m.b)) }

// truncate drops the last n bytes.
func (m *mdBuf) truncate(n int) { m.b = m.b[:len(m.b)-n] }

// unmarked reports whether no text run carries a mark that buildSpans nests
// (code is written per run).
func unmarked(runs []*node) bool {
	for _, r := range runs {
		if r.kind != kindText {
			continue
		}
		if st := r.st; st.href != "" || st.strong || st.em || st.strike || st.underline {
			return false
		}
	}
	return true
}

// alwaysReadBack makes every inline render take the round-trip check; tests
// set it to prove that needsReadBack skips it only where it would pass.
var alwaysReadBack = false

// needsReadBack reports whether rendered runs could read back differently,
// so the round trip (a full Markdown parse, the costliest part of a
// conversion) must check them. The fallback only drops emphasis and
// strikethrough, so runs without them need no check; nor does a styled run
// of plain words between spaces, which CommonMark's flanking rules always
// read as written.
func needsReadBack(runs []*node) bool {
	for i, r := range runs {
		if !r.st.strong && !r.st.em && !r.st.strike {
			continue
		}
		if !plainWords(r) || !spaceBounded(runs, i-1, true) || !spaceBounded(runs, i+1, false) {
			return true
		}
	}
	return false
}

// plainWords: a text run of ASCII letters and digits with inner spaces only.
func plainWords(r *node) bool {
	if r.kind != kindText || r.st.code || r.st.href != "" || r.text == "" {
		return false
	}
	for i, c := range r.text {
		if c == ' ' && i > 0 && i < len(r.text)-1 {
			continue
		}
		if c > unicode.MaxASCII || !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return false
		}
	}
	return true
}

// spaceBounded: the neighbour at i is absent, or unstyled text that touches
// the styled run with a space (or, after it, with sentence punctuation).
func spaceBounded(runs []*node, i int, before bool) bool {
	if i < 0 || i >= len(runs) {
		return true
	}
	r := runs[i]
	if r.kind != kindText || r.st != (style{}) || r.text == "" {
		return false
	}
	if before {
		return r.text[len(r.text)-1] == ' '
	}
	return strings.IndexByte(" .,;:!?", r.text[0]) >= 0
}

// readsBack reports whether Markdown inline text parses back to runs (links aside, which the
// autolinker may add).
func readsBack(md string, runs []*node) bool {
	var got []*node
	if _, err := convertMarkdown(md, func(_ io.Writer, blocks []*node) error {
		got = blocks
		return nil
	}); err != nil {
		return false
	}
	var parsed []*node
	switch {
	case len(got) == 1 && got[0].kind == kindParagraph:
		parsed = got[0].kids
	case len(got) != 0:
		return false
	}
	a, b := tidyInline(stripHrefs(parsed)), tidyInline(stripHrefs(runs))
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kind != b[i].kind || a[i].text != b[i].text || a[i].st != b[i].st {
			return false
		}
	}
	return true
}

func stripHrefs(runs []*node) []*node {
	out := make([]*node, len(runs))
	for i, r := range runs {
		c := *r
		c.st.href = ""
		out[i] = &c
	}
	return out
}

// flattenInline turns inline nodes into runs: text (with style) and hard breaks. Other inline
// nodes become text.
func (w *mdWriter) flattenInline(kids []*node, depth int) []*node {
	// The runs of a document's containers are cut from one slab, each
	// capped so that no append of one reaches into the next (a slice per
	// container was four allocations for a short description).
	sc := w.scratch()
	if len(sc.slab)+len(kids) > cap(sc.slab) {
		sc.slab = make([]*node, 0, max(4*len(kids), 32, 2*cap(sc.slab)))
	}
	start := len(sc.slab)
	out := w.appendInline(sc.slab[start:start], kids, depth)
	if len(out) > 0 && start+len(out) <= cap(sc.slab) && &out[0] == &sc.slab[start : start+1][0] {
		sc.slab = sc.slab[:start+len(out)]
	}
	return out[:len(out):len(out)]
}

func (w *mdWriter) appendInline(out, kids []*node, depth int) []*node {
	for _, k := range kids {
		switch k.kind {
		case kindText:
			if !k.st.underline {
				out = append(out, k) // the tree is not changed: no copy needed
				continue
			}
			t := *k
			t.st.underline = false // Markdown has no underline
			out = append(out, &t)
		case kindHardBreak:
			out = append(out, k)
		case kindMention:
			out = append(out, textNode(mentionText(k), style{}))
		case "emoji":
			t := k.attrString("text")
			if t == "" {
				t = k.attrString("shortName")
			}
			out = append(out, textNode(t, style{}))
		case "inlineCard":
			if u := k.attrString("url"); u != "" {
				out = append(out, textNode(u, style{href: u}.withSafeHref()))
			}
		case "date":
			out = append(out, textNode(formatDate(k.attrString("timestamp")), style{}))
		case "status":
			out = append(out, textNode(strings.ToUpper(k.attrString("text")), style{}))
		case "mediaInline", "media":
			out = append(out, textNode("[attachment]", style{}))
		default:
			if depth > maxDepth {
				continue
			}
			if t := k.attrString("text"); t != "" && len(k.kids) == 0 {
				out = append(out, textNode(t, style{}))
			}
			out = w.appendInline(out, k.kids, depth+1)
		}
	}
	return out
}

func (s style) withSafeHref() style {
	if !safeHref(s.href) {
		s.href = ""
	}
	return s
}

func formatDate(ts string) string {
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ts
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02")
}

func (w *mdWriter) cardURL(n *node) string {
	u := n.attrString("url")
	if u == "" {
		return ""
	}
	if w.plain {
		return u
	}
	if autolinkable(u) {
		return "<" + u + ">"
	}
	return w.link(w.escape(u, true), u)
}

// spans writes a mark tree.
func (w *mdWriter) spans(b *mdBuf, s *span, runs []*node, brk string, depth int) {
	for k := s.kid; k != nil; k = k.next {
		if k.run != nil {
			w.run(b, k.run, brk)
			continue
		}
		sc := w.scratch()
		for len(sc.bufs) <= depth {
			sc.bufs = append(sc.bufs, &mdBuf{b: make([]byte, 0, 64)})
		}
		inner := sc.bufs[depth]
		inner.b = inner.b[:0]
		// Delimiters depend on what surrounds them, so render the body first.
		// The characters around the delimiter run decide whether "_" works: look at the text,
		// not at delimiters already written.
		prev, next := ' ', firstRune(runs, k.end)
		if k.first > 0 && runs[k.first-1].kind == kindText {
			prev = lastRune(runs[k.first-1].text)
		}
		w.spans(inner, k, runs, brk, depth+1)
		body := inner.view() // copied into b below, before inner is written again
		if strings.TrimSpace(body) == "" {
			b.WriteString(body)
			continue
		}
		if w.plain {
			b.WriteString(body)
			if k.mark == markLink && !textIs(runs[k.first:k.end], k.href) {
				b.WriteString(" (")
				b.WriteString(k.href)
				b.WriteString(")")
			}
			continue
		}
		switch k.mark {
		case markLink:
			if autolinkable(k.href) && textIs(runs[k.first:k.end], k.href) {
				b.WriteString("<")
				b.WriteString(k.href)
				b.WriteString(">")
				continue
			}
			if endsUnescaped(b.view(), '!') {
				b.truncate(1) // "!" before "[" would make the link an image
				b.WriteString(`\!`)
			}
			w.writeLink(b, body, k.href)
		case markStrong:
			b.WriteString("**")
			b.WriteString(body)
			b.WriteString("**")
		case markEm:
			d := "_"
			if !delimBoundary(prev) || !delimBoundary(next) {
				d = "*" // underscores do not work inside words
			}
			b.WriteString(d)
			b.WriteString(body)
			b.WriteString(d)
		case markStrike:
			if out := b.view(); strings.HasSuffix(out, "~") && !endsUnescaped(out, '~') {
				// goldmark reads "\~~~x~~" as text: spell the tilde as an entity instead.
				b.truncate(len(out) - len(strings.TrimSuffix(out, `\~`)))
				b.WriteString("&#126;")
			}
			b.WriteString("~~")
			b.WriteString(body)
			b.WriteString("~~")
		default: // underline has no Markdown form
			b.WriteString(body)
		}
	}
}

// textIs reports whether plainText of a paragraph of nodes is want,
// without building that text (it was two allocations per link).
func textIs(nodes []*node, want string) bool {
	rest, ok := consumeText(nodes, want)
	return ok && rest == ""
}

// consumeText takes nodes' plain text (as plainText walks them) off the
// front of s.
func consumeText(nodes []*node, s string) (string, bool) {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		var t string
		switch n.kind {
		case kindText:
			t = n.text
		case kindHardBreak:
			t = " "
		case kindMention:
			t = mentionText(n)
		}
		if !strings.HasPrefix(s, t) {
			return s, false
		}
		s = s[len(t):]
		var ok bool
		if s, ok = consumeText(n.kids, s); !ok {
			return s, false
		}
	}
	return s, true
}

// endsUnescaped reports whether s ends with c not escaped by a backslash.
func endsUnescaped(s string, c byte) bool {
	if s == "" || s[len(s)-1] != c {
		return false
	}
	n := 0
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// delimBoundary reports whether an underscore delimiter next to r can open or close emphasis.
func delimBoundary(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
}

// autolinkable reports whether <href> is a CommonMark autolink.
func autolinkable(href string) bool {
	scheme, rest, ok := strings.Cut(href, ":")
	if !ok || len(scheme) < 2 || len(scheme) > 32 || rest == "" {
		return false
	}
	for i, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '.' || r == '-')) {
			return false
		}
	}
	return !strings.ContainsFunc(href, func(r rune) bool { return r <= ' ' || r == '<' || r == '>' || r == 0x7f })
}

func (w *mdWriter) link(body, href string) string {
	var b mdBuf
	w.writeLink(&b, body, href)
	return string(b.b)
}

// writeLink writes link(body, href) to b (a string per link was three
// allocations, issue 9).
func (w *mdWriter) writeLink(b *mdBuf, body, href string) {
	b.WriteString("[")
	b.WriteString(body)
	b.WriteString("](")
	b.b = appendPercentEncoded(b.b, href, "<>()\\|") // "|" would split a table cell.
	b.WriteString(")")
}

func (w *mdWriter) run(b *mdBuf, r *node, brk string) {
	switch r.kind {
	case kindHardBreak:
		if brk == "\\\n" && strings.HasSuffix(b.view(), `\`) {
			b.WriteString("  \n") // goldmark misreads an escaped backslash before a "\" break
			return
		}
		b.WriteString(brk)
	case kindText:
		if r.st.code && !w.plain {
			w.writeCodeSpan(b, r.text)
			return
		}
		out := b.view()
		lineStart := out == "" || strings.HasSuffix(out, "\n")
		if w.plain || verbatim(r.text, lineStart) {
			b.WriteString(r.text)
		} else {
			escapeTextTo(b, r.text, lastRune(out), lineStart) // escapeAfter, written to b
		}
	}
}

func (w *mdWriter) codeSpan(s string) string {
	var b mdBuf
	w.writeCodeSpan(&b, s)
	return string(b.b)
}

// writeCodeSpan writes codeSpan(s) to b (the string of ticks and the
// span's were two allocations per code span, issue 9).
func (w *mdWriter) writeCodeSpan(b *mdBuf, s string) {
	if strings.ContainsAny(s, "\r\n") { // the Replacer allocates even when it replaces nothing
		s = newlinesToSpace.Replace(s)
	}
	if s == "" {
		return
	}
	if w.inTable && strings.Contains(s, "|") {
		s = strings.ReplaceAll(s, "|", `\|`) // GFM splits cells before it reads code spans
	}
	ticks := longestRun(s, '`') + 1
	pad := strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ") && strings.TrimSpace(s) != "")
	writeTicks(b, ticks)
	if pad {
		b.WriteString(" ")
	}
	b.WriteString(s)
	if pad {
		b.WriteString(" ")
	}
	writeTicks(b, ticks)
}

const backticks = "````````````````"

func writeTicks(b *mdBuf, n int) {
	for n > len(backticks) {
		b.WriteString(backticks)
		n -= len(backticks)
	}
	b.WriteString(backticks[:n])
}

func (w *mdWriter) escape(s string, lineStart bool) string {
	return w.escapeAfter(s, ' ', lineStart)
}

// verbatim reports whether escapeAfter would return s unchanged: valid
// UTF-8 (the loop below turns an invalid byte into U+FFFD) with none of the
// characters it escapes or replaces, and at a line start none that it
// drops or escapes there. Most text runs are such, and skip the builder
// (issue 9: Jira's ADF conversion allocated a copy of every run).
func verbatim(s string, lineStart bool) bool {
	if lineStart && s != "" {
		if c := s[0]; c == ' ' || c == '\t' || strings.IndexByte("#>-+=", c) >= 0 || c >= '0' && c <= '9' {
			return false
		}
	}
	return strings.IndexAny(s, "\\`*[]<~|_&\r\n") < 0 && utf8.ValidString(s)
}

// escapeAfter escapes Markdown text so it parses back as the same text. prev is the character
// before s; lineStart says s begins a line.
func (w *mdWriter) escapeAfter(s string, prev rune, lineStart bool) string {
	if w.plain || verbatim(s, lineStart) {
		return s
	}
	return escapeText(s, prev, lineStart)
}

// escapeText is escapeAfter of text that may need escaping.
func escapeText(s string, prev rune, lineStart bool) string {
	var b mdBuf
	escapeTextTo(&b, s, prev, lineStart)
	return string(b.b)
}

// escapeTextTo writes escapeText(s, prev, lineStart) to b.
func escapeTextTo(b *mdBuf, s string, prev rune, lineStart bool) {
	if strings.ContainsRune(s, '\r') { // the Replacer allocates even when it replaces nothing
		s = crlfToSpace.Replace(s)
	}
	escAt := -1 // byte offset of an ordered-list delimiter to escape
	for i, r := range s {
		_, size := utf8.DecodeRuneInString(s[i:])
		next := ' '
		if i+size < len(s) {
			next, _ = utf8.DecodeRuneInString(s[i+size:])
		}
		if i == escAt {
			b.WriteByte('\\')
		}
		if lineStart {
			if r == ' ' || r == '\t' {
				continue // leading blanks would make an indented code block
			}
			lineStart = false
			switch {
			case strings.ContainsRune("#>-+=", r):
				b.WriteByte('\\')
			case r >= '0' && r <= '9':
				// "1. " and "1) " start ordered lists: escape the delimiter after the digits.
				j := i
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j < len(s) && (s[j] == '.' || s[j] == ')') {
					escAt = j
				}
			}
		}
		switch r {
		case '\\', '`', '*', '[', ']', '<', '~', '|':
			b.WriteByte('\\')
		case '_':
			if !isWordRune(prev) || !isWordRune(next) {
				b.WriteByte('\\')
			}
		case '&':
			if isWordRune(next) || next == '#' {
				b.WriteByte('\\')
			}
		case '\n':
			// not expected in text; keep lines apart without starting a block
			b.WriteString(" ")
			prev = ' '
			continue
		}
		b.WriteRune(r)
		prev = r
	}
}
