package github

import (
	"bytes"
	"strings"
	"sync"
)

// githubPlainText reduces GitHub Markdown to plain text for indexing: it drops
// hidden comments, tags, heading and quote markers, fences and emphasis, and
// keeps link and image text. It is deliberately simple, not a renderer.
//
// It is eight substitutions applied in order, each over the previous one's
// output, exactly as these regular expressions with ReplaceAllString would
// (they were the implementation until issue 9; plaintext_test.go keeps them
// and compares both over generated and fuzzed inputs):
//
//	1 `(?s)<!--.*?-->`                          → ""
//	2 "(?m)^[ \t]*(```|~~~).*$\n?"              → ""
//	3 `!\[([^\]]*)\]\([^)]*\)`                  → "$1"
//	4 `\[([^\]]*)\]\([^)]*\)`                   → "$1"
//	5 `</?[A-Za-z][^>]*>`                       → ""
//	6 `(\*\*|__|~~)(.+?)(\*\*|__|~~)`           → "$2"
//	7 `(^|[\s(])[*_]([^*_\s][^*_]*?)[*_]`       → "$1$2"
//	8 `(?m)^[ \t]*(#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+\[[ xX]\][ \t]+)` → ""
//
// then every backtick goes and the ends are trimmed. Hand-written because
// the regexps were most of a GitHub ticket's conversion cost (issue 9: 6.5 %
// of the discovery window's CPU, several allocations per pass), and no
// Markdown library reproduces this text byte for byte (the event bytes and
// version hashes depend on it). Every byte the patterns look at is ASCII and
// a multi-byte UTF-8 sequence holds no ASCII byte, so scanning bytes finds
// the same matches as the regexps scanning runes.
//
// Each pass reads src and writes dst; a pass that matches nothing reports
// false and the text stays where it is. Every replacement is shorter than its
// match, so two buffers of the input's length hold every pass.
func githubPlainText(md string) string {
	if !strings.ContainsAny(md, "<!`~[*_#>") {
		return strings.TrimSpace(md)
	}
	n := len(md)
	// The passes' scratch space comes from a pool: one allocation a
	// ticket less (issue 9); only the result is the caller's.
	bp := githubMdScratch.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= githubMdScratchMax {
			githubMdScratch.Put(bp)
		}
	}()
	if cap(*bp) < 2*n {
		*bp = make([]byte, 2*n)
	}
	buf := (*bp)[:2*n]
	src := buf[:n:n]
	copy(src, md)
	spare := buf[n : n : 2*n]
	for _, pass := range githubMdPasses {
		if out, changed := pass(spare, src); changed {
			src, spare = out, src[:0]
		}
	}
	out := spare
	for _, c := range src {
		if c != '`' {
			out = append(out, c)
		}
	}
	return string(bytes.TrimSpace(out))
}

// githubMdScratch holds githubPlainText's scratch buffers; one grown for an
// odd huge description is dropped rather than kept.
var githubMdScratch = sync.Pool{New: func() any { return new([]byte) }}

const githubMdScratchMax = 64 << 10

// githubMdPasses are githubPlainText's substitutions in order.
var githubMdPasses = [...]func(dst, src []byte) ([]byte, bool){
	githubMdHTMLComment,
	githubMdFence,
	githubMdImage,
	githubMdLink,
	githubMdTag,
	githubMdEmphasis,
	githubMdItalic,
	githubMdLinePrefix,
}

// githubMdHTMLComment removes `(?s)<!--.*?-->`: from "<!--" to the first
// "-->" after it. Without a closing "-->" after the first "<!--", no later
// one has one either.
func githubMdHTMLComment(dst, src []byte) ([]byte, bool) {
	changed := false
	for {
		i := bytes.Index(src, []byte("<!--"))
		if i < 0 {
			break
		}
		j := bytes.Index(src[i+4:], []byte("-->"))
		if j < 0 {
			break
		}
		dst = append(dst, src[:i]...)
		src = src[i+4+j+3:]
		changed = true
	}
	return append(dst, src...), changed
}

// githubMdLineStart reports whether i starts a line of s, as (?m)^ does.
func githubMdLineStart(s []byte, i int) bool { return i == 0 || s[i-1] == '\n' }

// githubMdBlanks is the end of the run of spaces and tabs from i.
func githubMdBlanks(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// githubMdFence removes "(?m)^[ \t]*(```|~~~).*$\n?": a whole line (with its
// newline) whose first non-blank characters are ``` or ~~~.
func githubMdFence(dst, src []byte) ([]byte, bool) {
	changed, kept := false, 0
	for i := 0; i < len(src); {
		end := len(src)
		if nl := bytes.IndexByte(src[i:], '\n'); nl >= 0 {
			end = i + nl + 1
		}
		j := githubMdBlanks(src, i)
		if j+3 <= end && (string(src[j:j+3]) == "```" || string(src[j:j+3]) == "~~~") {
			dst = append(dst, src[kept:i]...)
			kept, changed = end, true
		}
		i = end
	}
	return append(dst, src[kept:]...), changed
}

// githubMdImage replaces `!\[([^\]]*)\]\([^)]*\)` by its text.
func githubMdImage(dst, src []byte) ([]byte, bool) { return githubMdBracketed(dst, src, true) }

// githubMdLink replaces `\[([^\]]*)\]\([^)]*\)` by its text.
func githubMdLink(dst, src []byte) ([]byte, bool) { return githubMdBracketed(dst, src, false) }

// githubMdBracketed replaces [text](target), with image a leading "!", by
// text. The text runs to the first "]" after the "[" (no "]" inside), which
// must be followed by "(" and, later, a ")"; where that fails, the search
// goes on from the next byte.
func githubMdBracketed(dst, src []byte, image bool) ([]byte, bool) {
	changed, kept := false, 0
	open := []byte("[")
	if image {
		open = []byte("![")
	}
	// close is the first "]" at or after a text's start: found once for
	// every "[" before it, so "[[[[…]" costs one scan, not one per "[".
	close := -1
	for i := 0; i < len(src); {
		k := bytes.Index(src[i:], open)
		if k < 0 {
			break
		}
		i += k
		text := i + len(open)
		if close < text {
			c := bytes.IndexByte(src[text:], ']')
			if c < 0 {
				break // no "]" after this "[", none after a later one
			}
			close = text + c
		}
		if close+1 >= len(src) || src[close+1] != '(' {
			i++
			continue
		}
		paren := bytes.IndexByte(src[close+2:], ')')
		if paren < 0 {
			break // no ")" after this "](", none after a later one
		}
		dst = append(dst, src[kept:i]...)
		dst = append(dst, src[text:close]...)
		kept = close + 2 + paren + 1
		i, changed = kept, true
	}
	return append(dst, src[kept:]...), changed
}

// githubMdTag removes `</?[A-Za-z][^>]*>`: "<", an optional "/", a letter,
// and everything to the next ">".
func githubMdTag(dst, src []byte) ([]byte, bool) {
	changed, kept := false, 0
	for i := 0; i < len(src); {
		k := bytes.IndexByte(src[i:], '<')
		if k < 0 {
			break
		}
		i += k
		j := i + 1
		if j < len(src) && src[j] == '/' {
			j++
		}
		if j >= len(src) || !githubMdLetter(src[j]) {
			i++
			continue
		}
		gt := bytes.IndexByte(src[j+1:], '>')
		if gt < 0 {
			break // no ">" after this tag's start, none after a later one
		}
		dst = append(dst, src[kept:i]...)
		kept = j + 1 + gt + 1
		i, changed = kept, true
	}
	return append(dst, src[kept:]...), changed
}

func githubMdLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// githubMdEmphasisMark reports whether s holds one of **, __ or ~~ at i.
func githubMdEmphasisMark(s []byte, i int) bool {
	return i+1 < len(s) && s[i] == s[i+1] && (s[i] == '*' || s[i] == '_' || s[i] == '~')
}

// githubMdEmphasis replaces `(\*\*|__|~~)(.+?)(\*\*|__|~~)` by the text
// between: an opening pair, at least one character, and the nearest pair
// (of any of the three kinds) on the same line.
func githubMdEmphasis(dst, src []byte) ([]byte, bool) {
	changed, kept := false, 0
	for i := 0; i+1 < len(src); i++ {
		if !githubMdEmphasisMark(src, i) {
			continue
		}
		closing := -1
		for k := i + 3; k+1 < len(src) && src[k-1] != '\n'; k++ {
			if githubMdEmphasisMark(src, k) {
				closing = k
				break
			}
		}
		if closing < 0 || src[i+2] == '\n' {
			continue
		}
		dst = append(dst, src[kept:i]...)
		dst = append(dst, src[i+2:closing]...)
		kept = closing + 2
		i, changed = kept-1, true
	}
	return append(dst, src[kept:]...), changed
}

// githubMdSpace is \s in Go's regexp syntax: [\t\n\f\r ].
func githubMdSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func githubMdStar(c byte) bool { return c == '*' || c == '_' }

// githubMdItalic replaces `(^|[\s(])[*_]([^*_\s][^*_]*?)[*_]` by the
// character before the mark and the text: a * or _ at the start of the text
// or after a blank or "(", a first character that is neither a mark nor a
// blank, and everything (newlines included) to the next * or _.
func githubMdItalic(dst, src []byte) ([]byte, bool) {
	changed, kept := false, 0
	for i := 0; i < len(src); i++ {
		var mark int // where the opening * or _ is
		switch {
		case i == 0 && githubMdStar(src[0]):
			mark = 0
		case (githubMdSpace(src[i]) || src[i] == '(') && i+1 < len(src) && githubMdStar(src[i+1]):
			mark = i + 1
		default:
			continue
		}
		first := mark + 1
		if first >= len(src) || githubMdStar(src[first]) || githubMdSpace(src[first]) {
			continue
		}
		closing := -1
		for k := first + 1; k < len(src); k++ {
			if githubMdStar(src[k]) {
				closing = k
				break
			}
		}
		if closing < 0 {
			continue
		}
		dst = append(dst, src[kept:i]...)
		dst = append(dst, src[i:mark]...) // $1: the blank or "(", or nothing
		dst = append(dst, src[first:closing]...)
		kept = closing + 1
		i, changed = kept-1, true
	}
	return append(dst, src[kept:]...), changed
}

// githubMdLinePrefix removes, at the start of a line after blanks,
// `#{1,6}[ \t]+` (a heading marker), `>[ \t]?` (a quote marker) or
// `[-*+][ \t]+\[[ xX]\][ \t]+` (a task list item's box), once per line.
func githubMdLinePrefix(dst, src []byte) ([]byte, bool) {
	changed, kept := false, 0
	for i := 0; i < len(src); {
		end := len(src)
		if nl := bytes.IndexByte(src[i:], '\n'); nl >= 0 {
			end = i + nl + 1
		}
		if m := githubMdPrefixEnd(src, githubMdBlanks(src, i)); m > 0 {
			dst = append(dst, src[kept:i]...)
			kept, changed = m, true
		}
		i = end
	}
	return append(dst, src[kept:]...), changed
}

// githubMdPrefixEnd is where a line prefix starting at j ends, 0 if none does.
func githubMdPrefixEnd(s []byte, j int) int {
	if j >= len(s) {
		return 0
	}
	switch c := s[j]; {
	case c == '#':
		h := j
		for h < len(s) && s[h] == '#' {
			h++
		}
		if h-j > 6 || h >= len(s) || (s[h] != ' ' && s[h] != '\t') {
			return 0
		}
		return githubMdBlanks(s, h)
	case c == '>':
		if j+1 < len(s) && (s[j+1] == ' ' || s[j+1] == '\t') {
			return j + 2
		}
		return j + 1
	case c == '-' || c == '*' || c == '+':
		b := githubMdBlanks(s, j+1)
		if b == j+1 || b+3 > len(s) || s[b] != '[' || (s[b+1] != ' ' && s[b+1] != 'x' && s[b+1] != 'X') || s[b+2] != ']' {
			return 0
		}
		e := githubMdBlanks(s, b+3)
		if e == b+3 {
			return 0
		}
		return e
	}
	return 0
}
