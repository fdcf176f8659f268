package bitbucket

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// fakeIssuePage is a page of the issue listing as the fake serves it
// (vendor-shaped: its answers are checked against bitbucket-cloud.shape.json).
func fakeIssuePage(tb testing.TB, n int, content string) []byte {
	tb.Helper()
	fake := bitbucketfake.NewSandbox()
	now := time.Now().UTC()
	for i := range n {
		fake.AddIssue(bitbucketfake.Issue{Repo: bitbucketfake.SandboxRepo, Title: fmt.Sprintf("Bench issue %d «ü»", i), Content: content, Kind: "bug",
			Assignee: bitbucketfake.SandboxUUID, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	base := fake.Start(tb)
	req, err := http.NewRequest(http.MethodGet, base+"/2.0/repositories/"+bitbucketfake.SandboxRepo+"/issues?pagelen=100", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.SetBasicAuth(bitbucketfake.SandboxEmail, bitbucketfake.SandboxToken)
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

// The issue page decoder reads what go-json reads into page[issue], on the
// fake's page and on edge cases; what go-json refuses, it refuses.
func TestDecodeIssuePageAsGoJSON(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"fake page": string(fakeIssuePage(t, 30, "Steps:\n\n1. Open the **report** page\n2. \"Export\" as `CSV` \\ \u2028 \t é 😀")),
		"edge cases": `{"pagelen":2,"size":3,"page":1,"next":"https://api.bitbucket.org/2.0/repositories/w/r/issues?page=2","values":[
		{"type":"issue","id":7,"title":"T \u00e9","state":"open","kind":"bug","priority":"major","votes":0,
		"reporter":{"type":"user","uuid":"{u-1}","display_name":"Rita","account_id":"557058:1","nickname":"rita","links":{"avatar":{"href":"a"}}},
		"assignee":null,"created_on":"2026-12-01T10:00:00.123456+00:00","updated_on":"2026-12-02T11:12:13Z",
		"content":{"raw":"a\r\nb","markup":"markdown","html":"<p>a</p>","type":"rendered"},"component":{"name":"ui","links":{}},
		"milestone":null,"links":{"self":{"href":"s"},"html":{"href":"https://bitbucket.org/w/r/issues/7"},"comments":{"href":"c"}}},
		null,
		{"id":8,"updated_on":"2026-12-01T10:00:00Z","component":null,"content":null,"links":{"html":null}}]}`,
	}
	s := &trackers.Session{Connector: connector.Connector{Project: "w/r"}}
	for name, doc := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lib page[issue]
			if err := json.Unmarshal([]byte(doc), &lib); err != nil {
				t.Fatal(err)
			}
			var got issuePage
			if err := decodeIssuePage([]byte(doc), &got); err != nil {
				t.Fatal(err)
			}
			if got.Next != lib.Next || len(got.Values) != len(lib.Values) || len(got.Values) < 3 {
				t.Fatalf("next %q, %d issues; go-json %q, %d", got.Next, len(got.Values), lib.Next, len(lib.Values))
			}
			var keys trackerhttp.Keys
			for i := range got.Values {
				g, w := got.Values[i], lib.Values[i]
				g.CreatedOn, g.UpdatedOn, w.CreatedOn, w.UpdatedOn = g.CreatedOn.UTC(), g.UpdatedOn.UTC(), w.CreatedOn.UTC(), w.UpdatedOn.UTC()
				if !reflect.DeepEqual(g, w) {
					t.Errorf("issue %d:\n%+v\ngo-json:\n%+v", i, g, w)
				}
				if g.ID != 0 && !reflect.DeepEqual(issueTicket(s, g, &keys), issueTicket(s, w, nil)) {
					t.Errorf("issue %d: tickets differ", i)
				}
			}
		})
	}
	for _, doc := range []string{`[]`, `{"values":{}}`, `{"values":[{"id":"7"}]}`, `{"values":[{"title":1}]}`, `{"values":[{"reporter":"rita"}]}`,
		`{"values":[{"updated_on":"today"}]}`, `{"values":[{"links":{"html":{"href":1}}}]}`, `{"next":1}`, `{"values":[1]}`, `{"values":[`} {
		var lib page[issue]
		if err := json.Unmarshal([]byte(doc), &lib); err == nil {
			t.Errorf("%s: go-json decodes it", doc)
		}
		var got issuePage
		if err := decodeIssuePage([]byte(doc), &got); err == nil {
			t.Errorf("%s: the page decoder decodes it", doc)
		}
	}
}
