package markup

import (
	"strings"
	"testing"
)

func TestMarkdownToWiki(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, md, want string
	}{
		{
			name: "headings",
			md:   "# One\n\n###### Six *em*",
			want: "h1. One\n\nh6. Six _em_",
		},
		{
			name: "inline marks",
			md:   "**b** *i* ~~s~~ `c`",
			want: "*b* _i_ -s- {{c}}",
		},
		{
			name: "nested marks",
			md:   "**bold _and em_ more**",
			want: "*bold _and em_ more*",
		},
		{
			name: "marks inside a word use braces",
			md:   "un**believ**able",
			want: "un{*}believ{*}able",
		},
		{
			name: "monospace content is escaped",
			md:   "`{code}` `a|b`",
			want: "{{\\{code\\}}} {{a\\|b}}",
		},
		{
			name: "link",
			md:   "[the docs](https://e.com/a|b?q=[x])",
			want: "[the docs|https://e.com/a%7Cb?q=%5Bx%5D]",
		},
		{
			name: "link equal to its text",
			md:   "<https://e.com>",
			want: "[https://e.com]",
		},
		{
			name: "relative link keeps only the text",
			md:   "[readme](README.md) [user](~admin)",
			want: "readme user",
		},
		{
			name: "hard break",
			md:   "a  \nb",
			want: "a\nb",
		},
		{
			name: "code block with language",
			md:   "```go\nfmt.Println(1)\n```",
			want: "{code:go}\nfmt.Println(1)\n{code}",
		},
		{
			name: "code block without language",
			md:   "```\nplain\n```",
			want: "{code}\nplain\n{code}",
		},
		{
			name: "code block with odd language drops it",
			md:   "```c{x}\ny\n```",
			want: "{code}\ny\n{code}",
		},
		{
			name: "code block containing {code} uses noformat",
			md:   "```\n{code}\n```",
			want: "{noformat}\n{code}\n{noformat}",
		},
		{
			name: "code block containing both fences",
			md:   "```\n{code} {noformat}\n```",
			want: "{code}\n{\u200bcode} {noformat}\n{code}",
		},
		{
			name: "nested lists",
			md:   "- a\n  - b\n    1. c\n- d",
			want: "* a\n** b\n**# c\n* d",
		},
		{
			name: "ordered list",
			md:   "1. a\n2. b",
			want: "# a\n# b",
		},
		{
			name: "list item with two paragraphs",
			md:   "- a\n\n  b",
			want: "* a \\\\ b",
		},
		{
			name: "paragraph after a nested list ends the list",
			md:   "- a\n  - b\n\n  c",
			want: "* a\n** b\n\nc",
		},
		{
			name: "code block in a list item",
			md:   "- a\n\n  ```\n  x\n  ```\n- b",
			want: "* a\n\n{code}\nx\n{code}\n\n* b",
		},
		{
			name: "quote",
			md:   "> a\n>\n> b",
			want: "{quote}\na\n\nb\n{quote}",
		},
		{
			name: "rule",
			md:   "a\n\n---\n\nb",
			want: "a\n\n----\n\nb",
		},
		{
			name: "table",
			md:   "| h1 | h2 |\n|----|----|\n| a | |\n| `x` | [l](https://e.com) |",
			want: "||h1||h2||\n|a| |\n|{{x}}|[l|https://e.com]|",
		},
		{
			name: "html stays text",
			md:   "<div>\n{code}\n</div>",
			want: "<div>\n\\{code\\}\n</div>",
		},
		{
			name: "macros in text are escaped",
			md:   "{code} {noformat} {quote} {color:red}x{color} [~admin] [link|https://e.com]",
			want: "\\{code\\} \\{noformat\\} \\{quote\\} \\{color:red\\}x\\{color\\} \\[\\~admin\\] \\[link\\|https://e.com\\]",
		},
		{
			name: "effects in text are escaped",
			md:   "\\*a\\* \\_b\\_ -c- +d+ ^e^ \\~f\\~ ??g?? !img.png! well-known snake_case 2\\*3",
			want: "\\*a\\* \\_b\\_ \\-c\\- \\+d\\+ \\^e\\^ \\~f\\~ \\?\\?g\\?\\? \\!img.png\\! well-known snake_case 2*3",
		},
		{
			name: "line starts in text are escaped",
			md:   "\\# not a list\n\nh1. not a heading\n\nbq. not a quote\n\n\\* not a bullet\n\n\\---- not a rule",
			want: "\\# not a list\n\nh1&#46; not a heading\n\nbq&#46; not a quote\n\n\\* not a bullet\n\n\\-\\-\\-\\- not a rule",
		},
		{
			name: "table syntax in text is escaped",
			md:   "\\|a\\|b\\|",
			want: "\\|a\\|b\\|",
		},
		{
			name: "backslash becomes an entity",
			md:   "C:\\\\temp \\\\\\{",
			want: "C:&#92;temp &#92;\\{",
		},
		{
			name: "hard break before markup-looking text",
			md:   "a\\\n\\# b",
			want: "a\n\\# b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MarkdownToWiki(tt.md); got != tt.want {
				t.Errorf("MarkdownToWiki(%q)\n got: %q\nwant: %q", tt.md, got, tt.want)
			}
		})
	}
}

func TestWithWikiMention(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, md, user, want string
	}{
		{name: "mention opens the first paragraph", md: "done", user: "jdoe", want: "[~jdoe] done"},
		{name: "mention before a heading gets its own paragraph", md: "# Result", user: "jdoe", want: "[~jdoe]\n\nh1. Result"},
		{name: "mention alone", md: "", user: "jdoe", want: "[~jdoe]"},
		{name: "characters that end the mention are removed", md: "x", user: "j]d{o|e\n", want: "[~jdoe] x"},
		{name: "empty username adds nothing", md: "x", user: " [] ", want: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MarkdownToWiki(tt.md, WithWikiMention(tt.user)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The fuzz properties are only as good as their checkers: make sure they catch injections.
func TestWikiCheckersCatchInjection(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"raw code macro":                "text {code} more",
		"raw noformat macro":            "{noformat}x",
		"mention":                       "hi [~admin]",
		"code content closes its fence": "{code}\n{code:java}\n{code}",
		"unclosed fence":                "{code}\nx",
		"brace inside monospace":        "{{a{b}}",
	}
	for name, s := range bad {
		if checkWikiMacros(s) == "" {
			t.Errorf("%s: checkWikiMacros(%q) found nothing", name, s)
		}
	}
	good := "{code:go}\nx {noformat}\n{code}\n{{mono}} un{*}b{*}c \\{code\\}"
	if msg := checkWikiMacros(good); msg != "" {
		t.Errorf("checkWikiMacros(%q) = %s", good, msg)
	}
	if unescapedIndex(`\{ \[ \| \\`, "{[|") >= 0 || unescapedIndex(`a [b`, "{[|") != 2 {
		t.Error("unescapedIndex is wrong")
	}
}

func TestMarkdownToWikiPlainTextHasNoMarkup(t *testing.T) {
	t.Parallel()
	text := "{code}evil{code} {noformat} [~admin] |a|b| h1. x {color:red} !x.png! *b* _i_ -s- \\ [l|http://x]"
	got := MarkdownToWiki(escapeMarkdownAll(text))
	if i := unescapedIndex(got, "{[|"); i >= 0 {
		t.Fatalf("unescaped %q at %d in %q", got[i], i, got)
	}
	if strings.Contains(got, "[~") || strings.Contains(got, "{code}") {
		t.Fatalf("markup survived: %q", got)
	}
}

func TestWikiToMarkdownAndText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, wiki, md, text string
	}{
		{
			name: "headings",
			wiki: "h1. Title\nh3. *Sub*",
			md:   "# Title\n\n### **Sub**",
			text: "Title\n\nSub",
		},
		{
			name: "effects",
			wiki: "*b* _i_ -s- +u+ {{mono}} ^sup^ ~sub~ ??cite??",
			md:   "**b** _i_ ~~s~~ u `mono` sup sub _cite_",
			text: "b i s u mono sup sub cite",
		},
		{
			name: "effects need word boundaries",
			wiki: "well-known snake_case_name 2*3*4 a - b",
			md:   "well-known snake_case_name 2\\*3\\*4 a - b",
			text: "well-known snake_case_name 2*3*4 a - b",
		},
		{
			name: "braced effects work inside words",
			wiki: "un{*}believ{*}able",
			md:   "un**believ**able",
			text: "unbelievable",
		},
		{
			name: "links",
			wiki: "[Example|https://e.com] [https://x.org] [mail|mailto:a@b.c] [ABC-12] [#anchor]",
			md:   "[Example](https://e.com) <https://x.org> [mail](mailto:a@b.c) ABC-12 #anchor",
			text: "Example (https://e.com) https://x.org mail (mailto:a@b.c) ABC-12 #anchor",
		},
		{
			name: "mention",
			wiki: "ping [~jdoe] and [~accountid:5b10a]",
			md:   "ping @jdoe and @5b10a",
			text: "ping @jdoe and @5b10a",
		},
		{
			name: "attachments and images",
			wiki: "!screen.png|thumbnail! !https://e.com/i.png! [^report.pdf]",
			md:   "\\[attachment: screen.png\\] <https://e.com/i.png> \\[attachment: report.pdf\\]",
			text: "[attachment: screen.png] https://e.com/i.png [attachment: report.pdf]",
		},
		{
			name: "line breaks",
			wiki: "one\ntwo\\\\three",
			md:   "one\\\ntwo\\\nthree",
			text: "one\ntwo\nthree",
		},
		{
			name: "escapes",
			wiki: "\\*not bold\\* \\[not link\\]",
			md:   "\\*not bold\\* \\[not link\\]",
			text: "*not bold* [not link]",
		},
		{
			name: "code block with language",
			wiki: "{code:java}\nint x = 1; // *not bold*\n{code}",
			md:   "```java\nint x = 1; // *not bold*\n```",
			text: "int x = 1; // *not bold*",
		},
		{
			name: "code block with title and language",
			wiki: "{code:title=A.java|language=java}\nx\n{code}",
			md:   "```java\nx\n```",
			text: "x",
		},
		{
			name: "noformat block",
			wiki: "{noformat}\n*raw*\n{noformat}",
			md:   "```\n*raw*\n```",
			text: "*raw*",
		},
		{
			name: "one-line code block",
			wiki: "{code}x{code}",
			md:   "```\nx\n```",
			text: "x",
		},
		{
			name: "unclosed code block runs to the end",
			wiki: "{code}\nx\ny",
			md:   "```\nx\ny\n```",
			text: "x\ny",
		},
		{
			name: "quotes and panels",
			wiki: "bq. short\n{quote}\nlong\n\nquote\n{quote}\n{panel:title=T}\nin panel\n{panel}",
			md:   "> short\n\n> long\n>\n> quote\n\n> in panel",
			text: "short\n\nlong\n\nquote\n\nin panel",
		},
		{
			name: "lists",
			wiki: "* a\n** b\n*# c\n* d\n# one\n# two\n- dash",
			md:   "- a\n  - b\n  1. c\n- d\n\n1. one\n2. two\n\n- dash",
			text: "- a\n  - b\n  1. c\n- d\n\n1. one\n2. two\n\n- dash",
		},
		{
			name: "list item that skips a level",
			wiki: "** deep",
			md:   "- - deep",
			text: "- - deep",
		},
		{
			name: "table",
			wiki: "||h1||h2||\n|a|[l|https://e.com]|\n|\\|x|{{y|z}}|",
			md:   "| h1 | h2 |\n| --- | --- |\n| a | [l](https://e.com) |\n| \\|x | `y\\|z` |",
			text: "h1 | h2\na | l (https://e.com)\n|x | y|z",
		},
		{
			name: "rule",
			wiki: "a\n----\nb",
			md:   "a\n\n---\n\nb",
			text: "a\n\n---\n\nb",
		},
		{
			name: "other macros are dropped",
			wiki: "{color:red}red{color} {anchor:x}text",
			md:   "red text",
			text: "red text",
		},
		{
			name: "unmatched markup stays text",
			wiki: "a * b [ c {{ d !e",
			md:   "a \\* b \\[ c {{ d !e",
			text: "a * b [ c {{ d !e",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := WikiToMarkdown(tt.wiki); got != tt.md {
				t.Errorf("WikiToMarkdown(%q)\n got: %q\nwant: %q", tt.wiki, got, tt.md)
			}
			if got := WikiToText(tt.wiki); got != tt.text {
				t.Errorf("WikiToText(%q)\n got: %q\nwant: %q", tt.wiki, got, tt.text)
			}
		})
	}
}

// Markdown → wiki → Markdown keeps the text for what both formats express.
func TestMarkdownWikiRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"inline":   "Some **bold _and em_** text, `code`, ~~gone~~ and [a link](https://e.com/x).",
		"headings": "# One\n\n## Two",
		"lists":    "- a\n  - b\n    1. c\n- d",
		"code":     "```go\nfmt.Println(\"{x}\")\n```",
		"table":    "| h1 | h2 |\n| --- | --- |\n| a | `b` |",
		"escapes":  "a \\* b \\_ c {d} [e] | f - g + h ^ i ~ j ?? k ! l \\\\ m # n",
		"quote":    "> quoted\n>\n> more",
	}
	for name, md := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := MarkdownToADF(md)
			if err != nil {
				t.Fatal(err)
			}
			wiki := MarkdownToWiki(md)
			back := WikiToMarkdown(wiki)
			got, err := MarkdownToADF(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("markdown %q\nwiki %q\nback %q\n got: %s\nwant: %s", md, wiki, back, got, want)
			}
		})
	}
}
