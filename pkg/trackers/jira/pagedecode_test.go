package jira

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// fakeSearchPages are raw search pages as the fake (vendor-shaped) serves
// them, for each deployment: the discovery fields (without and with
// comments and attachments), and all of them (project and issue type,
// which the fast reader leaves to the library).
func fakeSearchPages(t testing.TB) (cloud, dc [][]byte) {
	t.Helper()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		fake := jirafake.NewSandbox(dep)
		now := time.Now()
		export := fake.AddTicket(jirafake.Ticket{Summary: `Quotes "and" \backslash\, tab	é 😀 </script>`,
			Description: "Text with `code`, **bold**, _em_ and a [link](https://example.com/a?b=c&d=e).\n\n- one\n- two",
			Labels:      []string{"x", "ü", ""}, Components: []string{"api", "ui"}, Assignee: jirafake.SandboxEmail,
			Created: now.Add(-3 * time.Hour), Updated: now.Add(-2 * time.Hour)})
		fake.AddTicket(jirafake.Ticket{Summary: "Sub-task with no description", Parent: export, Assignee: jirafake.SandboxEmail,
			Created: now.Add(-3 * time.Hour), Updated: now.Add(-time.Hour),
			Attachments: []jirafake.Attachment{{ID: "10001", Filename: "log \"1\".txt", MimeType: "text/plain", Size: 1234}, {ID: "10002", Filename: "ü.png", MimeType: "image/png"}}})
		fake.AddComment(export, jirafake.SandboxEmail, "A comment with **bold** and a [link](https://example.com).")
		fake.AddComment(export, "rita@example.com", "Second \"comment\"\n\n- a\n- b")
		fake.AddTicket(jirafake.Ticket{Summary: "Unassigned", Created: now.Add(-3 * time.Hour)})
		srv := httptest.NewServer(fake)
		for _, fields := range [][]string{
			jiraFieldsFor(false, false, true),
			jiraFieldsFor(false, false, false),
			jiraFieldsFor(true, true, true),
			{"*all"},
		} {
			path, body := "/rest/api/3/search/jql", map[string]any{"jql": "project = " + jirafake.SandboxProject + " order by key", "fields": fields, "maxResults": 50}
			if dep != connector.Cloud {
				path = "/rest/api/2/search"
			}
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if dep == connector.Cloud {
				req.SetBasicAuth(jirafake.SandboxEmail, jirafake.SandboxToken)
			} else {
				req.Header.Set("Authorization", "Bearer "+jirafake.SandboxToken)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d %s", dep, path, resp.StatusCode, raw)
			}
			if dep == connector.Cloud {
				cloud = append(cloud, raw)
			} else {
				dc = append(dc, raw)
			}
		}
		srv.Close()
	}
	return cloud, dc
}

// checkPageDecode fails when the fast reader accepts a page and decodes
// another value than the library, or accepts one the library refuses. It
// reports whether the fast reader took the page.
func checkPageDecode(t testing.TB, raw []byte, cloud bool) bool {
	t.Helper()
	var fast, lib fastDecoder = &cloudSearchPage{}, &cloudSearchPage{}
	if !cloud {
		fast, lib = &dcSearchPage{}, &dcSearchPage{}
	}
	if !fast.decodeFast(bytes.Clone(raw)) {
		return false
	}
	if err := fastjson.Unmarshal(raw, lib); err != nil {
		t.Fatalf("the fast reader accepted a page the library refuses (%v): %q", err, raw)
	}
	if !reflect.DeepEqual(fast, lib) {
		t.Fatalf("the fast reader and the library disagree on %q:\nfast:    %+v\nlibrary: %+v", raw, fast, lib)
	}
	return true
}

// TestSearchPageDecodeMatchesLibrary: the fake's pages (the vendor's
// shape) decode as the library decodes them, the discovery fields'
// pages without it; and so do the pages' mutations the fast reader
// accepts.
func TestSearchPageDecodeMatchesLibrary(t *testing.T) {
	t.Parallel()
	cloud, dc := fakeSearchPages(t)
	for i, pages := range [][][]byte{cloud, dc} {
		isCloud := i == 0
		for j, raw := range pages {
			took := checkPageDecode(t, raw, isCloud)
			if j < 3 && !took { // the discovery fields (full and not, with comments and attachments)
				t.Fatalf("the fast reader did not take the fake's page (cloud=%v): %s", isCloud, raw)
			}
			if j == 2 && !hasCommentsAndAttachments(t, raw, isCloud) {
				t.Fatalf("the page with comments and attachments has none (cloud=%v): %s", isCloud, raw)
			}
			if j == 3 && took {
				t.Fatalf("the fast reader took a page with project and issue type (cloud=%v)", isCloud)
			}
		}
	}
	// Hand-written pages for what the fake does not send.
	for _, page := range []string{
		`{"issues":[{"id":"1","key":"A-1","fields":{"attachment":[{"id":10000,"filename":"a","size":5},{"id": -7 ,"size":null}]}}],"isLast":true}`,
		`{"issues":[null,{"key":"A-2","fields":{"comment":{"total":3,"comments":[null,{"id":"9","author":null,"body":null}]},"labels":null,"status":null}}],"isLast":false,"nextPageToken":"x"}`,
	} {
		if !checkPageDecode(t, []byte(page), true) {
			t.Fatalf("the fast reader did not take %s", page)
		}
	}
	// Mutations: bytes changed, dropped or repeated, keys in other cases,
	// values of other types. Whatever the fast reader accepts must be what
	// the library makes of it.
	r := rand.New(rand.NewPCG(4, 2))
	swaps := [][2]string{{`"summary"`, `"Summary"`}, {`"fields"`, `"FIELDS"`}, {`"key"`, `"kEy"`}, {`"labels":[`, `"labels":[null,`},
		{`"status":{`, `"status":null,"x":{`}, {`"id":"`, `"id":1,"y":"`}, {`"issues":[`, `"issues":[null,`}, {`"name":"`, `"name":null,"z":"`},
		{`"priority":{`, `"priority":null,"p":{`}, {`"summary":"`, `"summary":"\u00e9\ud83d\ude00\n\"`}, {`"isLast":`, `"isLast":null,"w":`},
		{`"updated":"`, `"updated":"\u0000`}, {`"displayName":"`, `"displayName":"\ud800`}, {`"total":`, `"total":1.5,"v":`},
		{`"startAt":`, `"startAt":-0,"u":`}, {`"description":`, `"description":null,"d":`}, {`"subtasks":[`, `"subtasks":[null,`},
		{`"comments":[`, `"comments":[null,`}, {`"author":{`, `"author":null,"a":{`}, {`"id":"`, `"id": 12,"q":"`}, {`"size":`, `"size":1e3,"s":`},
		{`"attachment":[`, `"attachment":[null,`}, {`"body":`, `"body":"x","b":`}, {`"comment":{`, `"comment":null,"c":{`}}
	tookMutant := 0
	for i, pages := range [][][]byte{cloud, dc} {
		for _, raw := range pages[:3] {
			for range 300 {
				m := bytes.Clone(raw)
				switch r.IntN(4) {
				case 0:
					const chars = "{}[]\":, \\nu0x"
					m[r.IntN(len(m))] = chars[r.IntN(len(chars))]
				case 1:
					k := r.IntN(len(m))
					m = append(m[:k:k], m[min(len(m), k+1+r.IntN(3)):]...)
				case 2:
					s := swaps[r.IntN(len(swaps))]
					m = bytes.Replace(m, []byte(s[0]), []byte(s[1]), 1+r.IntN(2))
				default:
					k := r.IntN(len(m))
					m = append(m[:k:k], append([]byte(" \t"), m[k:]...)...)
				}
				if checkPageDecode(t, m, i == 0) {
					tookMutant++
				}
			}
		}
	}
	t.Logf("mutants the fast reader took: %d of %d", tookMutant, 6*300)
	if tookMutant == 0 {
		t.Fatal("no mutant taken: the comparison checked nothing")
	}
}

// FuzzSearchPageDecode: what the fast reader accepts, the library decodes
// to the same value.
func FuzzSearchPageDecode(f *testing.F) {
	cloud, dc := fakeSearchPages(f)
	for _, p := range cloud {
		f.Add(p, true)
	}
	for _, p := range dc {
		f.Add(p, false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, cloud bool) {
		checkPageDecode(t, raw, cloud)
	})
}

// BenchmarkSearchPageDecode is the decode of a Cloud search page of 100
// bench tickets (cmd/bench's description) by the page reader and by
// go-json, as c.do reads it from its buffer.
func BenchmarkSearchPageDecode(b *testing.B) {
	fake := jirafake.NewSandbox(connector.Cloud)
	now := time.Now()
	for i := range 100 {
		fake.AddTicket(jirafake.Ticket{Summary: "Bench ticket", Description: "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide).",
			Labels: []string{"bench"}, Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{"jql": "project = " + jirafake.SandboxProject, "fields": jiraFieldsFor(false, false, true), "maxResults": 100})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rest/api/3/search/jql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(jirafake.SandboxEmail, jirafake.SandboxToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p cloudSearchPage
			// The clone is c.do's read of a page into a slice of its own
			// (go-json copies its input itself).
			if !p.decodeFast(bytes.Clone(raw)) || len(p.Issues) < 100 {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("go-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p cloudSearchPage
			if err := fastjson.Unmarshal(raw, &p); err != nil || len(p.Issues) < 100 {
				b.Fatal(err)
			}
		}
	})
}

// hasCommentsAndAttachments: the fast reader's page has an issue with two
// comments and one with two attachments.
func hasCommentsAndAttachments(t *testing.T, raw []byte, cloud bool) bool {
	t.Helper()
	var issues []jiraIssue
	if cloud {
		var p cloudSearchPage
		p.decodeFast(bytes.Clone(raw))
		issues = p.Issues
	} else {
		var p dcSearchPage
		p.decodeFast(bytes.Clone(raw))
		issues = p.Issues
	}
	comments, attachments := false, false
	for _, is := range issues {
		if is.Fields != nil && is.Fields.Comment != nil && len(is.Fields.Comment.Comments) == 2 && is.Fields.Comment.Comments[1].Author != nil {
			comments = true
		}
		if is.Fields != nil && len(is.Fields.Attachment) == 2 {
			attachments = true
		}
	}
	return comments && attachments
}
