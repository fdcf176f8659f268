package markup

import (
	"encoding/json"
	"testing"
)

// TestBothConversionsAgree: the *ToTextAndMarkdown conversions, which
// share one parse and (through the memo) one set of runs, equal the
// separate conversions over the golden corpus.
func TestBothConversionsAgree(t *testing.T) {
	adfDocs, wikis, _ := goldenCorpus(t)
	for _, w := range wikis {
		// Both conversions of one parse are the two conversions.
		text, md := WikiToTextAndMarkdown(w)
		if text != WikiToText(w) || md != WikiToMarkdown(w) {
			t.Fatalf("WikiToTextAndMarkdown(%q) = %q, %q; not WikiToText, WikiToMarkdown", w, text, md)
		}
	}
	inStep := 0
	for _, d := range adfDocs {
		if root, err := parseADF(json.RawMessage(d)); err == nil {
			// The Markdown pass finds every container's runs in the memo.
			memo := &runMemo{record: true}
			(&mdWriter{plain: true, memo: memo}).document(root)
			memo.record = false
			(&mdWriter{memo: memo}).document(root)
			if memo.next == len(memo.entries) {
				inStep++
			}
		}
		text, md, err := ADFToTextAndMarkdown(json.RawMessage(d))
		wantText, _ := ADFToText(json.RawMessage(d))
		wantMD, errMD := ADFToMarkdown(json.RawMessage(d))
		if text != wantText || md != wantMD || (err == nil) != (errMD == nil) {
			t.Fatalf("ADFToTextAndMarkdown(%s) = %q, %q, %v; not ADFToText, ADFToMarkdown", d, text, md, err)
		}
	}
	t.Logf("in step: %d of %d", inStep, len(adfDocs))
	if inStep < len(adfDocs)*9/10 {
		t.Fatalf("the text and Markdown passes kept in step on %d of %d documents", inStep, len(adfDocs))
	}
}
