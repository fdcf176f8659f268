package github

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// fakeListingPage is a page of the issues listing as the fake serves it
// (vendor-shaped: its answers are checked against github.shape.json), with
// n issues carrying body.
func fakeListingPage(tb testing.TB, n int, body string) []byte {
	tb.Helper()
	fake := githubfake.NewSandbox()
	now := time.Now().UTC()
	for i := range n {
		fake.AddIssue(githubfake.SandboxRepo, githubfake.Issue{Title: fmt.Sprintf("Bench issue %d «ü»", i), Body: body, Labels: []string{"bench", "In Review"},
			Assignees: []string{githubfake.SandboxLogin}, Author: "rita", Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(tb)
	req, err := http.NewRequest(http.MethodGet, base+"/api/v3/repos/"+githubfake.SandboxRepo+"/issues?state=open&per_page=100&assignee="+githubfake.SandboxLogin, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+githubfake.SandboxToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("HTTP %d, %v", resp.StatusCode, err)
	}
	return page
}

// The listing decoder gives, for every issue of a page, the ticket that
// go-github's own decoding (encoding/json into github.Issue) gives, and
// skips the same entries (pull requests, null): on the fake's vendor-shaped
// page and on edge cases (escapes, nulls, absent fields, a pull request).
func TestDecodeListedIssuesAsGoGitHub(t *testing.T) {
	t.Parallel()
	pages := map[string][]byte{
		"fake page": fakeListingPage(t, 30, "Steps:\n\n1. Open the **report** page\n2. \"Export\" as `CSV` \\ \u2028 \t é 😀"),
		"edge cases": []byte(`[{"id":1,"number":7,"html_url":"https://github.com/o/r/issues/7","title":"T \u00e9\"q\"","body":"Fix **it**\r\n\u0000x","state":"open",
	"comments":2,"labels":[{"id":3,"name":"bug","color":"ededed"},{"id":4,"name":"In Review"},{"id":5,"name":""},{"id":6,"name":null}],
	"user":{"login":"rita","id":101,"name":"Rita","email":"rita@example.com","type":"User","site_admin":false},
	"assignee":{"login":"bot","id":102,"name":null,"email":null},"assignees":[{"login":"bot","id":102}],
	"reactions":{"+1":1,"url":"x"},"milestone":null,
	"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-02T11:12:13+02:00"},
	null,
	{"id":2,"number":8,"html_url":"https://github.com/o/r/issues/8","title":"U","body":null,"state":"open","labels":[],
	"user":null,"assignee":null,"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00.5Z"},
	{"id":3,"number":9,"html_url":"https://github.com/o/r/pull/9","title":"PR","state":"open","pull_request":{"url":"u","html_url":"h"},
	"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"},
	{"id":4,"number":10,"html_url":"https://github.com/o/r/issues/10","title":"not a PR","pull_request":null,
	"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"}]`),
	}
	s := &trackers.Session{Connector: connector.Connector{Project: "o/r"}}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lib []*github.Issue
			if err := json.Unmarshal(page, &lib); err != nil {
				t.Fatal(err)
			}
			var want []trackers.Ticket
			for _, is := range lib {
				if is == nil || is.IsPullRequest() {
					continue
				}
				tk, err := githubTicket(s, listedFrom(is), nil)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, tk)
			}
			listed, err := decodeListedIssues(page)
			if err != nil {
				t.Fatal(err)
			}
			var got []trackers.Ticket
			var keys trackerhttp.Keys
			for i := range listed {
				if listed[i].PullRequest {
					continue
				}
				tk, err := githubTicket(s, &listed[i], &keys)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tk)
			}
			if len(got) == 0 || !reflect.DeepEqual(got, want) {
				t.Errorf("listing decoder:\n%+v\ngo-github:\n%+v", got, want)
			}
		})
	}
}

// What go-github cannot decode, the listing decoder refuses too, as a
// malformed answer.
func TestDecodeListedIssuesRefusesWhatGoGitHubRefuses(t *testing.T) {
	t.Parallel()
	for _, page := range []string{
		`{"message":"not a list"}`,
		`[{"number":"7"}]`,
		`[{"number":7,"title":3}]`,
		`[{"number":7,"labels":{"name":"bug"}}]`,
		`[{"number":7,"labels":["bug"]}]`,
		`[{"number":7,"user":"rita"}]`,
		`[{"number":7,"user":{"id":"101"}}]`,
		`[{"number":7,"updated_at":"yesterday"}]`,
		`[{"number":7,"updated_at":true}]`,
		`[{"number":7}`,
		`[1]`,
		``,
	} {
		var lib []*github.Issue
		if err := json.Unmarshal([]byte(page), &lib); err == nil {
			t.Errorf("%s: go-github decodes it", page)
		}
		if _, err := decodeListedIssues([]byte(page)); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: listing decoder error %v, want a malformed response", page, err)
		}
	}
}

// BenchmarkGitHubDecodePage is the decoding alone of the fake's page of 100
// issues (cmd/bench's description), as discovery decodes it.
func BenchmarkGitHubDecodePage(b *testing.B) {
	page := fakeListingPage(b, 100, "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).")
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if l, err := decodeListedIssues(page); err != nil || len(l) != 100 {
			b.Fatal(len(l), err)
		}
	}
}

// The clients send the session's User-Agent, so the session's transport
// sends their requests without copying them.
func TestGitHubClientsSendTheSessionsUserAgent(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, BaseURL: "https://api.github.com/", AuthMode: connector.AuthBearer, Project: "o/r"}
	s, err := trackers.NewSession(New(), c, connector.NewSecret("ghp_x"), trackers.Options{UserAgent: "connectorhub/test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func(*trackers.Session) (*github.Client, error){"client": newGitHubClient, "discovery client": newGitHubDiscoveryClient} {
		gc, err := build(s)
		if err != nil || gc.UserAgent() != "connectorhub/test" {
			t.Errorf("%s: User-Agent %q, %v", name, gc.UserAgent(), err)
		}
	}
}
