package markup

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodeADFFast reads an ADF document straight into the shared tree.
//
// Why not a library: every Jira Cloud ticket carries its description (and
// comments) as ADF, so this decode runs once per discovered ticket. Through
// goccy/go-json it cost ~50 allocations per bench ticket (a reflect-made
// object per node, its content and marks arrays, attrs maps) before
// fromADF copied the result into the tree again: a sixth of a ticket's
// allocations (issue 9). This reader allocates the tree's nodes one array
// per child list and nothing else but strings and attrs maps.
//
// It is only a fast path: it accepts the common, plainly spelled documents
// and reports ok=false for anything where it might not agree with the
// library (malformed JSON, odd spellings of the known keys, duplicate keys,
// nested attrs values, numbers other than plain decimals, invalid UTF-8,
// escaped surrogates); parseADF then decodes with go-json as before.
// TestADFFastDecodeMatchesLibrary and FuzzADFFastDecode compare the two.
func decodeADFFast(b []byte) (*node, bool) {
	return decodeADFFastIn(b, nil)
}

// decodeADFFastIn is decodeADFFast with the tree's arrays taken from sc
// (nil: new ones); the tree is valid until sc is released.
func decodeADFFastIn(b []byte, sc *scratch) (*node, bool) {
	// One copy of the input as a string: every text, type and attribute
	// is a substring of it rather than an allocation of its own. With a
	// scratch, the tree lives only while the conversion runs, whose
	// result is copied out of its renderings (copyOut): the input itself,
	// which the caller does not change during the call, serves.
	d := adfDecoder{b: b}
	if sc != nil {
		d.s = unsafe.String(unsafe.SliceData(b), len(b))
	} else {
		d.s = string(b)
	}
	// Every node is an object, so the number of "{" bounds the number of
	// nodes: one array holds them all, and one their parents' pointers.
	// The root is the arena's first node, and the pointers and the stack
	// share one array, each with its own capped half.
	var root *node
	if n := bytes.Count(b, []byte("{")); n > 1 {
		d.nodes = sc.nodesOf(n + 1)[:1]
		root = &d.nodes[0]
		ptrs := sc.ptrsOf(2 * n)
		d.ptrs, d.stack = ptrs[:0:n], ptrs[n:n:2*n]
	} else {
		root = &node{}
	}
	if !d.node(root, 0) {
		return nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	return root, true
}

type adfDecoder struct {
	b     []byte
	s     string // b as a string
	i     int
	nodes []node  // the arena for nodes
	ptrs  []*node // and for the kids slices
	stack []*node // children decoded so far, of every open content array
}

// newNode takes a node from the arena (or makes one when the arena is
// short, which its bound rules out).
func (d *adfDecoder) newNode() *node {
	if len(d.nodes) == cap(d.nodes) {
		return new(node)
	}
	d.nodes = d.nodes[:len(d.nodes)+1]
	return &d.nodes[len(d.nodes)-1]
}

// kidsOf copies a list of children into the pointer arena.
func (d *adfDecoder) kidsOf(kids []*node) []*node {
	n := len(kids)
	if len(d.ptrs)+n > cap(d.ptrs) {
		return append([]*node(nil), kids...)
	}
	out := d.ptrs[len(d.ptrs) : len(d.ptrs)+n : len(d.ptrs)+n]
	d.ptrs = d.ptrs[:len(d.ptrs)+n]
	copy(out, kids)
	return out
}

// maxDecodeDepth bounds recursion; deeper documents take the library path.
const maxDecodeDepth = 200

func (d *adfDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c.
func (d *adfDecoder) next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *adfDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *adfDecoder) null() bool {
	d.ws()
	return d.literal("null")
}

// object walks an object's members, calling member with each key (the
// decoder then stands before the value, which member must consume). Keys
// with escapes are left to the library.
func (d *adfDecoder) object(member func(key string) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		key, ok := d.key()
		if !ok || !d.next(':') || !member(key) {
			return false
		}
		if d.next(',') {
			continue
		}
		return d.next('}')
	}
}

// key reads an object key without escapes, a substring of the input.
func (d *adfDecoder) key() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.s[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return "", false
		}
		d.i++
	}
	return "", false
}

// Fields of a node, in the order of fieldNames.
const (
	fieldType = iota
	fieldAttrs
	fieldContent
	fieldText
	fieldMarks
	fieldOther
)

var fieldNames = [...]string{"type", "attrs", "content", "text", "marks"}

// field names key among names: exactly (index, true), or one the library
// would take for a field in another case, which this reader leaves to it
// (false); fieldOther for any other key.
func field(key string, names []string) (int, bool) {
	for i, f := range names {
		if key == f {
			return i, true
		}
		if strings.EqualFold(key, f) {
			return 0, false
		}
	}
	return fieldOther, true
}

func (d *adfDecoder) node(n *node, depth int) bool {
	if depth > maxDecodeDepth {
		return false
	}
	var seen [fieldOther]bool
	var st style
	hasMarks := false
	ok := d.object(func(key string) bool {
		f, ok := field(key, fieldNames[:])
		if !ok {
			return false
		}
		if f != fieldOther {
			if seen[f] {
				return false // a repeated key: leave its meaning to the library
			}
			seen[f] = true
		}
		switch f {
		case fieldType:
			return d.strOrNull(&n.kind)
		case fieldText:
			return d.strOrNull(&n.text)
		case fieldAttrs:
			if d.null() {
				return true
			}
			m, ok := d.attrs()
			n.attrs = m
			return ok
		case fieldContent:
			if d.null() {
				return true
			}
			var ok bool
			n.kids, ok = d.children(depth)
			return ok
		case fieldMarks:
			if d.null() {
				return true
			}
			var ok bool
			st, ok = d.marks()
			hasMarks = true
			return ok
		}
		return d.skip(depth)
	})
	if !ok {
		return false
	}
	if n.kind == kindText && hasMarks {
		n.st = st.normalized()
	}
	return true
}

// children decodes a content array in one pass: the children's pointers
// wait on d.stack until the array ends, then move to the arena together.
// Null elements are skipped (the library decodes a nil child, which
// fromADF skips).
func (d *adfDecoder) children(depth int) ([]*node, bool) {
	if !d.next('[') {
		return nil, false
	}
	if d.next(']') {
		return nil, true
	}
	mark := len(d.stack)
	defer func() { d.stack = d.stack[:mark] }()
	for {
		if !d.null() {
			if d.peek() != '{' {
				return nil, false
			}
			k := d.newNode()
			if !d.node(k, depth+1) {
				return nil, false
			}
			d.stack = append(d.stack, k)
		}
		if d.next(',') {
			continue
		}
		if !d.next(']') {
			return nil, false
		}
		if len(d.stack) == mark {
			return nil, true
		}
		return d.kidsOf(d.stack[mark:]), true
	}
}

// marks decodes a marks array into the style fromADF makes of it.
func (d *adfDecoder) marks() (style, bool) {
	var st style
	if !d.next('[') {
		return st, false
	}
	if d.next(']') {
		return st, true
	}
	for {
		if !d.null() {
			var typ, href string
			var seenType, seenAttrs, hrefOK bool
			ok := d.object(func(key string) bool {
				f, ok := field(key, fieldNames[:2])
				switch {
				case !ok:
					return false
				case f == fieldType:
					if seenType {
						return false
					}
					seenType = true
					return d.strOrNull(&typ)
				case f == fieldAttrs:
					if seenAttrs {
						return false
					}
					seenAttrs = true
					if d.null() {
						return true
					}
					// Only href matters: read it without a map (issue 9).
					var ok bool
					href, hrefOK, ok = d.attrHref()
					return ok
				}
				return d.skip(0)
			})
			if !ok {
				return st, false
			}
			switch typ {
			case "strong":
				st.strong = true
			case "em":
				st.em = true
			case "strike":
				st.strike = true
			case "underline":
				st.underline = true
			case "code":
				st.code = true
			case "link":
				if hrefOK && safeHref(href) {
					st.href = href
				}
			}
		}
		if d.next(',') {
			continue
		}
		return st, d.next(']')
	}
}

// attrHref reads a mark's flat attrs object as attrs does, and returns
// what m["href"].(string) would of its map, without making the map (keys
// are never repeated: href is a string value or not there).
func (d *adfDecoder) attrHref() (href string, isString, ok bool) {
	// Keys seen, to refuse a duplicate as attrs does: a mark's attrs
	// have a key or two; a mark with more than eight leaves its document
	// to the library.
	var seenArr [8]string
	seen := seenArr[:0]
	ok = d.object(func(k string) bool {
		if slices.Contains(seen, k) || len(seen) == cap(seen) {
			return false
		}
		seen = append(seen, k)
		switch c := d.peek(); {
		case c == '"':
			s, ok := d.str()
			if k == "href" {
				href, isString = s, true
			}
			return ok
		case c == 't':
			return d.literal("true")
		case c == 'f':
			return d.literal("false")
		case c == 'n':
			return d.null()
		case c == '-' || c >= '0' && c <= '9':
			_, ok := d.number()
			return ok
		}
		return false // nested objects and arrays: the library's job
	})
	return href, isString, ok
}

// attrs decodes a flat attrs object: string, number, boolean and null
// values, as the library would into map[string]any.
func (d *adfDecoder) attrs() (map[string]any, bool) {
	m := map[string]any{}
	ok := d.object(func(k string) bool {
		if _, dup := m[k]; dup {
			return false
		}
		key := k
		switch c := d.peek(); {
		case c == '"':
			s, ok := d.str()
			m[key] = s
			return ok
		case c == 't' || c == 'f':
			if d.literal("true") {
				m[key] = true
				return true
			}
			if d.literal("false") {
				m[key] = false
				return true
			}
			return false
		case c == 'n':
			if d.null() {
				m[key] = nil
				return true
			}
			return false
		case c == '-' || c >= '0' && c <= '9':
			f, ok := d.number()
			m[key] = f
			return ok
		}
		return false // nested objects and arrays: the library's job
	})
	return m, ok
}

func (d *adfDecoder) literal(s string) bool {
	d.ws()
	if bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		d.i += len(s)
		return true
	}
	return false
}

// number reads a plain decimal: an optional minus, digits without a
// leading zero, an optional fraction (no exponent).
func (d *adfDecoder) number() (float64, bool) {
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || d.b[digits] == '0' && d.i-digits > 1 {
		return 0, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		frac := d.i
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
		if d.i == frac {
			return 0, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	return f, err == nil
}

func (d *adfDecoder) strOrNull(dst *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.str()
	*dst = s
	return ok
}

// str reads a JSON string: valid UTF-8, no control characters, the
// standard escapes, \u escapes outside the surrogate range or as a valid
// pair.
func (d *adfDecoder) str() (string, bool) {
	return d.scan()
}

// scan reads a string.
func (d *adfDecoder) scan() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	// Eight plain ASCII bytes (no quote, backslash or control character)
	// at a time: a description's text is mostly such.
	for d.i+8 <= len(d.b) && plain8(binary.LittleEndian.Uint64(d.b[d.i:])) {
		d.i += 8
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, true
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			d.i += size
		}
	}
	return "", false
}

// plain8 reports whether none of the eight bytes of x is a quote, a
// backslash, a control character or a byte of a multi-byte sequence
// (bit tricks over the word: a byte below n is one whose subtraction of n
// borrows into its top bit while its own top bit is clear; a false alarm
// only sends the bytes to the loop that reads them one by one).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(v uint64, n uint64) uint64 { return (v - ones*n) & ^v & highs }
	zeroAt := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return x&highs == 0 && below(x, 0x20) == 0 && zeroAt(x^(ones*'"')) == 0 && zeroAt(x^(ones*'\\')) == 0
}

// escapedStr is str's slow path from the first backslash on.
func (d *adfDecoder) escapedStr(start int) (string, bool) {
	buf := make([]byte, 0, d.i-start+16)
	buf = append(buf, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), true
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", false
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || d.i+1 >= len(d.b) || d.b[d.i] != '\\' || d.b[d.i+1] != 'u' {
						return "", false
					}
					d.i += 2
					r2, ok := d.hex4()
					if !ok {
						return "", false
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", false
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			buf = append(buf, d.b[d.i:d.i+size]...)
			d.i += size
		}
	}
	return "", false
}

func (d *adfDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// skip consumes any JSON value, checking its syntax.
func (d *adfDecoder) skip(depth int) bool {
	if depth > maxDecodeDepth {
		return false
	}
	switch c := d.peek(); {
	case c == '{':
		return d.object(func(string) bool { return d.skip(depth + 1) })
	case c == '[':
		d.i++
		if d.next(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if d.next(',') {
				continue
			}
			return d.next(']')
		}
	case c == '"':
		_, ok := d.scan()
		return ok
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.null()
	case c == '-' || c >= '0' && c <= '9':
		_, ok := d.number()
		return ok
	}
	return false
}
