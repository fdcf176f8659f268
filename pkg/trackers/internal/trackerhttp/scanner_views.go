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
// the scan is held to a stricter rule than Scanner's by default, so that a
// caller using it as a fast path ahead of go-json can take go-json's path
// on any error (DecodeViews's error) and otherwise get what go-json would
// have made:
//   - the Scanner is Strict (Skip refuses raw control characters in the
//     strings it skips: go-json refuses a NUL there);
//   - a string read that holds invalid UTF-8, an invalid escape, or a \u
//     surrogate that is not half of a valid pair is an error (libraries
//     differ in what they make of those: encoding/json replaces them,
//     go-json keeps invalid bytes);
//   - a string with escapes is unescaped into its own allocation.
//
// The buffer must not be written to after DecodeViews: what it decoded
// views it.
type ViewScanner struct {
	*Scanner
}

// DecodeViews is Decode for a buffer the caller gives up (see ViewScanner).
func DecodeViews(body []byte, read func(s ViewScanner)) error {
	return Decode(body, func(s *Scanner) {
		s.Strict()
		read(ViewScanner{s})
	})
}

// String reads a string (null: ""): a view of the buffer when it has no
// escapes.
func (v ViewScanner) String(name string) string {
	raw, plain := v.RawString(name)
	if v.err != nil || len(raw) <= 2 {
		return "" // null, "", or an error
	}
	body := raw[1 : len(raw)-1]
	if plain {
		return unsafe.String(&body[0], len(body))
	}
	if !utf8.Valid(body) || !validEscapes(body) {
		v.fail("field %s: a string with invalid UTF-8, an invalid escape or an unpaired surrogate", name)
		return ""
	}
	// Unescaped, a string is never longer than as written: sized so,
	// dst never grows, and is not written again (the string views it).
	dst := v.unescape(make([]byte, 0, len(body)), body)
	if len(dst) == 0 || v.err != nil {
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

// Raw reads a value of any kind, checked as Skip checks it, and returns its
// bytes (null's too, as json.RawMessage holds them): a view of the buffer,
// capped (an append moves it, never writes into the page).
func (v ViewScanner) Raw() []byte {
	b := v.Capture(v.Skip)
	return b[:len(b):len(b)]
}

// ViewString reads body, one JSON string (not null), as ViewScanner.String
// reads one: a view of body when it has no escapes. Its Scanner stays on
// the stack (Decode's callback makes its Scanner escape: an allocation per
// body, and Jira's Data Center page has a wiki body per ticket).
func ViewString(body []byte) (string, error) {
	var s Scanner
	s.Reset(body)
	s.Strict()
	var str string
	if c := s.peek(); c == '"' {
		str = ViewScanner{&s}.String("body")
	} else if s.err == nil {
		s.mismatch("body", c, "a string")
	}
	if err := s.Finish(); err != nil {
		return "", err
	}
	return str, nil
}

// Failf stops the scan with a formatted error, unless it has already
// failed (Jira's mapping refuses what it leaves to go-json).
func (v ViewScanner) Failf(format string, args ...any) {
	if v.err == nil {
		v.Fail(fmt.Errorf(format, args...))
	}
}
