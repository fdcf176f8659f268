package pagerduty_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

const (
	pdUserKey    = "u+suiteUserKey5ecret"
	pdAccountKey = "acct-suiteKey5ecret"
	pdReaderKey  = "u+readerKey5ecret"
	pdPageSize   = 2
)

type pdFixture struct {
	fake *pagerdutyfake.Server
	url  string
	conn connector.Connector
}

func newPDFixture(t *testing.T) *pdFixture { return newPDFixtureChecked(t, true) }

// newPDFixtureChecked starts the fake; checked wraps it in the contract
// validator (off for tests that inject malformed answers on purpose).
func newPDFixtureChecked(t *testing.T, checked bool) *pdFixture {
	t.Helper()
	fake := pagerdutyfake.New(pagerdutyfake.Options{
		Users: []pagerdutyfake.User{
			{ID: "PAGENT1", Name: "Agent Smith", Email: "agent@example.com"},
			{ID: "PRITA01", Name: "Rita Reporter", Email: "rita@example.com"},
			{ID: "PREAD01", Name: "Read Only", Email: "ro@example.com", Role: "read_only_user"},
		},
		Keys:     []pagerdutyfake.Key{{Value: pdUserKey, UserID: "PAGENT1"}, {Value: pdAccountKey}, {Value: pdReaderKey, UserID: "PREAD01"}},
		Services: []pagerdutyfake.Service{{ID: "PSVC001", Name: "agent"}, {ID: "PSVC002", Name: "checkout"}},
		MaxLimit: pdPageSize,
	})
	v := contract.NewValidator(contract.MustLoad(contract.PagerDuty), contract.Options{})
	t.Cleanup(func() {
		for _, viol := range v.Violations() {
			t.Errorf("contract: %s", viol)
		}
	})
	mw := []func(http.Handler) http.Handler{v.Middleware}
	if !checked {
		mw = nil
	}
	url := fake.Start(t, mw...)
	return &pdFixture{fake: fake, url: url, conn: connector.Connector{ID: "pd-1", System: connector.PagerDuty, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer}}
}

func (f *pdFixture) session(t *testing.T, key string, edit ...func(*connector.Connector)) *trackers.Session {
	t.Helper()
	c := f.conn
	for _, e := range edit {
		e(&c)
	}
	s, err := trackers.NewSession(pagerduty.New(), c, connector.NewSecret(key), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func (f *pdFixture) Session(t *testing.T) *trackers.Session { return f.session(t, pdUserKey) }

// Seed: PagerDuty has no labels; the first seed label names the service
// (which the tracker reports as a label).
func (f *pdFixture) Seed(t *testing.T, s trackertest.Seed) string {
	in := pagerdutyfake.Incident{Title: s.Summary, Details: s.Description, ServiceID: "PSVC002", Updated: s.Updated, Assignees: []string{"PAGENT1"}}
	if len(s.Labels) > 0 && s.Labels[0] == "agent" {
		in.ServiceID = "PSVC001"
	}
	if s.Unassigned {
		in.Assignees = []string{"PRITA01"}
	}
	return f.fake.AddIncident(in)
}

func (f *pdFixture) edit(t *testing.T, key string, fn func(*pagerdutyfake.Incident)) {
	t.Helper()
	if !f.fake.Edit(key, fn) {
		t.Fatalf("no incident %s", key)
	}
}

func (f *pdFixture) Touch(t *testing.T, key string, at time.Time) {
	f.edit(t, key, func(in *pagerdutyfake.Incident) { in.Updated = at })
}

func (f *pdFixture) Resolve(t *testing.T, key string) {
	f.edit(t, key, func(in *pagerdutyfake.Incident) { in.Status = "resolved"; in.Updated = time.Now().UTC() })
}

func (f *pdFixture) Unassign(t *testing.T, key string) {
	f.edit(t, key, func(in *pagerdutyfake.Incident) { in.Assignees = []string{"PRITA01"}; in.Updated = time.Now().UTC() })
}

func (f *pdFixture) Delete(t *testing.T, key string) {
	if !f.fake.Delete(key) {
		t.Fatalf("no incident %s", key)
	}
}

func (f *pdFixture) Status(t *testing.T, key string) string {
	in, _ := f.fake.Incident(key)
	return in.Status
}

func (f *pdFixture) Comments(t *testing.T, key string) []string {
	var out []string
	for _, n := range f.fake.Notes(key) {
		out = append(out, n.Content)
	}
	return out
}

func (f *pdFixture) Subtasks(*testing.T, string) []string        { return nil }
func (f *pdFixture) PullRequests(*testing.T, string) []string    { return nil }
func (f *pdFixture) RateLimitNext(_ *testing.T, d time.Duration) { f.fake.RateLimitNext(d) }
func (f *pdFixture) Requests() int                               { return f.fake.Requests() }

func TestSuite(t *testing.T) {
	trackertest.Run(t, pagerduty.New(), func(t *testing.T) trackertest.Fixture { return newPDFixture(t) },
		trackertest.Params{PageSize: pdPageSize, InProgress: "Acknowledged", Done: "Resolved"})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Open incidents are listed however long ago they were created (the
// listing's default window is 30 days and since/until span six months at
// most); resolved ones are not.
func TestDiscoveryFindsOpenIncidentsCreatedYearsAgo(t *testing.T) {
	f := newPDFixture(t)
	now := time.Now()
	twoYears := f.fake.AddIncident(pagerdutyfake.Incident{Title: "open for two years", Details: "d", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"},
		Status: "acknowledged", Created: now.Add(-2 * 365 * 24 * time.Hour), Updated: now.Add(-400 * 24 * time.Hour)})
	oldResolved := f.fake.AddIncident(pagerdutyfake.Incident{Title: "resolved long ago", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"},
		Status: "resolved", Created: now.Add(-3 * 365 * 24 * time.Hour), Updated: now.Add(-3 * 365 * 24 * time.Hour)})
	recent := f.fake.AddIncident(pagerdutyfake.Incident{Title: "recent", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}})
	s := f.Session(t)
	got := map[string]bool{}
	q := trackers.DiscoveryQuery{Full: true}
	pages := 0
	for range 20 {
		page, err := pagerduty.New().Discover(ctx(t), s, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tk := range page.Tickets {
			got[tk.Key] = true
		}
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if !got[twoYears] || !got[recent] {
		t.Errorf("listing %v lacks %s (created two years ago) or %s", got, twoYears, recent)
	}
	if got[oldResolved] {
		t.Errorf("resolved incident %s listed", oldResolved)
	}
	// One listing: pages of 100, no per-window requests.
	if pages != 1 {
		t.Errorf("%d pages for %d incidents, want 1", pages, len(got))
	}
	// A token of the earlier windowed form restarts the listing.
	page, err := pagerduty.New().Discover(ctx(t), s, trackers.DiscoveryQuery{PageToken: "1764000000:1:0"})
	if err != nil || len(page.Tickets) != len(got) {
		t.Errorf("old page token: %d tickets, %v; want %d", len(page.Tickets), err, len(got))
	}
}

func TestWritesSendFromHeaderAndReadOnlyRoleIsRefused(t *testing.T) {
	f := newPDFixture(t)
	key := f.fake.AddIncident(pagerdutyfake.Incident{Title: "x", ServiceID: "PSVC002", Assignees: []string{"PAGENT1", "PREAD01"}})
	if _, err := pagerduty.New().SetStatus(ctx(t), f.Session(t), key, "In Progress"); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	if got := f.Status(t, key); got != "acknowledged" {
		t.Errorf("status %q", got)
	}
	_, err := pagerduty.New().SetStatus(ctx(t), f.session(t, pdReaderKey), key, "done")
	if !errors.Is(err, trackers.ErrUnauthorized) {
		t.Errorf("read-only user resolving: %v, want ErrUnauthorized", err)
	}
}

func TestAccountKeyNeedsUserAndEmail(t *testing.T) {
	f := newPDFixture(t)
	key := f.fake.AddIncident(pagerdutyfake.Incident{Title: "x", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}})
	_, err := pagerduty.New().Discover(ctx(t), f.session(t, pdAccountKey), trackers.DiscoveryQuery{})
	if !errors.Is(err, trackers.ErrInvalidConfig) || !strings.Contains(err.Error(), "assignee") {
		t.Errorf("account key without assignee: %v", err)
	}
	s := f.session(t, pdAccountKey, func(c *connector.Connector) { c.Assignee, c.Username = "PAGENT1", "agent@example.com" })
	page, err := pagerduty.New().Discover(ctx(t), s, trackers.DiscoveryQuery{})
	if err != nil || len(page.Tickets) != 1 || page.Tickets[0].Key != key {
		t.Fatalf("account key with assignee: %+v %v", page, err)
	}
	if _, err := pagerduty.New().AddComment(ctx(t), s, key, trackers.NewComment{Markdown: "on it"}); err != nil {
		t.Errorf("note with an account key: %v", err)
	}
}

func TestFaultsMapOntoTheRetryRule(t *testing.T) {
	f := newPDFixtureChecked(t, false)
	f.fake.AddIncident(pagerdutyfake.Incident{Title: "x", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}})
	s := f.Session(t)
	d := pagerduty.New()
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); err != nil { // resolves the account
		t.Fatal(err)
	}
	f.fake.ServerErrorNext(1)
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); !errors.Is(err, trackers.ErrTransient) {
		t.Errorf("500: %v, want ErrTransient", err)
	}
	f.fake.MalformedNext()
	if _, err := d.Discover(ctx(t), s, trackers.DiscoveryQuery{}); !errors.Is(err, trackers.ErrMalformedResponse) {
		t.Errorf("malformed: %v, want ErrMalformedResponse", err)
	}
	f.fake.SlowNext(time.Minute)
	short, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	if _, err := d.Discover(short, s, trackers.DiscoveryQuery{}); err == nil {
		t.Error("slow answer past the deadline: no error")
	} else if r, _ := trackers.RetryOf(err); r == trackers.RetryNever && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow answer: %v", err)
	}
}

func TestConnectionTest(t *testing.T) {
	f := newPDFixture(t)
	cases := map[string]struct {
		key     string
		edit    func(*connector.Connector)
		ok      bool
		failing string
		hint    string
	}{
		"user key":                     {key: pdUserKey, ok: true},
		"rejected key":                 {key: "nope", failing: trackers.CheckIdentity, hint: "Token token="},
		"read-only role":               {key: pdReaderKey, failing: trackers.CheckWriteAccess, hint: "Responder"},
		"account key without user":     {key: pdAccountKey, failing: trackers.CheckIdentity, hint: "assignee"},
		"account key with user, email": {key: pdAccountKey, edit: func(c *connector.Connector) { c.Assignee, c.Username = "PAGENT1", "agent@example.com" }, ok: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := f.conn
			if tc.edit != nil {
				tc.edit(&c)
			}
			res, err := trackers.Test(ctx(t), pagerduty.New(), c, connector.NewSecret(tc.key), trackers.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.ok {
				t.Fatalf("ok = %v, checks %+v", res.OK, res.Checks)
			}
			for _, ch := range res.Checks {
				if ch.Name == tc.failing && !ch.OK && strings.Contains(ch.Message, tc.hint) {
					return
				}
			}
			if tc.failing != "" {
				t.Errorf("no failing %s check mentioning %q: %+v", tc.failing, tc.hint, res.Checks)
			}
		})
	}
}

func TestNormalizeKey(t *testing.T) {
	for in, want := range map[string]string{
		"PT4KHLK": "PT4KHLK", " PT4KHLK ": "PT4KHLK", "https://acme.pagerduty.com/incidents/PT4KHLK": "PT4KHLK",
		"pt4khlk": "", "https://acme.pagerduty.com/services/PT4KHLK": "", "#12": "",
	} {
		got, err := trackers.NormalizeKey(pagerduty.New(), connector.Connector{}, in)
		if got != want || (want == "") != errors.Is(err, trackers.ErrInvalidTicketKey) {
			t.Errorf("NormalizeKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// A full listing reads each incident's body once; an unchanged incident is
// not read again, a changed one is.
func TestFullListingReadsOnlyChangedBodies(t *testing.T) {
	f := newPDFixture(t)
	a := f.fake.AddIncident(pagerdutyfake.Incident{Title: "a", Details: "first", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}})
	f.fake.AddIncident(pagerdutyfake.Incident{Title: "b", Details: "second", ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}})
	s := f.Session(t)
	list := func() int {
		before := f.fake.Requests()
		q := trackers.DiscoveryQuery{Full: true}
		for {
			page, err := pagerduty.New().Discover(ctx(t), s, q)
			if err != nil {
				t.Fatal(err)
			}
			if page.NextPageToken == "" {
				return f.fake.Requests() - before
			}
			q.PageToken = page.NextPageToken
		}
	}
	first := list() // GET /users/me, the listing, two bodies
	again := list()
	if again != first-3 {
		t.Errorf("second full listing made %d requests, the first %d: want the account and two body reads fewer", again, first)
	}
	f.Touch(t, a, time.Now().UTC().Add(time.Minute))
	if third := list(); third != again+1 {
		t.Errorf("listing after one change made %d requests, want %d (one body read)", third, again+1)
	}
}

// A full listing reads the bodies a page at a time, several at once, keeps
// the listing's order, leaves out an incident deleted since the listing
// and fails on any other error.
func TestFullListingReadsBodiesInOrder(t *testing.T) {
	f := newPDFixture(t)
	var keys []string
	for i := range 5 {
		keys = append(keys, f.fake.AddIncident(pagerdutyfake.Incident{Title: "body " + string(rune('a'+i)), Details: "details " + string(rune('a'+i)),
			ServiceID: "PSVC002", Assignees: []string{"PAGENT1"}, Created: time.Now().Add(-time.Duration(5-i) * time.Minute)}))
	}
	list := func() ([]trackers.Ticket, error) {
		var out []trackers.Ticket
		q := trackers.DiscoveryQuery{Full: true}
		for range 20 {
			page, err := pagerduty.New().Discover(ctx(t), f.Session(t), q)
			if err != nil {
				return nil, err
			}
			out = append(out, page.Tickets...)
			if page.NextPageToken == "" {
				break
			}
			q.PageToken = page.NextPageToken
		}
		return out, nil
	}
	f.fake.Faults.Add(faults.Fault{Status: http.StatusNotFound, Body: `{"error":{"message":"Not Found","code":2100}}`,
		Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/incidents/"+keys[1]) }})
	got, err := list()
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys []string
	for _, tk := range got {
		gotKeys = append(gotKeys, tk.Key)
		if want := "details " + strings.TrimPrefix(tk.Summary, "body "); tk.DescriptionText != want {
			t.Errorf("%s: description %q, want %q", tk.Key, tk.DescriptionText, want)
		}
	}
	want := []string{keys[0], keys[2], keys[3], keys[4]}
	if strings.Join(gotKeys, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v (the listing's order, without the deleted one)", gotKeys, want)
	}
	f.fake.Faults.Add(faults.Fault{Status: http.StatusForbidden, Body: `{"error":{"message":"Access Denied","code":2010}}`,
		Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/incidents/"+keys[3]) }})
	if _, err := list(); !errors.Is(err, trackers.ErrUnauthorized) {
		t.Errorf("listing with a refused body read: %v, want ErrUnauthorized", err)
	}
}

// Bodies of one page are read several at a time: the fake holds the first
// body read until a second one arrives (or 10 s pass, once), and the most
// reads seen in flight together must exceed one.
func TestFullListingReadsBodiesConcurrently(t *testing.T) {
	fake := pagerdutyfake.New(pagerdutyfake.Options{
		Users:    []pagerdutyfake.User{{ID: "PAGENT1", Name: "Agent Smith", Email: "agent@example.com"}},
		Keys:     []pagerdutyfake.Key{{Value: pdUserKey, UserID: "PAGENT1"}},
		Services: []pagerdutyfake.Service{{ID: "PSVC001", Name: "agent"}},
		MaxLimit: 100,
	})
	for i := range 8 {
		fake.AddIncident(pagerdutyfake.Incident{Title: "i" + string(rune('a'+i)), ServiceID: "PSVC001", Assignees: []string{"PAGENT1"}})
	}
	var (
		mu               sync.Mutex
		inFlight, most   int
		second           = make(chan struct{})
		secondSeen, gave bool
	)
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/incidents/") {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			wait := inFlight == 1 && !secondSeen && !gave
			if inFlight > 1 && !secondSeen {
				secondSeen = true
				close(second)
			}
			mu.Unlock()
			if wait {
				select {
				case <-second:
				case <-time.After(10 * time.Second):
					mu.Lock()
					gave = true
					mu.Unlock()
				}
			}
			next.ServeHTTP(w, r)
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
	}
	url := fake.Start(t, hold)
	c := connector.Connector{ID: "pd-1", System: connector.PagerDuty, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer}
	s, err := trackers.NewSession(pagerduty.New(), c, connector.NewSecret(pdUserKey), trackers.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	page, err := pagerduty.New().Discover(ctx(t), s, trackers.DiscoveryQuery{Full: true})
	if err != nil || len(page.Tickets) != 8 {
		t.Fatalf("discovered %d, %v; want 8", len(page.Tickets), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most < 2 || most > 4 {
		t.Errorf("at most %d body reads in flight, want several and no more than 4 (bodyReaders)", most)
	}
}
