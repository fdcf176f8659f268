package gitlab

import (
	"encoding/json"
	"testing"
	"time"

	fastjson "github.com/goccy/go-json"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// The listing's small type reads what client-go's Issue reads, for the
// fields the tracker uses, on a GitLab-shaped page (null description and
// times included).
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
	var small []gitlabIssue
	if err := fastjson.Unmarshal([]byte(page), &small); err != nil {
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
