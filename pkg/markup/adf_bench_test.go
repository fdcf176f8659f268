package markup

import (
	"encoding/json"
	"testing"
)

// BenchmarkADFToTextAndMarkdown converts the bench's ticket description
// (cmd/bench) as Jira returns it: what discovery does once per Jira ticket.
func BenchmarkADFToTextAndMarkdown(b *testing.B) {
	doc, err := MarkdownToADF("Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).")
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ADFToTextAndMarkdown(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWikiToTextAndMarkdown is Data Center's conversion of the same
// description (as the fake spells it in wiki markup).
func BenchmarkWikiToTextAndMarkdown(b *testing.B) {
	wiki := MarkdownToWiki("Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = WikiToTextAndMarkdown(wiki)
	}
}
