package jirafake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

func fake(t *testing.T, d connector.Deployment, zone string) *jirafake.Server {
	t.Helper()
	return fakeWithPages(t, d, zone, 2)
}

func fakeWithPages(t *testing.T, d connector.Deployment, zone string, pageSize int) *jirafake.Server {
	t.Helper()
	return jirafake.New(jirafake.Options{
		Deployment: d,
		Users: []jirafake.User{
			{AccountID: "acc-mia", Name: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "tok", TimeZone: zone},
			{AccountID: "acc-rita", Name: "rita", Email: "rita@example.com", DisplayName: "Rita"},
		},
		Projects: []jirafake.Project{{ID: "10000", Key: "ABC", Name: "Alpha"}, {ID: "10001", Key: "PUB", Name: "Public", Public: true}},
		PageSize: pageSize,
	})
}

// call sends a JSON request as mia (Cloud basic or DC bearer) and decodes the answer.
func call(t *testing.T, s *jirafake.Server, d connector.Deployment, method, path, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if d == connector.Cloud {
		r.SetBasicAuth("mia@example.com", "tok")
	} else {
		r.Header.Set("Authorization", "Bearer tok")
	}
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	b, _ := io.ReadAll(rec.Result().Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s is not JSON", method, path, rec.Code, b)
		}
	}
	return rec.Code, out
}

func issueKeys(m map[string]any) []string {
	var out []string
	issues, _ := m["issues"].([]any)
	for _, is := range issues {
		out = append(out, is.(map[string]any)["key"].(string))
	}
	return out
}

func search(t *testing.T, s *jirafake.Server, jql string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"jql": jql, "maxResults": 50})
	return call(t, s, connector.Cloud, http.MethodPost, "/rest/api/3/search/jql", string(b))
}

func TestJQLSubset(t *testing.T) {
	t.Parallel()
	s := fakeWithPages(t, connector.Cloud, "", 50)
	now := time.Now().UTC()
	a := s.AddTicket(jirafake.Ticket{Summary: "a", Assignee: "mia", Labels: []string{"agent"}, Priority: "High", Updated: now.Add(-time.Hour)})
	b := s.AddTicket(jirafake.Ticket{Summary: "b", Assignee: "mia", Status: "In Progress", Priority: "Low", Updated: now.Add(-2 * time.Hour)})
	c := s.AddTicket(jirafake.Ticket{Summary: "c", Assignee: "rita", Project: "PUB", Labels: []string{"agent", "x"}, Updated: now.Add(-3 * time.Hour)})
	d := s.AddTicket(jirafake.Ticket{Summary: "d", Assignee: "mia", Status: "Done", Updated: now})
	e := s.AddTicket(jirafake.Ticket{Summary: "e", Parent: a, Updated: now.Add(-4 * time.Hour)})
	tests := []struct {
		jql  string
		want []string
	}{
		{`assignee = currentUser() AND resolution = Unresolved ORDER BY updated ASC, key ASC`, []string{b, a}},
		{`assignee = "mia@example.com" ORDER BY updated DESC`, []string{d, a, b}},
		{`assignee = "acc-rita"`, []string{c}},
		{`assignee is EMPTY`, []string{e}},
		{`project = "PUB"`, []string{c}},
		{`status in ("In Progress", 'Done') ORDER BY key ASC`, []string{b, d}},
		{`status != "To Do" ORDER BY key`, []string{b, d}},
		{`labels = "agent" AND labels = "x"`, []string{c}},
		{`priority >= "Medium" ORDER BY key ASC`, []string{a, d, e, c}}, // keys order by project, then number
		{`priority < Medium`, []string{b}},
		{`parent = "` + a + `"`, []string{e}},
		{`key in ("` + a + `", "` + c + `") ORDER BY key DESC`, []string{c, a}},
		{`updated >= "-90m" ORDER BY updated ASC`, []string{a, d}},
		{`resolution = Unresolved AND assignee = mia ORDER BY created ASC`, []string{a, b}},
	}
	for _, tt := range tests {
		code, resp := search(t, s, tt.jql)
		if code != 200 || !slices.Equal(issueKeys(resp), tt.want) {
			t.Errorf("%s = %d %v, want %v", tt.jql, code, issueKeys(resp), tt.want)
		}
	}
}

func TestJQLErrorsAreJirasAnswers(t *testing.T) {
	t.Parallel()
	s := fake(t, connector.Cloud, "")
	for jql, want := range map[string]string{
		`colour = "red"`:                     "Field 'colour' does not exist",
		`status = "Nope"`:                    "The value 'Nope' does not exist for the field 'status'.",
		`project = "NOPE"`:                   "The value 'NOPE' does not exist for the field 'project'.",
		`assignee = "ghost"`:                 "The value 'ghost' does not exist for the field 'assignee'.",
		`updated >= "2026/01/20 10:00:00"`:   "Date value '2026/01/20 10:00:00' for field 'updated' is invalid.",
		`summary ~ "x"`:                      "Field 'summary' does not exist",
		`assignee = "mia`:                    "is not terminated",
		`assignee = mia OR assignee = rita`:  "supports AND only",
		`labels >= "a"`:                      "The operator '>=' is not supported by the 'labels' field.",
		`assignee = currentUser() ORDER key`: "Expecting either 'OR' or 'AND'",
		`assignee = empty`:                   "reserved JQL word",
	} {
		code, resp := search(t, s, jql)
		msgs, _ := resp["errorMessages"].([]any)
		if code != 400 || len(msgs) != 1 || !strings.Contains(msgs[0].(string), want) {
			t.Errorf("%s = %d %v, want 400 with %q", jql, code, resp, want)
		}
	}
}

func TestParseJQLStrings(t *testing.T) {
	t.Parallel()
	q, err := jirafake.ParseJQL(`assignee = "a\"b\\c" AND labels in ('x''', "\u00e9\n") AND status = bare`)
	if err == nil {
		t.Fatalf("parsed a list with a stray quote: %v", q.Strings())
	}
	q, err = jirafake.ParseJQL(`assignee = "a\"b\\c" AND labels in ('it\'s', "\u00e9") AND status = bare`)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Strings(); !slices.Equal(got, []string{`a"b\c`, "it's", "é"}) {
		t.Fatalf("strings = %q", got)
	}
}

// TestDatesAreReadInTheUsersZone: the same literal selects different
// tickets for users in different zones, as on Jira.
func TestDatesAreReadInTheUsersZone(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC)
	for zone, want := range map[string]bool{
		"UTC":                 true,  // 10:30 UTC is after 10:00 UTC
		"Pacific/Auckland":    true,  // 10:00 NZDT is 21:00 UTC the day before
		"America/Los_Angeles": false, // 10:00 PST is 18:00 UTC
	} {
		s := fake(t, connector.Cloud, zone)
		key := s.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia", Updated: at.Add(30 * time.Minute)})
		_, resp := search(t, s, `assignee = currentUser() AND updated >= "2026/01/20 10:00"`)
		if got := slices.Contains(issueKeys(resp), key); got != want {
			t.Errorf("%s: found = %v, want %v", zone, got, want)
		}
		_, me := call(t, s, connector.Cloud, http.MethodGet, "/rest/api/3/myself", "")
		if me["timeZone"] != zone {
			t.Errorf("%s: /myself timeZone = %v", zone, me["timeZone"])
		}
	}
}

func TestPagingTokensAndStartAt(t *testing.T) {
	t.Parallel()
	s := fake(t, connector.Cloud, "")
	for range 5 {
		s.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
	}
	jql := `assignee = currentUser() ORDER BY key ASC`
	var all []string
	token := ""
	for range 10 {
		body, _ := json.Marshal(map[string]any{"jql": jql, "nextPageToken": token, "maxResults": 100})
		code, resp := call(t, s, connector.Cloud, http.MethodPost, "/rest/api/3/search/jql", string(body))
		if code != 200 {
			t.Fatalf("page: %d %v", code, resp)
		}
		all = append(all, issueKeys(resp)...)
		next, _ := resp["nextPageToken"].(string)
		if resp["isLast"] == true {
			if next != "" {
				t.Fatal("last page with a token")
			}
			break
		}
		token = next
	}
	if !slices.Equal(all, []string{"ABC-1", "ABC-2", "ABC-3", "ABC-4", "ABC-5"}) {
		t.Fatalf("paged = %v", all)
	}
	body, _ := json.Marshal(map[string]any{"jql": `assignee = "rita"`, "nextPageToken": token})
	if code, _ := call(t, s, connector.Cloud, http.MethodPost, "/rest/api/3/search/jql", string(body)); code != 400 {
		t.Errorf("a token for another query answered %d, want 400", code)
	}

	dc := fake(t, connector.SelfHosted, "")
	for range 3 {
		dc.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
	}
	code, resp := call(t, dc, connector.SelfHosted, http.MethodGet, "/rest/api/2/search?jql=assignee%3DcurrentUser()&startAt=2", "")
	if code != 200 || resp["total"] != 3.0 || resp["startAt"] != 2.0 || !slices.Equal(issueKeys(resp), []string{"ABC-3"}) {
		t.Errorf("DC startAt page = %d %v", code, resp)
	}
	if code, _ := call(t, dc, connector.SelfHosted, http.MethodPost, "/rest/api/2/search/jql", `{"jql":"key = ABC-1"}`); code != 404 {
		t.Errorf("DC has no enhanced search, answered %d", code)
	}
	if code, resp := call(t, s, connector.Cloud, http.MethodGet, "/rest/api/2/search?jql=key%3DABC-1", ""); code != 410 {
		t.Errorf("cloud v2 old search = %d %v, want 410", code, resp)
	}
}

func TestWritesFollowJira(t *testing.T) {
	t.Parallel()
	s := fake(t, connector.Cloud, "")
	key := s.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"transition not available from here", "POST", "/rest/api/3/issue/" + key + "/transitions", `{"transition":{"id":"61"}}`, 400, "Transition id '61' is not valid"},
		{"transition without id", "POST", "/rest/api/3/issue/" + key + "/transitions", `{}`, 400, "Missing 'transition'"},
		{"comment with a wiki string on v3", "POST", "/rest/api/3/issue/" + key + "/comment", `{"body":"plain"}`, 400, "Atlassian Document"},
		{"comment with an unknown ADF node", "POST", "/rest/api/3/issue/" + key + "/comment", `{"body":{"type":"doc","version":1,"content":[{"type":"blink"}]}}`, 400, "INVALID_INPUT"},
		{"comment with a mention without id", "POST", "/rest/api/3/issue/" + key + "/comment", `{"body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"mention","attrs":{}}]}]}}`, 400, "mention without id"},
		{"comment with an ADF string on v2", "POST", "/rest/api/2/issue/" + key + "/comment", `{"body":"plain *wiki*"}`, 201, `"body":"plain *wiki*"`},
		{"sub-task without parent", "POST", "/rest/api/3/issue", `{"fields":{"project":{"key":"ABC"},"issuetype":{"id":"10002"},"summary":"s"}}`, 400, "parent issue key or id not specified"},
		{"issue without summary", "POST", "/rest/api/3/issue", `{"fields":{"project":{"key":"ABC"},"issuetype":{"id":"10001"}}}`, 400, "You must specify a summary"},
		{"issue with an unknown field", "POST", "/rest/api/3/issue", `{"fields":{"project":{"key":"ABC"},"issuetype":{"id":"10001"},"summary":"s","colour":"red"}}`, 400, "Field 'colour' cannot be set"},
		{"sub-task", "POST", "/rest/api/3/issue", `{"fields":{"project":{"id":"10000"},"parent":{"key":"` + key + `"},"issuetype":{"id":"10002"},"summary":"s"},"properties":[{"key":"k","value":{"a":1}}]}`, 201, `"key":"ABC-2"`},
		{"missing issue", "GET", "/rest/api/3/issue/ABC-99", "", 404, "Issue does not exist"},
	}
	for _, tt := range tests {
		code, resp := call(t, s, connector.Cloud, tt.method, tt.path, tt.body)
		b, _ := json.Marshal(resp)
		if code != tt.status || !strings.Contains(string(b), tt.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, code, b, tt.status, tt.contains)
		}
	}
	if tk, _ := s.Ticket("ABC-2"); tk.Parent != key || tk.Type != "Sub-task" || string(tk.Properties["k"]) != `{"a":1}` {
		t.Errorf("created sub-task = %+v", tk)
	}
	if code, _ := call(t, s, connector.Cloud, "POST", "/rest/api/3/issue/"+key+"/transitions", `{"transition":{"id":"51"}}`); code != 204 {
		t.Fatalf("finish = %d", code)
	}
	if tk, _ := s.Ticket(key); tk.Status != "Done" || tk.Resolution != "Done" {
		t.Errorf("after Finish: %+v", tk)
	}
	// Anonymous callers cannot write.
	r := httptest.NewRequest("POST", "/rest/api/3/issue/PUB-1/comment", strings.NewReader(`{"body":"x"}`))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code != 401 {
		t.Errorf("anonymous comment = %d, want 401", rec.Code)
	}
}

func TestRateLimitNextAndCalls(t *testing.T) {
	t.Parallel()
	s := fake(t, connector.Cloud, "")
	s.RateLimitNext(1500*time.Millisecond, "jira-burst-based")
	r := httptest.NewRequest("GET", "/rest/api/3/myself", nil)
	r.SetBasicAuth("mia@example.com", "tok")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("RateLimit-Reason") != "jira-burst-based" || rec.Header().Get("X-RateLimit-Reset") == "" {
		t.Fatalf("rate limit = %d %v", rec.Code, rec.Header())
	}
	if got := s.Calls(); !slices.Equal(got, []string{"GET /rest/api/3/myself"}) || s.Requests() != 1 {
		t.Errorf("calls = %v, requests = %d", got, s.Requests())
	}
}
