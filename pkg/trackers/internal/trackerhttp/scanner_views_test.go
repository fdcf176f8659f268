package trackerhttp

import (
	"encoding/json"
	"errors"
	"testing"
	"unsafe"
)

// TestViewScannerStrings: a string without escapes is a view of the
// buffer, one with escapes is unescaped as encoding/json does, and the
// strings encoding/json and go-json make different things of (invalid
// UTF-8, unpaired surrogates) and raw control characters fail the scan.
func TestViewScannerStrings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in     string
		ok     bool
		isView bool
	}{
		"plain":             {`"abc é"`, true, true},
		"empty":             {`""`, true, false},
		"null":              {`null`, true, false},
		"escapes":           {`"a\n\"b\" \u00e9 \ud83d\ude00 \\"`, true, false},
		"invalid UTF-8":     {"\"a\xffb\"", false, false},
		"invalid escaped":   {"\"\\n\xff\"", false, false},
		"lone high":         {`"\ud800"`, false, false},
		"lone low":          {`"\udc00x"`, false, false},
		"high then not low": {`"\ud800\u0041"`, false, false},
		"control":           {"\"a\x01\"", false, false},
		"bad escape":        {`"\q"`, false, false},
		"a number":          {`12`, false, false},
	} {
		t.Run(name, func(t *testing.T) {
			buf := []byte(tc.in)
			var got string
			err := DecodeViews(buf, func(s ViewScanner) { got = s.String("f") })
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%v does not wrap ErrMalformed", err)
				}
				return
			}
			var want string
			if err := json.Unmarshal(buf, &want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("got %q, encoding/json %q", got, want)
			}
			p, start := uintptr(unsafe.Pointer(unsafe.StringData(got))), uintptr(unsafe.Pointer(&buf[0]))
			if isView := len(got) > 0 && p >= start && p < start+uintptr(len(buf)); isView != tc.isView {
				t.Fatalf("view of the buffer: %v, want %v", isView, tc.isView)
			}
			if s, err := ViewString(buf); tc.in != "null" && (err != nil || s != want) {
				t.Fatalf("ViewString: %q, %v", s, err)
			}
		})
	}
}

// TestViewScannerRawBoolKeys: Raw is a value's bytes (syntax-checked),
// Bool reads booleans and refuses other kinds, KeyEscaped tells keys with
// escapes apart.
func TestViewScannerRawBoolKeys(t *testing.T) {
	t.Parallel()
	in := []byte(`{"d": {"type":"doc","content":[1, "x\u0041"]} , "b":true, "n":null, "f":false, "k\u0065y":1}`)
	var raw, rawNull []byte
	bools := map[string]bool{}
	escaped := map[string]bool{}
	err := DecodeViews(in, func(s ViewScanner) {
		s.Object("page", func(key []byte) {
			escaped[string(key)] = s.KeyEscaped()
			switch string(key) {
			case "d":
				raw = s.Raw()
			case "n":
				rawNull = s.Raw()
			case "b", "f":
				bools[string(key)] = s.Bool(string(key))
			default:
				s.Skip()
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"type":"doc","content":[1, "x\u0041"]}` || cap(raw) != len(raw) || string(rawNull) != "null" {
		t.Fatalf("Raw: %q (cap %d), %q", raw, cap(raw), rawNull)
	}
	if !bools["b"] || bools["f"] {
		t.Fatalf("Bool: %v", bools)
	}
	if escaped["d"] || !escaped["key"] {
		t.Fatalf("KeyEscaped: %v", escaped)
	}
	for _, bad := range []string{`{"d":{"a":}}`, `{"b":1}`, `{"b":"true"}`, `{"d":[1,]}`,
		// Raw and Skip refuse raw control characters in the strings they
		// skip (Strict).
		"{\"d\":{\"a\":{\"b\":\"\x00\"}}}", "{\"x\":[\"\x1f\"]}"} {
		err := DecodeViews([]byte(bad), func(s ViewScanner) {
			s.Object("page", func(key []byte) {
				if key[0] == 'b' {
					s.Bool("b")
					return
				}
				s.Raw()
			})
		})
		if err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestViewStringAllocs: a body without escapes is read without an
// allocation (the Scanner stays on the stack).
func TestViewStringAllocs(t *testing.T) {
	body := []byte(`"h1. Title\u0020"`)
	plain := []byte(`"h1. Title"`)
	if n := testing.AllocsPerRun(100, func() { _, _ = ViewString(plain) }); n != 0 {
		t.Fatalf("%v allocations for a plain body", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ViewString(body) }); n != 1 {
		t.Fatalf("%v allocations for a body with an escape, want 1 (its string)", n)
	}
	if _, err := ViewString([]byte(`"a" x`)); err == nil {
		t.Fatal("data after the string: no error")
	}
}
