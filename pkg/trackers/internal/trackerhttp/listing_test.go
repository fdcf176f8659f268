package trackerhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

// Strings read from a page stay what the page said after the parser has
// been reused for other pages, across string blocks, short and long, with
// escapes: nothing refers to the parser's buffer.
func TestDecodeListingStringsOutliveTheParser(t *testing.T) {
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
	if err := DecodeListing(page, func(root *fastjson.Value, f *Fields) {
		for _, v := range f.Array("root", root) {
			got = append(got, f.String("item", v))
		}
	}); err != nil {
		t.Fatal(err)
	}
	other := []byte(`["` + strings.Repeat("z", len(page)) + `"]`)
	for range 4 { // overwrite any parser's buffer
		if err := DecodeListing(other, func(root *fastjson.Value, f *Fields) { f.String("item", root.Get("0")) }); err != nil {
			t.Fatal(err)
		}
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

// A value of another type than read as, or a body that is not JSON, is a
// malformed answer; null and absent read as zero values.
func TestDecodeListingTypes(t *testing.T) {
	t.Parallel()
	read := func(body string) (string, int64, time.Time, error) {
		var (
			s  string
			n  int64
			tm time.Time
		)
		err := DecodeListing([]byte(body), func(root *fastjson.Value, f *Fields) {
			o := f.Object("root", root)
			s, n, tm = f.String("s", Get(o, "s")), f.Int64("n", Get(o, "n")), f.Time("t", Get(o, "t"))
			f.Array("a", Get(o, "a"))
		})
		return s, n, tm, err
	}
	s, n, tm, err := read(`{"s":"a\u00e9","n":-7,"t":"2026-12-03T10:11:12.5+02:00","a":[]}`)
	if err != nil || s != "aé" || n != -7 || !tm.Equal(time.Date(2026, 12, 3, 8, 11, 12, 5e8, time.UTC)) {
		t.Errorf("got %q %d %v %v", s, n, tm, err)
	}
	if s, n, tm, err := read(`{"s":null,"t":null,"a":null}`); err != nil || s != "" || n != 0 || !tm.IsZero() {
		t.Errorf("nulls: %q %d %v %v", s, n, tm, err)
	}
	for _, bad := range []string{`{"s":1}`, `{"n":"1"}`, `{"n":1.5}`, `{"t":"today"}`, `{"t":1}`, `{"a":{}}`, `[]`, `{"s":"x"`, `{} {}`, ``} {
		if _, _, _, err := read(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", bad, err)
		}
	}
}
