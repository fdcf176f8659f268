package azuredevops

import (
	"strings"
	"testing"
)

// stripMarker skips its expression when no marker can be in the text; the
// result must be what the expression alone gives, marker or not.
func TestStripMarkerFastPathMatchesTheExpression(t *testing.T) {
	t.Parallel()
	slow := func(s string) string { return strings.TrimSpace(markerComment.ReplaceAllString(s, "\n")) }
	for _, in := range []string{
		"", "  plain  ", "Steps:\n\n1. **one**\n2. `two`\n", "<!-- a comment -->", "<!-- connectorhub -->",
		"text <!-- connectorhub:m-1 --> more", "<!--connectorhub:x-->", "a\n\n<!-- connectorhub: r-9 -->\n\n",
		"connectorhub: not a comment", "<!-- connectorhub:unterminated", "\t<!-- connectorhub:a --><!-- connectorhub:b -->\t",
	} {
		if got, want := stripMarker(in), slow(in); got != want {
			t.Errorf("stripMarker(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTMLToTextBreaksBlocksAndDropsTags(t *testing.T) {
	t.Parallel()
	got := htmlToText("<div>One<br/>Two</div><p>Three &amp; <b>four</b></p>")
	if want := "One\nTwo\nThree & four"; got != want {
		t.Errorf("htmlToText = %q, want %q", got, want)
	}
}
