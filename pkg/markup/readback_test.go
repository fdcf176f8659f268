package markup

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestSkippedReadBackWouldHavePassed renders random paragraphs of styled
// words and punctuation with and without the shortcut: needsReadBack may
// skip the round-trip check only where the check would have kept the output.
func TestSkippedReadBackWouldHavePassed(t *testing.T) {
	words := []string{"word", "two words", "x", "42", " lead", "trail ", "a*b", "_u_", "~", "`", "é", "end.", ".", ", ", " ", "(", ")", "[x]", "\\"}
	marks := [][]string{nil, {"strong"}, {"em"}, {"strike"}, {"strong", "em"}, {"code"}, {"em", "strike"}}
	rng := rand.New(rand.NewPCG(1, 9))
	for n := range 4000 {
		var content []map[string]any
		for range 1 + rng.IntN(6) {
			node := map[string]any{"type": "text", "text": words[rng.IntN(len(words))]}
			if m := marks[rng.IntN(len(marks))]; m != nil {
				var ms []map[string]any
				for _, k := range m {
					ms = append(ms, map[string]any{"type": k})
				}
				node["marks"] = ms
			}
			if rng.IntN(8) == 0 {
				node["marks"] = []map[string]any{{"type": "link", "attrs": map[string]any{"href": "https://example.com"}}}
			}
			content = append(content, node)
		}
		doc, _ := json.Marshal(map[string]any{"type": "doc", "version": 1, "content": []any{map[string]any{"type": "paragraph", "content": content}}})
		fast, err := ADFToMarkdown(doc)
		if err != nil {
			continue
		}
		alwaysReadBack = true
		slow, _ := ADFToMarkdown(doc)
		alwaysReadBack = false
		if fast != slow {
			t.Fatalf("case %d: %s\nwithout the check %q\nwith it           %q", n, doc, fast, slow)
		}
	}
}

func TestADFToTextAndMarkdownIsBothConversions(t *testing.T) {
	for _, s := range markdownSeeds {
		doc, err := MarkdownToADF(s)
		if err != nil {
			t.Fatal(err)
		}
		text, md, err := ADFToTextAndMarkdown(doc)
		wantText, _ := ADFToText(doc)
		wantMD, _ := ADFToMarkdown(doc)
		if err != nil || text != wantText || md != wantMD {
			t.Fatalf("%q: got %q / %q (%v), want %q / %q", s, text, md, err, wantText, wantMD)
		}
	}
}
