package jirafake_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// A search's pages reuse its result and issues reuse their JSON only while
// nothing changes: a change between pages, or between two reads of the
// same page, shows in the next answer.
func TestSearchPagesSeeChangesMadeBetweenThem(t *testing.T) {
	t.Parallel()
	s := fakeWithPages(t, connector.Cloud, "", 2)
	now := time.Now().UTC().Truncate(time.Minute)
	var keys []string
	for i := range 4 {
		keys = append(keys, s.AddTicket(jirafake.Ticket{Summary: "t", Assignee: "mia", Updated: now.Add(-time.Duration(i) * time.Minute)}))
	}
	jql := `assignee = currentUser() AND resolution = Unresolved ORDER BY updated DESC`
	page := func(token string) map[string]any {
		t.Helper()
		req := map[string]any{"jql": jql, "fields": []string{"summary", "status"}, "maxResults": 2}
		if token != "" {
			req["nextPageToken"] = token
		}
		b, _ := json.Marshal(req)
		code, out := call(t, s, connector.Cloud, http.MethodPost, "/rest/api/3/search/jql", string(b))
		if code != http.StatusOK {
			t.Fatalf("search: %d %v", code, out)
		}
		return out
	}
	statuses := func(m map[string]any) []string {
		var out []string
		for _, is := range m["issues"].([]any) {
			out = append(out, is.(map[string]any)["fields"].(map[string]any)["status"].(map[string]any)["name"].(string))
		}
		return out
	}

	first := page("")
	if got := issueKeys(first); len(got) != 2 || got[0] != keys[0] {
		t.Fatalf("page 1 = %v, want %v first", got, keys[0])
	}
	// The last issue leaves the set between the pages: page 2 no longer has it.
	s.Resolve(keys[3])
	second := page(first["nextPageToken"].(string))
	if got := issueKeys(second); len(got) != 1 || got[0] != keys[2] {
		t.Fatalf("page 2 after a resolve = %v, want [%s]", got, keys[2])
	}
	// An edit shows in the next read of a page already served.
	if got := statuses(page("")); got[0] != "To Do" {
		t.Fatalf("page 1 has statuses %v, want To Do first", got)
	}
	s.SetStatus(keys[0], "In Progress")
	if got := statuses(page("")); got[0] != "In Progress" {
		t.Fatalf("page 1 after a status change has statuses %v, want In Progress first", got)
	}
}
