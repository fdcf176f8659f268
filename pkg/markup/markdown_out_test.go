package markup

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestADFToMarkdownAndText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, md, text string
	}{
		{
			name: "marks",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"b","marks":[{"type":"strong"}]},{"type":"text","text":" and "},{"type":"text","text":"i","marks":[{"type":"em"}]},{"type":"text","text":" "},{"type":"text","text":"s","marks":[{"type":"strike"}]},{"type":"text","text":" "},{"type":"text","text":"c","marks":[{"type":"code"}]}]}]}`,
			md:   "**b** and _i_ ~~s~~ `c`",
			text: "b and i s c",
		},
		{
			name: "whitespace moves out of marks",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"a ","marks":[{"type":"strong"}]},{"type":"text","text":"b"}]}]}`,
			md:   "**a** b",
			text: "a b",
		},
		{
			name: "open mark stays open",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"a ","marks":[{"type":"strong"}]},{"type":"text","text":"b","marks":[{"type":"strong"},{"type":"em"}]},{"type":"text","text":" c","marks":[{"type":"strong"}]}]}]}`,
			md:   "**a _b_ c**",
			text: "a b c",
		},
		{
			name: "em inside a word uses asterisks",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"un"},{"type":"text","text":"believ","marks":[{"type":"em"}]},{"type":"text","text":"able"}]}]}`,
			md:   "un*believ*able",
			text: "unbelievable",
		},
		{
			name: "link",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"docs","marks":[{"type":"link","attrs":{"href":"https://e.com/a b(c)"}}]}]}]}`,
			md:   "[docs](https://e.com/a%20b%28c%29)",
			text: "docs (https://e.com/a b(c))",
		},
		{
			name: "link equal to its text is an autolink",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"https://e.com","marks":[{"type":"link","attrs":{"href":"https://e.com"}}]}]}]}`,
			md:   "<https://e.com>",
			text: "https://e.com",
		},
		{
			name: "unsafe link keeps the text",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"javascript:alert(1)"}}]}]}]}`,
			md:   "x",
			text: "x",
		},
		{
			name: "code with backticks",
			doc:  "{\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"a`b\",\"marks\":[{\"type\":\"code\"}]},{\"type\":\"text\",\"text\":\" \"},{\"type\":\"text\",\"text\":\"`x\",\"marks\":[{\"type\":\"code\"}]}]}]}",
			md:   "``a`b`` `` `x ``",
			text: "a`b `x",
		},
		{
			name: "code block fence longer than content",
			doc:  "{\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"codeBlock\",\"attrs\":{\"language\":\"go\"},\"content\":[{\"type\":\"text\",\"text\":\"x := \\\"```\\\"\"}]}]}",
			md:   "````go\nx := \"```\"\n````",
			text: "x := \"```\"",
		},
		{
			name: "markdown specials are escaped",
			doc:  "{\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"*a* _b_ [c](d) <e> `f` ~g~ | & &amp; snake_case \\\\\"}]}]}",
			md:   "\\*a\\* \\_b\\_ \\[c\\](d) \\<e> \\`f\\` \\~g\\~ \\| & \\&amp; snake_case \\\\",
			text: "*a* _b_ [c](d) <e> `f` ~g~ | & &amp; snake_case \\",
		},
		{
			name: "line starts are escaped",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"# no heading"}]},{"type":"paragraph","content":[{"type":"text","text":"1. no list"},{"type":"hardBreak"},{"type":"text","text":"- no item"},{"type":"hardBreak"},{"type":"text","text":"> no quote"}]},{"type":"paragraph","content":[{"type":"text","text":"    not code"}]}]}`,
			md:   "\\# no heading\n\n1\\. no list\\\n\\- no item\\\n\\> no quote\n\nnot code",
			text: "# no heading\n\n1. no list\n- no item\n> no quote\n\nnot code",
		},
		{
			name: "heading",
			doc:  `{"type":"doc","version":1,"content":[{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Issue #"}]}]}`,
			md:   "## Issue \\#",
			text: "Issue #",
		},
		{
			name: "nested lists",
			doc:  `{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"orderedList","attrs":{"order":9},"content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"c"}]},{"type":"paragraph","content":[{"type":"text","text":"c2"}]}]}]}]}]}]}`,
			md:   "- a\n  9. b\n  10. c\n\n      c2",
			text: "- a\n  9. b\n  10. c\n\n      c2",
		},
		{
			name: "blockquote and panel",
			doc:  `{"type":"doc","version":1,"content":[{"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"q"}]},{"type":"paragraph","content":[{"type":"text","text":"r"}]}]},{"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[{"type":"text","text":"note"}]}]}]}`,
			md:   "> q\n>\n> r\n\n> note",
			text: "q\n\nr\n\nnote",
		},
		{
			name: "table",
			doc:  `{"type":"doc","version":1,"content":[{"type":"table","content":[{"type":"tableRow","content":[{"type":"tableHeader","content":[{"type":"paragraph","content":[{"type":"text","text":"h|1"}]}]},{"type":"tableHeader","content":[{"type":"paragraph","content":[{"type":"text","text":"h2"}]}]}]},{"type":"tableRow","content":[{"type":"tableCell","content":[{"type":"paragraph","content":[{"type":"text","text":"a"},{"type":"hardBreak"},{"type":"text","text":"b"}]}]}]}]}]}`,
			md:   "| h\\|1 | h2 |\n| --- | --- |\n| a b |  |",
			text: "h|1 | h2\na b |",
		},
		{
			name: "mention emoji date status",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"mention","attrs":{"id":"1","text":"@Ann"}},{"type":"text","text":" "},{"type":"emoji","attrs":{"shortName":":smile:","text":"😄"}},{"type":"text","text":" "},{"type":"emoji","attrs":{"shortName":":custom:"}},{"type":"text","text":" "},{"type":"date","attrs":{"timestamp":"1700000000000"}},{"type":"text","text":" "},{"type":"status","attrs":{"text":"In progress","color":"blue"}}]}]}`,
			md:   "@Ann 😄 :custom: 2023-11-14 IN PROGRESS",
			text: "@Ann 😄 :custom: 2023-11-14 IN PROGRESS",
		},
		{
			name: "cards and media",
			doc:  `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"inlineCard","attrs":{"url":"https://e.com/browse/A-1"}}]},{"type":"blockCard","attrs":{"url":"https://e.com/x"}},{"type":"mediaSingle","content":[{"type":"media","attrs":{"type":"file","id":"1","collection":"c"}}]}]}`,
			md:   "<https://e.com/browse/A-1>\n\n<https://e.com/x>\n\n[attachment]",
			text: "https://e.com/browse/A-1\n\nhttps://e.com/x\n\n[attachment]",
		},
		{
			name: "unknown nodes give their text",
			doc:  `{"type":"doc","version":1,"content":[{"type":"layoutSection","content":[{"type":"layoutColumn","content":[{"type":"paragraph","content":[{"type":"text","text":"left"}]}]},{"type":"layoutColumn","content":[{"type":"paragraph","content":[{"type":"placeholder","attrs":{"text":"ph"}}]}]}]}]}`,
			md:   "left\n\nph",
			text: "left\n\nph",
		},
		{
			name: "rule and expand",
			doc:  `{"type":"doc","version":1,"content":[{"type":"rule"},{"type":"expand","attrs":{"title":"More"},"content":[{"type":"paragraph","content":[{"type":"text","text":"hidden"}]}]}]}`,
			md:   "---\n\n> **More**\n>\n> hidden",
			text: "---\n\nMore\n\nhidden",
		},
		{
			name: "null",
			doc:  `null`,
			md:   "",
			text: "",
		},
		{
			name: "string",
			doc:  `"plain *text*\n\nsecond"`,
			md:   "plain \\*text\\*\n\nsecond",
			text: "plain *text*\n\nsecond",
		},
		{
			name: "adjacent lists of one kind alternate their markers",
			doc:  `{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]}]}]},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}]},{"type":"orderedList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"c"}]}]}]},{"type":"orderedList","attrs":{"order":5},"content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"d"}]}]}]}]}`,
			md:   "- a\n\n* b\n\n1. c\n\n5) d",
			text: "- a\n\n* b\n\n1. c\n\n5) d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md, err := ADFToMarkdown(json.RawMessage(tt.doc))
			if err != nil {
				t.Fatalf("ADFToMarkdown: %v", err)
			}
			if md != tt.md {
				t.Errorf("ADFToMarkdown\n got: %q\nwant: %q", md, tt.md)
			}
			text, err := ADFToText(json.RawMessage(tt.doc))
			if err != nil {
				t.Fatalf("ADFToText: %v", err)
			}
			if text != tt.text {
				t.Errorf("ADFToText\n got: %q\nwant: %q", text, tt.text)
			}
		})
	}
}

func TestADFToMarkdownRejectsMalformedJSON(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{`{"type":`, `{"type":"doc","content":"x"}`, `[1,2]`} {
		if _, err := ADFToMarkdown(json.RawMessage(doc)); err == nil {
			t.Errorf("ADFToMarkdown(%s) succeeded", doc)
		}
		if _, err := ADFToText(json.RawMessage(doc)); err == nil {
			t.Errorf("ADFToText(%s) succeeded", doc)
		}
	}
}

// Markdown → ADF → Markdown → ADF gives the same document: text and structure survive.
func TestMarkdownADFRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"inline marks":       "Some **bold _and em_** text, `code`, ~~gone~~ and [a link](https://e.com/x_y).",
		"intraword emphasis": "un*believ*able and snake_case_name",
		"special characters": "a * b _ c [d] <e> `f` ~g~ | & &amp; \\ # 1. 2)",
		"headings":           "# One\n\n## Two *em*\n\n###### Six",
		"lists":              "- a\n- b\n  1. c\n  2. d\n     - e\n\n7. seven\n8. eight",
		"loose list item":    "- a\n\n  second paragraph\n- b",
		"quote":              "> quoted **text**\n>\n> - item\n>\n> ```sh\n> ls\n> ```",
		"code blocks":        "```go\nfmt.Println(\"```\")\n```\n\n    indented",
		"table":              "| h1 | h\\|2 |\n| --- | --- |\n| `a` | **b** |\n|  | `c\\|d` |",
		"rule and breaks":    "a  \nb\n\n---\n\nc",
		"line-start text":    "\\# not heading\n\n1\\. not list\n\n\\- not item\n\n\\> not quote",
		"links":              "<https://e.com> [text](https://e.com/a%20b) www.example.com",
	}
	for name, md := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := MarkdownToADF(md)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ADFToMarkdown(first)
			if err != nil {
				t.Fatal(err)
			}
			second, err := MarkdownToADF(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(first) != string(second) {
				t.Errorf("round trip changed the document\nmarkdown: %q\nback:     %q\nfirst:  %s\nsecond: %s",
					md, back, first, second)
			}
		})
	}
}

func TestADFToTextOfRenderedMarkdown(t *testing.T) {
	t.Parallel()
	doc, err := MarkdownToADF("# Plan\n\n1. **Read** the [spec](https://e.com)\n2. Write `code`\n\n> done")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ADFToText(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{"Plan", "", "1. Read the spec (https://e.com)", "2. Write code", "", "done"}, "\n")
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// verbatim must only skip text that escapeText leaves as it is: the seeds
// run under go test, `go test -fuzz FuzzVerbatimTextNeedsNoEscape` searches
// further.
func FuzzVerbatimTextNeedsNoEscape(f *testing.F) {
	for _, s := range []string{"plain words", "1. item", "# h", " lead", "a_b", "x & y", "a\rb", "é", "\xff", "- x", "=", "9", "ok.", "a|b", "t~"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, lineStart bool) {
		if verbatim(s, lineStart) {
			for _, prev := range []rune{' ', 'a', '_'} {
				if got := escapeText(s, prev, lineStart); got != s {
					t.Fatalf("verbatim(%q, %v) but escapeText gives %q", s, lineStart, got)
				}
			}
		}
	})
}
