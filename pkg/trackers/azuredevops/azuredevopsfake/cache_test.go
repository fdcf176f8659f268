package azuredevopsfake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
)

// The batch endpoint serves cached encodings; a write must show in the
// next answer, and the answer keeps its shape (count, value, null for an
// omitted id).
func TestBatchAnswersWhatWasWrittenSinceItsLastAnswer(t *testing.T) {
	t.Parallel()
	f := azuredevopsfake.NewSandbox()
	id := f.AddWorkItem(azuredevopsfake.WorkItem{Title: "first title", AssignedTo: azuredevopsfake.SandboxUser, Created: time.Unix(100, 0), Changed: time.Unix(200, 0)})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	batch := func() map[string]any {
		t.Helper()
		body := `{"ids":[` + jsonInt(id) + `,999999],"fields":["System.Title","System.Id"],"errorPolicy":"omit"}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject+"/_apis/wit/workitemsbatch?api-version=7.1", strings.NewReader(body))
		req.SetBasicAuth("", azuredevopsfake.SandboxPAT)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
			t.Fatalf("batch: %d %s", resp.StatusCode, b)
		}
		if out["count"] != float64(2) || len(out["value"].([]any)) != 2 || out["value"].([]any)[1] != nil {
			t.Fatalf("batch answer %s: want count 2 and a null for the missing id", b)
		}
		return out["value"].([]any)[0].(map[string]any)["fields"].(map[string]any)
	}
	if got := batch()["System.Title"]; got != "first title" {
		t.Fatalf("title %v, want the first", got)
	}
	f.Edit(id, time.Unix(300, 0), func(it *azuredevopsfake.WorkItem) { it.Title = "second title" })
	if got := batch()["System.Title"]; got != "second title" {
		t.Fatalf("title after an edit %v, want the second", got)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// WIQL pages keyed by id ([System.Id] > after, $top) hold the next ids in
// order, also after a write changed the set of work items.
func TestWIQLPagesByIDAfterWrites(t *testing.T) {
	t.Parallel()
	f := azuredevopsfake.NewSandbox()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	query := func(after int64, top int) []int64 {
		t.Helper()
		q := "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.AssignedTo] = @Me AND [System.Id] > " + jsonInt(after) + " ORDER BY [System.Id] ASC"
		b, _ := json.Marshal(map[string]string{"query": q})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject+"/_apis/wit/wiql?api-version=7.1&timePrecision=true&$top="+jsonInt(int64(top)), strings.NewReader(string(b)))
		req.SetBasicAuth("", azuredevopsfake.SandboxPAT)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			WorkItems []struct {
				ID  int64  `json:"id"`
				URL string `json:"url"`
			} `json:"workItems"`
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("wiql: %d %s", resp.StatusCode, body)
		}
		var ids []int64
		for _, w := range out.WorkItems {
			if !strings.HasSuffix(w.URL, "/_apis/wit/workItems/"+jsonInt(w.ID)) {
				t.Errorf("work item %d url %q", w.ID, w.URL)
			}
			ids = append(ids, w.ID)
		}
		return ids
	}
	var mine []int64
	for _, id := range query(0, 1000) {
		mine = append(mine, id)
	}
	other := f.AddWorkItem(azuredevopsfake.WorkItem{Title: "someone else's", AssignedTo: "rita@acme.example"})
	for range 5 {
		mine = append(mine, f.AddWorkItem(azuredevopsfake.WorkItem{Title: "mine", AssignedTo: azuredevopsfake.SandboxUser}))
	}
	if got := query(0, 1000); !slices.Equal(got, mine) || slices.Contains(got, other) {
		t.Fatalf("all: %v, want %v", got, mine)
	}
	var paged []int64
	for after := int64(0); ; {
		page := query(after, 2)
		if len(page) > 2 {
			t.Fatalf("page of %d over $top 2", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, mine) {
		t.Fatalf("paged: %v, want %v", paged, mine)
	}
	f.Delete(mine[0])
	if got := query(0, 1000); !slices.Equal(got, mine[1:]) {
		t.Fatalf("after a delete: %v, want %v", got, mine[1:])
	}
}

// The WIQL answer is written by hand (fake.go): it must be exactly what the
// library writes for the same document (keys sorted, strings quoted), with
// each ref's URL the work item's.
func TestWIQLAnswerIsTheLibrarysEncoding(t *testing.T) {
	t.Parallel()
	f := azuredevopsfake.NewSandbox()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	body := `{"query":"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.AssignedTo] = @Me ORDER BY [System.Id]"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject+"/_apis/wit/wiql?api-version=7.1&$top=2", strings.NewReader(body))
	req.SetBasicAuth("", azuredevopsfake.SandboxPAT)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(got, &doc) != nil {
		t.Fatalf("wiql: %d %s", resp.StatusCode, got)
	}
	want, _ := json.Marshal(doc)
	if string(got) != string(want) {
		t.Fatalf("wiql answer\n%s\nwant the library's encoding\n%s", got, want)
	}
	refs := doc["workItems"].([]any)
	if len(refs) != 2 {
		t.Fatalf("%d refs, want $top 2: %s", len(refs), got)
	}
	for _, ref := range refs {
		m := ref.(map[string]any)
		if u := srv.URL + "/" + azuredevopsfake.SandboxOrganization + "/" + azuredevopsfake.SandboxProject + "/_apis/wit/workItems/" + jsonInt(int64(m["id"].(float64))); m["url"] != u {
			t.Errorf("ref %v, want url %s", m, u)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, doc["asOf"].(string)); err != nil || resp.Header.Get("Content-Length") != strconv.Itoa(len(got)) {
		t.Errorf("asOf %v (%v), Content-Length %q for %d bytes", doc["asOf"], err, resp.Header.Get("Content-Length"), len(got))
	}
}
