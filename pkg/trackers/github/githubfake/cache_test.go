package githubfake_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
)

// A listing's pages reuse its sorted result and issues reuse their JSON
// only while nothing changes: a change between pages, or between two reads
// of the same page, shows in the next answer.
func TestListingPagesSeeChangesMadeBetweenThem(t *testing.T) {
	t.Parallel()
	s := newFake(githubfake.Options{})
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := range 4 {
		s.AddIssue(repo, githubfake.Issue{Title: "t", Assignees: []string{"octocat"}, Created: base, Updated: base.Add(time.Duration(4-i) * time.Minute)})
	}
	list := func(page string) []int {
		t.Helper()
		code, _, body := send(s, http.MethodGet, "/repos/"+repo+"/issues?assignee=octocat&sort=updated&direction=desc&per_page=2&page="+page, auth("tok"), "")
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		return numbers(t, body)
	}
	if got := list("1"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("page 1 = %v, want [1 2]", got)
	}
	s.Close(repo, 3) // leaves the open set between the pages
	if got := list("2"); !slices.Equal(got, []int{4}) {
		t.Fatalf("page 2 after a close = %v, want [4]", got)
	}
	s.Unassign(repo, 1, "octocat") // leaves page 1 served before
	if got := list("1"); !slices.Equal(got, []int{2, 4}) {
		t.Fatalf("page 1 after an unassign = %v, want [2 4]", got)
	}
	at := time.Now().UTC().Truncate(time.Second)
	s.Touch(repo, 4, at)
	code, _, body := send(s, http.MethodGet, "/repos/"+repo+"/issues?assignee=octocat&sort=updated&direction=desc&per_page=2&page=1", auth("tok"), "")
	if code != http.StatusOK || numbers(t, body)[0] != 4 || !strings.Contains(body, `"updated_at":"`+at.Format(time.RFC3339)+`"`) {
		t.Fatalf("after a touch issue 4 should lead with its new updated_at %s: %d %s", at.Format(time.RFC3339), code, body)
	}
}
