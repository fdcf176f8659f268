package markup

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	fastjson "github.com/goccy/go-json"
)

// libraryADF is parseADF's decode through goccy/go-json, the reference the
// fast reader must agree with.
func libraryADF(raw []byte) (*node, error) {
	var a adfIn
	if err := fastjson.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	root := &node{}
	fromADF(&a, root)
	return root, nil
}

// checkFastDecode fails when the fast reader accepts a document and makes
// another tree than the library, or accepts one the library refuses. It
// reports whether the fast reader took the document.
func checkFastDecode(t *testing.T, doc string) bool {
	t.Helper()
	got, ok := decodeADFFast([]byte(doc))
	if !ok {
		return false
	}
	want, err := libraryADF([]byte(doc))
	if err != nil {
		t.Fatalf("fast reader accepted what the library refuses (%v): %q", err, doc)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast reader and library disagree on %q:\nfast:    %s\nlibrary: %s", doc, dumpNode(got), dumpNode(want))
	}
	return true
}

func dumpNode(n *node) string {
	var b strings.Builder
	var walk func(*node, int)
	walk = func(n *node, depth int) {
		b.WriteString("\n" + strings.Repeat("  ", depth))
		attrs, _ := json.Marshal(n.attrs)
		b.WriteString(n.kind + " " + string(attrs) + " " + jsonString(n.text))
		if n.st != (style{}) {
			b.WriteString(" " + strings.Trim(strings.ReplaceAll(jsonString(strings.TrimSpace(strings.ReplaceAll(
				strings.Join([]string{boolMark(n.st.strong, "strong"), boolMark(n.st.em, "em"), boolMark(n.st.strike, "strike"),
					boolMark(n.st.underline, "underline"), boolMark(n.st.code, "code"), n.st.href}, " "), "  ", " "))), `"`, ""), " "))
		}
		for _, k := range n.kids {
			walk(k, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

func boolMark(on bool, name string) string {
	if on {
		return name
	}
	return ""
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// adfEdgeCases are spellings the fast reader must either read as the
// library does or leave to it.
var adfEdgeCases = []string{
	`{"type":"doc","content":[null,{"type":"paragraph","content":[null]}]}`,
	`{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"a\"b\\c\/d\b\f\n\r\tü\u00e9\u20ac\ud83d\ude00"}]}]}`,
	`{"type":"doc","content":[{"type":"text","text":"\ud83d"}]}`,
	`{"type":"doc","content":[{"type":"text","text":"\ude00x"}]}`,
	`{"type":"doc","content":[{"type":"text","text":"bad \x escape"}]}`,
	"{\"type\":\"doc\",\"content\":[{\"type\":\"text\",\"text\":\"raw \x01 control\"}]}",
	"{\"type\":\"doc\",\"content\":[{\"type\":\"text\",\"text\":\"invalid \xff utf8\"}]}",
	`{"Type":"doc","content":[]}`,
	`{"type":"doc","CONTENT":[{"type":"paragraph"}]}`,
	`{"type":"doc","type":"paragraph"}`,
	`{"type":"doc","content":[{"type":"heading","attrs":{"level":2,"level":3}}]}`,
	`{"type":"doc","content":[{"type":"heading","attrs":{"level":2.5e0}}]}`,
	`{"type":"doc","content":[{"type":"heading","attrs":{"level":-0.25,"x":true,"y":false,"z":null,"s":"\u0041"}}]}`,
	`{"type":"doc","content":[{"type":"heading","attrs":{"level":012}}]}`,
	`{"type":"doc","content":[{"type":"table","attrs":{"layout":{"nested":1},"list":[1,2]}}]}`,
	`{"type":"doc","content":[{"type":"text","text":"x","marks":[null,{"type":"strong"},{"type":"link","attrs":{"href":"javascript:x"}},{"type":"code","Attrs":{}}]}]}`,
	`{"type":"doc","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":5}},{"type":"em","attrs":null}]}]}`,
	`{"type":"doc","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"https://e.com","title":"t"}},{"type":"strike"}]}]}`,
	`{"type":"doc","content":[{"type":"paragraph","text":null,"attrs":null,"content":null,"marks":null,"extra":{"a":[1,{"b":"c"}],"n":-1.5}}]}`,
	`{"type":"doc","content":"not a list"}`,
	`{"type":"doc","content":[1]}`,
	`{"type":"doc","content":[{"type":5}]}`,
	`{"type":"doc","content":[{"type":"text","text":["x"]}]}`,
	`{"type":"doc","content":[{"type":"text","text":"x","marks":{"type":"strong"}}]}`,
	`{"type":"doc","attrs":[]}`,
	`{"type":"doc"} trailing`,
	`{"type":"doc",}`,
	`{"type":"doc" "content":[]}`,
	`{"type":"doc","content":[{"type":"paragraph"},]}`,
	`{"type":"doc","content":[]`,
	` { "type" : "doc" , "content" : [ { "type" : "paragraph" , "content" : [ { "type" : "text" , "text" : "spaced" } ] } ] } `,
	`{"type":"doc","content":[{"type":"text","text":"x","marks":[{"type":"underline"},{"type":"code"},{"type":"strong"}]}]}`,
	`{"type":"doc","content":[{"type":"paragraph","marks":[{"type":"strong"}],"content":[{"type":"text","text":"not text: no style"}]}]}`,
	`{"type":"doc","content":[{"type":"mention","attrs":{"id":"1","text":"@A","accessLevel":""}},{"type":"emoji","attrs":{"shortName":":x:","id":"1f600"}}]}`,
	`{"ty\u0070e":"doc"}`,
	`{"type":"doc","version":1e3}`,
	`{"type":"doc","version":tru}`,
	`{"type":"doc","version":nul}`,
	`{}`,
}

func TestADFFastDecodeMatchesLibrary(t *testing.T) {
	for _, doc := range adfEdgeCases {
		checkFastDecode(t, doc)
	}
	deep := strings.Repeat(`{"type":"blockquote","content":[`, 300) + `{"type":"text","text":"deep"}` + strings.Repeat(`]}`, 300)
	checkFastDecode(t, deep)

	// The golden corpus: the fast reader must take nearly all of it, or it
	// is no fast path.
	rng := rand.New(rand.NewPCG(9, 4))
	taken := 0
	const n = 1500
	for range n {
		if checkFastDecode(t, randomADF(rng)) {
			taken++
		}
	}
	if taken < n*95/100 {
		t.Fatalf("the fast reader took %d of %d plain documents", taken, n)
	}
	for _, s := range markdownSeeds {
		doc, err := MarkdownToADF(s)
		if err != nil {
			t.Fatal(err)
		}
		if !checkFastDecode(t, string(doc)) {
			t.Errorf("the fast reader refused MarkdownToADF(%q)", s)
		}
	}
}

func FuzzADFFastDecode(f *testing.F) {
	for _, doc := range adfEdgeCases {
		f.Add(doc)
	}
	for _, s := range markdownSeeds {
		doc, _ := MarkdownToADF(s)
		f.Add(string(doc))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		checkFastDecode(t, doc)
	})
}
