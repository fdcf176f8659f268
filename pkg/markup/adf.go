package markup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	fastjson "github.com/goccy/go-json"
)

// ErrInvalidMention is returned when a mention option has no account id.
var ErrInvalidMention = errors.New("markup: mention needs an account id")

// ADFOption configures [MarkdownToADF].
type ADFOption func(*adfConfig)

type adfConfig struct {
	mentionID, mentionName string
	mention                bool
}

// WithMention starts the document with an ADF mention node for accountID, shown as
// "@displayName". When the Markdown starts with a paragraph the mention opens that paragraph;
// otherwise it gets a paragraph of its own.
func WithMention(accountID, displayName string) ADFOption {
	return func(c *adfConfig) {
		c.mention = true
		c.mentionID = strings.TrimSpace(accountID)
		c.mentionName = strings.TrimSpace(displayName)
	}
}

// MarkdownToADF renders Markdown (CommonMark with GFM tables, strikethrough and autolinks) as an
// ADF document (version 1). The result always passes [ValidateADF].
func MarkdownToADF(md string, opts ...ADFOption) (json.RawMessage, error) {
	var cfg adfConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mention && cfg.mentionID == "" {
		return nil, ErrInvalidMention
	}
	out, err := convertMarkdown(md, func(w io.Writer, blocks []*node) error {
		if cfg.mention {
			attrs := map[string]any{"id": cfg.mentionID}
			if cfg.mentionName != "" {
				attrs["text"] = "@" + strings.TrimPrefix(cfg.mentionName, "@")
			}
			blocks = prependInline(blocks, &node{kind: kindMention, attrs: attrs})
		}
		return writeADF(w, blocks)
	})
	if err != nil {
		return nil, fmt.Errorf("markup: render ADF: %w", err)
	}
	if err := ValidateADF(out); err != nil {
		// A renderer bug, never the input's fault; refuse rather than send Jira a 400.
		return nil, fmt.Errorf("markup: rendered ADF is invalid: %w", err)
	}
	return json.RawMessage(out), nil
}

// prependInline puts an inline node (a mention) at the start of the first paragraph, followed by
// a space, or in a paragraph of its own when the document does not start with one.
func prependInline(blocks []*node, n *node) []*node {
	if len(blocks) > 0 && blocks[0].kind == kindParagraph {
		p := *blocks[0]
		p.kids = mergeText(append([]*node{n, textNode(" ", style{})}, p.kids...))
		return append([]*node{&p}, blocks[1:]...)
	}
	return append([]*node{block(kindParagraph, n)}, blocks...)
}

// adfNode is the JSON shape of an ADF node.
type adfNode struct {
	Type    string         `json:"type"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []*adfNode     `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []adfMark      `json:"marks,omitempty"`
}

type adfMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

type adfDoc struct {
	Type    string     `json:"type"`
	Version int        `json:"version"`
	Content []*adfNode `json:"content"`
}

func writeADF(w io.Writer, blocks []*node) error {
	doc := adfDoc{Type: kindDoc, Version: 1, Content: []*adfNode{}}
	for _, b := range blocks {
		doc.Content = append(doc.Content, toADF(b))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return err
}

func toADF(n *node) *adfNode {
	a := &adfNode{Type: n.kind, Attrs: n.attrs, Text: n.text}
	if n.kind == kindText {
		a.Marks = marksOf(n.st)
	}
	for _, k := range n.kids {
		a.Content = append(a.Content, toADF(k))
	}
	return a
}

func marksOf(st style) []adfMark {
	st = st.normalized()
	var m []adfMark
	if st.strong {
		m = append(m, adfMark{Type: "strong"})
	}
	if st.em {
		m = append(m, adfMark{Type: "em"})
	}
	if st.strike {
		m = append(m, adfMark{Type: "strike"})
	}
	if st.underline {
		m = append(m, adfMark{Type: "underline"})
	}
	if st.code {
		m = append(m, adfMark{Type: "code"})
	}
	if st.href != "" {
		m = append(m, adfMark{Type: "link", Attrs: map[string]any{"href": st.href}})
	}
	return m
}

// parseADF decodes a document leniently (unknown nodes, marks and fields are kept or ignored).
// JSON null yields an empty document, a JSON string a document holding that text.
func parseADF(raw json.RawMessage) (*node, error) {
	return parseADFIn(raw, nil)
}

// parseADFIn is parseADF with the tree in sc's arrays (see scratch).
func parseADFIn(raw json.RawMessage, sc *scratch) (*node, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return block(kindDoc), nil
	}
	if trimmed[0] == '"' {
		var s string
		if err := json.Unmarshal(trimmed, &s); err != nil {
			return nil, fmt.Errorf("markup: decode ADF: %w", err)
		}
		return textDoc(s), nil
	}
	if root, ok := decodeADFFastIn(trimmed, sc); ok {
		return root, nil
	}
	var a adfIn
	// goccy/go-json decodes the same into the same types (numbers as
	// float64 in attrs) at a fraction of encoding/json's cost: this decode
	// was a third of a Jira ticket's conversion (issue 9).
	if err := fastjson.Unmarshal(trimmed, &a); err != nil {
		return nil, fmt.Errorf("markup: decode ADF: %w", err)
	}
	root := &node{}
	fromADF(&a, root)
	return root, nil
}

// adfIn is adfNode as parseADF decodes it: children by value, so the
// decoder allocates one array per child list instead of one object per
// child (issue 9: a node per allocation was a tenth of a conversion's).
type adfIn struct {
	Type    string         `json:"type"`
	Attrs   map[string]any `json:"attrs"`
	Content []*adfIn       `json:"content"`
	Text    string         `json:"text"`
	Marks   []adfMark      `json:"marks"`
}

// textDoc turns plain text into paragraphs (blank-line separated) with hard breaks.
func textDoc(s string) *node {
	doc := block(kindDoc)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, para := range strings.Split(s, "\n\n") {
		var kids []*node
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				kids = append(kids, block(kindHardBreak))
			}
			kids = append(kids, textNode(line, style{}))
		}
		if kids = tidyInline(mergeText(kids)); len(kids) > 0 {
			doc.kids = append(doc.kids, block(kindParagraph, kids...))
		}
	}
	return doc
}

// fromADF fills n from a. The children of a node are allocated together,
// one array of nodes and one of pointers, rather than one by one.
func fromADF(a *adfIn, n *node) {
	*n = node{kind: a.Type, attrs: a.Attrs, text: a.Text}
	if a.Type == kindText {
		for _, m := range a.Marks {
			switch m.Type {
			case "strong":
				n.st.strong = true
			case "em":
				n.st.em = true
			case "strike":
				n.st.strike = true
			case "underline":
				n.st.underline = true
			case "code":
				n.st.code = true
			case "link":
				if href, ok := m.Attrs["href"].(string); ok && safeHref(href) {
					n.st.href = href
				}
			}
		}
		n.st = n.st.normalized()
	}
	count := 0
	for _, k := range a.Content {
		if k != nil {
			count++
		}
	}
	if count == 0 {
		return
	}
	slab := make([]node, count)
	n.kids = make([]*node, 0, count)
	for _, k := range a.Content {
		if k != nil {
			kid := &slab[len(n.kids)]
			fromADF(k, kid)
			n.kids = append(n.kids, kid)
		}
	}
}
