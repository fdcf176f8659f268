package trackerhttp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Scanner decodes one listing page (a few hundred kB of JSON) in a single
// pass over the caller's buffer, reading only the fields the tracker uses
// and skipping the rest without building anything.
//
// Why hand-written (issue 9, requirement 4, measured in docs/discovery.md):
//   - goccy/go-json's Unmarshal copies the whole page before decoding (its
//     strings alias the copy, so the page lives as long as any ticket);
//   - valyala/fastjson (pooled parsers, tried first) builds a value for
//     every field of the page, user objects' ~18 URLs included: no
//     allocation, but no less CPU than go-json on a GitLab page;
//   - tidwall/gjson copies a []byte input into a string and re-scans for
//     each field; segmentio/encoding allocates each string separately and
//     spent as much CPU as go-json.
//
// It is only for the hot listing structs (GitHub and GitLab issue pages),
// each tested against the vendor library's decoding of vendor-shaped pages
// (decode_internal_test.go in each tracker). Use it pull-style: Array and
// Object call back once per element or key, and the callback consumes
// exactly one value (String, Int64, Time, Object, Array or Skip).
//
// Strings are copied out of the buffer into shared blocks (see String), so
// nothing read refers to the buffer once Decode has returned. The first
// error stops the scan; Decode reports it wrapping ErrMalformed.
type Scanner struct {
	buf   []byte
	pos   int
	depth int
	err   error
	block []byte // where String copies strings to
	key   []byte // an unescaped object key
	// keyEscaped: the key Object last passed had escapes (KeyEscaped).
	keyEscaped bool
	// lastEscaped: the string rawString last read had escapes.
	lastEscaped bool
	// strict: Skip refuses raw control characters too (Strict).
	strict bool
	// printable: the string stringEnd last found is printable ASCII
	// without escapes.
	printable bool
}

// maxDepth bounds the nesting Skip follows (encoding/json's is 10,000).
const maxDepth = 1000

// stringBlock is the size of the blocks String copies a page's strings
// into; a longer string gets an allocation of its own.
const stringBlock = 16 << 10

// Decode scans body, whose one JSON value read consumes; anything but
// whitespace after it is an error.
func Decode(body []byte, read func(s *Scanner)) error {
	s := &Scanner{buf: body}
	read(s)
	return s.Finish()
}

// Reset starts a scan of body on s; Finish ends it as Decode does. For a
// caller that keeps its Scanner in a local variable: Decode's callback
// makes its Scanner escape, an allocation per document (PagerDuty reads a
// hundred single-incident answers per page).
func (s *Scanner) Reset(body []byte) { *s = Scanner{buf: body} }

// Finish checks that only white space is left after the value read, and
// reports the scan's first error wrapping ErrMalformed.
func (s *Scanner) Finish() error {
	if s.err == nil {
		if s.ws(); s.pos < len(s.buf) {
			s.fail("data after the JSON value")
		}
	}
	if s.err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, s.err)
	}
	return nil
}

// Err is the first error of the scan.
func (s *Scanner) Err() error { return s.err }

// Fail stops the scan with err, unless it has already failed.
func (s *Scanner) Fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *Scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("offset %d: "+format, append([]any{s.pos}, args...)...)
	}
}

func (s *Scanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek is the first byte of the next value (0 at the end or after an error).
func (s *Scanner) peek() byte {
	if s.err != nil {
		return 0
	}
	// Most values follow their ':' or ',' directly (pages are compact):
	// one byte compared before the white-space loop.
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return s.buf[s.pos]
	}
	if s.ws(); s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	s.fail("unexpected end of JSON")
	return 0
}

// Null consumes a null and reports true, or consumes nothing and reports
// false.
func (s *Scanner) Null() bool {
	if s.peek() != 'n' {
		return false
	}
	s.literal("null")
	return true
}

func (s *Scanner) literal(lit string) {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		s.fail("invalid literal")
		return
	}
	s.pos += len(lit)
}

// kind names the next value for an error message.
func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (s *Scanner) mismatch(name string, c byte, want string) {
	s.fail("field %s: %s where %s was expected", name, kind(c), want)
}

// Array calls each once per element of an array (each consumes it); null
// reads as no elements. It reports whether the value was an array (false
// for null and after an error).
func (s *Scanner) Array(name string, each func()) bool {
	switch c := s.peek(); c {
	case 0:
		return false
	case 'n':
		s.literal("null")
		return false
	case '[':
	default:
		s.mismatch(name, c, "an array")
		return false
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		s.fail("nested too deep")
		return false
	}
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return true
	}
	for s.err == nil {
		each()
		switch s.peek() {
		case ',':
			if s.pos++; s.peek() == ']' {
				s.fail("expected a value after , in an array")
			}
		case ']':
			s.pos++
			s.depth--
			return true
		default:
			s.fail("expected , or ] in an array")
		}
	}
	s.depth--
	return false
}

// Object calls each once per key of an object (each consumes its value;
// key is only valid during the call); null reads as no keys. It reports
// whether the value was an object.
func (s *Scanner) Object(name string, each func(key []byte)) bool {
	switch c := s.peek(); c {
	case 0:
		return false
	case 'n':
		s.literal("null")
		return false
	case '{':
	default:
		s.mismatch(name, c, "an object")
		return false
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		s.fail("nested too deep")
		return false
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return true
	}
	for s.err == nil {
		if s.peek() != '"' {
			s.fail("expected a key")
			s.depth--
			return false
		}
		key := s.rawString()
		s.keyEscaped = s.lastEscaped
		if s.peek() != ':' {
			s.fail("expected : after a key")
			s.depth--
			return false
		}
		s.pos++
		each(key)
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return true
		default:
			s.fail("expected , or } in an object")
		}
	}
	s.depth--
	return false
}

// String reads a string (null: ""), copied out of the buffer.
//
// The strings of one page are copied into shared blocks of stringBlock
// bytes rather than each into its own allocation: a ticket keeps five to
// ten strings (URL, title, body, state, logins, labels), which as separate
// allocations were most of a page's allocations once the page itself was
// no longer copied. A block is only appended to within its capacity and
// never written where a string already points, so the strings are
// immutable as Go requires; a block lives as long as any of its strings
// (a page's tickets, which live alike), and holds only the kept bytes.
func (s *Scanner) String(name string) string {
	switch c := s.peek(); c {
	case 0:
		return ""
	case 'n':
		s.literal("null")
		return ""
	case '"':
	default:
		s.mismatch(name, c, "a string")
		return ""
	}
	// Unescaped into the block directly: reserve the raw length, which
	// the unescaped string never exceeds.
	end, escaped := s.stringEnd()
	if s.err != nil {
		return ""
	}
	n := end - s.pos - 1
	if n == 0 {
		s.pos = end + 1
		return ""
	}
	var dst []byte
	switch {
	case n > stringBlock/4:
		dst = make([]byte, 0, n)
	case n > cap(s.block)-len(s.block):
		s.block = make([]byte, 0, stringBlock)
		fallthrough
	default:
		dst = s.block[len(s.block):len(s.block):cap(s.block)]
	}
	s.checkControl(s.buf[s.pos+1 : end])
	if escaped {
		dst = s.unescape(dst, s.buf[s.pos+1:end])
	} else {
		dst = append(dst, s.buf[s.pos+1:end]...)
	}
	s.pos = end + 1
	if len(dst) == 0 || s.err != nil {
		return ""
	}
	if n <= stringBlock/4 {
		s.block = s.block[:len(s.block)+len(dst)]
	}
	return unsafe.String(&dst[0], len(dst))
}

// stringEnd finds the closing quote of the string at s.pos, and whether it
// holds escapes. It searches with bytes.IndexByte (vectorised): a
// byte-by-byte loop was half of a page's decoding. Raw control characters,
// which JSON forbids, are refused in the strings read (String, keys,
// times), not looked for in the ones skipped.
func (s *Scanner) stringEnd() (int, bool) {
	// Short strings (keys, ids, states) end before IndexByte's call and
	// setup pay off: their first bytes are looked at one by one, and one
	// of printable ASCII only needs no other check (s.printable).
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i, n := s.pos+1, min(len(s.buf), s.pos+1+shortString)
	for ; i+8 <= n; i += 8 {
		// Eight bytes at a time while none is a quote, a backslash, a
		// control character or non-ASCII (see checkControl for the
		// arithmetic; (v-ones)&^v flags a zero byte of v).
		x := binary.LittleEndian.Uint64(s.buf[i:])
		q, b := x^('"'*ones), x^('\\'*ones)
		if ((q-ones)&^q|(b-ones)&^b|(x-0x20*ones)&^x|x)&highs != 0 {
			break
		}
	}
	for ; i < n; i++ {
		c := s.buf[i]
		if c == '"' {
			s.printable = true
			return i, false
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	s.printable = false
	escaped := false
	for i := s.pos + 1; ; {
		j := bytes.IndexByte(s.buf[i:], '"')
		if j < 0 {
			s.fail("unterminated string")
			return 0, false
		}
		end := i + j
		if !escaped && bytes.IndexByte(s.buf[i:end], '\\') >= 0 {
			escaped = true
		}
		if escaped {
			// The quote is escaped when an odd run of backslashes precedes it.
			n := 0
			for k := end - 1; k > s.pos && s.buf[k] == '\\'; k-- {
				n++
			}
			if n%2 == 1 {
				i = end + 1
				continue
			}
		}
		return end, escaped
	}
}

// shortString is how many bytes stringEnd looks at one by one.
const shortString = 32

// checkControl refuses the raw control characters JSON forbids in a string,
// the one stringEnd has just found.
// Eight bytes at a time: (x - 0x20 in every byte) &^ x has a byte's high bit
// set exactly when some byte is below 0x20 (the borrow starts at such a
// byte; a byte at or above 0x80 clears its own bit through ^x), so only a
// string with a control character is looked at byte by byte.
func (s *Scanner) checkControl(raw []byte) {
	if s.printable {
		return // stringEnd saw every byte of raw
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(raw) >= 8 {
		x := binary.LittleEndian.Uint64(raw)
		if (x-0x20*ones)&^x&highs != 0 {
			break
		}
		raw = raw[8:]
	}
	for _, c := range raw {
		if c < 0x20 {
			s.fail("control character in a string")
			return
		}
	}
}

// rawString reads a string and returns its bytes: the buffer's own when it
// has no escapes, else unescaped into s.key (valid until the next key).
func (s *Scanner) rawString() []byte {
	end, escaped := s.stringEnd()
	if s.err != nil {
		return nil
	}
	raw := s.buf[s.pos+1 : end]
	s.pos = end + 1
	s.lastEscaped = escaped
	if s.checkControl(raw); !escaped {
		return raw
	}
	s.key = s.unescape(s.key[:0], raw)
	return s.key
}

// unescape appends the JSON string body raw to dst, escapes resolved as
// encoding/json resolves them (an unpaired surrogate becomes U+FFFD).
func (s *Scanner) unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			s.fail("invalid escape")
			return dst
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok {
				s.fail("invalid \\u escape")
				return dst
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2, ok2 = hex4(raw[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			s.fail("invalid escape")
			return dst
		}
	}
	return dst
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number consumes a number and returns its text (in the buffer).
func (s *Scanner) number() []byte {
	start := s.pos
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.pos++
			continue
		}
		break
	}
	if num := s.buf[start:s.pos]; validNumber(num) {
		return num
	}
	s.fail("invalid number")
	return nil
}

// Int64 reads an integer (null: 0).
func (s *Scanner) Int64(name string) int64 {
	switch c := s.peek(); {
	case c == 0:
		return 0
	case c == 'n':
		s.literal("null")
		return 0
	case c == '-' || '0' <= c && c <= '9':
	default:
		s.mismatch(name, c, "an integer")
		return 0
	}
	num := s.number()
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(num), len(num)), 10, 64)
	if err != nil {
		// The message is formatted now: strconv's error quotes the
		// buffer's bytes, which must not be kept.
		s.fail("field %s: %s is not an integer", name, strconv.Quote(string(num)))
	}
	return n
}

// Time reads an RFC 3339 timestamp string (time.Time's JSON form; null:
// the zero time).
func (s *Scanner) Time(name string) time.Time {
	switch c := s.peek(); c {
	case 0:
		return time.Time{}
	case 'n':
		s.literal("null")
		return time.Time{}
	case '"':
	default:
		s.mismatch(name, c, "a timestamp string")
		return time.Time{}
	}
	raw := s.rawString()
	if s.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, unsafe.String(unsafe.SliceData(raw), len(raw)))
	if err != nil {
		s.fail("field %s: %s is not an RFC 3339 time", name, strconv.Quote(string(raw)))
	}
	return t
}

// Skip consumes a value of any kind, checking its syntax: what Object,
// Array and the readers refuse, but for the strings skipped, whose escapes
// are not checked and, unless Strict, nor are raw control characters (a
// key's are, as Object's are).
//
// Objects and arrays are skipped by skipNested, one loop over the bytes
// rather than a callback and a recursion per nested value: Skip is most of
// a Jira page's reading (the fields discovery does not use, ADF documents
// among them).
func (s *Scanner) Skip() {
	switch c := s.peek(); {
	case c == 0:
	case c == '{' || c == '[':
		s.skipNested()
	case c == '"':
		if end := s.skipString(s.pos+1, s.strict); end >= 0 {
			s.pos = end + 1
		}
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	default:
		s.fail("invalid character %q", c)
	}
}

// skipNested consumes the object or array at s.pos. The kinds of the open
// containers are bits of a stack (1: an object), so nothing is allocated
// and the nesting bound is Object's and Array's (maxDepth in all).
func (s *Scanner) skipNested() {
	var objects [maxDepth/64 + 1]uint64
	buf, i, depth := s.buf, s.pos, 0
	var c byte
	fail := func(at int, msg string) {
		s.pos = at
		s.fail("%s", msg)
	}
value: // a value starts at i, after white space
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	if i >= len(buf) {
		fail(i, "unexpected end of JSON")
		return
	}
	switch c = buf[i]; {
	case c == '{' || c == '[':
		if depth++; s.depth+depth > maxDepth {
			fail(i, "nested too deep")
			return
		}
		bit := uint64(1) << (depth % 64)
		if c == '{' {
			objects[depth/64] |= bit
		} else {
			objects[depth/64] &^= bit
		}
		for i++; i < len(buf) && isSpace(buf[i]); i++ {
		}
		if i < len(buf) && (buf[i] == '}' && c == '{' || buf[i] == ']' && c == '[') {
			i++
			depth--
			goto next
		}
		if c == '[' {
			goto value
		}
		goto key
	case c == '"':
		end := s.skipString(i+1, s.strict)
		if end < 0 {
			return
		}
		i = end + 1
	case c == 't' || c == 'f' || c == 'n':
		lit := "null"
		if c == 't' {
			lit = "true"
		} else if c == 'f' {
			lit = "false"
		}
		if len(buf)-i < len(lit) || string(buf[i:i+len(lit)]) != lit {
			fail(i, "invalid literal")
			return
		}
		i += len(lit)
	case c == '-' || '0' <= c && c <= '9':
		s.pos = i
		if s.number(); s.err != nil {
			return
		}
		i = s.pos
	default:
		fail(i, fmt.Sprintf("invalid character %q", c))
		return
	}
next: // after a value: close its containers, or go on to the next key or element
	if depth == 0 {
		s.pos = i
		return
	}
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	if i >= len(buf) {
		fail(i, "unexpected end of JSON")
		return
	}
	c = buf[i]
	if objects[depth/64]&(uint64(1)<<(depth%64)) != 0 {
		switch c {
		case ',':
			i++
			goto key
		case '}':
			i++
			depth--
			goto next
		}
		fail(i, "expected , or } in an object")
		return
	}
	switch c {
	case ',':
		for i++; i < len(buf) && isSpace(buf[i]); i++ {
		}
		if i < len(buf) && buf[i] == ']' {
			fail(i, "expected a value after , in an array")
			return
		}
		goto value
	case ']':
		i++
		depth--
		goto next
	}
	fail(i, "expected , or ] in an array")
	return
key: // a key, as Object reads one: control characters and escapes checked
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	if i >= len(buf) || buf[i] != '"' {
		fail(i, "expected a key")
		return
	}
	{
		end := s.skipString(i+1, true)
		if end < 0 {
			return
		}
		if s.lastEscaped && !validKeyEscapes(buf[i+1:end]) {
			fail(i, "invalid escape")
			return
		}
		i = end + 1
	}
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	if i >= len(buf) || buf[i] != ':' {
		fail(i, "expected : after a key")
		return
	}
	i++
	goto value
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipString finds the closing quote of the string whose body starts at
// i, and records in s.lastEscaped whether it holds escapes; with control,
// raw control characters are refused (the escaped character's too, as
// checkControl does). It returns -1 after an error.
//
// Eight bytes at a time, as stringEnd's short scan: a word with no quote,
// backslash (or control character) is passed whole; the first flagged
// byte of a word is always a true one (see checkControl for the
// arithmetic), later ones may be false, so only the first is acted on.
// Skipped strings are mostly short (ADF's "type":"text", avatar URLs), for
// which bytes.IndexByte's setup does not pay off.
func (s *Scanner) skipString(i int, control bool) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := uint64(0)
	if control {
		ctl = highs
	}
	buf := s.buf
	escaped := false
	for short := true; i < len(buf); short = false {
		if !short {
			// Past the first words (a long text): the closing quote is
			// looked for with bytes.IndexByte (vectorised), and the
			// bytes before it for a backslash (and control characters)
			// as stringEnd and checkControl do.
			j := bytes.IndexByte(buf[i:], '"')
			if j < 0 {
				break
			}
			span := buf[i : i+j]
			if k := bytes.IndexByte(span, '\\'); k >= 0 {
				span = span[:k]
			}
			if control {
				for len(span) >= 8 && (binary.LittleEndian.Uint64(span)-0x20*ones)&^binary.LittleEndian.Uint64(span)&highs == 0 {
					span, i = span[8:], i+8
				}
			} else {
				i += len(span)
			}
		}
		for n := min(len(buf), i+shortString); i+8 <= n; i += 8 {
			x := binary.LittleEndian.Uint64(buf[i:])
			q, b := x^('"'*ones), x^('\\'*ones)
			m := ((q-ones)&^q | (b-ones)&^b | (x-0x20*ones)&^x&ctl) & highs
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
		}
		if i >= len(buf) {
			break
		}
		switch c := buf[i]; {
		case c == '"':
			s.lastEscaped = escaped
			return i
		case c == '\\':
			escaped = true
			if i+1 < len(buf) && control && buf[i+1] < 0x20 {
				s.pos = i
				s.fail("control character in a string")
				return -1
			}
			i += 2
		case c < 0x20 && control:
			s.pos = i
			s.fail("control character in a string")
			return -1
		default:
			i++
		}
	}
	s.fail("unterminated string")
	return -1
}

// validKeyEscapes reports whether unescape takes the escapes of raw: each
// one of JSON's (a \u with four hex digits; unpaired surrogates are
// replaced, not refused).
func validKeyEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i++; i >= len(raw) {
			return false
		}
		switch raw[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if _, ok := hex4(raw[i+1:]); !ok {
				return false
			}
			i += 4
		default:
			return false
		}
	}
	return true
}

// Kind is the kind of the next value: '{', '[', '"', 'n' (null), 't' or
// 'f' (a boolean), '0' (a number), or 0 at the end or after an error.
func (s *Scanner) Kind() byte {
	switch c := s.peek(); {
	case c == '-' || '0' <= c && c <= '9':
		return '0'
	default:
		return c
	}
}

// RawNumber reads a number's text, valid until the scan goes on.
func (s *Scanner) RawNumber(name string) []byte {
	if c := s.Kind(); c != '0' {
		s.mismatch(name, c, "a number")
		return nil
	}
	return s.number()
}

// validNumber checks JSON's number grammar.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}

// Slice is an empty slice with room for n elements, carved from *block (a
// new block of at least 128 elements when it has no room left): a page's
// small per-ticket slices (labels, assignees) share a few allocations as
// its strings do. The caller appends at most n elements; more would
// reallocate, never overwrite a neighbour (the capacity is n).
func Slice[T any](block *[]T, n int) []T {
	if n > cap(*block)-len(*block) {
		*block = make([]T, 0, max(n, 128))
	}
	start := len(*block)
	*block = (*block)[:start+n]
	return (*block)[start : start : start+n]
}

// Keys builds a page's ticket keys ("prefix#n") into shared blocks, as
// Scanner.String does a page's strings: a key is the one string a ticket
// conversion builds itself, one allocation a ticket otherwise. A nil Keys
// allocates each key (a single ticket's conversion).
type Keys struct{ block []byte }

// Key is prefix + "#" + n.
func (b *Keys) Key(prefix string, n int64) string {
	var num [20]byte
	d := strconv.AppendInt(num[:0], n, 10)
	if b == nil {
		return prefix + "#" + string(d)
	}
	need := len(prefix) + 1 + len(d)
	if need > cap(b.block)-len(b.block) {
		b.block = make([]byte, 0, max(need, 4<<10))
	}
	start := len(b.block)
	b.block = append(append(append(b.block, prefix...), '#'), d...)
	return unsafe.String(&b.block[start], need)
}

// The methods below let a caller keep its strings as views of the buffer
// (PagerDuty's answers: the buffer is ReadBody's slice, which nothing
// writes to afterwards) and leave what it does not expect to a library,
// rather than carry a second scanner.

// Strict makes Skip refuse raw control characters in the strings it
// skips, as encoding/json does (by default only the strings read are
// checked): for a caller that must refuse whatever the library it stands
// in for refuses. go-json refuses a NUL there and takes the others, so a
// caller falling back to go-json on an error only falls back more often
// than it must.
func (s *Scanner) Strict() { s.strict = true }

// KeyEscaped reports whether the key Object last passed to its callback
// had escapes (the key is then the unescaped copy). Call it before the
// callback reads the key's value.
func (s *Scanner) KeyEscaped() bool { return s.keyEscaped }

// RawString reads a string and returns its text with the quotes, a view of
// the buffer, and whether it is plain: without escapes and valid UTF-8, so
// that raw[1:len(raw)-1] is its value. A string that is not plain is the
// caller's to decode (from raw, a JSON string). Null reads as nil, true.
// Raw control characters are refused as in String.
func (s *Scanner) RawString(name string) (raw []byte, plain bool) {
	switch c := s.peek(); c {
	case 0:
		return nil, false
	case 'n':
		s.literal("null")
		return nil, s.err == nil
	case '"':
	default:
		s.mismatch(name, c, "a string")
		return nil, false
	}
	start := s.pos
	end, escaped := s.stringEnd()
	if s.err != nil {
		return nil, false
	}
	s.pos = end + 1
	body := s.buf[start+1 : end]
	if s.checkControl(body); s.err != nil {
		return nil, false
	}
	// utf8.Valid checks eight ASCII bytes at a time.
	return s.buf[start:s.pos], !escaped && (s.printable || utf8.Valid(body))
}

// Bool reads true or false (null: false).
func (s *Scanner) Bool(name string) bool {
	switch c := s.peek(); c {
	case 0:
		return false
	case 'n':
		s.literal("null")
		return false
	case 't':
		s.literal("true")
		return s.err == nil
	case 'f':
		s.literal("false")
		return false
	default:
		s.mismatch(name, c, "a boolean")
		return false
	}
}

// Capture calls read, which consumes one value, and returns that value's
// text, a view of the buffer (nil after an error): for a value the caller
// reads itself where it can and hands whole to a library where it cannot.
func (s *Scanner) Capture(read func()) []byte {
	if s.peek() == 0 {
		return nil
	}
	start := s.pos
	read()
	if s.err != nil {
		return nil
	}
	return s.buf[start:s.pos]
}
