package markup

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ADF node kinds used by the shared tree.
const (
	kindDoc         = "doc"
	kindParagraph   = "paragraph"
	kindHeading     = "heading"
	kindText        = "text"
	kindHardBreak   = "hardBreak"
	kindCodeBlock   = "codeBlock"
	kindBulletList  = "bulletList"
	kindOrderedList = "orderedList"
	kindListItem    = "listItem"
	kindBlockquote  = "blockquote"
	kindRule        = "rule"
	kindTable       = "table"
	kindTableRow    = "tableRow"
	kindTableHeader = "tableHeader"
	kindTableCell   = "tableCell"
	kindMention     = "mention"
)

// node is the format-neutral document tree every conversion goes through.
// kind is an ADF node type; text nodes carry their marks as a style.
type node struct {
	kind  string
	attrs map[string]any
	kids  []*node
	text  string
	st    style
}

// style is the set of marks on a text node.
type style struct {
	strong, em, strike, underline, code bool
	href                                string
}

// normalized applies ADF's rule that code combines with no mark but link.
func (s style) normalized() style {
	if s.code {
		return style{code: true, href: s.href}
	}
	return s
}

// intersect keeps the marks both styles share.
func (s style) intersect(o style) style {
	r := style{
		strong:    s.strong && o.strong,
		em:        s.em && o.em,
		strike:    s.strike && o.strike,
		underline: s.underline && o.underline,
		code:      s.code && o.code,
	}
	if s.href == o.href {
		r.href = s.href
	}
	return r
}

func textNode(s string, st style) *node {
	return &node{kind: kindText, text: s, st: st.normalized()}
}

func block(kind string, kids ...*node) *node {
	return &node{kind: kind, kids: kids}
}

// attrString returns a string attribute or "".
func (n *node) attrString(key string) string {
	if n == nil || n.attrs == nil {
		return ""
	}
	s, _ := n.attrs[key].(string)
	return s
}

// attrInt returns an integer attribute (JSON numbers decode as float64).
func (n *node) attrInt(key string) (int, bool) {
	if n == nil || n.attrs == nil {
		return 0, false
	}
	switch v := n.attrs[key].(type) {
	case int:
		return v, true
	case float64:
		if v != v || v > 1e9 || v < -1e9 { // NaN or absurd
			return 0, false
		}
		return int(v), true
	}
	return 0, false
}

// mergeText drops empty text nodes and joins neighbours that have the same style.
func mergeText(in []*node) []*node {
	if mergedAlready(in) {
		// Most runs are: return them as they are rather than a copy (issue
		// 9). No caller changes the slice it got from here in place.
		return in
	}
	out := make([]*node, 0, len(in))
	var b strings.Builder
	var pending *node // first node of the current run of same-style text
	merged := false   // b holds the run's text (more than pending's alone)
	flush := func() {
		if pending == nil {
			return
		}
		if !merged {
			out = append(out, pending)
		} else {
			out = append(out, &node{kind: kindText, text: b.String(), st: pending.st})
		}
		pending, merged = nil, false
		b.Reset()
	}
	for _, n := range in {
		if n == nil || (n.kind == kindText && n.text == "") {
			continue
		}
		if n.kind != kindText {
			flush()
			out = append(out, n)
			continue
		}
		if pending != nil && pending.st != n.st {
			flush()
		}
		if pending == nil {
			pending = n // its text alone needs no copy
			continue
		}
		if !merged {
			b.WriteString(pending.text)
			merged = true
		}
		b.WriteString(n.text)
	}
	flush()
	return out
}

// mergedAlready reports whether mergeText would return nodes equal to in:
// no nil or empty text, no neighbours of the same style to join.
func mergedAlready(in []*node) bool {
	if len(in) == 0 {
		return false // mergeText makes an empty, non-nil slice
	}
	for i, n := range in {
		if n == nil {
			return false
		}
		if n.kind != kindText {
			continue
		}
		if n.text == "" || i > 0 && in[i-1].kind == kindText && in[i-1].st == n.st {
			return false
		}
	}
	return true
}

// plainText is the text content of a subtree, without any formatting.
func plainText(n *node) string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		if n == nil {
			return
		}
		switch n.kind {
		case kindText:
			b.WriteString(n.text)
		case kindHardBreak:
			b.WriteByte(' ')
		case kindMention:
			b.WriteString(mentionText(n))
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(n)
	return b.String()
}

func mentionText(n *node) string {
	if t := n.attrString("text"); t != "" {
		if strings.HasPrefix(t, "@") {
			return t
		}
		return "@" + t
	}
	if id := n.attrString("id"); id != "" {
		return "@" + id
	}
	return "@unknown"
}

// markKind is an inline mark that spans runs; code is handled per run.
type markKind int

const (
	markNone markKind = iota
	markLink
	markStrong
	markEm
	markStrike
	markUnderline
)

// span is a node of the inline formatting tree built from flat runs: either a leaf holding a
// run, or a mark wrapping children. first/end index the runs it covers. Children are linked
// (kid is the first, last the last, next a sibling) rather than held in a slice each, so that
// a tree is one array of spans (a slice per mark was an allocation each, issue 9).
type span struct {
	run             *node
	mark            markKind
	href            string
	first, end      int
	kid, last, next *span
}

// add appends k to s's children.
func (s *span) add(k *span) {
	if s.last == nil {
		s.kid = k
	} else {
		s.last.next = k
	}
	s.last = k
}

// wantedMarks are the marks of st; m is where they go (a caller's array,
// so the common case allocates nothing).
func wantedMarks(st style, m []span) []span {
	if st.href != "" {
		m = append(m, span{mark: markLink, href: st.href})
	}
	if st.strong {
		m = append(m, span{mark: markStrong})
	}
	if st.em {
		m = append(m, span{mark: markEm})
	}
	if st.strike {
		m = append(m, span{mark: markStrike})
	}
	if st.underline {
		m = append(m, span{mark: markUnderline})
	}
	return m
}

// markCount is len(wantedMarks(st, nil)).
func markCount(st style) int {
	n := 0
	for _, b := range [...]bool{st.href != "", st.strong, st.em, st.strike, st.underline} {
		if b {
			n++
		}
	}
	return n
}

// prepareRuns moves whitespace at the edges of formatted text out of the marks that do not
// continue into the neighbouring run, so every delimiter hugs non-space text (both Markdown and
// wiki markup need that), then merges runs of equal style.
func prepareRuns(in []*node) []*node {
	in = mergeText(in)
	if !edgeSpace(in) {
		return in // nothing moves: the loop below would copy in as it is
	}
	out := make([]*node, 0, len(in))
	for i, n := range in {
		if n.kind != kindText || n.st.code || n.st == (style{}) {
			out = append(out, n)
			continue
		}
		prev, next := style{}, style{}
		if i > 0 && in[i-1].kind == kindText {
			prev = in[i-1].st
		}
		if i+1 < len(in) && in[i+1].kind == kindText {
			next = in[i+1].st
		}
		core := strings.TrimLeftFunc(n.text, unicode.IsSpace)
		lead := n.text[:len(n.text)-len(core)]
		trimmed := strings.TrimRightFunc(core, unicode.IsSpace)
		trail := core[len(trimmed):]
		if trimmed == "" {
			// Whitespace only: keep just the marks shared with both neighbours.
			out = append(out, &node{kind: kindText, text: n.text, st: n.st.intersect(prev).intersect(next)})
			continue
		}
		if lead != "" {
			out = append(out, &node{kind: kindText, text: lead, st: n.st.intersect(prev)})
		}
		if lead == "" && trail == "" {
			out = append(out, n) // nothing moves: the run as it is
			continue
		}
		out = append(out, &node{kind: kindText, text: trimmed, st: n.st})
		if trail != "" {
			out = append(out, &node{kind: kindText, text: trail, st: n.st.intersect(next)})
		}
	}
	return mergeText(out)
}

// edgeSpace reports whether a formatted, non-code text run starts or ends
// with white space: the runs prepareRuns changes.
func edgeSpace(runs []*node) bool {
	for _, n := range runs {
		if n.kind != kindText || n.st.code || n.st == (style{}) || n.text == "" {
			continue
		}
		first, _ := utf8.DecodeRuneInString(n.text)
		last, _ := utf8.DecodeLastRuneInString(n.text)
		if unicode.IsSpace(first) || unicode.IsSpace(last) {
			return true
		}
	}
	return false
}

// buildSpans nests flat runs into a mark tree. Marks already open stay open while the next run
// still wants them, so `a *b* c` inside bold does not close and reopen the bold.
func buildSpans(runs []*node) *span {
	return buildSpansIn(runs, nil)
}

// buildSpansIn is buildSpans with the tree's spans taken from sc's span
// arena (sc may be nil: then they are one new array).
func buildSpansIn(runs []*node, sc *scratch) *span {
	// One array holds every run's leaf, the root and every mark opened:
	// at most each text run's own marks (it is never grown: pointers into
	// it stay put).
	n := len(runs) + 1
	for _, r := range runs {
		if r.kind == kindText {
			n += markCount(r.st)
		}
	}
	all := sc.spansOf(n)
	leaves, root := all[:len(runs)], &all[len(runs)]
	*root = span{end: len(runs)}
	marks := all[len(runs)+1 : len(runs)+1 : n]
	var stackArr [8]*span
	stack := append(stackArr[:0], root)
	for i, r := range runs {
		// Other runs (hard breaks, mentions) stay inside the marks the next text continues, so a
		// closing delimiter never lands after a line break.
		var buf [5]span
		want := wantedMarks(nextTextStyle(runs, i), buf[:0])
		keep := 1
		for keep < len(stack) && containsMark(want, stack[keep]) {
			keep++
		}
		for len(stack) > keep {
			stack[len(stack)-1].end = i
			stack = stack[:len(stack)-1]
		}
		if r.kind == kindText {
			// Open the marks that last longest first, so they nest outside the shorter ones.
			slices.SortStableFunc(want, func(a, b span) int {
				return markExtent(runs, i, b) - markExtent(runs, i, a)
			})
			for _, w := range want {
				if !stackHas(stack, w) {
					marks = append(marks, span{mark: w.mark, href: w.href, first: i}) // within n: never grown
					s := &marks[len(marks)-1]
					stack[len(stack)-1].add(s)
					stack = append(stack, s)
				}
			}
		}
		leaves[i] = span{run: r, first: i, end: i + 1}
		stack[len(stack)-1].add(&leaves[i])
	}
	for _, s := range stack[1:] {
		s.end = len(runs)
	}
	return root
}

// markExtent counts the text runs from i on that carry mark m without interruption.
func markExtent(runs []*node, i int, m span) int {
	n := 0
	for ; i < len(runs); i++ {
		if runs[i].kind != kindText {
			continue
		}
		if !hasMark(runs[i].st, &m) {
			break
		}
		n++
	}
	return n
}

// nextTextStyle is the style of the first text run at or after i.
func nextTextStyle(runs []*node, i int) style {
	for ; i < len(runs); i++ {
		if runs[i].kind == kindText {
			return runs[i].st
		}
	}
	return style{}
}

// hasMark is containsMark(wantedMarks(st), s) without building the list.
func hasMark(st style, s *span) bool {
	switch s.mark {
	case markLink:
		return st.href != "" && st.href == s.href
	case markStrong:
		return st.strong && s.href == ""
	case markEm:
		return st.em && s.href == ""
	case markStrike:
		return st.strike && s.href == ""
	case markUnderline:
		return st.underline && s.href == ""
	}
	return false
}

func containsMark(want []span, s *span) bool {
	for _, w := range want {
		if w.mark == s.mark && w.href == s.href {
			return true
		}
	}
	return false
}

func stackHas(stack []*span, w span) bool {
	for _, s := range stack[1:] {
		if s.mark == w.mark && s.href == w.href {
			return true
		}
	}
	return false
}

// firstRune is the first rune a run contributes, or ' ' when it is not text.
func firstRune(runs []*node, i int) rune {
	if i < 0 || i >= len(runs) || runs[i].kind != kindText || runs[i].text == "" {
		return ' '
	}
	r, _ := utf8.DecodeRuneInString(runs[i].text)
	return r
}

func lastRune(s string) rune {
	if s == "" {
		return ' '
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// safeHref reports whether a link target may be emitted as a link at all.
func safeHref(href string) bool {
	h := strings.ToLower(strings.TrimSpace(href))
	if h == "" {
		return false
	}
	for _, bad := range []string{"javascript:", "vbscript:", "data:", "file:"} {
		if strings.HasPrefix(h, bad) {
			return false
		}
	}
	return true
}

// percentEncode escapes control characters, spaces and the bytes in extra of a URL.
func percentEncode(href, extra string) string {
	return string(appendPercentEncoded(nil, href, extra))
}

// appendPercentEncoded appends percentEncode(href, extra) to b.
func appendPercentEncoded(b []byte, href, extra string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(href); i++ {
		c := href[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(extra, c) >= 0 {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return b
}
