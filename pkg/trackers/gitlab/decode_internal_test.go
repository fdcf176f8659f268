package gitlab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	fastjson "github.com/goccy/go-json"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// The listing decoder reads what client-go's Issue reads, for the fields
// the tracker uses, on a GitLab-shaped page (null description and times
// included).
func TestGitLabIssueDecodesAsClientGo(t *testing.T) {
	t.Parallel()
	const page = `[{"id":900,"iid":7,"project_id":42,"title":"Crash","description":"Steps **here**","state":"opened",
	"created_at":"2026-12-01T10:00:00.123Z","updated_at":"2026-12-02T11:12:13.000+02:00","closed_at":null,
	"labels":["bug","In Review"],"author":{"id":2,"username":"rita","name":"Rita","state":"active","avatar_url":null,"web_url":"https://gitlab.example.com/rita"},
	"assignees":[{"id":3,"username":"other","name":"O"},{"id":4,"username":"agent","name":"A"}],"assignee":{"id":3,"username":"other"},
	"user_notes_count":2,"web_url":"https://gitlab.example.com/g/p/-/issues/7","milestone":null,"time_stats":{"time_estimate":0}},
	{"id":901,"iid":8,"title":"Quiet","description":null,"state":"opened","created_at":null,"updated_at":"2026-12-01T10:00:00Z",
	"labels":[],"author":null,"assignees":[],"user_notes_count":0,"web_url":"https://gitlab.example.com/g/p/-/issues/8"}]`
	var lib []*gitlab.Issue
	if err := json.Unmarshal([]byte(page), &lib); err != nil {
		t.Fatal(err)
	}
	small, err := decodeGitLabIssues([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(lib) != len(small) {
		t.Fatalf("%d issues from client-go, %d from the small type", len(lib), len(small))
	}
	timeOf := func(p *time.Time) time.Time {
		if p == nil {
			return time.Time{}
		}
		return *p
	}
	for i, want := range lib {
		got := small[i]
		if got.IID != want.IID || got.Title != want.Title || got.Description != want.Description || got.State != want.State ||
			got.WebURL != want.WebURL || got.UserNotesCount == nil || *got.UserNotesCount != want.UserNotesCount ||
			!got.CreatedAt.Equal(timeOf(want.CreatedAt)) || !got.UpdatedAt.Equal(timeOf(want.UpdatedAt)) ||
			len(got.Labels) != len(want.Labels) || len(got.Assignees) != len(want.Assignees) {
			t.Errorf("issue %d: small %+v, client-go %+v", i, got, *want)
			continue
		}
		for j := range got.Labels {
			if got.Labels[j] != want.Labels[j] {
				t.Errorf("issue %d label %d: %q, client-go %q", i, j, got.Labels[j], want.Labels[j])
			}
		}
		for j, a := range got.Assignees {
			if w := want.Assignees[j]; a.ID != w.ID || a.Username != w.Username || a.Name != w.Name {
				t.Errorf("issue %d assignee %d: %+v, client-go %+v", i, j, a, *w)
			}
		}
		var w gitlabUser
		if want.Author != nil {
			w = gitlabUser{ID: want.Author.ID, Username: want.Author.Username, Name: want.Author.Name}
		}
		if got.Author != w {
			t.Errorf("issue %d author: %+v, client-go %+v", i, got.Author, w)
		}
	}
}

// fakeListingPage is a page of the issue listing as the fake serves it
// (vendor-shaped: its answers are checked against gitlab-v4.shape.json).
func fakeListingPage(tb testing.TB, n int, description string) []byte {
	tb.Helper()
	fake := gitlabfake.NewSandbox()
	now := time.Now().UTC()
	for i := range n {
		fake.AddIssue(gitlabfake.Issue{ProjectID: 42, Title: fmt.Sprintf("Bench issue %d «ü»", i), Description: description, Labels: []string{"bench", "In Review"},
			Assignees: []string{gitlabfake.SandboxUser}, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(tb)
	req, err := http.NewRequest(http.MethodGet, base+"/api/v4/projects/"+url.PathEscape(gitlabfake.SandboxProject)+"/issues?state=opened&per_page=100&assignee_username="+gitlabfake.SandboxUser, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("PRIVATE-TOKEN", gitlabfake.SandboxToken)
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

// On the fake's page, and on edge cases, the listing decoder gives the
// tickets go-json's decoding of the small type (GetTicket's) gives; what
// go-json refuses, it refuses.
func TestDecodeGitLabIssuesAsGoJSON(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"fake page": string(fakeListingPage(t, 30, "Steps:\n\n1. Open the **report** page\n2. \"Export\" as `CSV` \\ \u2028 \t é 😀")),
		"edge cases": `[{"iid":7,"title":"T \u00e9","description":"a\r\nb","state":"opened","labels":["bug","In Review",""],
		"author":{"id":2,"username":"rita","name":null,"email":"r@example.com","web_url":"x"},"assignees":[{"id":3,"username":"other"},{"id":4,"username":"agent","name":"A"}],
		"created_at":"2026-12-01T10:00:00.123Z","updated_at":"2026-12-02T11:12:13+02:00","web_url":"https://gitlab.example.com/g/p/-/issues/7","user_notes_count":0,
		"milestone":{"id":1,"title":"m"},"time_stats":{"time_estimate":0},"references":{"full":"g/p#7"}},
		{"iid":8,"title":"Quiet","description":null,"state":"opened","labels":null,"author":null,"assignees":null,"created_at":null,
		"updated_at":"2026-12-01T10:00:00Z","web_url":"https://gitlab.example.com/g/p/-/issues/8","user_notes_count":null},
		{"iid":9,"updated_at":"2026-12-01T10:00:00Z","web_url":"https://gitlab.example.com/g/p/-/issues/9","labels":[],"assignees":[]}]`,
	}
	s := &trackers.Session{Connector: connector.Connector{Project: "g/p"}}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lib []gitlabIssue
			if err := fastjson.Unmarshal([]byte(page), &lib); err != nil {
				t.Fatal(err)
			}
			got, err := decodeGitLabIssues([]byte(page))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(lib) || len(got) == 0 {
				t.Fatalf("%d issues, go-json %d", len(got), len(lib))
			}
			var keys trackerhttp.Keys
			for i := range lib {
				if (got[i].Labels == nil) != (lib[i].Labels == nil) || (got[i].Assignees == nil) != (lib[i].Assignees == nil) ||
					!reflect.DeepEqual(got[i].UserNotesCount, lib[i].UserNotesCount) {
					t.Errorf("issue %d: %+v, go-json %+v", i, got[i], lib[i])
				}
				want, werr := gitlabTicket(s, lib[i], "agent", nil)
				tk, err := gitlabTicket(s, got[i], "agent", &keys)
				if (err != nil) != (werr != nil) || !reflect.DeepEqual(tk, want) {
					t.Errorf("issue %d: ticket %+v (%v), go-json %+v (%v)", i, tk, err, want, werr)
				}
			}
		})
	}
	for _, page := range []string{`{"message":"x"}`, `[{"iid":"7"}]`, `[{"iid":7,"labels":"bug"}]`, `[{"iid":7,"labels":[{"name":"bug"}]}]`,
		`[{"iid":7,"author":"rita"}]`, `[{"iid":7,"assignees":[{"id":"3"}]}]`, `[{"iid":7,"updated_at":"today"}]`, `[{"iid":7,"user_notes_count":"2"}]`, `[1]`, `[`} {
		var lib []gitlabIssue
		if err := fastjson.Unmarshal([]byte(page), &lib); err == nil {
			t.Errorf("%s: go-json decodes it", page)
		}
		if _, err := decodeGitLabIssues([]byte(page)); err == nil {
			t.Errorf("%s: the listing decoder decodes it", page)
		}
	}
}

// BenchmarkGitLabDecodePage is the decoding alone of the fake's page of 100
// issues (cmd/bench's description), as discovery decodes it.
func BenchmarkGitLabDecodePage(b *testing.B) {
	page := fakeListingPage(b, 100, "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).")
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if l, err := decodeGitLabIssues(page); err != nil || len(l) != 100 {
			b.Fatal(len(l), err)
		}
	}
}

// The clients send the session's User-Agent, so the session's transport
// sends their requests without copying them.
func TestGitLabClientsSendTheSessionsUserAgent(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: "https://gitlab.example.com", AuthMode: connector.AuthBearer, Project: "g/p"}
	s, err := trackers.NewSession(New(), c, connector.NewSecret("glpat-x"), trackers.Options{UserAgent: "connectorhub/test"})
	if err != nil {
		t.Fatal(err)
	}
	s.Pool = trackers.NewTokenPool([]string{"glpat-x", "glpat-y"}, time.Now)
	for name, build := range map[string]func(*trackers.Session) (*gitlab.Client, error){"client": newGitLabClient, "pool client": newGitLabPoolClient} {
		gc, err := build(s)
		if err != nil || gc.UserAgent != "connectorhub/test" {
			t.Errorf("%s: User-Agent %q, %v", name, gc.UserAgent, err)
		}
	}
}
