package azuredevopsfake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
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
