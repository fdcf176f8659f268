package github

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// githubFakeClock is a clock whose sleeps advance it instantly.
type githubFakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	cancel bool
}

func (c *githubFakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *githubFakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if c.cancel {
		return context.Canceled
	}
	return nil
}

func (c *githubFakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestGitHubMutationPacerSpacesMutationsPerToken(t *testing.T) {
	t.Parallel()
	clk := &githubFakeClock{now: time.Unix(1_000_000, 0)}
	p := newGitHubMutationPacer(time.Second, clk.Now, clk.Sleep)
	ctx := context.Background()

	// Three back-to-back mutations of one token queue a second apart; another
	// token is not held up by them.
	for range 3 {
		if err := p.wait(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.wait(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !equalDurations(clk.slept, want) {
		t.Errorf("slept %v, want %v", clk.slept, want)
	}

	// After the queue has drained, a mutation goes at once; one 400ms after
	// the previous waits the remaining 600ms.
	clk.slept = nil
	clk.Advance(5 * time.Second)
	_ = p.wait(ctx, "a")
	clk.Advance(400 * time.Millisecond)
	_ = p.wait(ctx, "a")
	if want := []time.Duration{600 * time.Millisecond}; !equalDurations(clk.slept, want) {
		t.Errorf("slept %v, want %v", clk.slept, want)
	}

	clk.cancel = true
	if err := p.wait(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGitHubParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"0", 0, true},
		{"Tue, 01 Jan 2030 00:01:00 GMT", time.Minute, true},
		{"Mon, 31 Dec 2029 23:00:00 GMT", 0, true}, // in the past
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := githubParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("githubParseRetryAfter(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGitHubPlainText(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"Fix **the** thing":                      "Fix the thing",
		"# Title\n\n> quoted _word_ and ~~old~~": "Title\n\nquoted word and old",
		"see [docs](https://x) ![img](a.png)":    "see docs img",
		"```go\nx := 1\n```":                     "x := 1",
		"keep snake_case_name and 2*3*4":         "keep snake_case_name and 2*3*4",
		"body\n\n<!-- connectorhub:m -->":        "body",
		"- [x] done\n- [ ] todo":                 "done\ntodo",
		"a <b>bold</b> move":                     "a bold move",
	}
	for in, want := range tests {
		if got := githubPlainText(in); got != want {
			t.Errorf("githubPlainText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGitHubMarkerStaysOneHTMLComment(t *testing.T) {
	t.Parallel()
	if got := githubMarker("connectorhub:r1:comment"); got != "<!-- connectorhub:r1:comment -->" {
		t.Errorf("marker = %q", got)
	}
	if got := githubMarker("a-->b"); got != "<!-- a- ->b -->" {
		t.Errorf("marker with --> = %q", got)
	}
}

func TestListedTimeDecodesAsGitHubTimestamp(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`"2026-12-03T10:11:12Z"`, `"2026-12-03T10:11:12.345Z"`, `"2026-12-03T10:11:12+02:00"`, `1764756672`, `null`, `""`, `"yesterday"`} {
		var want github.Timestamp
		wantErr := want.UnmarshalJSON([]byte(in))
		if in == `null` {
			wantErr = nil // a decoder does not call UnmarshalJSON on null: the zero time
		}
		got, gotErr := decodeListedIssues([]byte(`[{"number":1,"created_at":` + in + `}]`))
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: listing decoder error %v, github.Timestamp %v", in, gotErr, wantErr)
			continue
		}
		if gotErr == nil && (!got[0].CreatedAt.Equal(want.Time) || got[0].CreatedAt.Location().String() != want.Location().String()) {
			t.Errorf("%s: listing decoder %v, github.Timestamp %v", in, got[0].CreatedAt, want.Time)
		}
	}
}

// A listed issue decoded into the small type gives the same ticket as
// go-github's decoding of it (GetTicket's path).
func TestListedIssueTicketMatchesGoGitHubs(t *testing.T) {
	t.Parallel()
	const page = `[{"id":1,"number":7,"html_url":"https://github.com/o/r/issues/7","title":"T","body":"Fix **it**","state":"open",
	"comments":2,"labels":[{"id":3,"name":"bug","color":"ededed"},{"id":4,"name":"In Review"},{"id":5,"name":""}],
	"user":{"login":"rita","id":101,"name":"Rita","email":"rita@example.com","type":"User"},
	"assignee":{"login":"bot","id":102},"assignees":[{"login":"bot","id":102}],
	"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-02T11:12:13+02:00"},
	{"id":2,"number":8,"html_url":"https://github.com/o/r/issues/8","title":"U","body":null,"state":"open","labels":[],
	"user":null,"assignee":null,"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"}]`
	var gh []*github.Issue
	if err := json.Unmarshal([]byte(page), &gh); err != nil {
		t.Fatal(err)
	}
	listed, err := decodeListedIssues([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	s := &trackers.Session{Connector: connector.Connector{Project: "o/r"}}
	for i := range gh {
		want, err := githubTicket(s, listedFrom(gh[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := githubTicket(s, &listed[i], new(trackerhttp.Keys))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("issue %d: listed %+v, go-github %+v", i, got, want)
		}
		if i == 0 && (got.Status != "In Review" || got.Reporter.ID != "101" || len(got.Labels) != 2 || got.DescriptionText != "Fix it") {
			t.Errorf("ticket %+v", got)
		}
	}
}
