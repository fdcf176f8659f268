package markup

import (
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WikiOption configures [MarkdownToWiki].
type WikiOption func(*wikiConfig)

type wikiConfig struct {
	mention string
}

// WithWikiMention starts the markup with the Data Center mention "[~username] ". Characters that
// would end the mention early (brackets, braces, pipes, line breaks) are removed from username;
// an empty result adds no mention.
func WithWikiMention(username string) WikiOption {
	return func(c *wikiConfig) {
		c.mention = strings.TrimSpace(strings.Map(func(r rune) rune {
			if strings.ContainsRune("[]{}|", r) || unicode.IsControl(r) {
				return -1
			}
			return r
		}, username))
	}
}

// MarkdownToWiki renders Markdown (CommonMark with GFM tables, strikethrough and autolinks) as
// Jira Data Center wiki markup: h1.–h6., *bold*, _italic_, -strike-, {{monospace}}, [text|url],
// {code:lang}/{code}, * and # lists nested as ** and ##, {quote}, ----, and ||h|| / |c| tables.
//
// Text is escaped so it cannot inject markup: {, }, [, ], | always; *, _, -, +, ^, ~, ! where
// they touch a non-word character; "??", "#" and "h1." / "bq." at the start of a line; a
// backslash becomes &#92;. A code block whose content contains "{code" is written as
// {noformat}. Best-effort limits: extra paragraphs of a list item are joined with line breaks,
// and a code block or table inside a list item ends the list; ordered lists cannot start at a
// number other than 1; HTML is kept as literal text.
func MarkdownToWiki(md string, opts ...WikiOption) string {
	var cfg wikiConfig
	for _, o := range opts {
		o(&cfg)
	}
	out, err := convertMarkdown(md, func(w io.Writer, blocks []*node) error {
		if cfg.mention != "" {
			blocks = prependInline(blocks, &node{kind: kindMention, attrs: map[string]any{"id": cfg.mention}})
		}
		_, err := io.WriteString(w, (&wikiWriter{}).blocks(blocks, "\n\n"))
		return err
	})
	if err != nil { // only a failing writer can make goldmark fail; ours is a buffer
		return ""
	}
	return string(out)
}

type wikiWriter struct{}

func (w *wikiWriter) blocks(nodes []*node, sep string) string {
	var parts []string
	for _, n := range nodes {
		if s := w.block(n); strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, sep)
}

func (w *wikiWriter) block(n *node) string {
	switch n.kind {
	case kindParagraph:
		return w.inlines(n.kids, "\n", true)
	case kindHeading:
		level, _ := n.attrInt("level")
		level = min(max(level, 1), 6)
		return "h" + string(rune('0'+level)) + ". " + w.inlines(n.kids, " ", false)
	case kindCodeBlock:
		return w.codeBlock(plainText(n), n.attrString("language"))
	case kindBlockquote:
		var inner []*node
		for _, k := range n.kids {
			if k.kind == kindBlockquote { // {quote} cannot nest
				inner = append(inner, k.kids...)
			} else {
				inner = append(inner, k)
			}
		}
		return "{quote}\n" + w.blocks(inner, "\n\n") + "\n{quote}"
	case kindBulletList, kindOrderedList:
		return strings.Trim(strings.ReplaceAll(strings.Join(w.list(n, ""), "\n"), "\n\n\n", "\n\n"), "\n")
	case kindRule:
		return "----"
	case kindTable:
		return w.table(n)
	default:
		return w.blocks(n.kids, "\n\n")
	}
}

// codeBlock picks a fence the content cannot close early.
func (w *wikiWriter) codeBlock(content, lang string) string {
	lower := strings.ToLower(content)
	switch {
	case !strings.Contains(lower, "{code"):
		open := "{code}"
		if lang = wikiLanguage(lang); lang != "" {
			open = "{code:" + lang + "}"
		}
		return open + "\n" + content + "\n{code}"
	case !strings.Contains(lower, "{noformat"):
		return "{noformat}\n" + content + "\n{noformat}"
	default:
		// Both fences appear in the content: break every "{code" with a zero-width space.
		return "{code}\n" + breakFence(content, "{code") + "\n{code}"
	}
}

func breakFence(content, fence string) string {
	var b strings.Builder
	lower := strings.ToLower(content)
	for {
		i := strings.Index(lower, fence)
		if i < 0 {
			b.WriteString(content)
			return b.String()
		}
		b.WriteString(content[:i+1])
		b.WriteString("\u200b")
		content, lower = content[i+1:], lower[i+1:]
	}
}

// wikiLanguage keeps a code language only when it is a plain identifier.
func wikiLanguage(lang string) string {
	for _, r := range lang {
		if !(r < utf8.RuneSelf && (isWordRune(r) || strings.ContainsRune("+#._-", r))) {
			return ""
		}
	}
	return strings.ToLower(lang)
}

// list renders list items as lines; prefix is the markers of the enclosing lists.
func (w *wikiWriter) list(n *node, prefix string) []string {
	marker := prefix + "*"
	if n.kind == kindOrderedList {
		marker = prefix + "#"
	}
	var lines []string
	for _, item := range n.kids {
		var text []string
		var after []string // blocks that cannot live inside an item line
		nested := false
		for _, k := range item.kids {
			switch k.kind {
			case kindParagraph, kindHeading:
				s := w.inlines(k.kids, ` \\ `, false)
				switch {
				case strings.TrimSpace(s) == "":
				case nested || len(after) > 0:
					// After a nested list the item line is gone: the paragraph ends the list.
					after = append(after, w.block(k))
				default:
					text = append(text, s)
				}
			case kindBulletList, kindOrderedList:
				nested = true
				if len(text) > 0 {
					lines = append(lines, marker+" "+strings.Join(text, ` \\ `))
					text = nil
				}
				lines = append(lines, w.list(k, marker)...)
			default:
				if s := w.block(k); s != "" {
					after = append(after, s)
				}
			}
		}
		if len(text) > 0 {
			lines = append(lines, marker+" "+strings.Join(text, ` \\ `))
		}
		for _, a := range after {
			// Blank lines around the block end the list for certain; the next item starts a new one.
			lines = append(lines, "\n"+a+"\n")
		}
	}
	return lines
}

func (w *wikiWriter) table(n *node) string {
	var rows []string
	for _, r := range n.kids {
		var b strings.Builder
		for _, c := range r.kids {
			delim := "|"
			if c.kind == kindTableHeader {
				delim = "||"
			}
			var parts []string
			for _, k := range c.kids {
				if s := w.inlines(k.kids, ` \\ `, false); strings.TrimSpace(s) != "" {
					parts = append(parts, s)
				}
			}
			cell := strings.Join(parts, ` \\ `)
			if cell == "" {
				cell = " "
			}
			b.WriteString(delim + cell)
			if c == r.kids[len(r.kids)-1] {
				b.WriteString(delim)
			}
		}
		if b.Len() > 0 {
			rows = append(rows, b.String())
		}
	}
	return strings.Join(rows, "\n")
}

// inlines renders inline content; brk is what a hard break becomes, lineStart says the content
// begins a line (where "#", "h1." and list markers need escaping).
func (w *wikiWriter) inlines(kids []*node, brk string, lineStart bool) string {
	runs := prepareRuns(kids)
	var b strings.Builder
	ww := &wikiInline{b: &b, runs: runs, brk: brk, lineStart: lineStart}
	ww.spans(buildSpans(runs))
	return strings.TrimRightFunc(b.String(), unicode.IsSpace)
}

type wikiInline struct {
	b         *strings.Builder
	runs      []*node
	brk       string
	lineStart bool
}

func (w *wikiInline) atLineStart() bool {
	s := strings.TrimRight(w.b.String(), " \t")
	if s == "" {
		return w.lineStart
	}
	return strings.HasSuffix(s, "\n")
}

func (w *wikiInline) spans(s *span) {
	for k := s.kid; k != nil; k = k.next {
		if k.run != nil {
			w.run(k.run)
			continue
		}
		prev := lastRune(w.b.String())
		next := firstRune(w.runs, k.end)
		outer := w.b
		var inner strings.Builder
		w.b = &inner
		// Text inside a span starts after a delimiter, never at a line start.
		saved := w.lineStart
		w.lineStart = false
		w.spans(k)
		w.lineStart = saved
		w.b = outer
		body := inner.String()
		if strings.TrimSpace(body) == "" {
			w.b.WriteString(body)
			continue
		}
		var d string
		switch k.mark {
		case markLink:
			w.b.WriteString(wikiLink(body, plainText(block(kindParagraph, w.runs[k.first:k.end]...)), k.href))
			continue
		case markStrong:
			d = "*"
		case markEm:
			d = "_"
		case markStrike:
			d = "-"
		case markUnderline:
			d = "+"
		}
		if isWordRune(prev) || isWordRune(next) {
			// Inside a word the plain delimiter is not recognised; the braced form is.
			w.b.WriteString("{" + d + "}" + body + "{" + d + "}")
		} else {
			w.b.WriteString(d + body + d)
		}
	}
}

// wikiLink writes [body|url] for web, mail and absolute-path URLs. Anything else (a relative
// URL, "~user", "^attachment") would be read as a Jira link of another kind, so only the text
// is kept.
func wikiLink(body, text, href string) string {
	ok := strings.HasPrefix(href, "/") && !strings.HasPrefix(href, "//") || strings.HasPrefix(href, "#")
	if u, err := url.Parse(href); err == nil {
		switch strings.ToLower(u.Scheme) {
		case "http", "https", "ftp", "mailto":
			ok = true
		}
	}
	if !ok {
		return body
	}
	dest := percentEncode(href, "[]|{}\\!")
	if text == href {
		return "[" + dest + "]"
	}
	return "[" + body + "|" + dest + "]"
}

func (w *wikiInline) run(r *node) {
	switch r.kind {
	case kindHardBreak:
		w.b.WriteString(w.brk)
	case kindMention:
		w.b.WriteString("[~" + r.attrString("id") + "]")
	case kindText:
		if r.st.code {
			w.b.WriteString("{{" + escapeWiki(r.text, ' ', false) + "}}")
			return
		}
		w.b.WriteString(escapeWiki(r.text, lastRune(w.b.String()), w.atLineStart()))
	}
}

// escapeWiki escapes text so Jira shows it literally. prev is the character before s; lineStart
// says s begins a line.
func escapeWiki(s string, prev rune, lineStart bool) string {
	var b strings.Builder
	for i, r := range s {
		_, size := utf8.DecodeRuneInString(s[i:])
		next := ' '
		if i+size < len(s) {
			next, _ = utf8.DecodeRuneInString(s[i+size:])
		}
		if lineStart {
			switch {
			case r == ' ' || r == '\t':
				b.WriteRune(r)
				continue
			case r == '#':
				b.WriteString(`\#`)
				lineStart, prev = false, r
				continue
			case lineMacro(s[i:]) > 0:
				// "h1. " and "bq. ": break the dot so the line is not a heading or quote.
				n := lineMacro(s[i:])
				b.WriteString(s[i : i+n-1])
				b.WriteString("&#46;")
				return b.String() + escapeWiki(s[i+n:], '.', false)
			}
			lineStart = false
		}
		switch r {
		case '{', '}', '[', ']', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\\':
			b.WriteString("&#92;") // a backslash could pair with one of our escapes
		case '*', '_', '-', '+', '^', '~', '!':
			if !isWordRune(prev) || !isWordRune(next) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '?':
			if prev == '?' || next == '?' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '\r':
			continue
		case '\n':
			b.WriteByte(' ')
			r = ' '
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// lineMacro returns the length of "hN." or "bq." at the start of s, or 0.
func lineMacro(s string) int {
	if len(s) >= 3 && s[0] == 'h' && s[1] >= '1' && s[1] <= '6' && s[2] == '.' {
		return 3
	}
	if len(s) >= 3 && s[:3] == "bq." {
		return 3
	}
	return 0
}
