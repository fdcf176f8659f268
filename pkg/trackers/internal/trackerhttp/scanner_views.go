package trackerhttp

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// ViewScanner is a Scanner for a caller that owns the buffer and keeps it
// as long as what it decodes (Jira's search page, issue 9): String returns
// views of the buffer instead of copies, Raw returns a value's bytes, and
// the strings it reads are held to a stricter rule than Scanner's, so that
// a caller using it as a fast path ahead of a library decoder can take the
// library's path on any error (Decode's error) and otherwise get what the
// library would have made:
//   - a string read that holds invalid UTF-8, or a \u surrogate that is not
//     half of a valid pair, is an error (libraries differ in what they make
//     of those: encoding/json replaces them, go-json keeps invalid bytes);
//   - a string with escapes is unescaped into its own allocation;
//   - raw control characters in a string read are an error (as Scanner's).
//
// Skip, and Raw, also hold the strings they skip to that rule (control
// characters, invalid UTF-8, invalid escapes, unpaired surrogates): go-json
// refuses some of those in the values it skips, depending on where they
// are (FuzzSearchPageDecode found a control character in a string nested
// three objects deep in a skipped value).
//
// The buffer must not be written to after DecodeViews: what it decoded
// views it.
type ViewScanner struct {
	*Scanner
}

// DecodeViews is Decode for a buffer the caller gives up (see ViewScanner).
func DecodeViews(body []byte, read func(s ViewScanner)) error {
	return Decode(body, func(s *Scanner) { read(ViewScanner{s}) })
}

// String reads a string (null: ""): a view of the buffer when it has no
// escapes.
func (v ViewScanner) String(name string) string {
	s := v.Scanner
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
	end, escaped := s.stringEnd()
	if s.err != nil {
		return ""
	}
	raw := s.buf[s.pos+1 : end]
	s.pos = end + 1
	if s.checkControl(raw); s.err != nil || len(raw) == 0 {
		return ""
	}
	if !utf8.Valid(raw) {
		s.fail("field %s: a string with invalid UTF-8", name)
		return ""
	}
	if !escaped {
		return unsafe.String(&raw[0], len(raw))
	}
	if !validEscapes(raw) {
		s.fail("field %s: a string with an invalid escape or an unpaired surrogate", name)
		return ""
	}
	// Unescaped, a string is never longer than as written: sized so,
	// dst never grows, and is not written again (the string views it).
	dst := s.unescape(make([]byte, 0, len(raw)), raw)
	if len(dst) == 0 || s.err != nil {
		return ""
	}
	return unsafe.String(&dst[0], len(dst))
}

// validEscapes reports whether every escape of the string body raw is
// one of JSON's, and every \u escape that is a UTF-16 surrogate a high one
// followed by a low one.
func validEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			continue
		case 'u':
		default:
			return false
		}
		r, ok := hex4(raw[i+1:])
		if !ok {
			return false
		}
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r >= 0xDC00 || i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return false
		}
		lo, ok := hex4(raw[i+3:])
		if !ok || utf16.DecodeRune(r, lo) == utf8.RuneError {
			return false
		}
		i += 6
	}
	return true
}

// Skip consumes a value of any kind, checking its syntax as Scanner.Skip
// does and its strings as String does (see ViewScanner).
func (v ViewScanner) Skip() {
	s := v.Scanner
	switch s.peek() {
	case '{':
		s.Object("", func([]byte) { v.Skip() })
	case '[':
		s.Array("", v.Skip)
	case '"':
		end, escaped := s.stringEnd()
		if s.err != nil {
			return
		}
		raw := s.buf[s.pos+1 : end]
		s.pos = end + 1
		if s.checkControl(raw); s.err == nil && (!utf8.Valid(raw) || escaped && !validEscapes(raw)) {
			s.fail("a string with invalid UTF-8, an invalid escape or an unpaired surrogate")
		}
	default:
		s.Skip()
	}
}

// Raw reads a value of any kind, checked as Skip checks it, and
// returns its bytes (null's too, as json.RawMessage holds them): a view of
// the buffer, capped.
func (v ViewScanner) Raw() []byte {
	s := v.Scanner
	if s.peek() == 0 {
		return nil
	}
	start := s.pos
	v.Skip()
	if s.err != nil {
		return nil
	}
	return s.buf[start:s.pos:s.pos]
}

// Bool reads true or false (null: false).
func (v ViewScanner) Bool(name string) bool {
	s := v.Scanner
	switch c := s.peek(); c {
	case 0:
	case 'n':
		s.literal("null")
	case 't':
		s.literal("true")
		return s.err == nil
	case 'f':
		s.literal("false")
	default:
		s.mismatch(name, c, "a boolean")
	}
	return false
}

// InBuffer reports whether b is a view of the buffer: an object key is one
// unless it had escapes (Object's callback may refuse those).
func (v ViewScanner) InBuffer(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	p, start := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(v.buf)))
	return p >= start && p < start+uintptr(len(v.buf))
}

// Failf stops the scan with a formatted error, unless it has already
// failed.
func (v ViewScanner) Failf(format string, args ...any) {
	v.Fail(fmt.Errorf(format, args...))
}

// ViewString reads body, one JSON string (not null), as ViewScanner.String
// reads one: a view of body when it has no escapes. Its Scanner stays on
// the stack (Decode's callback makes its Scanner escape: an allocation per
// body, and Jira's Data Center page has a wiki body per ticket).
func ViewString(body []byte) (string, error) {
	s := Scanner{buf: body}
	var str string
	if c := s.peek(); c == '"' {
		str = ViewScanner{&s}.String("body")
	} else if s.err == nil {
		s.mismatch("body", c, "a string")
	}
	if s.err == nil {
		if s.ws(); s.pos < len(s.buf) {
			s.fail("data after the JSON value")
		}
	}
	if s.err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, s.err)
	}
	return str, nil
}
