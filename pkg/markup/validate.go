package markup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
)

// ErrInvalidADF wraps every error [ValidateADF] returns.
var ErrInvalidADF = errors.New("markup: invalid ADF")

// ValidateADF checks a document against the ADF rules Jira Cloud enforces, for the node types
// this package writes and the common ones it reads: a doc of version 1; only known node and mark
// types; no unknown fields or attributes; required attributes present and well typed (heading
// level 1–6, orderedList order ≥ 0, link href, mention id, …); text nodes with non-empty text and
// no children; marks only on text nodes, no mark twice, code combined with nothing but link, no
// marks inside code blocks; and the allowed children per node type (a listItem starts with a
// paragraph or code block, table cells are not empty, quotes do not nest, …).
func ValidateADF(doc json.RawMessage) error {
	if !json.Valid(doc) {
		return fmt.Errorf("%w: not a single JSON value", ErrInvalidADF)
	}
	if err := noDuplicateKeys(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidADF, err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidADF, err)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: document is not an object", ErrInvalidADF)
	}
	if obj["type"] != kindDoc {
		return fmt.Errorf("%w: top-level type is %v, want doc", ErrInvalidADF, obj["type"])
	}
	if v, ok := obj["version"].(json.Number); !ok || v.String() != "1" {
		return fmt.Errorf("%w: doc needs version 1", ErrInvalidADF)
	}
	if _, ok := obj["content"]; !ok {
		return fmt.Errorf("%w: doc needs a content array", ErrInvalidADF)
	}
	if err := validateNode(obj, "doc"); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidADF, err)
	}
	return nil
}

// noDuplicateKeys rejects objects that repeat a key: decoders disagree on which one wins.
func noDuplicateKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // the next string token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				top.keys[key] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value finished: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

// vNode is a node as decoded for validation; keys are matched exactly, unlike struct decoding.
type vNode struct {
	Type    string
	Attrs   map[string]any
	Content []any
	Text    *string
	Marks   []any
	has     map[string]bool
}

func decodeVNode(v any, path string) (*vNode, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: node is not an object", path)
	}
	n := &vNode{has: map[string]bool{}}
	for k, val := range obj {
		n.has[k] = true
		var ok bool
		switch k {
		case "type":
			n.Type, ok = val.(string)
		case "version":
			ok = obj["type"] == kindDoc
		case "attrs":
			n.Attrs, ok = val.(map[string]any)
		case "content":
			n.Content, ok = val.([]any)
		case "text":
			var s string
			s, ok = val.(string)
			n.Text = &s
		case "marks":
			n.Marks, ok = val.([]any)
		default:
			return nil, fmt.Errorf("%s: unknown field %q", path, k)
		}
		if !ok {
			return nil, fmt.Errorf("%s: field %q has the wrong type", path, k)
		}
	}
	if !n.has["type"] {
		return nil, fmt.Errorf("%s: node without type", path)
	}
	return n, nil
}

// attrRule checks one attribute value.
type attrRule func(any) error

type nodeSpec struct {
	// children allowed; nil means the node is a leaf and must not have content.
	children []string
	// first, when set, restricts the first child.
	first []string
	// minKids is the least number of children.
	minKids int
	// maxKids, when positive, is the most.
	maxKids  int
	attrs    map[string]attrRule
	required []string
	// requireOne: at least one of these attributes.
	requireOne []string
}

var (
	inlineKinds = []string{kindText, kindHardBreak, kindMention, "emoji", "inlineCard", "date", "status"}
	topKinds    = []string{kindParagraph, kindHeading, kindCodeBlock, kindBulletList, kindOrderedList,
		kindBlockquote, kindRule, kindTable, "panel", "mediaSingle", "mediaGroup", "blockCard"}
	listItemKinds = []string{kindParagraph, kindBulletList, kindOrderedList, kindCodeBlock, "mediaSingle"}
	quoteKinds    = []string{kindParagraph, kindBulletList, kindOrderedList, kindCodeBlock, "mediaSingle", "mediaGroup"}
	panelKinds    = []string{kindParagraph, kindHeading, kindBulletList, kindOrderedList, kindCodeBlock, kindRule,
		"mediaSingle", "mediaGroup", "blockCard"}
	cellKinds = []string{kindParagraph, kindHeading, kindBulletList, kindOrderedList, kindCodeBlock, kindBlockquote,
		kindRule, "panel", "mediaSingle", "mediaGroup", "blockCard"}
	colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// attrs builds an attribute table; every node may also carry a localId.
func attrs(m map[string]attrRule) map[string]attrRule {
	m["localId"] = isString
	return m
}

var specs = map[string]nodeSpec{
	kindDoc:       {children: topKinds, attrs: map[string]attrRule{}},
	kindParagraph: {children: inlineKinds, attrs: attrs(map[string]attrRule{})},
	kindHeading: {children: inlineKinds, required: []string{"level"},
		attrs: attrs(map[string]attrRule{"level": intRange(1, 6)})},
	kindText:      {},
	kindHardBreak: {attrs: map[string]attrRule{"text": oneOf("\n")}},
	kindCodeBlock: {children: []string{kindText},
		attrs: attrs(map[string]attrRule{"language": isString, "uniqueId": isString})},
	kindBulletList: {children: []string{kindListItem}, minKids: 1, attrs: attrs(map[string]attrRule{})},
	kindOrderedList: {children: []string{kindListItem}, minKids: 1,
		attrs: attrs(map[string]attrRule{"order": intRange(0, 1<<31-1)})},
	kindListItem: {children: listItemKinds, first: []string{kindParagraph, kindCodeBlock, "mediaSingle"}, minKids: 1,
		attrs: attrs(map[string]attrRule{})},
	kindBlockquote: {children: quoteKinds, minKids: 1, attrs: attrs(map[string]attrRule{})},
	kindRule:       {attrs: attrs(map[string]attrRule{})},
	kindTable: {children: []string{kindTableRow}, minKids: 1, attrs: attrs(map[string]attrRule{
		"isNumberColumnEnabled": isBool, "layout": isString, "width": isNumber, "displayMode": isString})},
	kindTableRow:    {children: []string{kindTableHeader, kindTableCell}, minKids: 1, attrs: attrs(map[string]attrRule{})},
	kindTableHeader: {children: cellKinds, minKids: 1, attrs: cellAttrs()},
	kindTableCell:   {children: cellKinds, minKids: 1, attrs: cellAttrs()},
	kindMention: {required: []string{"id"}, attrs: attrs(map[string]attrRule{
		"id": nonEmptyString, "text": isString, "accessLevel": isString, "userType": isString})},
	"emoji": {required: []string{"shortName"}, attrs: attrs(map[string]attrRule{
		"shortName": nonEmptyString, "id": isString, "text": isString})},
	"inlineCard": {requireOne: []string{"url", "data"}, attrs: attrs(map[string]attrRule{
		"url": nonEmptyString, "data": isObject})},
	"blockCard": {requireOne: []string{"url", "data"}, attrs: attrs(map[string]attrRule{
		"url": nonEmptyString, "data": isObject, "layout": isString, "width": isNumber, "datasource": isObject})},
	"date": {required: []string{"timestamp"}, attrs: attrs(map[string]attrRule{"timestamp": nonEmptyString})},
	"status": {required: []string{"text", "color"}, attrs: attrs(map[string]attrRule{
		"text": isString, "color": oneOf("neutral", "purple", "blue", "red", "yellow", "green"), "style": isString})},
	"panel": {children: panelKinds, minKids: 1, required: []string{"panelType"}, attrs: attrs(map[string]attrRule{
		"panelType": oneOf("info", "note", "tip", "warning", "error", "success", "custom"),
		"panelIcon": isString, "panelIconId": isString, "panelIconText": isString, "panelColor": isString})},
	"mediaSingle": {children: []string{"media"}, minKids: 1, maxKids: 1, attrs: attrs(map[string]attrRule{
		"layout": isString, "width": isNumber, "widthType": isString})},
	"mediaGroup": {children: []string{"media"}, minKids: 1, attrs: map[string]attrRule{}},
	"media": {required: []string{"type"}, attrs: attrs(map[string]attrRule{
		"type": oneOf("file", "link", "external"), "id": isString, "collection": isString, "url": isString,
		"alt": isString, "width": isNumber, "height": isNumber, "occurrenceKey": isString})},
}

func cellAttrs() map[string]attrRule {
	return attrs(map[string]attrRule{"colspan": intRange(1, 1000), "rowspan": intRange(1, 1000),
		"colwidth": isArray, "background": isString})
}

var markAttrs = map[string]map[string]attrRule{
	"strong":    {},
	"em":        {},
	"strike":    {},
	"underline": {},
	"code":      {},
	"link": {"href": nonEmptyString, "title": isString, "id": isString, "collection": isString,
		"occurrenceKey": isString},
	"textColor":       {"color": func(v any) error { return matches(v, colorRe) }},
	"backgroundColor": {"color": func(v any) error { return matches(v, colorRe) }},
	"subsup":          {"type": oneOf("sub", "sup")},
}

var markRequired = map[string][]string{"link": {"href"}, "textColor": {"color"},
	"backgroundColor": {"color"}, "subsup": {"type"}}

func validateNode(raw any, path string) error {
	n, err := decodeVNode(raw, path)
	if err != nil {
		return err
	}
	spec, ok := specs[n.Type]
	if !ok {
		return fmt.Errorf("%s: unknown node type %q", path, n.Type)
	}
	if n.Type == kindText {
		if n.Text == nil || *n.Text == "" {
			return fmt.Errorf("%s: text node needs non-empty text", path)
		}
		if n.has["content"] || n.has["attrs"] {
			return fmt.Errorf("%s: text node has content or attrs", path)
		}
		return validateMarks(n.Marks, path)
	}
	if n.has["text"] {
		return fmt.Errorf("%s: only text nodes have text", path)
	}
	if n.has["marks"] {
		return fmt.Errorf("%s: marks on a %s node", path, n.Type)
	}
	if err := validateAttrs(n.Attrs, spec.attrs, spec.required, path); err != nil {
		return err
	}
	if len(spec.requireOne) > 0 && !slices.ContainsFunc(spec.requireOne, func(k string) bool {
		_, ok := n.Attrs[k]
		return ok
	}) {
		return fmt.Errorf("%s: %s needs one of the attributes %v", path, n.Type, spec.requireOne)
	}
	if n.Type == "media" {
		if err := validateMedia(n.Attrs, path); err != nil {
			return err
		}
	}
	if spec.children == nil {
		if len(n.Content) > 0 {
			return fmt.Errorf("%s: %s cannot have content", path, n.Type)
		}
		return nil
	}
	if len(n.Content) < spec.minKids {
		return fmt.Errorf("%s: %s needs at least %d child nodes", path, n.Type, spec.minKids)
	}
	if spec.maxKids > 0 && len(n.Content) > spec.maxKids {
		return fmt.Errorf("%s: %s allows at most %d child nodes", path, n.Type, spec.maxKids)
	}
	for i, raw := range n.Content {
		kp := fmt.Sprintf("%s.content[%d]", path, i)
		obj, _ := raw.(map[string]any)
		kind, _ := obj["type"].(string)
		allowed := spec.children
		if i == 0 && spec.first != nil {
			allowed = spec.first
		}
		if _, known := specs[kind]; known && !slices.Contains(allowed, kind) {
			return fmt.Errorf("%s: %q not allowed here in %s", kp, kind, n.Type)
		}
		if _, hasMarks := obj["marks"]; n.Type == kindCodeBlock && hasMarks {
			return fmt.Errorf("%s: text in a code block cannot have marks", kp)
		}
		if err := validateNode(raw, kp); err != nil {
			return err
		}
	}
	return nil
}

func validateMarks(marks []any, path string) error {
	seen := map[string]bool{}
	for i, raw := range marks {
		mp := fmt.Sprintf("%s.marks[%d]", path, i)
		m, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: mark is not an object", mp)
		}
		var attrs map[string]any
		for k, v := range m {
			switch k {
			case "type":
			case "attrs":
				if attrs, ok = v.(map[string]any); !ok {
					return fmt.Errorf("%s: attrs is not an object", mp)
				}
			default:
				return fmt.Errorf("%s: unknown field %q", mp, k)
			}
		}
		typ, _ := m["type"].(string)
		rules, ok := markAttrs[typ]
		if !ok {
			return fmt.Errorf("%s: unknown mark %v", mp, m["type"])
		}
		if seen[typ] {
			return fmt.Errorf("%s: mark %s repeated", mp, typ)
		}
		seen[typ] = true
		if err := validateAttrs(attrs, rules, markRequired[typ], mp); err != nil {
			return err
		}
	}
	if seen["code"] {
		for t := range seen {
			if t != "code" && t != "link" {
				return fmt.Errorf("%s: code mark combined with %s", path, t)
			}
		}
	}
	return nil
}

func validateAttrs(attrs map[string]any, rules map[string]attrRule, required []string, path string) error {
	for k, v := range attrs {
		rule, ok := rules[k]
		if !ok {
			return fmt.Errorf("%s: unknown attribute %q", path, k)
		}
		if err := rule(v); err != nil {
			return fmt.Errorf("%s: attribute %s: %v", path, k, err)
		}
	}
	for _, k := range required {
		if _, ok := attrs[k]; !ok {
			return fmt.Errorf("%s: missing attribute %s", path, k)
		}
	}
	return nil
}

func validateMedia(attrs map[string]any, path string) error {
	switch attrs["type"] {
	case "external":
		if s, _ := attrs["url"].(string); s == "" {
			return fmt.Errorf("%s: external media needs a url", path)
		}
	default:
		id, _ := attrs["id"].(string)
		coll, hasColl := attrs["collection"].(string)
		if id == "" || !hasColl {
			return fmt.Errorf("%s: %v media needs id and collection (%q)", path, attrs["type"], coll)
		}
	}
	return nil
}

func isString(v any) error {
	if _, ok := v.(string); !ok {
		return fmt.Errorf("want a string, got %T", v)
	}
	return nil
}

func nonEmptyString(v any) error {
	if s, ok := v.(string); !ok || s == "" {
		return errors.New("want a non-empty string")
	}
	return nil
}

func isBool(v any) error {
	if _, ok := v.(bool); !ok {
		return fmt.Errorf("want a boolean, got %T", v)
	}
	return nil
}

func isNumber(v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Errorf("want a number, got %T", v)
	}
	if _, err := n.Float64(); err != nil {
		return err
	}
	return nil
}

func isArray(v any) error {
	if _, ok := v.([]any); !ok {
		return fmt.Errorf("want an array, got %T", v)
	}
	return nil
}

func isObject(v any) error {
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("want an object, got %T", v)
	}
	return nil
}

func intRange(lo, hi int64) attrRule {
	return func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("want an integer, got %T", v)
		}
		i, err := n.Int64()
		if err != nil {
			return fmt.Errorf("want an integer, got %s", n)
		}
		if i < lo || i > hi {
			return fmt.Errorf("%d out of range %d..%d", i, lo, hi)
		}
		return nil
	}
}

func oneOf(values ...string) attrRule {
	return func(v any) error {
		s, ok := v.(string)
		if !ok || !slices.Contains(values, s) {
			return fmt.Errorf("want one of %q", values)
		}
		return nil
	}
}

func matches(v any, re *regexp.Regexp) error {
	s, ok := v.(string)
	if !ok || !re.MatchString(s) {
		return fmt.Errorf("want a string matching %s", re)
	}
	return nil
}
