package confluence

import (
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// confluenceBlockTags end a line in plain text.
var confluenceBlockTags = []string{
	"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
	"pre", "blockquote", "hr", "ac:task", "ac:layout-section", "ac:layout-cell",
}

// confluenceHiddenTags hold no readable text: macro parameters, scripts,
// editor placeholders.
var confluenceHiddenTags = []string{"ac:parameter", "script", "style", "ac:placeholder"}

// Text turns Confluence markup (storage-format XHTML, or a search
// excerpt or title with @@@hl@@@ highlight markers and HTML entities) into
// plain text. Tags go, entities are decoded, CDATA (code macro bodies) is
// kept, macro parameters are dropped. With lines, block elements end lines
// and blank lines confluenceCollapse; without, all white space collapses to single
// spaces. The result is cut at max bytes on a rune boundary, ending in "…",
// when maxBytes > 0.
func Text(markup string, maxBytes int, lines bool) string {
	markup = strings.NewReplacer("@@@hl@@@", "", "@@@endhl@@@", "").Replace(markup)
	z := html.NewTokenizer(strings.NewReader(markup))
	z.AllowCDATA(true)
	var b strings.Builder
	hidden := 0
	// Stop reading once well past the cap: a large page costs no more work
	// than the text kept.
	limit := -1
	if maxBytes > 0 {
		limit = 4*maxBytes + 1024
	}
	newline := func() {
		if lines {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	for limit < 0 || b.Len() < limit {
		tt := z.Next()
		if tt == html.ErrorToken { // io.EOF, or markup too broken to go on
			break
		}
		switch tt {
		case html.TextToken:
			if hidden == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if slices.Contains(confluenceHiddenTags, tag) {
				switch tt {
				case html.StartTagToken:
					hidden++
				case html.EndTagToken:
					hidden = max(hidden-1, 0)
				}
				continue
			}
			if slices.Contains(confluenceBlockTags, tag) {
				newline()
			} else if tag == "td" || tag == "th" {
				b.WriteByte(' ')
			}
		}
	}
	return confluenceCap(confluenceCollapse(b.String(), lines), maxBytes)
}

// confluenceCollapse squeezes white space: within lines to one space, and (with lines)
// runs of empty lines to one line break.
func confluenceCollapse(s string, lines bool) string {
	if !lines {
		return strings.Join(strings.Fields(s), " ")
	}
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// confluenceCap cuts s to at most max bytes on a rune boundary, marking the cut.
func confluenceCap(s string, maxBytes int) string {
	if maxBytes <= 0 || len(s) <= maxBytes {
		return s
	}
	const ellipsis = "…"
	if maxBytes <= len(ellipsis) {
		return ""
	}
	cut := maxBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " \n") + ellipsis
}
