package confluence_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// cfCloudToken is the fake Confluence user's API token.
const cfCloudToken = "confluence-cloud-5ecret"

func cfWiki(d connector.Deployment, pages int) *confluencefake.Server {
	s := confluencefake.New(confluencefake.Options{
		Deployment: d,
		MaxLimit:   7,
		Users:      []confluencefake.User{{AccountID: "acc-1", Username: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: cfCloudToken}},
		Spaces:     []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}, {ID: 2, Key: "OPS", Name: "Operations"}},
	})
	for i := range pages {
		s.AddPage(confluencefake.Page{
			ID: int64(1000 + i), SpaceKey: []string{"ENG", "OPS"}[i%2], Title: fmt.Sprintf("Runbook %d", i),
			Body:    fmt.Sprintf("<p>gateway note %d</p>", i),
			Updated: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour),
		})
	}
	return s
}

func cfSession(t *testing.T, d connector.Deployment, base string, spaces ...string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "wiki", System: connector.Confluence, Deployment: d, BaseURL: base, AuthMode: connector.AuthBearer, SpaceKeys: spaces}
	if d == connector.Cloud {
		c.AuthMode, c.Username = connector.AuthBasic, "mia@example.com"
	}
	s, err := trackers.NewSession(confluence.New(), c, connector.NewSecret(cfCloudToken), trackers.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cfSearcher(t *testing.T) trackers.Searcher {
	t.Helper()
	tr := trackers.Tracker(confluence.New())
	s, ok := tr.(trackers.Searcher)
	if !ok {
		t.Fatal("confluence is not a Searcher")
	}
	return s
}

func TestConfluenceSearchFollowsNextUntilLimit(t *testing.T) {
	t.Parallel()
	for _, d := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fake := cfWiki(d, 30)
			s := cfSession(t, d, fake.Start(t), "ENG", "OPS")
			hits, err := cfSearcher(t).Search(context.Background(), s, trackers.SearchQuery{Terms: []string{"gateway"}, Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 20 {
				t.Fatalf("%d hits, want 20", len(hits))
			}
			if fake.Searches() != 3 { // 7 + 7 + 6 of the 30
				t.Errorf("%d search requests, want 3", fake.Searches())
			}
			seen := map[string]bool{}
			for _, h := range hits {
				if seen[h.ID] {
					t.Fatalf("page %s returned twice", h.ID)
				}
				seen[h.ID] = true
				if h.SpaceKey != "ENG" && h.SpaceKey != "OPS" {
					t.Errorf("hit %s space %q", h.ID, h.SpaceKey)
				}
			}
		})
	}
}

func TestConfluenceSearchRestrictsSpaces(t *testing.T) {
	t.Parallel()
	fake := cfWiki(connector.Cloud, 6)
	s := cfSession(t, connector.Cloud, fake.Start(t), "ENG", "OPS")
	hits, err := cfSearcher(t).Search(context.Background(), s, trackers.SearchQuery{Terms: []string{"gateway"}, Spaces: []string{"OPS"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 3 {
		t.Fatalf("%d hits, want the 3 OPS pages", len(hits))
	}
	for _, h := range hits {
		if h.SpaceKey != "OPS" {
			t.Errorf("hit %s in %s", h.ID, h.SpaceKey)
		}
	}
}

func TestConfluenceSearchErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault faults.Fault
		check func(error) bool
		desc  string
	}{
		{"rate limited", faults.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}},
			func(err error) bool {
				var rl *trackers.RateLimitError
				return errors.As(err, &rl) && rl.RetryAfter == 7*time.Second && retryable(err)
			}, "*RateLimitError of 7s"},
		{"server error", faults.Fault{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"},
			func(err error) bool {
				return errors.Is(err, trackers.ErrSearchUnavailable) && retryable(err)
			}, "ErrSearchUnavailable"},
		{"credential rejected", faults.Fault{Status: http.StatusUnauthorized},
			func(err error) bool {
				return errors.Is(err, trackers.ErrUnauthorized) && retryNever(err)
			}, "ErrUnauthorized"},
		{"malformed body", faults.Fault{Status: http.StatusOK, Body: `{"results": [`},
			func(err error) bool { return errors.Is(err, trackers.ErrMalformedResponse) }, "ErrMalformedResponse"},
		{"body without results", faults.Fault{Status: http.StatusOK, Body: `{"size": 0}`},
			func(err error) bool { return errors.Is(err, trackers.ErrMalformedResponse) }, "ErrMalformedResponse"},
		{"query refused", faults.Fault{Status: http.StatusBadRequest, Body: `{"message":"Could not parse cql"}`},
			func(err error) bool { return errors.Is(err, trackers.ErrInvalidSearch) }, "ErrInvalidSearch"},
		{"slow", faults.Fault{Delay: 5 * time.Second},
			func(err error) bool {
				return errors.Is(err, trackers.ErrSearchUnavailable) && strings.Contains(err.Error(), "timed out")
			}, "ErrSearchUnavailable (timed out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := cfWiki(connector.Cloud, 2)
			fake.Faults.Add(tt.fault)
			s := cfSession(t, connector.Cloud, fake.Start(t))
			_, err := cfSearcher(t).Search(context.Background(), s, trackers.SearchQuery{Terms: []string{"gateway"}})
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v, want %s", err, tt.desc)
			}
			if strings.Contains(err.Error(), cfCloudToken) || strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error %q leaks the credential or URL", err)
			}
		})
	}
}

func TestConfluencePageText(t *testing.T) {
	t.Parallel()
	body := `<h1>Restart</h1><p>Run <code>pgw restart</code> &amp; wait.</p>` +
		`<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>` +
		`<ac:plain-text-body><![CDATA[echo "<done>"]]></ac:plain-text-body></ac:structured-macro>` +
		`<p>` + strings.Repeat("long ", 400) + `</p>`
	for _, d := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fake := cfWiki(d, 0)
			fake.AddPage(confluencefake.Page{ID: 42, SpaceKey: "ENG", Title: "Restart", Body: body})
			s := cfSession(t, d, fake.Start(t))
			tr := trackers.Tracker(confluence.New())
			reader := tr.(trackers.PageReader)
			text, err := reader.PageText(context.Background(), s, "42", 200)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text, "Restart\nRun pgw restart & wait.\necho \"<done>\"\nlong") {
				t.Errorf("text = %q", text)
			}
			if len(text) > 200 || !strings.HasSuffix(text, "…") {
				t.Errorf("text of %d bytes not capped at 200 with a mark", len(text))
			}
			if _, err := reader.PageText(context.Background(), s, "43", 200); !errors.Is(err, trackers.ErrPageNotFound) {
				t.Errorf("missing page: err = %v", err)
			}
			if _, err := reader.PageText(context.Background(), s, "../user/current", 200); !errors.Is(err, trackers.ErrPageNotFound) {
				t.Errorf("path-like id: err = %v", err)
			}
			if fake.PageReads() != 1 {
				t.Errorf("page reads = %d, want 1 (bad ids never sent)", fake.PageReads())
			}
		})
	}
}

func TestConfluenceText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		max   int
		lines bool
		want  string
	}{
		{"@@@hl@@@Payment@@@endhl@@@ gateway &quot;runbook&quot;", 0, false, `Payment gateway "runbook"`},
		{"<p>a</p><p>b<br/>c</p>", 0, true, "a\nb\nc"},
		{"<p>a</p>\n\n<p>  b  </p>", 0, false, "a b"},
		{"<table><tr><td>x</td><td>y</td></tr></table>", 0, true, "x y"},
		{"<p>héllo wörld</p>", 8, false, "héll…"},
		{"<p>unclosed <b>bold", 0, false, "unclosed bold"},
	}
	for _, tt := range tests {
		if got := confluence.Text(tt.in, tt.max, tt.lines); got != tt.want {
			t.Errorf("Text(%q, %d, %v) = %q, want %q", tt.in, tt.max, tt.lines, got, tt.want)
		}
	}
}

// retryable and retryNever read the one retry rule (trackers.RetryOf).
func retryable(err error) bool {
	r, _ := trackers.RetryOf(err)
	return r != trackers.RetryNever
}

func retryNever(err error) bool { return !retryable(err) }
