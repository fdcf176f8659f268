package azuredevops

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
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

// The prefixes links builds once give, for every id, what joining the id
// as the last path element of the base URL gives (the form before).
func TestWebURLIsTheBaseJoinedWithTheEditPath(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://dev.azure.com", "https://dev.azure.com/", "http://127.0.0.1:8080/tfs/", "https://tfs.example/tfs/DefaultCollection"} {
		for _, project := range []string{"acme/Widgets", "acme org/My Project", "acme/Ü-ber%20x", "acme/a#b?c"} {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			s := &trackers.Session{BaseURL: u, Connector: connector.Connector{Project: project}}
			paged := linksOf(s)
			paged.page = &pageBlocks{text: make([]byte, 0, 64)} // small: some keys need a new block
			for _, id := range []int64{1, 42, 1234567890} {
				want := u.JoinPath(apiPath(s, true, "_workitems", "edit", strconv.FormatInt(id, 10))).String()
				if got := webURL(s, id); got != want {
					t.Errorf("base %q project %q id %d: %q, want %q", base, project, id, got, want)
				}
				if got, want := ticketKey(s, id), project+"#"+strconv.FormatInt(id, 10); got != want {
					t.Errorf("key %q, want %q", got, want)
				}
				if k, w := linksOf(s).keyAndWeb(id); k != ticketKey(s, id) || w != want {
					t.Errorf("keyAndWeb %q %q, want %q %q", k, w, ticketKey(s, id), want)
				}
				if k, w := paged.keyAndWeb(id); k != ticketKey(s, id) || w != want {
					t.Errorf("keyAndWeb from a page block %q %q, want %q %q", k, w, ticketKey(s, id), want)
				}
			}
		}
	}
}
