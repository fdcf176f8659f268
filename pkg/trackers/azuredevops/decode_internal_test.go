package azuredevops

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
)

// fakeBatchPage is a workitemsbatch answer as the fake serves it
// (vendor-shaped: its answers are checked against azure-devops.shape.json)
// for n work items and a deleted one (null).
func fakeBatchPage(tb testing.TB, n int, description string) []byte {
	tb.Helper()
	f := azuredevopsfake.NewSandbox()
	now := time.Now().UTC()
	var ids []string
	for i := range n {
		id := f.AddWorkItem(azuredevopsfake.WorkItem{Title: fmt.Sprintf("Bench work item %d «ü»", i), Description: description, Tags: []string{"bench", "In Review"},
			AssignedTo: azuredevopsfake.SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-2 * time.Hour), Changed: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
		ids = append(ids, fmt.Sprint(id))
	}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	fields, _ := json.Marshal(ticketFields)
	body := `{"ids":[` + strings.Join(append(ids, "999999"), ",") + `],"fields":` + string(fields) + `,"errorPolicy":"omit"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject+"/_apis/wit/workitemsbatch?api-version=7.1", strings.NewReader(body))
	req.SetBasicAuth("", azuredevopsfake.SandboxPAT)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("HTTP %d, %v: %s", resp.StatusCode, err, page)
	}
	return page
}

// utc is w with its times in UTC, to compare decodings (a parsed offset is
// a new *Location each time).
func utc(w workItem) workItem {
	w.Fields.CreatedDate, w.Fields.ChangedDate = w.Fields.CreatedDate.UTC(), w.Fields.ChangedDate.UTC()
	return w
}

// The batch decoder reads what go-json reads into workItem, on the fake's
// answer and on edge cases; what go-json refuses, it refuses.
func TestDecodeBatchAsGoJSON(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"fake page": string(fakeBatchPage(t, 30, "<p>Steps:</p><ol><li>Open the <b>report</b> page</li></ol>\n\"q\" \\ \u2028 é 😀")),
		"edge cases": `{"count":3,"value":[{"id":7,"rev":3,"url":"https://dev.azure.com/o/p/_apis/wit/workItems/7","fields":{"System.Id":7,
		"System.Title":"T \u00e9","System.Description":"a\r\nb","System.State":"Active","System.Tags":"bug; In Review","System.WorkItemType":"Task",
		"System.AssignedTo":{"displayName":"Agent","url":"x","_links":{"avatar":{"href":"y"}},"id":"a-1","uniqueName":"agent@x","imageUrl":"z","descriptor":"d"},
		"System.CreatedBy":null,"System.CreatedDate":"2026-12-01T10:00:00.123Z","System.ChangedDate":"2026-12-02T11:12:13+02:00","System.Parent":5,
		"Microsoft.VSTS.Common.Priority":2,"System.TeamProject":"p","Custom.Other":{"deep":[1,2,{"x":null}]}},
		"multilineFieldsFormat":{"System.Description":"markdown","Other":"html"},"relations":[{"rel":"System.LinkTypes.Hierarchy-Forward","url":"u/8","attributes":{"isLocked":false}}],
		"_links":{"self":{"href":"s"}}},
		null,
		{"id":9,"fields":{"System.ChangedDate":"2026-12-01T10:00:00Z","System.Tags":" ; "}}]}`,
	}
	ln := links{keyPrefix: "o/p#", webPrefix: "https://dev.azure.com/o/p/_workitems/edit/"}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lib struct {
				Count int        `json:"count"`
				Value []workItem `json:"value"`
			}
			if err := gojson.Unmarshal([]byte(page), &lib); err != nil {
				t.Fatal(err)
			}
			count, got, err := decodeBatch([]byte(page))
			if err != nil {
				t.Fatal(err)
			}
			if count != lib.Count || len(got) != len(lib.Value) || len(got) < 3 {
				t.Fatalf("count %d, %d items; go-json %d, %d", count, len(got), lib.Count, len(lib.Value))
			}
			// Discover's links carve keys, URLs and labels from page blocks:
			// the tickets must be those built without them.
			paged := ln
			paged.page = &pageBlocks{}
			for i := range got {
				if got[i].ID != 0 && !reflect.DeepEqual(got[i].ticket(paged), lib.Value[i].ticket(ln)) {
					t.Errorf("item %d: tickets built from page blocks differ", i)
				}
			}
			for i := range got {
				if !reflect.DeepEqual(utc(got[i]), utc(lib.Value[i])) {
					t.Errorf("item %d:\n%+v\ngo-json:\n%+v", i, got[i], lib.Value[i])
				}
				if got[i].ID != 0 && !reflect.DeepEqual(got[i].ticket(ln), lib.Value[i].ticket(ln)) {
					t.Errorf("item %d: tickets differ", i)
				}
			}
		})
	}
	for _, page := range []string{`[]`, `{"value":{}}`, `{"value":[{"id":"7"}]}`, `{"value":[{"fields":{"System.Title":1}}]}`,
		`{"value":[{"fields":{"System.AssignedTo":"agent"}}]}`, `{"value":[{"fields":{"System.ChangedDate":"today"}}]}`,
		`{"value":[{"relations":{}}]}`, `{"value":[1]}`, `{"value":[`} {
		var lib struct {
			Value []workItem `json:"value"`
		}
		if err := gojson.Unmarshal([]byte(page), &lib); err == nil {
			t.Errorf("%s: go-json decodes it", page)
		}
		if _, _, err := decodeBatch([]byte(page)); err == nil {
			t.Errorf("%s: the batch decoder decodes it", page)
		}
	}
}

// The WIQL decoder reads the ids go-json reads from a WIQL answer (the
// shape's workItemQueryResult: the ids with their URLs, columns, the
// query's echo), and refuses what go-json refuses.
func TestDecodeWIQLAsGoJSON(t *testing.T) {
	t.Parallel()
	doc := `{"queryType":"flat","queryResultType":"workItem","asOf":"2026-12-03T10:00:00.12Z",
	"columns":[{"referenceName":"System.Id","name":"ID","url":"u"}],"sortColumns":[{"field":{"referenceName":"System.Id"},"descending":false}],
	"workItems":[{"id":3,"url":"https://dev.azure.com/o/_apis/wit/workItems/3"},{"url":"x","id":12},{"id":7}]}`
	var lib struct {
		QueryType string `json:"queryType"`
		WorkItems []struct {
			ID  int64  `json:"id"`
			URL string `json:"url"`
		} `json:"workItems"`
	}
	if err := gojson.Unmarshal([]byte(doc), &lib); err != nil {
		t.Fatal(err)
	}
	var got wiqlResult
	if err := got.decodeListing([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if got.QueryType != lib.QueryType || len(got.IDs) != len(lib.WorkItems) {
		t.Fatalf("%+v, go-json %+v", got, lib)
	}
	for i, w := range lib.WorkItems {
		if got.IDs[i] != w.ID {
			t.Errorf("id %d: %d, go-json %d", i, got.IDs[i], w.ID)
		}
	}
	for _, bad := range []string{`[]`, `{"workItems":{}}`, `{"workItems":[{"id":"3"}]}`, `{"workItems":[3]}`, `{"workItems":[`} {
		if err := gojson.Unmarshal([]byte(bad), &lib); err == nil {
			t.Errorf("%s: go-json decodes it", bad)
		}
		var r wiqlResult
		if err := r.decodeListing([]byte(bad)); err == nil {
			t.Errorf("%s: the WIQL decoder decodes it", bad)
		}
	}
}
