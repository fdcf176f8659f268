package markup

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestMarkdownToADF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   string
		want string // the doc's content array, without brackets
	}{
		{
			name: "plain paragraph",
			md:   "hello world",
			want: `{"type":"paragraph","content":[{"type":"text","text":"hello world"}]}`,
		},
		{
			name: "heading levels",
			md:   "# One\n\n###### Six",
			want: `{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"One"}]},{"type":"heading","attrs":{"level":6},"content":[{"type":"text","text":"Six"}]}`,
		},
		{
			name: "setext heading",
			md:   "Title\n=====",
			want: `{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"Title"}]}`,
		},
		{
			name: "strong em strike and code marks",
			md:   "**b** *i* ~~s~~ `c`",
			want: `{"type":"paragraph","content":[{"type":"text","text":"b","marks":[{"type":"strong"}]},{"type":"text","text":" "},{"type":"text","text":"i","marks":[{"type":"em"}]},{"type":"text","text":" "},{"type":"text","text":"s","marks":[{"type":"strike"}]},{"type":"text","text":" "},{"type":"text","text":"c","marks":[{"type":"code"}]}]}`,
		},
		{
			name: "nested marks combine",
			md:   "***both*** **bold _and em_**",
			want: `{"type":"paragraph","content":[{"type":"text","text":"both","marks":[{"type":"strong"},{"type":"em"}]},{"type":"text","text":" "},{"type":"text","text":"bold ","marks":[{"type":"strong"}]},{"type":"text","text":"and em","marks":[{"type":"strong"},{"type":"em"}]}]}`,
		},
		{
			name: "code mark drops other marks but keeps link",
			md:   "**`x`** [`y`](https://e.com)",
			want: `{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"code"}]},{"type":"text","text":" "},{"type":"text","text":"y","marks":[{"type":"code"},{"type":"link","attrs":{"href":"https://e.com"}}]}]}`,
		},
		{
			name: "link with href",
			md:   "[text](https://example.com/a?b=c \"title\")",
			want: `{"type":"paragraph","content":[{"type":"text","text":"text","marks":[{"type":"link","attrs":{"href":"https://example.com/a?b=c"}}]}]}`,
		},
		{
			name: "autolinks and bare URLs become links",
			md:   "<https://a.io> www.b.io c@d.io",
			want: `{"type":"paragraph","content":[{"type":"text","text":"https://a.io","marks":[{"type":"link","attrs":{"href":"https://a.io"}}]},{"type":"text","text":" "},{"type":"text","text":"www.b.io","marks":[{"type":"link","attrs":{"href":"http://www.b.io"}}]},{"type":"text","text":" "},{"type":"text","text":"c@d.io","marks":[{"type":"link","attrs":{"href":"mailto:c@d.io"}}]}]}`,
		},
		{
			name: "unsafe link scheme keeps only the text",
			md:   "[x](javascript:alert(1))",
			want: `{"type":"paragraph","content":[{"type":"text","text":"x"}]}`,
		},
		{
			name: "link without text shows its URL",
			md:   "[](https://e.com)",
			want: `{"type":"paragraph","content":[{"type":"text","text":"https://e.com","marks":[{"type":"link","attrs":{"href":"https://e.com"}}]}]}`,
		},
		{
			name: "image becomes link text",
			md:   "![a diagram](https://e.com/d.png)",
			want: `{"type":"paragraph","content":[{"type":"text","text":"a diagram","marks":[{"type":"link","attrs":{"href":"https://e.com/d.png"}}]}]}`,
		},
		{
			name: "image inside a link keeps the outer link",
			md:   "[![alt](i.png)](https://e.com)",
			want: `{"type":"paragraph","content":[{"type":"text","text":"alt","marks":[{"type":"link","attrs":{"href":"https://e.com"}}]}]}`,
		},
		{
			name: "hard break",
			md:   "a  \nb\\\nc",
			want: `{"type":"paragraph","content":[{"type":"text","text":"a"},{"type":"hardBreak"},{"type":"text","text":"b"},{"type":"hardBreak"},{"type":"text","text":"c"}]}`,
		},
		{
			name: "soft break becomes a space",
			md:   "a\nb",
			want: `{"type":"paragraph","content":[{"type":"text","text":"a b"}]}`,
		},
		{
			name: "fenced code block with language",
			md:   "```go\nfmt.Println(1)\n```",
			want: `{"type":"codeBlock","attrs":{"language":"go"},"content":[{"type":"text","text":"fmt.Println(1)"}]}`,
		},
		{
			name: "indented code block has no language",
			md:   "    x := 1\n    y := 2",
			want: `{"type":"codeBlock","content":[{"type":"text","text":"x := 1\ny := 2"}]}`,
		},
		{
			name: "empty code block has no text node",
			md:   "```\n```",
			want: `{"type":"codeBlock"}`,
		},
		{
			name: "bullet list with nested ordered list",
			md:   "- a\n  1. b\n  2. c\n- d",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"orderedList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"c"}]}]}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"d"}]}]}]}`,
		},
		{
			name: "ordered list keeps its start",
			md:   "3. a\n4. b",
			want: `{"type":"orderedList","attrs":{"order":3},"content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}]}`,
		},
		{
			name: "empty list items are dropped",
			md:   "- \n- b\n\n1.\n",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}]}`,
		},
		{
			name: "list item starting with a list gets a leading paragraph",
			md:   "- - a",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph"},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]}]}]}]}]}`,
		},
		{
			name: "list item with code block first",
			md:   "- ```\n  x\n  ```",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"codeBlock","content":[{"type":"text","text":"x"}]}]}]}`,
		},
		{
			name: "blockquote",
			md:   "> quoted\n>\n> - item",
			want: `{"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"quoted"}]},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"item"}]}]}]}]}`,
		},
		{
			name: "nested blockquote is flattened",
			md:   "> a\n>\n> > b",
			want: `{"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}`,
		},
		{
			name: "heading inside a blockquote becomes a bold paragraph",
			md:   "> # Title `x`",
			want: `{"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"Title","marks":[{"type":"strong"}]},{"type":"text","text":" "},{"type":"text","text":"x","marks":[{"type":"code"}]}]}]}`,
		},
		{
			name: "rule",
			md:   "a\n\n---\n\nb",
			want: `{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"rule"},{"type":"paragraph","content":[{"type":"text","text":"b"}]}`,
		},
		{
			name: "rule inside a list item is dropped",
			md:   "- a\n\n  ***",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]}]}]}`,
		},
		{
			name: "table with header and an empty cell",
			md:   "| h1 | h2 |\n|----|----|\n| **c** | |",
			want: `{"type":"table","content":[{"type":"tableRow","content":[{"type":"tableHeader","content":[{"type":"paragraph","content":[{"type":"text","text":"h1"}]}]},{"type":"tableHeader","content":[{"type":"paragraph","content":[{"type":"text","text":"h2"}]}]}]},{"type":"tableRow","content":[{"type":"tableCell","content":[{"type":"paragraph","content":[{"type":"text","text":"c","marks":[{"type":"strong"}]}]}]},{"type":"tableCell","content":[{"type":"paragraph"}]}]}]}`,
		},
		{
			name: "table inside a list becomes paragraphs",
			md:   "- | h1 | h2 |\n  |----|----|\n  | c1 | c2 |",
			want: `{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"h1 | h2"}]},{"type":"paragraph","content":[{"type":"text","text":"c1 | c2"}]}]}]}`,
		},
		{
			name: "html block becomes text lines",
			md:   "<div>\n<b>hi</b>\n</div>",
			want: `{"type":"paragraph","content":[{"type":"text","text":"<div>"},{"type":"hardBreak"},{"type":"text","text":"<b>hi</b>"},{"type":"hardBreak"},{"type":"text","text":"</div>"}]}`,
		},
		{
			name: "inline html becomes text",
			md:   "a <b>bold</b> c",
			want: `{"type":"paragraph","content":[{"type":"text","text":"a <b>bold</b> c"}]}`,
		},
		{
			name: "escapes and entities are resolved",
			md:   "\\*not em\\* &amp; &copy; &#65; &bogus;",
			want: `{"type":"paragraph","content":[{"type":"text","text":"*not em* & © A &bogus;"}]}`,
		},
		{
			name: "empty input gives an empty doc",
			md:   "",
			want: ``,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MarkdownToADF(tt.md)
			if err != nil {
				t.Fatalf("MarkdownToADF: %v", err)
			}
			want := `{"type":"doc","version":1,"content":[` + tt.want + `]}`
			if string(got) != want {
				t.Errorf("MarkdownToADF(%q)\n got: %s\nwant: %s", tt.md, got, want)
			}
			if err := ValidateADF(got); err != nil {
				t.Errorf("output does not validate: %v", err)
			}
		})
	}
}

func TestMarkdownToADFMention(t *testing.T) {
	t.Parallel()
	mention := `{"type":"mention","attrs":{"id":"5b10a2844c20165700ede21g","text":"@Ann Lee"}}`
	tests := []struct {
		name string
		md   string
		opt  ADFOption
		want string
	}{
		{
			name: "mention opens the first paragraph",
			md:   "done, see **PR**",
			opt:  WithMention("5b10a2844c20165700ede21g", "Ann Lee"),
			want: `{"type":"paragraph","content":[` + mention + `,{"type":"text","text":" done, see "},{"type":"text","text":"PR","marks":[{"type":"strong"}]}]}`,
		},
		{
			name: "mention gets its own paragraph before a heading",
			md:   "# Result",
			opt:  WithMention("5b10a2844c20165700ede21g", "Ann Lee"),
			want: `{"type":"paragraph","content":[` + mention + `]},{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"Result"}]}`,
		},
		{
			name: "mention alone when the markdown is empty",
			md:   "",
			opt:  WithMention("5b10a2844c20165700ede21g", "@Ann Lee"),
			want: `{"type":"paragraph","content":[` + mention + `]}`,
		},
		{
			name: "mention without a display name has no text attribute",
			md:   "",
			opt:  WithMention("abc", ""),
			want: `{"type":"paragraph","content":[{"type":"mention","attrs":{"id":"abc"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MarkdownToADF(tt.md, tt.opt)
			if err != nil {
				t.Fatalf("MarkdownToADF: %v", err)
			}
			want := `{"type":"doc","version":1,"content":[` + tt.want + `]}`
			if string(got) != want {
				t.Errorf("got:  %s\nwant: %s", got, want)
			}
			if err := ValidateADF(got); err != nil {
				t.Errorf("output does not validate: %v", err)
			}
		})
	}
}

func TestMarkdownToADFMentionWithoutIDFails(t *testing.T) {
	t.Parallel()
	if _, err := MarkdownToADF("hi", WithMention("  ", "Ann")); !errors.Is(err, ErrInvalidMention) {
		t.Fatalf("err = %v, want ErrInvalidMention", err)
	}
}

func TestValidateADFAccepts(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty doc": `{"type":"doc","version":1,"content":[]}`,
		"code mark with link": `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[
			{"type":"text","text":"x","marks":[{"type":"code"},{"type":"link","attrs":{"href":"https://e.com"}}]}]}]}`,
		"cloud comment with panel mention emoji card and media": `{"type":"doc","version":1,"content":[
			{"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[
				{"type":"mention","attrs":{"id":"1","text":"@A","accessLevel":""}},{"type":"text","text":" "},
				{"type":"emoji","attrs":{"shortName":":smile:","id":"1f604","text":"😄"}},
				{"type":"inlineCard","attrs":{"url":"https://e.com/browse/A-1"}}]}]},
			{"type":"mediaSingle","attrs":{"layout":"center"},"content":[
				{"type":"media","attrs":{"type":"file","id":"abc","collection":"","width":10,"height":10}}]},
			{"type":"table","attrs":{"isNumberColumnEnabled":false,"layout":"default"},"content":[
				{"type":"tableRow","content":[{"type":"tableCell","attrs":{"colspan":2},"content":[{"type":"paragraph"}]}]}]},
			{"type":"paragraph","content":[{"type":"text","text":"c","marks":[{"type":"textColor","attrs":{"color":"#ff0000"}}]},
				{"type":"hardBreak","attrs":{"text":"\n"}},{"type":"date","attrs":{"timestamp":"1700000000000"}},
				{"type":"status","attrs":{"text":"DONE","color":"green"}}]}]}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateADF(json.RawMessage(doc)); err != nil {
				t.Fatalf("ValidateADF: %v", err)
			}
		})
	}
}

func TestValidateADFRejects(t *testing.T) {
	t.Parallel()
	doc := func(content string) string { return `{"type":"doc","version":1,"content":[` + content + `]}` }
	para := func(inline string) string { return doc(`{"type":"paragraph","content":[` + inline + `]}`) }
	tests := []struct {
		name, doc, wantErr string
	}{
		{"not JSON", `{"type":`, "not a single JSON value"},
		{"trailing data", doc(``) + ` }`, "not a single JSON value"},
		{"top level is not doc", `{"type":"paragraph","version":1,"content":[]}`, "want doc"},
		{"version missing", `{"type":"doc","content":[]}`, "version 1"},
		{"version 2", `{"type":"doc","version":2,"content":[]}`, "version 1"},
		{"content missing", `{"type":"doc","version":1}`, "content array"},
		{"unknown node type", doc(`{"type":"marquee"}`), `unknown node type "marquee"`},
		{"unknown field", doc(`{"type":"rule","colour":"red"}`), `unknown field "colour"`},
		{"field names are case sensitive", `{"tYpe":"doc","version":1,"content":[]}`, "want doc"},
		{"duplicate key", doc(`{"type":"paragraph","content":[],"content":[]}`), `duplicate key "content"`},
		{"unknown attribute", doc(`{"type":"paragraph","attrs":{"align":"left"}}`), `unknown attribute "align"`},
		{"empty text", para(`{"type":"text","text":""}`), "non-empty text"},
		{"text without text", para(`{"type":"text"}`), "non-empty text"},
		{"text at doc level", doc(`{"type":"text","text":"x"}`), `"text" not allowed here in doc`},
		{"text with content", para(`{"type":"text","text":"x","content":[]}`), "content or attrs"},
		{"marks on a paragraph", doc(`{"type":"paragraph","marks":[{"type":"strong"}]}`), "marks on a paragraph"},
		{"unknown mark", para(`{"type":"text","text":"x","marks":[{"type":"blink"}]}`), "unknown mark"},
		{"repeated mark", para(`{"type":"text","text":"x","marks":[{"type":"em"},{"type":"em"}]}`), "repeated"},
		{"code with strong", para(`{"type":"text","text":"x","marks":[{"type":"code"},{"type":"strong"}]}`), "code mark combined with strong"},
		{"link without href", para(`{"type":"text","text":"x","marks":[{"type":"link","attrs":{}}]}`), "missing attribute href"},
		{"link with empty href", para(`{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":""}}]}`), "non-empty string"},
		{"heading level 7", doc(`{"type":"heading","attrs":{"level":7}}`), "out of range"},
		{"heading without level", doc(`{"type":"heading"}`), "missing attribute level"},
		{"ordered list order negative", doc(`{"type":"orderedList","attrs":{"order":-1},"content":[{"type":"listItem","content":[{"type":"paragraph"}]}]}`), "out of range"},
		{"list without items", doc(`{"type":"bulletList","content":[]}`), "at least 1"},
		{"list item starting with a list", doc(`{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph"}]}]}]}]}`), `"bulletList" not allowed here in listItem`},
		{"empty list item", doc(`{"type":"bulletList","content":[{"type":"listItem","content":[]}]}`), "at least 1"},
		{"empty table cell", doc(`{"type":"table","content":[{"type":"tableRow","content":[{"type":"tableCell","content":[]}]}]}`), "at least 1"},
		{"nested blockquote", doc(`{"type":"blockquote","content":[{"type":"blockquote","content":[{"type":"paragraph"}]}]}`), `"blockquote" not allowed here in blockquote`},
		{"heading in a list item", doc(`{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph"},{"type":"heading","attrs":{"level":1}}]}]}`), `"heading" not allowed`},
		{"marks in a code block", doc(`{"type":"codeBlock","content":[{"type":"text","text":"x","marks":[{"type":"strong"}]}]}`), "code block cannot have marks"},
		{"paragraph inside a paragraph", para(`{"type":"paragraph"}`), `"paragraph" not allowed here in paragraph`},
		{"rule with content", doc(`{"type":"rule","content":[{"type":"paragraph"}]}`), "cannot have content"},
		{"mention without id", para(`{"type":"mention","attrs":{"text":"@x"}}`), "missing attribute id"},
		{"null node", doc(`null`), "node is not an object"},
		{"version on a paragraph", doc(`{"type":"paragraph","version":1}`), `field "version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateADF(json.RawMessage(tt.doc))
			if !errors.Is(err, ErrInvalidADF) {
				t.Fatalf("ValidateADF(%s) = %v, want ErrInvalidADF", tt.doc, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
