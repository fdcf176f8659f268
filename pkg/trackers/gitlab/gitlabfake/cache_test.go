package gitlabfake_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// A listing's pages reuse its sorted result and issues reuse their JSON
// only while nothing changes: a change between pages, or between two reads
// of the same page, shows in the next answer.
func TestListingPagesSeeChangesMadeBetweenThem(t *testing.T) {
	t.Parallel()
	fake := newFake(gitlabfake.Options{MaxPerPage: 2})
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var iids []int64
	for i := range 4 {
		iids = append(iids, fake.AddIssue(gitlabfake.Issue{Title: "t", Assignees: []string{"jdoe"}, Updated: base.Add(time.Duration(4-i) * time.Hour)}))
	}
	q := "/api/v4/projects/acme%2Fwidgets/issues?assignee_username=jdoe&state=opened&order_by=updated_at&sort=desc&per_page=2"
	list := func(page string) string {
		t.Helper()
		status, _, body := fakehttp.Call(fake, http.MethodGet, q+"&page="+page, apiToken)
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, body)
		}
		return body
	}
	iid := func(n int64) string { return `"iid":` + strconvItoa(n) + `,` }
	if body := list("1"); !strings.Contains(body, iid(iids[0])) || !strings.Contains(body, iid(iids[1])) {
		t.Fatalf("page 1: %s", body)
	}
	fake.Close(iids[2]) // leaves the open set between the pages
	if body := list("2"); strings.Count(body, `"iid"`) != 1 || !strings.Contains(body, iid(iids[3])) {
		t.Fatalf("page 2 after a close should hold only iid %d: %s", iids[3], body)
	}
	// An edit (now, before the seeded 2030 times) moves the first issue last
	// and shows in its JSON.
	fake.SetLabels(iids[0], "renamed-label")
	if body := list("2"); strings.Count(body, `"iid"`) != 1 || !strings.Contains(body, iid(iids[0])) || !strings.Contains(body, "renamed-label") {
		t.Fatalf("page 2 after an edit should hold iid %d with its new label: %s", iids[0], body)
	}
}

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }
