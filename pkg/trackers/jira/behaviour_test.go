package jira_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// jqlRecorder keeps the JQL of every search request that passes through.
type jqlRecorder struct {
	mu  sync.Mutex
	jql []string
}

func (rec *jqlRecorder) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/search/jql") || strings.HasSuffix(r.URL.Path, "/rest/api/2/search") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(b)))
			var body struct {
				JQL string `json:"jql"`
			}
			_ = json.Unmarshal(b, &body)
			rec.mu.Lock()
			rec.jql = append(rec.jql, body.JQL)
			rec.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (rec *jqlRecorder) last() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.jql) == 0 {
		return ""
	}
	return rec.jql[len(rec.jql)-1]
}

// TestJiraCursorIsReadInTheUsersZone: for users east and west of UTC and on
// half-hour offsets, an incremental query written from a UTC cursor finds
// every ticket updated at or after it (also within the cursor's minute) and
// writes the literal as the user's wall time. The negative control shows
// the fake reads dates the way Jira does: the same cursor written in UTC
// misses tickets for a user west of UTC.
func TestJiraCursorIsReadInTheUsersZone(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		for _, zone := range []string{"Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata", "UTC"} {
			t.Run(string(dep)+" "+zone, func(t *testing.T) {
				t.Parallel()
				f := newJiraFixture(t, jiraFixtureOpts{dep: dep, zone: zone})
				since := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Minute).Add(40 * time.Second)
				before := f.fake.AddTicket(jirafake.Ticket{Summary: "before", Assignee: "mia", Updated: since.Add(-3 * time.Hour)})
				sameMinute := f.fake.AddTicket(jirafake.Ticket{Summary: "same minute", Assignee: "mia", Updated: since.Add(5 * time.Second)})
				after := f.fake.AddTicket(jirafake.Ticket{Summary: "after", Assignee: "mia", Updated: since.Add(90 * time.Minute)})

				rec := &jqlRecorder{}
				srvURL := f.fake.Start(t, rec.middleware, f.validator.Middleware)
				s := f.session(t, func(c *connector.Connector) { c.BaseURL = srvURL })
				got := keysOf(discoverAll(t, s, trackers.DiscoveryQuery{Since: since}))
				for _, k := range []string{sameMinute, after} {
					if !slices.Contains(got, k) {
						t.Errorf("ticket %s updated after the cursor was missed: got %v", k, got)
					}
				}
				if slices.Contains(got, before) {
					t.Errorf("ticket %s updated 3h before the cursor was listed", before)
				}
				wantLit := since.In(mustLoc(t, zone)).Format("2006/01/02 15:04")
				mustContain(t, "JQL", rec.last(), `updated >= "`+wantLit+`"`)
			})
		}
	}
	t.Run("negative control: a UTC literal misses tickets west of UTC", func(t *testing.T) {
		t.Parallel()
		f := newJiraFixture(t, jiraFixtureOpts{zone: "America/Los_Angeles"})
		since := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Minute)
		key := f.fake.AddTicket(jirafake.Ticket{Summary: "after", Assignee: "mia", Updated: since.Add(time.Hour)})
		body := `{"jql":"assignee = currentUser() AND updated >= \"` + since.Format("2006/01/02 15:04") + `\"","fields":["updated"]}`
		req, _ := http.NewRequest(http.MethodPost, f.url+"/rest/api/3/search/jql", strings.NewReader(body))
		req.SetBasicAuth("mia@example.com", jiraSuiteToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.Contains(string(b), key) {
			t.Fatalf("a UTC literal for a Los Angeles user found %s (HTTP %d): the fake does not read dates in the user's zone", key, resp.StatusCode)
		}
	})
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestJiraAnonymousDiscoveryUsesAWideLookback(t *testing.T) {
	t.Parallel()
	// The instance's default zone is east of UTC, the case where a literal
	// written in UTC would be read hours late.
	f := newJiraFixture(t, jiraFixtureOpts{defaultZone: "Pacific/Kiritimati"})
	since := time.Now().Add(-3 * time.Hour).UTC()
	key := f.fake.AddTicket(jirafake.Ticket{Summary: "public", Project: "ABC", Assignee: "mia", Updated: since.Add(time.Minute)})
	private := f.fake.AddTicket(jirafake.Ticket{Summary: "private", Project: "XYZ", Assignee: "mia", Updated: since.Add(time.Minute)})
	anon := func(c *connector.Connector) {
		c.AuthMode, c.Username, c.Assignee = connector.AuthAnonymous, "", "mia@example.com"
	}
	got := keysOf(discoverAll(t, f.session(t, anon), trackers.DiscoveryQuery{Since: since}))
	if !slices.Equal(got, []string{key}) {
		t.Fatalf("anonymous discovery = %v, want [%s] (not the private %s)", got, key, private)
	}
	if slices.Contains(f.fake.Calls(), "GET /rest/api/3/myself") {
		t.Error("anonymous discovery asked for /myself")
	}
	_, err := jiraT().(trackers.Discoverer).Discover(ctx(t), f.session(t, func(c *connector.Connector) { anon(c); c.Assignee = "" }), trackers.DiscoveryQuery{})
	if !errors.Is(err, trackers.ErrInvalidConfig) {
		t.Errorf("anonymous discovery without an assignee: %v, want ErrInvalidConfig", err)
	}
}

func TestJiraUserZoneIsReadOncePerConnector(t *testing.T) {
	t.Parallel()
	f := newJiraFixture(t, jiraFixtureOpts{zone: "Asia/Kolkata"})
	f.fake.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
	s := f.Session(t)
	for range 3 {
		discoverAll(t, s, trackers.DiscoveryQuery{Since: time.Now().Add(-time.Hour)})
	}
	discoverAll(t, f.Session(t), trackers.DiscoveryQuery{Since: time.Now().Add(-time.Hour)}) // a new session, same connector
	n := 0
	for _, c := range f.fake.Calls() {
		if c == "GET /rest/api/3/myself" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("/myself read %d times for 4 incremental listings, want 1", n)
	}
}

func TestJiraDiscoveryMapsEveryField(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			f := newJiraFixture(t, jiraFixtureOpts{dep: dep, zone: "Europe/Berlin"})
			created := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
			parent := f.fake.AddTicket(jirafake.Ticket{
				Summary: "Parent", Description: "## Steps\n\nRun `make` and **look**.", Priority: "High", Labels: []string{"agent", "backend"},
				Reporter: "rita", Assignee: "mia", Created: created, Updated: created.Add(time.Hour),
				Attachments: []jirafake.Attachment{{ID: "10500", Filename: "log.txt", MimeType: "text/plain", Size: 42}},
			})
			sub := f.fake.AddTicket(jirafake.Ticket{Summary: "Child", Parent: parent, Reporter: "rita", Assignee: "mia", Created: created, Updated: created.Add(2 * time.Hour)})
			for i := range 3 { // more than a page of comments
				f.fake.AddComment(parent, "rita", "comment *"+string(rune('a'+i))+"*")
			}
			s := f.session(t, func(c *connector.Connector) { c.IndexComments, c.IndexAttachments, c.Project = true, true, "ABC" })
			all := discoverAll(t, s, trackers.DiscoveryQuery{Full: true})
			p := ticketByKey(t, all, parent)
			if p.URL != f.url+"/browse/"+parent || p.Summary != "Parent" || p.Status != "To Do" || p.Priority != "High" {
				t.Errorf("ticket = %+v", p)
			}
			if !slices.Equal(p.Labels, []string{"agent", "backend"}) {
				t.Errorf("labels = %v", p.Labels)
			}
			mustContain(t, "description text", p.DescriptionText, "Steps", "make", "look")
			mustContain(t, "description markdown", p.DescriptionMarkdown, "Steps", "`make`", "**look**")
			if p.Reporter.DisplayName != "Rita Reporter" || p.Assignee.Email != "mia@example.com" {
				t.Errorf("reporter %+v assignee %+v", p.Reporter, p.Assignee)
			}
			if dep == connector.Cloud && (p.Reporter.ID != ritaAccount || p.Assignee.ID != miaAccount) {
				t.Errorf("cloud users carry account ids: %+v %+v", p.Reporter, p.Assignee)
			}
			if dep != connector.Cloud && p.Reporter.Login != "rita" {
				t.Errorf("data center users carry their username: %+v", p.Reporter)
			}
			if !p.Created.Equal(created) || !p.Updated.After(created) {
				t.Errorf("created %v updated %v", p.Created, p.Updated)
			}
			if len(p.Subtasks) != 1 || p.Subtasks[0].Key != sub || p.Subtasks[0].URL != f.url+"/browse/"+sub || p.Subtasks[0].Status != "To Do" {
				t.Errorf("subtasks = %+v", p.Subtasks)
			}
			if len(p.Comments) != 3 || !slices.Contains([]string{"comment _c_", "comment *c*"}, p.Comments[2].Markdown) || p.Comments[0].Author.DisplayName != "Rita Reporter" || p.Comments[0].Created.IsZero() {
				t.Errorf("comments = %+v", p.Comments)
			}
			if len(p.Attachments) != 1 || p.Attachments[0] != (trackers.Attachment{ID: "10500", Filename: "log.txt", MediaType: "text/plain", Size: 42, URL: f.url + "/secure/attachment/10500/log.txt"}) {
				t.Errorf("attachments = %+v", p.Attachments)
			}
			c := ticketByKey(t, all, sub)
			if c.Parent == nil || c.Parent.Key != parent || c.Parent.Summary != "Parent" {
				t.Errorf("parent of %s = %+v", sub, c.Parent)
			}

			// Without the indexing options, neither is asked for.
			bare := discoverAll(t, f.session(t), trackers.DiscoveryQuery{Full: true})
			if p := ticketByKey(t, bare, parent); p.Comments != nil || p.Attachments != nil {
				t.Errorf("comments/attachments read without the connector asking: %+v", p)
			}
			// A reconcile listing carries key, URL and update time.
			thin := ticketByKey(t, discoverAll(t, f.session(t), trackers.DiscoveryQuery{}), parent)
			if thin.URL == "" || thin.Updated.IsZero() || thin.DescriptionText != "" {
				t.Errorf("reconcile ticket = %+v", thin)
			}
		})
	}
}

func TestJiraScopeNarrowsDiscovery(t *testing.T) {
	t.Parallel()
	f := newJiraFixture(t, jiraFixtureOpts{})
	in := f.fake.AddTicket(jirafake.Ticket{Summary: "in", Project: "ABC", Assignee: "mia", Status: "In Progress", Labels: []string{"agent", "x"}, Priority: "Highest"})
	for _, tk := range []jirafake.Ticket{
		{Summary: "other project", Project: "XYZ", Assignee: "mia", Status: "In Progress", Labels: []string{"agent", "x"}, Priority: "High"},
		{Summary: "other status", Project: "ABC", Assignee: "mia", Labels: []string{"agent", "x"}, Priority: "High"},
		{Summary: "one label", Project: "ABC", Assignee: "mia", Status: "In Progress", Labels: []string{"agent"}, Priority: "High"},
		{Summary: "low", Project: "ABC", Assignee: "mia", Status: "In Progress", Labels: []string{"agent", "x"}, Priority: "Low"},
		{Summary: "rita's", Project: "ABC", Assignee: "rita", Status: "In Progress", Labels: []string{"agent", "x"}, Priority: "High"},
	} {
		f.fake.AddTicket(tk)
	}
	s := f.session(t, func(c *connector.Connector) {
		c.Project, c.Assignee = "ABC", miaAccount
		c.Scope = connector.Scope{Statuses: []string{"In Progress", "In Review"}, Labels: []string{"agent", "x"}, MinPriority: "High"}
	})
	if got := keysOf(discoverAll(t, s, trackers.DiscoveryQuery{})); !slices.Equal(got, []string{in}) {
		t.Fatalf("scoped discovery = %v, want [%s]", got, in)
	}
	// A status Jira does not know is a refused query, with Jira's reason.
	bad := f.session(t, func(c *connector.Connector) { c.Scope.Statuses = []string{"Nope"} })
	_, err := jiraT().(trackers.Discoverer).Discover(ctx(t), bad, trackers.DiscoveryQuery{})
	if err == nil || !strings.Contains(err.Error(), "The value 'Nope' does not exist for the field 'status'.") {
		t.Fatalf("unknown status in scope: %v, want Jira's message", err)
	}
	if errors.Is(err, trackers.ErrTransient) || errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("a refused query is neither transient nor malformed: %v", err)
	}
}

func TestJiraDiscoveryPagesAreStable(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			f := newJiraFixture(t, jiraFixtureOpts{dep: dep})
			at := time.Now().Add(-time.Hour).Truncate(time.Second)
			var want []string
			for range 7 { // all updated at the same instant: key breaks the tie
				want = append(want, f.fake.AddTicket(jirafake.Ticket{Summary: "same time", Assignee: "mia", Updated: at}))
			}
			got := keysOf(discoverAll(t, f.Session(t), trackers.DiscoveryQuery{Since: at.Add(-time.Minute)}))
			if !slices.Equal(got, want) {
				t.Fatalf("listing = %v, want %v in key order", got, want)
			}
		})
	}
}

func TestJiraFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		dep   connector.Deployment
		fault faults.Fault
		check func(t *testing.T, err error)
		page  func(t *testing.T, p trackers.DiscoveryPage)
	}{
		{
			name: "malformed JSON", fault: faults.Fault{Status: 200, Body: `{"issues": [{"key": "ABC-1", "fie`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrMalformedResponse) },
		},
		{
			name: "an issue without its update time", fault: faults.Fault{Status: 200, Body: `{"issues": [{"id": "1", "key": "ABC-1", "fields": {"summary": "x", "description": null}}], "isLast": true}`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrMalformedResponse) },
		},
		{
			name: "nulls where Jira sends them, and Jira's own timestamp form",
			fault: faults.Fault{Status: 200, Body: `{"issues": [{"id": "1", "key": "ABC-1", "fields": {"summary": "x", "description": null, "assignee": null,
				"priority": null, "labels": [], "parent": null, "status": {"name": "To Do"}, "updated": "2026-01-20T10:00:00.000+1300", "created": "2026-01-19T10:00:00.000+0000",
				"attachment": [{"id": 10000, "filename": "a.txt", "size": 3, "mimeType": "text/plain", "content": "https://x/a"}]}}], "isLast": true}`},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatalf("a valid answer with nulls: %v", err)
				}
			},
			page: func(t *testing.T, p trackers.DiscoveryPage) {
				if len(p.Tickets) != 1 {
					t.Fatalf("tickets = %+v", p.Tickets)
				}
				tk := p.Tickets[0]
				if !tk.Updated.Equal(time.Date(2026, 1, 19, 21, 0, 0, 0, time.UTC)) || tk.Assignee != (trackers.User{}) || tk.Parent != nil ||
					len(tk.Attachments) != 1 || tk.Attachments[0].ID != "10000" || p.NextPageToken != "" {
					t.Errorf("ticket = %+v", tk)
				}
			},
		},
		{
			name: "a search answer without isLast or issues", fault: faults.Fault{Status: 200, Body: `{}`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrMalformedResponse) },
		},
		{
			name: "data center answer without total", dep: connector.SelfHosted, fault: faults.Fault{Status: 200, Body: `{"startAt": 0, "issues": []}`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrMalformedResponse) },
		},
		{
			name: "server error", fault: faults.Fault{Status: 503, Body: `{"errorMessages": ["down"]}`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrTransient) },
		},
		{
			name: "slow answer past the timeout", fault: faults.Fault{Delay: 3 * time.Second},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrTransient) },
		},
		{
			name: "rejected credential", fault: faults.Fault{Status: 401, Body: `Client must be authenticated`},
			check: func(t *testing.T, err error) { wantIs(t, err, trackers.ErrUnauthorized) },
		},
		{
			name: "rate limit with an HTTP date and a reason",
			fault: faults.Fault{Status: 429, Header: http.Header{
				"Retry-After":      {time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)},
				"Ratelimit-Reason": {"jira-quota-tenant-based"},
			}},
			check: func(t *testing.T, err error) {
				var rl *trackers.RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter < 8*time.Minute || rl.RetryAfter > 10*time.Minute+time.Second || rl.Reason != "jira-quota-tenant-based" {
					t.Fatalf("err = %v, want a 10 minute rate limit with the reason", err)
				}
			},
		},
		{
			name: "rate limit with only X-RateLimit-Reset",
			fault: faults.Fault{Status: 429, Header: http.Header{
				"X-Ratelimit-Reset": {time.Now().Add(5 * time.Minute).UTC().Format("2006-01-02T15:04Z")},
			}},
			check: func(t *testing.T, err error) {
				var rl *trackers.RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter < 3*time.Minute || rl.RetryAfter > 6*time.Minute {
					t.Fatalf("err = %v, want about 5 minutes", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The injected answers break the shape on purpose; the
			// client's requests are still checked.
			f := newJiraFixture(t, jiraFixtureOpts{dep: tt.dep, faultyResponses: true})
			f.fake.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
			s := f.Session(t)
			s.HTTP.Timeout = time.Second
			fault := tt.fault
			fault.Match = func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/search") }
			f.fake.Faults.Add(fault)
			page, err := jiraT().(trackers.Discoverer).Discover(ctx(t), s, trackers.DiscoveryQuery{Full: true})
			tt.check(t, err)
			if tt.page != nil {
				tt.page(t, page)
			}
			if err != nil && strings.Contains(err.Error(), jiraSuiteToken) {
				t.Errorf("error leaks the credential: %v", err)
			}
		})
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func TestJiraCloudNeverCallsTheRemovedSearch(t *testing.T) {
	t.Parallel()
	f := newJiraFixture(t, jiraFixtureOpts{})
	for range 5 {
		f.fake.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia"})
	}
	discoverAll(t, f.Session(t), trackers.DiscoveryQuery{Full: true})
	discoverAll(t, f.Session(t), trackers.DiscoveryQuery{Since: time.Now().Add(-time.Hour)})
	calls := f.fake.Calls()
	for _, c := range calls {
		if strings.HasSuffix(c, "/rest/api/3/search") || strings.HasSuffix(c, "/rest/api/2/search") {
			t.Errorf("the client called the removed search: %s", c)
		}
	}
	if !slices.Contains(calls, "POST /rest/api/3/search/jql") {
		t.Errorf("calls = %v, want POST /rest/api/3/search/jql", calls)
	}
	// ... which the fake answers as Jira Cloud does.
	req, _ := http.NewRequest(http.MethodPost, f.url+"/rest/api/3/search", strings.NewReader(`{"jql":"assignee = currentUser()"}`))
	req.SetBasicAuth("mia@example.com", jiraSuiteToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("old search answered %d, want 410", resp.StatusCode)
	}
}

func TestJiraSetStatus(t *testing.T) {
	t.Parallel()
	f := newJiraFixture(t, jiraFixtureOpts{})
	key := f.fake.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia", Status: "In Progress"})
	w := jiraT().(trackers.StatusWriter)
	s := f.Session(t)

	before := len(f.fake.Calls())
	if _, err := w.SetStatus(ctx(t), s, key, "in progress"); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.fake.Calls()[before:] {
		if strings.HasPrefix(c, "POST ") || strings.HasSuffix(c, "/transitions") {
			t.Errorf("already in the status, yet %s", c)
		}
	}
	// By transition name when no target status matches.
	link, err := w.SetStatus(ctx(t), s, key, "request review")
	if err != nil || f.Status(t, key) != "In Review" || link.Kind != "status" || link.URL != f.url+"/browse/"+key {
		t.Fatalf("by transition name: %+v %v, status %s", link, err, f.Status(t, key))
	}
	_, err = w.SetStatus(ctx(t), s, key, "Blocked")
	wantIs(t, err, trackers.ErrUnknownStatus)
	mustContain(t, "unknown-status error", err.Error(), `"In Review"`, "Blocked", "In Progress", "Done")
	if _, err := w.SetStatus(ctx(t), s, "ABC-999", "Done"); !errors.Is(err, trackers.ErrTicketNotFound) {
		t.Errorf("missing ticket: %v", err)
	}
	if _, err := w.SetStatus(ctx(t), s, "../myself", "Done"); !errors.Is(err, trackers.ErrTicketNotFound) {
		t.Errorf("a key that is no key: %v", err)
	}
	// Done resolves the ticket, so it leaves discovery.
	if _, err := w.SetStatus(ctx(t), s, key, "Done"); err != nil {
		t.Fatal(err)
	}
	if tk, _ := f.fake.Ticket(key); tk.Resolution == "" {
		t.Error("Done did not resolve the ticket")
	}
}

func TestJiraCommentsCarryMentionAndMarker(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			f := newJiraFixture(t, jiraFixtureOpts{dep: dep})
			key := f.fake.AddTicket(jirafake.Ticket{Summary: "x", Assignee: "mia", Reporter: "rita"})
			for range 3 { // older comments push the marked one past the first page
				f.fake.AddComment(key, "rita", "noise")
			}
			s := f.Session(t)
			tk, err := jiraT().(trackers.TicketReader).GetTicket(ctx(t), s, key)
			if err != nil {
				t.Fatal(err)
			}
			c := jiraT().(trackers.Commenter)
			link, err := c.AddComment(ctx(t), s, key, trackers.NewComment{Markdown: "Fixed in `main`.", Mention: &tk.Reporter, Marker: "result-7:comment"})
			if err != nil {
				t.Fatal(err)
			}
			f.fake.AddComment(key, "rita", "thanks")
			f.fake.AddComment(key, "mia", "you're welcome") // newest first, the marked one is on page 2
			cms := f.fake.Comments(key)
			posted := cms[3]
			if got := string(posted.Properties["connectorhub"]); got != `{"marker":"result-7:comment"}` {
				t.Errorf("marker property = %s", got)
			}
			if dep == connector.Cloud {
				mustContain(t, "ADF body", posted.Body, `"type":"mention"`, `"id":"`+ritaAccount+`"`, `"type":"code"`)
			} else {
				mustContain(t, "wiki body", posted.Body, "[~rita]", "{{main}}")
			}
			if link.Key != posted.ID || link.URL != f.url+"/browse/"+key+"?focusedCommentId="+posted.ID {
				t.Errorf("link = %+v, comment id %s", link, posted.ID)
			}
			found, ok, err := c.FindComment(ctx(t), s, key, "result-7:comment")
			if err != nil || !ok || found != link {
				t.Errorf("find = %+v %v %v, want %+v", found, ok, err, link)
			}
			if _, ok, err := c.FindComment(ctx(t), s, key, "result-7"); ok || err != nil {
				t.Errorf("a prefix of the marker matched: %v %v", ok, err)
			}
			if _, _, err := c.FindComment(ctx(t), s, "ABC-999", "m"); !errors.Is(err, trackers.ErrTicketNotFound) {
				t.Errorf("missing ticket: %v", err)
			}
		})
	}
}

func TestJiraSubtasks(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			f := newJiraFixture(t, jiraFixtureOpts{dep: dep})
			parent := f.fake.AddTicket(jirafake.Ticket{Summary: "parent", Project: "XYZ", Assignee: "mia"})
			other := f.fake.AddTicket(jirafake.Ticket{Summary: "by hand", Parent: parent})
			s := f.Session(t)
			c := jiraT().(trackers.SubtaskCreator)
			link, err := c.CreateSubtask(ctx(t), s, parent, trackers.NewSubtask{Summary: "write\ntests", DescriptionMarkdown: "With **care**.", Marker: "result-7:subtask-0"})
			if err != nil {
				t.Fatal(err)
			}
			tk, ok := f.fake.Ticket(link.Key)
			if !ok || tk.Parent != parent || tk.Type != "Sub-task" || tk.Project != "XYZ" || tk.Summary != "write tests" || link.URL != f.url+"/browse/"+link.Key || link.Kind != "subtask" {
				t.Fatalf("created %+v as %+v", link, tk)
			}
			if got := string(tk.Properties["connectorhub"]); got != `{"marker":"result-7:subtask-0"}` {
				t.Errorf("marker property = %s", got)
			}
			if dep == connector.Cloud {
				mustContain(t, "ADF description", tk.StoredDescription, `"type":"strong"`)
			} else {
				mustContain(t, "wiki description", tk.StoredDescription, "*care*")
			}
			if got := f.fake.Subtasks(parent); !slices.Equal(got, []string{other, link.Key}) {
				t.Errorf("sub-tasks = %v", got)
			}
			found, ok, err := c.FindSubtask(ctx(t), s, parent, "result-7:subtask-0")
			if err != nil || !ok || found != link {
				t.Errorf("find = %+v %v %v", found, ok, err)
			}
			if _, ok, _ := c.FindSubtask(ctx(t), s, parent, "result-7:subtask-1"); ok {
				t.Error("found a sub-task never created")
			}
			if _, err := c.CreateSubtask(ctx(t), s, link.Key, trackers.NewSubtask{Summary: "nested"}); err == nil {
				t.Error("created a sub-task under a sub-task")
			}
			if _, err := c.CreateSubtask(ctx(t), s, "XYZ-999", trackers.NewSubtask{Summary: "x"}); !errors.Is(err, trackers.ErrTicketNotFound) {
				t.Errorf("missing parent: %v", err)
			}
		})
	}
}

func TestJiraSandboxSeed(t *testing.T) {
	t.Parallel()
	for _, dep := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(dep), func(t *testing.T) {
			t.Parallel()
			fake := jirafake.NewSandbox(dep)
			url := fake.Start(t)
			c := connector.Connector{ID: "sandbox-" + string(dep), System: connector.Jira, Deployment: dep, BaseURL: url, Project: jirafake.SandboxProject}
			if dep == connector.Cloud {
				c.AuthMode, c.Username = connector.AuthBasic, jirafake.SandboxEmail
			} else {
				c.AuthMode = connector.AuthBearer
			}
			s, err := trackers.NewSession(jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got := keysOf(discoverAll(t, s, trackers.DiscoveryQuery{Full: true, Since: time.Now().Add(-2 * time.Hour)}))
			want := []string{"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-5"}
			if !slices.Equal(got, want) {
				t.Fatalf("sandbox discovery = %v, want %v", got, want)
			}
			res, err := trackers.Test(ctx(t), jira.New(), c, connector.NewSecret(jirafake.SandboxToken), trackers.Options{Timeout: 5 * time.Second})
			if err != nil || !res.OK {
				t.Fatalf("sandbox connection test: %+v %v", res, err)
			}
		})
	}
}
