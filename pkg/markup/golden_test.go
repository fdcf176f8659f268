package markup

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The renderers are tuned for speed (issue 9); their output must not move
// by a byte. TestRenderGolden renders a fixed corpus (the seeds of the
// other tests, the fuzz corpus, and a few thousand seeded random ADF
// documents, wiki texts and Markdown texts) through every conversion and
// compares a hash of each result with testdata/render.golden, written by
// the renderer as it was before the tuning (go test -run RenderGolden
// -update-golden rewrites it: only do that for an intended change).

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/render.golden")

const goldenFile = "testdata/render.golden"

type goldenCase struct {
	name, input string
	render      func(string) string
}

func TestRenderGolden(t *testing.T) {
	cases := goldenCases(t)
	got := make(map[string]string, len(cases))
	var names []string
	for _, c := range cases {
		sum := sha256.Sum256([]byte(c.render(c.input)))
		got[c.name] = hex.EncodeToString(sum[:6])
		names = append(names, c.name)
	}
	if *updateGolden {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s %s\n", n, got[n])
		}
		if err := os.WriteFile(goldenFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, sum, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		want[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(cases) {
		t.Fatalf("golden file has %d cases, the corpus %d", len(want), len(cases))
	}
	failed := 0
	for _, c := range cases {
		if want[c.name] != got[c.name] {
			failed++
			if failed <= 5 {
				t.Errorf("%s: output changed\ninput: %q\nnow:   %q", c.name, c.input, c.render(c.input))
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d outputs changed", failed, len(cases))
	}
}

func goldenCases(t *testing.T) []goldenCase {
	adfDocs, wikis, mds := goldenCorpus(t)
	adf := func(conv func(json.RawMessage) (string, error)) func(string) string {
		return func(s string) string {
			out, err := conv(json.RawMessage(s))
			if err != nil {
				return "error"
			}
			return out
		}
	}
	var cases []goldenCase
	for i, d := range adfDocs {
		cases = append(cases,
			goldenCase{fmt.Sprintf("am%d", i), d, adf(ADFToMarkdown)},
			goldenCase{fmt.Sprintf("at%d", i), d, adf(ADFToText)},
		)
	}
	for i, w := range wikis {
		cases = append(cases,
			goldenCase{fmt.Sprintf("wm%d", i), w, WikiToMarkdown},
			goldenCase{fmt.Sprintf("wt%d", i), w, WikiToText},
		)
	}
	for i, m := range mds {
		cases = append(cases,
			goldenCase{fmt.Sprintf("ma%d", i), m, func(s string) string {
				out, err := MarkdownToADF(s, WithMention("acc-1", "Rita"))
				if err != nil {
					return "error"
				}
				return string(out)
			}},
			goldenCase{fmt.Sprintf("mw%d", i), m, func(s string) string { return MarkdownToWiki(s) }},
		)
	}
	return cases
}

// goldenCorpus is the golden test's input: ADF documents, wiki texts and
// Markdown texts.
func goldenCorpus(t *testing.T) (adfDocs, wikis, mds []string) {
	adfDocs = append(adfDocs, "null", `"plain *text*\n\nsecond"`,
		`{"type":"doc","content":[null,{"type":"paragraph","content":[null]}]}`,
		`{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"a\"b\\c\/d\b\f\n\r\tü\u00e9\u20ac\ud83d\ude00"}]}]}`,
		`{"type":"doc","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":5}},{"type":"em","attrs":null}]}]}`,
		`{"type":"doc","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"https://e.com","title":"t"}},{"type":"strike"}]}]}`,
		`{"type":"doc","content":[{"type":"bulletList","content":[null,{"type":"listItem","content":[null,{"type":"paragraph","content":[{"type":"text","text":"x"}]}]}]}]}`)
	for _, s := range markdownSeeds {
		doc, err := MarkdownToADF(s)
		if err != nil {
			t.Fatal(err)
		}
		adfDocs = append(adfDocs, string(doc))
		mds = append(mds, s)
	}
	// The fuzz corpus: ADF documents, and text for docFromText.
	files, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			s, ok := strings.CutPrefix(line, "string(")
			if !ok {
				continue
			}
			var v string
			if _, err := fmt.Sscanf(strings.TrimSuffix(s, ")"), "%q", &v); err != nil {
				continue
			}
			adfDocs = append(adfDocs, v, string(docFromText(v)))
			wikis = append(wikis, v)
			mds = append(mds, v)
		}
	}
	rng := rand.New(rand.NewPCG(9, 4))
	for range 1500 {
		adfDocs = append(adfDocs, randomADF(rng))
	}
	for range 600 {
		wikis = append(wikis, randomText(rng, wikiPieces))
		mds = append(mds, randomText(rng, mdPieces))
	}
	return adfDocs, wikis, mds
}

var (
	goldenWords = []string{"word", "two words", "x", "42", " lead", "trail ", "a*b", "_u_", "~", "`", "é", "end.", ".", ", ", " ",
		"(", ")", "[x]", "\\", "#", "1. ", "- ", "> q", "|", "&amp;", "<b>", "!", "\n", "  ", "snake_case", "https://e.com/x"}
	goldenMarks = []string{"strong", "em", "strike", "underline", "code", "link", "textColor"}
	wikiPieces  = []string{"h1. ", "h3. ", "*bold*", "_em_", "-strike-", "+under+", "{{mono}}", "* item\n", "** sub\n", "# one\n", "## two\n",
		"||h1||h2||\n", "|c1|c2|\n", "{code:go}\nx := 1\n{code}\n", "{noformat}\nraw\n{noformat}\n", "{quote}\nq\n{quote}\n", "[a|http://x]",
		"[~rita]", "!i.png!", "\n\n", "\n", "word ", "two words ", "\\*", "bq. quote\n", "----\n", "{panel}p{panel}", "{color:red}c{color}",
		"??cite??", "^sup^", "~sub~", "é", "a*b", "snake_case ", "http://e.com/x ", "&#92;", "&amp;", "&lt;b&gt;", "&bogus;", "\\\\",
		"\\\\ ", "{color:red}", "{color}", "x{anchor}y", "{{a}}b", "\\{", "\\\\x", "\t", "\r\n"}
	mdPieces = []string{"# ", "### ", "**bold**", "*em*", "_em_", "~~s~~", "`code`", "- item\n", "  - sub\n", "1. one\n", "2) two\n",
		"| a | b |\n|---|---|\n| 1 | 2 |\n", "```go\nx\n```\n", "> quote\n", "[l](https://e.com/(x))", "<https://e.com>", "![i](x.png)",
		"\n\n", "\n", "word ", "two words ", "\\*", "---\n", "<div>html</div>\n", "&amp; ", "&#126;", "é", "a*b", "snake_case ", "  \n",
		"***x***", "**a *b***", "*a **b** c*", "~~**x**~~", "www.e.com "}
)

func randomText(rng *rand.Rand, pieces []string) string {
	var b strings.Builder
	for range 1 + rng.IntN(12) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// randomADF builds a document from every node kind the renderer knows,
// and some it does not.
func randomADF(rng *rand.Rand) string {
	doc := map[string]any{"type": "doc", "version": 1, "content": randomBlocks(rng, 0)}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func randomBlocks(rng *rand.Rand, depth int) []any {
	var out []any
	for range 1 + rng.IntN(3) {
		out = append(out, randomBlock(rng, depth))
	}
	return out
}

func randomBlock(rng *rand.Rand, depth int) map[string]any {
	kinds := []string{"paragraph", "paragraph", "paragraph", "heading", "codeBlock", "rule", "mediaSingle", "blockCard", "mystery"}
	if depth < 3 {
		kinds = append(kinds, "bulletList", "orderedList", "blockquote", "panel", "expand", "table", "bulletList", "orderedList")
	}
	switch k := kinds[rng.IntN(len(kinds))]; k {
	case "paragraph":
		return map[string]any{"type": k, "content": randomInlines(rng)}
	case "heading":
		return map[string]any{"type": k, "attrs": map[string]any{"level": 1 + rng.IntN(7)}, "content": randomInlines(rng)}
	case "codeBlock":
		return map[string]any{"type": k, "attrs": map[string]any{"language": []string{"go", "", "a b`"}[rng.IntN(3)]},
			"content": []any{map[string]any{"type": "text", "text": randomText(rng, goldenWords)}}}
	case "rule":
		return map[string]any{"type": k}
	case "mediaSingle":
		return map[string]any{"type": k, "content": []any{map[string]any{"type": "media", "attrs": map[string]any{"id": "1", "type": "file"}}}}
	case "blockCard":
		return map[string]any{"type": k, "attrs": map[string]any{"url": []string{"https://e.com/c", "x y"}[rng.IntN(2)]}}
	case "mystery":
		return map[string]any{"type": k, "attrs": map[string]any{"text": "mystery text"}}
	case "bulletList", "orderedList":
		var items []any
		for range 1 + rng.IntN(3) {
			items = append(items, map[string]any{"type": "listItem", "content": randomBlocks(rng, depth+1)})
		}
		n := map[string]any{"type": k, "content": items}
		if k == "orderedList" && rng.IntN(2) == 0 {
			n["attrs"] = map[string]any{"order": rng.IntN(12)}
		}
		return n
	case "blockquote", "panel":
		return map[string]any{"type": k, "content": randomBlocks(rng, depth+1)}
	case "expand":
		return map[string]any{"type": k, "attrs": map[string]any{"title": "More *"}, "content": randomBlocks(rng, depth+1)}
	case "table":
		var rows []any
		for r := range 1 + rng.IntN(3) {
			var cells []any
			for range 1 + rng.IntN(3) {
				ct := "tableCell"
				if r == 0 {
					ct = "tableHeader"
				}
				cells = append(cells, map[string]any{"type": ct, "content": randomBlocks(rng, depth+1)})
			}
			rows = append(rows, map[string]any{"type": "tableRow", "content": cells})
		}
		return map[string]any{"type": k, "content": rows}
	}
	panic("unreachable")
}

func randomInlines(rng *rand.Rand) []any {
	var out []any
	for range 1 + rng.IntN(7) {
		switch rng.IntN(14) {
		case 0:
			out = append(out, map[string]any{"type": "hardBreak"})
		case 1:
			out = append(out, map[string]any{"type": "mention", "attrs": map[string]any{"id": "acc", "text": []string{"@Rita", "Bob", ""}[rng.IntN(3)]}})
		case 2:
			out = append(out, map[string]any{"type": "emoji", "attrs": map[string]any{"shortName": ":smile:", "text": []string{"😄", ""}[rng.IntN(2)]}})
		case 3:
			out = append(out, map[string]any{"type": "inlineCard", "attrs": map[string]any{"url": "https://e.com/card"}})
		case 4:
			out = append(out, map[string]any{"type": "date", "attrs": map[string]any{"timestamp": "1700000000000"}})
		case 5:
			out = append(out, map[string]any{"type": "status", "attrs": map[string]any{"text": "done"}})
		default:
			n := map[string]any{"type": "text", "text": goldenWords[rng.IntN(len(goldenWords))]}
			var marks []any
			for _, m := range goldenMarks {
				if rng.IntN(5) == 0 {
					mk := map[string]any{"type": m}
					if m == "link" {
						mk["attrs"] = map[string]any{"href": []string{"https://e.com/l", "https://e.com/(a b)", "javascript:x"}[rng.IntN(3)]}
					}
					marks = append(marks, mk)
				}
			}
			if marks != nil {
				n["marks"] = marks
			}
			out = append(out, n)
		}
	}
	return out
}
