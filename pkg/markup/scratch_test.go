package markup

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// unpooled are a document's conversions by writers that make their own
// arrays (no pooled scratch): the reference for the pooled ones.
func unpooled(doc string, adf bool) (text, md string, err error) {
	var root func() *node
	if adf {
		if _, err := parseADF(json.RawMessage(doc)); err != nil {
			return "", "", err
		}
		root = func() *node { r, _ := parseADF(json.RawMessage(doc)); return r }
	} else {
		root = func() *node { return parseWiki(doc) }
	}
	return (&mdWriter{plain: true}).document(root()), (&mdWriter{}).document(root()), nil
}

// TestPooledScratchIsolated: conversions that share pooled scratch arrays
// (ADF and wiki, one after the other and side by side, documents of every
// shape in random orders) give what writers with arrays of their own give,
// and what they returned stays as it was while later conversions reuse the
// arrays: nothing returned refers to a scratch, and no scratch carries
// anything from one conversion into the next.
func TestPooledScratchIsolated(t *testing.T) {
	t.Parallel()
	adfDocs, wikis, _ := goldenCorpus(t)
	type want struct {
		doc        string
		adf        bool
		text, md   string
		failed     bool
		gotT, gotM string
		bad        string // an error where none was expected, or none where one was
	}
	var cases []want
	for _, d := range adfDocs {
		text, md, err := unpooled(d, true)
		cases = append(cases, want{doc: d, adf: true, text: text, md: md, failed: err != nil})
	}
	for _, w := range wikis {
		text, md, _ := unpooled(w, false)
		cases = append(cases, want{doc: w, text: text, md: md})
	}
	if len(cases) < 50 {
		t.Fatalf("a corpus of %d documents is too small to mix", len(cases))
	}
	const workers, rounds = 2, 1
	results := make([][]want, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range rounds {
				for _, i := range r.Perm(len(cases)) {
					c := cases[i]
					var err error
					if c.adf {
						switch r.IntN(3) {
						case 0:
							c.gotT, c.gotM, err = ADFToTextAndMarkdown(json.RawMessage(c.doc))
						case 1:
							c.gotT, err = ADFToText(json.RawMessage(c.doc))
							if err == nil {
								c.gotM, err = ADFToMarkdown(json.RawMessage(c.doc))
							}
						default:
							c.gotM, err = ADFToMarkdown(json.RawMessage(c.doc))
							if err == nil {
								c.gotT, err = ADFToText(json.RawMessage(c.doc))
							}
						}
					} else if r.IntN(2) == 0 {
						c.gotT, c.gotM = WikiToTextAndMarkdown(c.doc)
					} else {
						c.gotT, c.gotM = WikiToText(c.doc), WikiToMarkdown(c.doc)
					}
					if (err != nil) != c.failed {
						c.bad = fmt.Sprintf("error %v, want one: %v", err, c.failed)
					}
					results[w] = append(results[w], c)
				}
			}
		})
	}
	wg.Wait()
	// Checked only now, after every conversion: a result that aliased a
	// pooled array would have been overwritten by a later one.
	for _, rs := range results {
		for _, c := range rs {
			if c.bad != "" {
				t.Fatalf("%q: %s", c.doc, c.bad)
			}
			if c.failed {
				continue
			}
			if c.gotT != c.text || c.gotM != c.md {
				t.Fatalf("pooled conversion of %q (adf=%v):\ntext %q\nmd   %q\nwant\ntext %q\nmd   %q", c.doc, c.adf, c.gotT, c.gotM, c.text, c.md)
			}
		}
	}
}

// TestWikiListLineIsTheRegexp: wikiListLine reads a line as wikiListRe
// does, over every line of up to six characters from the ones that matter
// and the wiki corpus's lines.
func TestWikiListLineIsTheRegexp(t *testing.T) {
	t.Parallel()
	check := func(line string) {
		marker, text, ok := wikiListLine(line)
		m := wikiListRe.FindStringSubmatch(line)
		if ok != (m != nil) || ok && (marker != m[1] || text != m[2]) {
			t.Fatalf("wikiListLine(%q) = %q, %q, %v; the regexp: %q", line, marker, text, ok, m)
		}
	}
	const alphabet = "*#- \t\n\fx"
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		check(prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 6)
	_, wikis, _ := goldenCorpus(t)
	for _, w := range wikis {
		for _, line := range strings.Split(w, "\n") {
			check(line)
		}
	}
}

// TestPlain8: plain8 is true exactly for eight bytes of printable ASCII
// other than the quote and the backslash (one changed byte at a time, at
// every position, from every value).
func TestPlain8(t *testing.T) {
	t.Parallel()
	base := []byte("abcdefgh")
	for pos := range 8 {
		for v := range 256 {
			b := append([]byte(nil), base...)
			b[pos] = byte(v)
			want := v >= 0x20 && v < 0x80 && v != '"' && v != '\\'
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(b[i])
			}
			if got := plain8(x); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
