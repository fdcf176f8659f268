package markup

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WikiToMarkdown converts Jira wiki markup (Data Center descriptions and comments) to Markdown.
// It is best-effort: headings, *bold*, _italic_, -strike-, +underline+ (as plain text),
// {{monospace}}, {code}/{noformat} blocks, {quote}, bq., {panel} (as quotes), * / # / - lists
// with nesting, ||header|| and |cell| tables, links with or without text ([text|url]),
// [~user] mentions (as @user), !attachment! images (as "[attachment: name]") and ---- rules
// are understood. Other macros such as {color} are dropped and their content kept; emoticons
// stay as typed.
func WikiToMarkdown(s string) string {
	sc := getScratch()
	defer sc.release()
	return strings.Clone((&mdWriter{sc: sc}).document(parseWikiIn(s, sc)))
}

// WikiToText converts Jira wiki markup to plain text, with the same best-effort reading as
// [WikiToMarkdown].
func WikiToText(s string) string {
	sc := getScratch()
	defer sc.release()
	return strings.Clone((&mdWriter{plain: true, sc: sc}).document(parseWikiIn(s, sc)))
}

// WikiToTextAndMarkdown is WikiToText and WikiToMarkdown of one text,
// parsed once (a Data Center ticket's description needs both).
func WikiToTextAndMarkdown(s string) (text, md string) {
	sc := getScratch()
	defer sc.release()
	return bothOf(parseWikiIn(s, sc), sc)
}

var (
	wikiFenceRe   = regexp.MustCompile(`^\s*\{(code|noformat)((?::[^}]*)?)\}`)
	wikiQuoteRe   = regexp.MustCompile(`^\s*\{(quote|panel|info|note|tip|warning)((?::[^}]*)?)\}`)
	wikiHeadingRe = regexp.MustCompile(`^\s*h([1-6])\.\s*(.*)$`)
	wikiBqRe      = regexp.MustCompile(`^\s*bq\.\s(.*)$`)
	wikiRuleRe    = regexp.MustCompile(`^\s*-{4,}\s*$`)
	wikiListRe    = regexp.MustCompile(`^\s*([*#]+|-)\s+(.*)$`)
)

func parseWiki(s string) *node {
	return parseWikiIn(s, nil)
}

// parseWikiIn is parseWiki with the tree's nodes and child lists taken
// from sc (nil: new ones); the tree is valid until sc is released.
func parseWikiIn(s string, sc *scratch) *node {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.ContainsAny(s, "\r\x00") { // the Replacer allocates even when it replaces nothing
		s = normalizeInput.Replace(s)
	}
	p := &wikiParser{sc: sc}
	return p.block(kindDoc, p.parseWikiBlocks(p.sc.lines(s), 0)...)
}

// wikiParser makes a wiki tree's nodes and child lists: from a
// conversion's scratch, when it has one (a node and a slice per text run,
// block and list item were most of a Data Center description's
// allocations, issue 9).
type wikiParser struct{ sc *scratch }

func (p *wikiParser) text(s string, st style) *node {
	n := p.sc.newNode()
	*n = node{kind: kindText, text: s, st: st.normalized()}
	return n
}

// block is the package's block with kids copied to the scratch (the
// caller's slice is not kept).
func (p *wikiParser) block(kind string, kids ...*node) *node {
	n := p.sc.newNode()
	*n = node{kind: kind, kids: p.sc.keepNodes(kids)}
	return n
}

// maxWikiDepth bounds quote-in-panel nesting.
const maxWikiDepth = 16

func (p *wikiParser) parseWikiBlocks(lines []string, depth int) []*node {
	// Blocks and paragraph lines are collected on the stack, the blocks
	// kept in the scratch at the end (issue 9).
	var outArr [16]*node
	out := outArr[:0]
	var paraArr [8]string
	para := paraArr[:0]
	flush := func() {
		if len(para) > 0 {
			var kidsArr [16]*node
			kids := kidsArr[:0]
			for i, l := range para {
				if i > 0 {
					kids = append(kids, p.block(kindHardBreak))
				}
				kids = append(kids, p.parseWikiInline(strings.TrimSpace(l), style{}, 0)...)
			}
			if kids = tidyInline(mergeText(kids)); len(kids) > 0 {
				out = append(out, p.block(kindParagraph, kids...))
			}
			para = para[:0]
		}
	}
	var lists listBuilder
	lists.stack = lists.stackArr[:0]
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		// Each block pattern starts, after blanks, with a byte of its own:
		// lines that cannot match skip the regexps (issue 9: they were most
		// of a Data Center description's parse).
		lead := leadByte(line)
		if lead == '*' || lead == '#' || lead == '-' {
			if marker, text, ok := wikiListLine(line); ok && !wikiRuleRe.MatchString(line) {
				flush()
				if l := lists.add(p, marker, text); l != nil {
					out = append(out, l)
				}
				continue
			}
		}
		lists.reset()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case lead == '{' && wikiFenceRe.MatchString(line):
			flush()
			m := wikiFenceRe.FindStringSubmatchIndex(line)
			name := line[m[2]:m[3]]
			params := line[m[4]:m[5]]
			content, rest, next := collectUntil(lines, i, line[m[1]:], "{"+name+"}")
			lang := ""
			if name == "code" {
				lang = codeLanguage(params)
			}
			out = append(out, codeBlock(strings.Trim(content, "\n"), lang))
			i = next
			if strings.TrimSpace(rest) != "" {
				lines[i] = rest
				i--
			}
		case lead == '{' && wikiQuoteRe.MatchString(line) && depth < maxWikiDepth:
			flush()
			m := wikiQuoteRe.FindStringSubmatchIndex(line)
			name := line[m[2]:m[3]]
			content, rest, next := collectUntil(lines, i, line[m[1]:], "{"+name+"}")
			if inner := p.parseWikiBlocks(p.sc.lines(content), depth+1); len(inner) > 0 {
				out = append(out, p.block(kindBlockquote, inner...))
			}
			i = next
			if strings.TrimSpace(rest) != "" {
				lines[i] = rest
				i--
			}
		case lead == 'h' && wikiHeadingRe.MatchString(line):
			flush()
			m := wikiHeadingRe.FindStringSubmatch(line)
			if kids := p.parseWikiInline(strings.TrimSpace(m[2]), style{}, 0); len(kids) > 0 {
				h := p.block(kindHeading, kids...)
				h.attrs = map[string]any{"level": int(m[1][0] - '0')}
				out = append(out, h)
			}
		case lead == 'b' && wikiBqRe.MatchString(line):
			flush()
			m := wikiBqRe.FindStringSubmatch(line)
			if kids := p.parseWikiInline(strings.TrimSpace(m[1]), style{}, 0); len(kids) > 0 {
				out = append(out, p.block(kindBlockquote, p.block(kindParagraph, kids...)))
			}
		case lead == '-' && wikiRuleRe.MatchString(line):
			flush()
			out = append(out, p.block(kindRule))
		case strings.HasPrefix(strings.TrimSpace(line), "|"):
			flush()
			t := p.block(kindTable)
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				if r := p.parseWikiRow(strings.TrimSpace(lines[i])); r != nil {
					t.kids = append(t.kids, r)
				}
			}
			i--
			if len(t.kids) > 0 {
				out = append(out, t)
			}
		default:
			para = append(para, line)
		}
	}
	flush()
	return p.sc.keepNodes(out)
}

// leadByte is line's first byte after the blanks \s matches (0 if none).
func leadByte(line string) byte {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t', '\n', '\f', '\r':
		default:
			return c
		}
	}
	return 0
}

// collectUntil gathers a macro body that starts after the opening tag on line i (first) and ends
// at the closing tag. It returns the body, the text after the closing tag on its line, and the
// index of that line. An unclosed macro runs to the end.
func collectUntil(lines []string, i int, first, closing string) (content, rest string, last int) {
	var b strings.Builder
	cur := first
	for j := i; j < len(lines); j++ {
		if j > i {
			cur = lines[j]
			b.WriteByte('\n')
		}
		if k := strings.Index(cur, closing); k >= 0 {
			b.WriteString(cur[:k])
			return b.String(), cur[k+len(closing):], j
		}
		b.WriteString(cur)
	}
	return b.String(), "", len(lines) - 1
}

// codeLanguage reads the language from "{code:java}" or "{code:title=X|language=java}".
func codeLanguage(params string) string {
	params = strings.TrimPrefix(params, ":")
	for _, p := range strings.Split(params, "|") {
		p = strings.TrimSpace(p)
		if k, v, ok := strings.Cut(p, "="); ok {
			if strings.EqualFold(strings.TrimSpace(k), "language") || strings.EqualFold(strings.TrimSpace(k), "lang") {
				return strings.TrimSpace(v)
			}
			continue
		}
		if p != "" {
			return p
		}
	}
	return ""
}

// listBuilder nests consecutive list lines by their marker strings ("*", "#*", …).
type listBuilder struct {
	stack    []*node // open lists, outermost first
	stackArr [maxWikiDepth]*node
}

func (l *listBuilder) reset() { l.stack = l.stack[:0] }

// wikiListLine is wikiListRe's match of line: its marker and its text.
// Written out, since the regexp's submatches were four allocations per
// list line (issue 9); TestWikiListLineIsTheRegexp compares the two.
func wikiListLine(line string) (marker, text string, ok bool) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' } // \s
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	start := i
	switch {
	case i < len(line) && (line[i] == '*' || line[i] == '#'):
		for i < len(line) && (line[i] == '*' || line[i] == '#') {
			i++
		}
	case i < len(line) && line[i] == '-':
		i++
	default:
		return "", "", false
	}
	marker = line[start:i]
	if i == len(line) || !isSpace(line[i]) {
		return "", "", false
	}
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	// (.*)$ takes the rest, up to a newline (there is none in a line).
	if strings.IndexByte(line[i:], '\n') >= 0 {
		return "", "", false
	}
	return marker, line[i:], true
}

// add appends an item and returns a new top-level list when one starts.
func (l *listBuilder) add(p *wikiParser, marker, text string) *node {
	if marker == "-" {
		marker = "*"
	}
	if len(marker) > maxWikiDepth {
		marker = marker[:maxWikiDepth]
	}
	// Keep the open lists whose type matches the marker prefix.
	keep := 0
	for keep < len(l.stack) && keep < len(marker) && listChar(l.stack[keep]) == marker[keep] {
		keep++
	}
	l.stack = l.stack[:keep]
	var top *node
	for len(l.stack) < len(marker) {
		kind := kindBulletList
		if marker[len(l.stack)] == '#' {
			kind = kindOrderedList
		}
		list := p.block(kind)
		list.kids = p.sc.room(4) // a list's items, most lists' without growing
		if len(l.stack) == 0 {
			top = list
		} else {
			parent := l.stack[len(l.stack)-1]
			if len(parent.kids) == 0 {
				parent.kids = append(parent.kids, p.block(kindListItem, p.block(kindParagraph)))
			}
			item := parent.kids[len(parent.kids)-1]
			item.kids = append(item.kids, list)
		}
		l.stack = append(l.stack, list)
	}
	para := p.block(kindParagraph, p.parseWikiInline(strings.TrimSpace(text), style{}, 0)...)
	cur := l.stack[len(l.stack)-1]
	cur.kids = append(cur.kids, p.block(kindListItem, para))
	return top
}

func listChar(n *node) byte {
	if n.kind == kindOrderedList {
		return '#'
	}
	return '*'
}

// parseWikiRow splits "||h||h||" or "|c|c|" into a table row.
func (p *wikiParser) parseWikiRow(line string) *node {
	row := p.block(kindTableRow)
	i := 0
	for i < len(line) && line[i] == '|' {
		header := strings.HasPrefix(line[i:], "||")
		if header {
			i += 2
		} else {
			i++
		}
		end := cellEnd(line, i)
		content := line[i:end]
		if end == len(line) && strings.TrimSpace(content) == "" {
			break
		}
		kind := kindTableCell
		if header {
			kind = kindTableHeader
		}
		para := p.block(kindParagraph, p.parseWikiInline(strings.TrimSpace(content), style{}, 0)...)
		row.kids = append(row.kids, p.block(kind, para))
		i = end
	}
	if len(row.kids) == 0 {
		return nil
	}
	return row
}

// cellEnd finds the next cell delimiter, skipping escapes, links and monospace.
func cellEnd(s string, i int) int {
	bracket := 0
	for i < len(s) {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i += 2
			continue
		case strings.HasPrefix(s[i:], "{{"):
			if k := strings.Index(s[i+2:], "}}"); k >= 0 {
				i += k + 4
				continue
			}
		case s[i] == '[':
			bracket++
		case s[i] == ']' && bracket > 0:
			bracket--
		case s[i] == '|' && bracket == 0:
			return i
		}
		i++
	}
	return len(s)
}

// maxEffectSpan bounds how far a closing effect delimiter is searched for (the search would be
// quadratic on hostile input otherwise); maxInlineDepth bounds nesting.
const (
	maxEffectSpan  = 2000
	maxInlineDepth = 16
)

const effectChars = "*_-+^~?"

func (p *wikiParser) parseWikiInline(s string, st style, depth int) []*node {
	// The nodes are collected on the stack and kept in the scratch at the
	// end (growing a slice per call was a third of the parse's allocations).
	var outArr [16]*node
	out := outArr[:0]
	var text strings.Builder
	// Plain text is kept as the substring s[ps:pe] while it is one and the
	// builder is empty, and copied into the builder only when something
	// else joins it (issue 9: most text runs are plain, and a builder per
	// run was a tenth of a conversion's allocations).
	ps, pe := -1, -1
	spill := func() {
		if ps >= 0 {
			text.WriteString(s[ps:pe])
			ps, pe = -1, -1
		}
	}
	flush := func() {
		if ps >= 0 {
			out = append(out, p.text(s[ps:pe], st))
			ps, pe = -1, -1
			return
		}
		if text.Len() > 0 {
			out = append(out, p.text(text.String(), st))
			text.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case strings.HasPrefix(s[i:], `\\`):
			flush()
			out = append(out, p.block(kindHardBreak))
			i += 2
			continue
		case c == '\\' && i+1 < len(s):
			r, n := utf8.DecodeRuneInString(s[i+1:])
			spill()
			text.WriteRune(r)
			i += 1 + n
			continue
		case strings.HasPrefix(s[i:], "{{"):
			if k := strings.Index(s[i+2:], "}}"); k > 0 {
				flush()
				code := st
				code.code = true
				out = append(out, p.text(unescapeWiki(s[i+2:i+2+k]), code))
				i += k + 4
				continue
			}
		case c == '&':
			// Jira passes entities through to HTML, so &#92; shows a backslash.
			if r, n := entity([]byte(s[i:min(len(s), i+41)])); n > 0 {
				spill()
				text.WriteString(r)
				i += n
				continue
			}
		case c == '[':
			if k := strings.IndexByte(s[i+1:], ']'); k > 0 {
				flush()
				out = append(out, p.wikiBracket(s[i+1:i+1+k], st, depth)...)
				i += k + 2
				continue
			}
		case c == '!':
			if k := strings.IndexByte(s[i+1:], '!'); k > 0 {
				name, _, _ := strings.Cut(s[i+1:i+1+k], "|")
				if !strings.ContainsFunc(name, unicode.IsSpace) && strings.ContainsAny(name, "./") {
					flush()
					if strings.Contains(name, "://") {
						out = append(out, p.text(name, style{href: name}.withSafeHref()))
					} else {
						out = append(out, p.text("[attachment: "+name+"]", st))
					}
					i += k + 2
					continue
				}
			}
		case c == '{':
			if n, inner, ok := p.wikiEffect(s, i, st, depth); ok {
				flush()
				out = append(out, inner...)
				i = n
				continue
			}
			if k := strings.IndexByte(s[i:], '}'); k > 1 && isMacroTag(s[i+1:i+k]) {
				name, _, _ := strings.Cut(s[i+1:i+k], ":")
				if name == "code" || name == "noformat" {
					if e := strings.Index(s[i+k+1:], "{"+name+"}"); e >= 0 {
						flush()
						code := st
						code.code = true
						out = append(out, p.text(s[i+k+1:i+k+1+e], code))
						i += k + 1 + e + len(name) + 2
						continue
					}
				}
				i += k + 1 // drop other inline macro tags such as {color:red}
				continue
			}
		case strings.IndexByte(effectChars, c) >= 0:
			if n, inner, ok := p.wikiEffect(s, i, st, depth); ok {
				flush()
				out = append(out, inner...)
				i = n
				continue
			}
		}
		switch {
		case text.Len() == 0 && ps < 0:
			ps, pe = i, i+1
		case text.Len() == 0 && pe == i:
			pe++
		default:
			spill()
			text.WriteByte(c)
		}
		i++
	}
	flush()
	return p.sc.keepNodes(mergeText(out))
}

// delimAt reports an effect delimiter at s[i]: "{*}" (braced, usable inside words), "??" or a
// single effect character.
func delimAt(s string, i int) (ch byte, size int, braced bool) {
	if i+2 < len(s) && s[i] == '{' && s[i+2] == '}' && strings.IndexByte(effectChars, s[i+1]) >= 0 {
		return s[i+1], 3, true
	}
	if strings.HasPrefix(s[i:], "??") {
		return '?', 2, false
	}
	if i < len(s) && s[i] != '?' && strings.IndexByte(effectChars, s[i]) >= 0 {
		return s[i], 1, false
	}
	return 0, 0, false
}

// wikiEffect parses *strong*, _em_, -strike-, +underline+, ^sup^, ~sub~ and ??citation?? at i.
func (p *wikiParser) wikiEffect(s string, i int, st style, depth int) (next int, out []*node, ok bool) {
	ch, size, braced := delimAt(s, i)
	if size == 0 || depth >= maxInlineDepth {
		return 0, nil, false
	}
	start := i + size
	if start >= len(s) {
		return 0, nil, false
	}
	if !braced {
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		if i > 0 && isWordRune(prev) {
			return 0, nil, false
		}
		if r, _ := utf8.DecodeRuneInString(s[start:]); unicode.IsSpace(r) {
			return 0, nil, false
		}
	}
	limit := min(len(s), start+maxEffectSpan)
	for j := start + 1; j < limit; j++ {
		c2, size2, braced2 := delimAt(s, j)
		if c2 != ch {
			continue
		}
		if !braced2 {
			before, _ := utf8.DecodeLastRuneInString(s[:j])
			after, _ := utf8.DecodeRuneInString(s[j+size2:])
			if unicode.IsSpace(before) || (j+size2 < len(s) && isWordRune(after)) {
				continue
			}
		}
		inner := st
		switch ch {
		case '*':
			inner.strong = true
		case '_', '?':
			inner.em = true
		case '-':
			inner.strike = true
		case '+':
			inner.underline = true
		}
		return j + size2, p.parseWikiInline(s[start:j], inner, depth+1), true
	}
	return 0, nil, false
}

// isMacroTag matches "name" or "name:params" of an inline macro tag.
func isMacroTag(s string) bool {
	name, _, _ := strings.Cut(s, ":")
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// wikiBracket interprets the inside of [...]: a mention, an attachment, a link or plain text.
func (p *wikiParser) wikiBracket(inner string, st style, depth int) []*node {
	switch {
	case strings.HasPrefix(inner, "~"):
		user := strings.TrimPrefix(strings.TrimPrefix(inner, "~"), "accountid:")
		if user == "" {
			break
		}
		return []*node{{kind: kindMention, attrs: map[string]any{"id": user, "text": user}}}
	case strings.HasPrefix(inner, "^"):
		return []*node{p.text("[attachment: "+inner[1:]+"]", st)}
	}
	alias, target, hasAlias := strings.Cut(inner, "|")
	if !hasAlias {
		target = inner
	}
	target, _, _ = strings.Cut(target, "|") // [alias|link|tooltip]
	target = strings.TrimSpace(target)
	if !strings.Contains(target, "://") && !strings.HasPrefix(strings.ToLower(target), "mailto:") {
		// An issue key, anchor or page name: keep the text.
		return p.parseWikiInline(strings.TrimSpace(inner), st, depth+1)
	}
	linked := st
	if safeHref(target) {
		linked.href = target
	}
	if !hasAlias || strings.TrimSpace(alias) == "" {
		return []*node{p.text(target, linked)}
	}
	return p.parseWikiInline(strings.TrimSpace(alias), linked, depth+1)
}

func unescapeWiki(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] != '\\' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
