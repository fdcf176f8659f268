package trackerhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// scanAny decodes any JSON value with the Scanner into the shapes
// encoding/json gives an any (numbers as float64 text, to compare).
func scanAny(s *Scanner) any {
	switch s.Kind() {
	case '{':
		m := map[string]any{}
		s.Object("o", func(k []byte) { m[string(k)] = scanAny(s) })
		return m
	case '[':
		a := []any{}
		s.Array("a", func() { a = append(a, scanAny(s)) })
		return a
	case '"':
		return s.String("s")
	case '0':
		var f float64
		fmt.Sscan(string(s.RawNumber("n")), &f)
		return f
	case 'n':
		s.Null()
		return nil
	case 't', 'f':
		return s.Bool("b")
	}
	s.Skip() // refuses what is no value
	return nil
}

// The scanner reads what encoding/json reads, and refuses what it refuses,
// on documents covering the grammar (escapes, surrogates, nesting, numbers).
func TestScannerReadsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	valid := []string{
		`{"a":[1,-2.5e3,0,1E+2,true,false,null,"x"],"b":{"c":{}},"d":[]}`,
		` [ "\u00e9\"\\\/\b\f\n\r\t", "\ud83d\ude00", "\ud800", "\ud800\u0041", "\udc00x", "a\\" ] `,
		`"plain"`, `12`, `null`, `{"k\u0041":"v","":""}`,
		`[{"url":"http://x/{a}[b]\\\"","n":{"deep":[[[[{"x":"]}"}]]]]}}]`,
	}
	for _, doc := range valid {
		var want any
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var got any
		if err := Decode([]byte(doc), func(s *Scanner) { got = scanAny(s) }); err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\nscanner %v\nencoding/json %v", doc, got, want)
		}
	}
	invalid := []string{``, ` `, `{`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":1,}`, `[,1]`, `{"a":}`, `{,}`, `[1,,2]`, `{a:1}`, `"x`, `"\x"`, `"\u12"`, `"a` + "\n" + `"`,
		`tru`, `nul`, `01`, `1.`, `-`, `1e`, `[1]]`, `{} {}`, `]`, strings.Repeat("[", 2000) + strings.Repeat("]", 2000)}
	for _, doc := range invalid {
		var v any
		if json.Unmarshal([]byte(doc), &v) == nil && !strings.HasPrefix(doc, "[[") {
			t.Fatalf("%s: encoding/json decodes it", doc)
		}
		err := Decode([]byte(doc), func(s *Scanner) { scanAny(s) })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%.30s: error %v, want ErrMalformed", doc, err)
		}
	}
}

// Strings read from a page stay what the page said once its buffer is
// overwritten, across string blocks, short and long, with escapes:
// nothing read refers to the buffer.
func TestScannerStringsOutliveTheBuffer(t *testing.T) {
	t.Parallel()
	var want []string
	for i := range 400 {
		want = append(want, fmt.Sprintf("s%d \"é\"\n%s", i, strings.Repeat("x", i*i%(stringBlock/2))))
	}
	page, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := Decode(page, func(s *Scanner) { s.Array("page", func() { got = append(got, s.String("item")) }) }); err != nil {
		t.Fatal(err)
	}
	for i := range page {
		page[i] = 'z'
	}
	if len(got) != len(want) {
		t.Fatalf("%d strings, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d = %.40q, want %.40q", i, got[i], want[i])
		}
	}
}

// A value of another type than read as is a malformed answer; null reads
// as the zero value.
func TestScannerTypes(t *testing.T) {
	t.Parallel()
	read := func(body string) (string, int64, time.Time, error) {
		var (
			str string
			n   int64
			tm  time.Time
		)
		err := Decode([]byte(body), func(s *Scanner) {
			s.Object("root", func(k []byte) {
				switch string(k) {
				case "s":
					str = s.String("s")
				case "n":
					n = s.Int64("n")
				case "t":
					tm = s.Time("t")
				case "a":
					s.Array("a", s.Skip)
				default:
					s.Skip()
				}
			})
		})
		return str, n, tm, err
	}
	str, n, tm, err := read(`{"s":"a\u00e9","n":-7,"t":"2026-12-03T10:11:12.5+02:00","a":[],"x":{"y":[1,{"z":null}]}}`)
	if err != nil || str != "aé" || n != -7 || !tm.Equal(time.Date(2026, 12, 3, 8, 11, 12, 5e8, time.UTC)) {
		t.Errorf("got %q %d %v %v", str, n, tm, err)
	}
	if str, n, tm, err := read(`{"s":null,"n":null,"t":null,"a":null}`); err != nil || str != "" || n != 0 || !tm.IsZero() {
		t.Errorf("nulls: %q %d %v %v", str, n, tm, err)
	}
	for _, bad := range []string{`{"s":1}`, `{"n":"1"}`, `{"n":1.5}`, `{"t":"today"}`, `{"t":1}`, `{"a":{}}`, `[]`, `{"s":"x"`} {
		if _, _, _, err := read(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", bad, err)
		}
	}
}

func TestSliceNeverOverlaps(t *testing.T) {
	t.Parallel()
	var block []int
	var parts [][]int
	for i := range 300 {
		p := Slice(&block, i%5)
		for j := range i % 5 {
			p = append(p, i*10+j)
		}
		parts = append(parts, p)
	}
	for i, p := range parts {
		if len(p) != i%5 {
			t.Fatalf("part %d has %d elements", i, len(p))
		}
		for j, v := range p {
			if v != i*10+j {
				t.Fatalf("part %d element %d = %d, overwritten", i, j, v)
			}
		}
	}
}

func TestKeysAreTheConcatenation(t *testing.T) {
	t.Parallel()
	var b Keys
	var got, want []string
	for i := range 2000 {
		prefix := strings.Repeat("p", i%40) + "/r"
		n := int64(i*7919 - 1000)
		got = append(got, b.Key(prefix, n))
		want = append(want, fmt.Sprintf("%s#%d", prefix, n))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("key %d = %q, want %q", i, got[i], want[i])
		}
	}
	if k := (*Keys)(nil).Key("o/r", 12); k != "o/r#12" {
		t.Errorf("nil Keys: %q", k)
	}
}

// FuzzScannerMatchesEncodingJSON: on valid UTF-8, the scanner accepts what
// encoding/json accepts and reads the same values; what it accepts,
// encoding/json accepts too (but for numbers out of float64's range, which
// the scanner does not evaluate unless asked for an integer).
func FuzzScannerMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{`{"a":[1,-2.5e3,true,null,"x\u00e9\n"],"b":{}}`, `[{"id":7,"user":{"login":"r"}},null]`, `"\ud83d\ude00"`, `[1,]`, `{"a" 1}`, `01`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !utf8.Valid(doc) {
			return
		}
		var want any
		jerr := json.Unmarshal(doc, &want)
		var got any
		serr := Decode(doc, func(s *Scanner) { got = scanAny(s) })
		var rangeErr *json.UnmarshalTypeError
		switch {
		case jerr == nil && serr != nil:
			t.Fatalf("%q: scanner refuses (%v), encoding/json reads %v", doc, serr, want)
		case jerr != nil && serr == nil && !errors.As(jerr, &rangeErr):
			t.Fatalf("%q: scanner reads %v, encoding/json refuses (%v)", doc, got, jerr)
		case jerr == nil && fmt.Sprint(got) != fmt.Sprint(want):
			t.Fatalf("%q: scanner %v, encoding/json %v", doc, got, want)
		}
	})
}

// RawString's plain strings are their value as a view; the others, and
// Capture's text, decode with encoding/json to what String reads.
func TestScannerViews(t *testing.T) {
	t.Parallel()
	doc := `{"plain":"abc","esc":"a\u00e9\n","bad":"\xff\xfe","k\u0065y":{"x":[1,"]"]},"t":true,"f":false,"n":null}`
	doc = strings.ReplaceAll(doc, `\xff\xfe`, "\xff\xfe")
	var got []string
	err := Decode([]byte(doc), func(s *Scanner) {
		s.Object("o", func(k []byte) {
			key := string(k)
			switch key {
			case "plain", "esc", "bad":
				raw, plain := s.RawString(key)
				var lib string
				if err := json.Unmarshal(raw, &lib); err != nil {
					t.Errorf("%s: %q is no JSON string: %v", key, raw, err)
				}
				if plain {
					got = append(got, fmt.Sprintf("%s plain %q", key, raw[1:len(raw)-1]))
					if string(raw[1:len(raw)-1]) != lib {
						t.Errorf("%s: plain %q, encoding/json %q", key, raw, lib)
					}
				} else {
					got = append(got, fmt.Sprintf("%s raw %q", key, raw))
				}
			case "key":
				if !s.KeyEscaped() {
					t.Errorf("k\\u0065y: KeyEscaped false")
				}
				raw := s.Capture(s.Skip)
				got = append(got, fmt.Sprintf("%s captured %s", key, raw))
			case "t", "f", "n":
				if s.KeyEscaped() {
					t.Errorf("%s: KeyEscaped true", key)
				}
				got = append(got, fmt.Sprintf("%s %v", key, s.Bool(key)))
			default:
				t.Errorf("key %q", key)
				s.Skip()
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`plain plain "abc"`, `esc raw "\"a\\u00e9\\n\""`, `bad raw "\"\xff\xfe\""`,
		`key captured {"x":[1,"]"]}`, "t true", "f false", "n false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Mismatched kinds fail the scan.
	for _, doc := range []string{`1`, `"t"`, `tru`} {
		if err := Decode([]byte(doc), func(s *Scanner) { s.Bool("b") }); err == nil {
			t.Errorf("Bool took %s", doc)
		}
	}
	for _, doc := range []string{`1`, `{}`, "\"a\x01\"", `"a`} {
		if err := Decode([]byte(doc), func(s *Scanner) { s.RawString("s") }); err == nil {
			t.Errorf("RawString took %q", doc)
		}
	}
}

// By default Skip does not look for control characters in the strings it
// skips; Strict makes it refuse them, as encoding/json does.
func TestScannerStrictSkip(t *testing.T) {
	t.Parallel()
	doc := []byte("{\"skipped\":[\"a\x01b\"]}")
	if err := Decode(doc, func(s *Scanner) { s.Skip() }); err != nil {
		t.Errorf("default Skip refused %q: %v", doc, err)
	}
	if err := Decode(doc, func(s *Scanner) { s.Strict(); s.Skip() }); err == nil {
		t.Errorf("strict Skip took %q", doc)
	}
	if json.Valid(doc) {
		t.Fatalf("encoding/json takes %q", doc)
	}
}

// Strings of every length around the short-string scan (shortString, eight
// bytes at a time), with an escaped quote, a backslash, a control character
// or a non-ASCII byte at every position: String, RawString and Skip agree
// with encoding/json.
func TestScannerStringsAtEveryPosition(t *testing.T) {
	t.Parallel()
	for n := range shortString + 10 {
		for at := range n {
			for _, ins := range []string{`\"`, `\\`, "\x01", "é", "\xff", `\u00e9`, `"`} {
				body := strings.Repeat("a", at) + ins + strings.Repeat("b", n-at)
				doc := []byte(`["` + body + `",1]`)
				var want []any
				wantErr := json.Unmarshal(doc, &want)
				var got string
				var raw []byte
				var plain bool
				err := Decode(doc, func(s *Scanner) {
					s.Array("a", func() {
						if s.Kind() == '"' {
							st := *s
							got = s.String("s")
							*s = st
							raw, plain = s.RawString("s")
							return
						}
						s.Skip()
					})
				})
				if (err != nil) != (wantErr != nil) {
					t.Fatalf("%q: error %v, encoding/json %v", doc, err, wantErr)
				}
				strictErr := Decode(doc, func(s *Scanner) { s.Strict(); s.Skip() })
				if (strictErr != nil) != (wantErr != nil) {
					t.Fatalf("%q: strict Skip error %v, encoding/json %v", doc, strictErr, wantErr)
				}
				if err != nil || !utf8.Valid(doc) {
					continue
				}
				if got != want[0] {
					t.Fatalf("%q: String %q, encoding/json %q", doc, got, want[0])
				}
				if plain && string(raw[1:len(raw)-1]) != want[0] {
					t.Fatalf("%q: RawString plain %q, encoding/json %q", doc, raw, want[0])
				}
				if !plain && !strings.Contains(string(raw), `\`) {
					t.Fatalf("%q: RawString %q not plain", doc, raw)
				}
			}
		}
	}
}

// skipRecursive is Skip as it was before skipNested (Object and Array with
// a callback per value): the reference skipNested must agree with.
func skipRecursive(s *Scanner) {
	switch c := s.peek(); {
	case c == '{':
		s.Object("", func([]byte) { skipRecursive(s) })
	case c == '[':
		s.Array("", func() { skipRecursive(s) })
	case c == '"':
		if end, _ := s.stringEnd(); s.err == nil {
			if s.strict {
				s.checkControl(s.buf[s.pos+1 : end])
			}
			s.pos = end + 1
		}
	default:
		s.Skip() // scalars: unchanged
	}
}

// skipAgrees reports a difference between Skip and skipRecursive on doc:
// whether it is refused, and where the value skipped ends.
func skipAgrees(doc []byte, strict bool) error {
	var fast, slow Scanner
	fast.Reset(doc)
	slow.Reset(doc)
	if strict {
		fast.Strict()
		slow.Strict()
	}
	fast.Skip()
	skipRecursive(&slow)
	switch {
	case (fast.err == nil) != (slow.err == nil):
		return fmt.Errorf("strict %v: Skip error %v, recursive %v", strict, fast.err, slow.err)
	case fast.err == nil && fast.pos != slow.pos:
		return fmt.Errorf("strict %v: Skip ends at %d, recursive at %d", strict, fast.pos, slow.pos)
	}
	return nil
}

var skipDocs = []string{
	`{"a":[1,-2.5e3,0,1E+2,true,false,null,"x"],"b":{"c":{}},"d":[]} 1`,
	`[{"url":"http://x/{a}[b]\\\"","n":{"deep":[[[[{"x":"]}"}]]]]}}],`,
	`{"k\u0041":"v\x","":"", "k\q":1}`, `{"k\u00G1":1}`, `{"a":"b\u00"}`,
	"{\"a\x01\":1}", "[\"a\x01\"]", "[\"a\\\x01\"]", "{\"\\\x01\":1}",
	`[1,]`, `{"a":1,}`, `{"a" 1}`, `{,}`, `[}`, `{]`, `[1 2]`, `{"a":1 "b":2}`,
	`[01]`, `[-]`, `[1.]`, `[tru]`, `[nul`, `{"a`, `["a\`, `["a\"`, `[`, `{`,
	`{"a":{"b":[{"c":"` + strings.Repeat(`x\"`, 20) + `"}]}}`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70),
	strings.Repeat(`[{"a":`, 40) + "1" + strings.Repeat("}]", 40),
}

// Skip consumes what the recursive skip consumed, and refuses what it
// refused, strict or not.
func TestSkipMatchesRecursive(t *testing.T) {
	t.Parallel()
	for _, doc := range skipDocs {
		for _, strict := range []bool{false, true} {
			if err := skipAgrees([]byte(doc), strict); err != nil {
				t.Errorf("%q: %v", doc, err)
			}
		}
	}
}

func FuzzSkipMatchesRecursive(f *testing.F) {
	for _, doc := range skipDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, strict := range []bool{false, true} {
			if err := skipAgrees(doc, strict); err != nil {
				t.Fatalf("%q: %v", doc, err)
			}
		}
	})
}
