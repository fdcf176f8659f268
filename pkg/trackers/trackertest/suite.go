// Package trackertest is the behavioural suite every tracker implementation
// runs (the watermill pubsub/tests pattern): discovery with paging, cursors
// and closures, rate limits, status, comments, sub-tasks and pull requests.
// The suite reads the features a tracker supports from the tracker itself;
// a new tracker is done when the suite passes against its fake.
package trackertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Seed is a ticket to create in a fake, assigned to the connector's account
// unless Unassigned.
type Seed struct {
	Summary     string
	Description string // Markdown; the fake stores it in its own format
	Labels      []string
	Unassigned  bool
	// Updated is the ticket's update time; zero means now.
	Updated time.Time
}

// Fixture adapts one tracker's fake to the suite.
type Fixture interface {
	// Session returns a session for a connector pointed at the fake, whose
	// account is the fake's assignee.
	Session(t *testing.T) *trackers.Session
	// Seed creates a ticket and returns its key as the tracker reports it.
	Seed(t *testing.T, s Seed) string
	// Touch edits the ticket (as a person would), moving its update time to at.
	Touch(t *testing.T, key string, at time.Time)
	// Resolve closes/resolves the ticket.
	Resolve(t *testing.T, key string)
	// Unassign removes the connector's account from the ticket.
	Unassign(t *testing.T, key string)
	// Status is the ticket's current status name (Jira status, or the status
	// label on label-based trackers; "" when none).
	Status(t *testing.T, key string) string
	// Comments are the ticket's comment bodies as the fake stores them.
	Comments(t *testing.T, key string) []string
	// Subtasks are the keys of the ticket's sub-tasks (nil where unsupported).
	Subtasks(t *testing.T, key string) []string
	// PullRequests are the URLs of open pull requests for a head branch.
	PullRequests(t *testing.T, head string) []string
	// RateLimitNext makes the fake's next answer a rate limit asking to retry
	// after the given duration.
	RateLimitNext(t *testing.T, retryAfter time.Duration)
	// Requests is how many requests the fake has answered so far.
	Requests() int
}

// Params describe the fake under test. What the tracker supports is not
// declared here: the suite reads it from the tracker (the capability
// interfaces it implements), so a feature cannot be skipped silently.
type Params struct {
	// PageSize is the fake's page size, so the suite can seed more than a page.
	PageSize int
	// InProgress and Done are status names the tracker can move a ticket to.
	InProgress, Done string
}

// suite runs the behaviours against one tracker.
type suite struct {
	tr trackers.Tracker
	p  Params
}

// behaviours lists, for each feature a tracker can declare
// (trackers.Capabilities), the suite's tests of it. A feature the suite does
// not know fails the run; features tested elsewhere say where.
var behaviours = map[string][]struct {
	name string
	run  func(st suite, t *testing.T, fx Fixture)
}{
	trackers.FeatureDiscovery: {
		{"discovers every assigned ticket across pages", suite.discoverAll},
		{"incremental query returns only tickets updated since", suite.incremental},
		{"full listing omits resolved and unassigned tickets", suite.closures},
		{"rate limit surfaces as RateLimitError with the wait", suite.rateLimit},
	},
	trackers.FeatureRead:        {{"reads a ticket and reports a missing one", suite.readTicket}},
	trackers.FeatureStatus:      {{"sets status and explains an unknown one", suite.status}},
	trackers.FeatureComment:     {{"comments and finds the comment by marker", suite.comment}},
	trackers.FeatureSubtask:     {{"creates sub-tasks and finds them by marker", suite.subtasks}},
	trackers.FeaturePullRequest: {{"opens a pull request and reuses an open one", suite.pullRequest}},
	trackers.FeatureLeaveReason: {{"says why a ticket left the set: resolved, unassigned, out of scope, deleted", suite.leaveReasons}},
}

// testedElsewhere are features with their own suites: the connection test
// (pkg/trackers/all's connection tests and the contract tests) and
// knowledge search (the Confluence package's search tests).
// Context sources run RunContext instead.
var testedElsewhere = map[string]bool{trackers.FeatureIdentity: true, trackers.FeatureSearch: true, trackers.FeatureContext: true, trackers.FeatureWebhook: true}

// Run runs every behaviour of every feature tr declares; newFixture is called
// once per subtest. Trackers whose listings honour ETags
// (trackers.ConditionalLister) also run the conditional-request behaviour.
func Run(t *testing.T, tr trackers.Tracker, newFixture func(t *testing.T) Fixture, p Params) {
	st := suite{tr: tr, p: p}
	caps := trackers.CapabilitiesOf(tr)
	for _, f := range caps.Features {
		if !f.Supported || testedElsewhere[f.Name] {
			continue
		}
		bs, ok := behaviours[f.Name]
		if !ok {
			t.Errorf("%s declares feature %q, which trackertest has no behaviour for: add one", caps.System, f.Name)
			continue
		}
		for _, b := range bs {
			t.Run(b.name, func(t *testing.T) { b.run(st, t, newFixture(t)) })
		}
	}
	if cl, ok := tr.(trackers.ConditionalLister); ok && cl.ConditionalRequests() {
		t.Run("unchanged listing is not modified", func(t *testing.T) { st.conditional(t, newFixture(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t *testing.T, tr trackers.Tracker) T {
	t.Helper()
	v, ok := tr.(T)
	if !ok {
		var zero T
		t.Fatalf("tracker %T does not implement %T", tr, &zero)
	}
	return v
}

// list pages through a whole listing and returns tickets by key.
func (st suite) list(t *testing.T, s *trackers.Session, q trackers.DiscoveryQuery) (map[string]trackers.Ticket, int) {
	t.Helper()
	d := must[trackers.Discoverer](t, st.tr)
	out := map[string]trackers.Ticket{}
	pages := 0
	for {
		page, err := d.Discover(ctxT(t), s, q)
		if err != nil {
			t.Fatalf("discover page %d: %v", pages+1, err)
		}
		pages++
		for _, tk := range page.Tickets {
			if _, dup := out[tk.Key]; dup {
				t.Errorf("ticket %s listed twice in one listing (unstable paging)", tk.Key)
			}
			out[tk.Key] = tk
		}
		if page.NextPageToken == "" {
			return out, pages
		}
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		q.PageToken = page.NextPageToken
		q.ETag = ""
	}
}

func (st suite) discoverAll(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	n := max(st.p.PageSize*2+1, 5)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	want := map[string]bool{}
	for i := range n {
		key := fx.Seed(t, Seed{Summary: fmt.Sprintf("ticket %d", i), Description: "Fix **the** thing", Labels: []string{"agent"}, Updated: base.Add(time.Duration(i) * time.Minute)})
		want[key] = true
	}
	other := fx.Seed(t, Seed{Summary: "someone else's", Unassigned: true})
	got, pages := st.list(t, s, trackers.DiscoveryQuery{Full: true})
	if st.p.PageSize > 0 && pages < 2 {
		t.Errorf("%d tickets came in %d page(s) with page size %d", n, pages, st.p.PageSize)
	}
	for key := range want {
		tk, ok := got[key]
		if !ok {
			t.Errorf("ticket %s not discovered", key)
			continue
		}
		if tk.URL == "" || tk.Summary == "" || tk.Updated.IsZero() {
			t.Errorf("ticket %s lacks fields: %+v", key, tk)
		}
		if !strings.Contains(tk.DescriptionText, "the") || !strings.Contains(tk.DescriptionMarkdown, "the") {
			t.Errorf("ticket %s description text %q markdown %q", key, tk.DescriptionText, tk.DescriptionMarkdown)
		}
		if !slices.Contains(tk.Labels, "agent") {
			t.Errorf("ticket %s labels %v", key, tk.Labels)
		}
	}
	if _, ok := got[other]; ok {
		t.Errorf("unassigned ticket %s was discovered", other)
	}
}

func (st suite) incremental(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	old := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	a := fx.Seed(t, Seed{Summary: "old", Updated: old})
	b := fx.Seed(t, Seed{Summary: "recent", Updated: old})
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	fx.Touch(t, b, since.Add(10*time.Minute))
	got, _ := st.list(t, s, trackers.DiscoveryQuery{Since: since, Full: true})
	if _, ok := got[a]; ok {
		t.Errorf("ticket %s updated before since was returned", a)
	}
	tk, ok := got[b]
	if !ok {
		t.Fatalf("ticket %s updated after since was not returned (got %v)", b, keys(got))
	}
	if tk.Updated.Before(since) {
		t.Errorf("ticket %s reports updated %v, before since %v", b, tk.Updated, since)
	}
}

func (st suite) closures(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	keep := fx.Seed(t, Seed{Summary: "stays"})
	done := fx.Seed(t, Seed{Summary: "resolved"})
	gone := fx.Seed(t, Seed{Summary: "unassigned later"})
	fx.Resolve(t, done)
	fx.Unassign(t, gone)
	got, _ := st.list(t, s, trackers.DiscoveryQuery{})
	if _, ok := got[keep]; !ok {
		t.Errorf("open assigned ticket %s missing from a full listing", keep)
	}
	for _, k := range []string{done, gone} {
		if _, ok := got[k]; ok {
			t.Errorf("ticket %s left the set but is still listed", k)
		}
	}
}

// Deleter is a Fixture that can delete a ticket; the fixture of a tracker
// with FeatureLeaveReason must be one.
type Deleter interface {
	Delete(t *testing.T, key string)
}

// Reassigner is a Fixture that can give a ticket to another account (as a
// person reassigning it would).
type Reassigner interface {
	Reassign(t *testing.T, key string)
}

func (st suite) leaveReasons(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	// WhyLeft is asked only about tickets that left the set: one still open
	// and assigned to the account left it by the connector's scope (its
	// project, labels, statuses or priority).
	scoped := fx.Seed(t, Seed{Summary: "left the scope"})
	done := fx.Seed(t, Seed{Summary: "resolved"})
	gone := fx.Seed(t, Seed{Summary: "unassigned"})
	deleted := fx.Seed(t, Seed{Summary: "deleted"})
	fx.Resolve(t, done)
	fx.Unassign(t, gone)
	d, ok := fx.(Deleter)
	if !ok {
		t.Fatalf("%T: a tracker that explains why tickets left needs a fixture that can delete them (trackertest.Deleter)", fx)
	}
	d.Delete(t, deleted)
	want := map[string]string{scoped: trackers.LeftOutOfScope, done: trackers.LeftResolved, gone: trackers.LeftUnassigned, deleted: trackers.LeftDeleted}
	if ra, ok := fx.(Reassigner); ok {
		other := fx.Seed(t, Seed{Summary: "given to someone else"})
		ra.Reassign(t, other)
		want[other] = trackers.LeftUnassigned
	}
	le := must[trackers.LeaveExplainer](t, st.tr)
	// One request for the ticket; the account may cost one more. A tracker
	// that caches per-project state metadata (trackers.StateMetadataCacher)
	// may spend one more while its cache is cold, which is why every key
	// is asked twice: the second answer must be the same within the base
	// bound, whatever the order the keys came in.
	const base = 2
	cold := 0
	if mc, ok := st.tr.(trackers.StateMetadataCacher); ok && mc.CachesStateMetadata() {
		cold = 1
	}
	for key, reason := range want {
		for i, bound := range []int{base + cold, base} {
			before := fx.Requests()
			got, err := le.WhyLeft(ctxT(t), s, key)
			if err != nil || got != reason {
				t.Errorf("WhyLeft(%s) #%d = %q, %v; want %q", key, i+1, got, err, reason)
			}
			if n := fx.Requests() - before; n < 1 || n > bound {
				t.Errorf("WhyLeft(%s) #%d made %d requests, want 1 to %d", key, i+1, n, bound)
			}
		}
	}
}

func (st suite) rateLimit(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	fx.Seed(t, Seed{Summary: "x"})
	fx.RateLimitNext(t, 7*time.Second)
	d := must[trackers.Discoverer](t, st.tr)
	_, err := d.Discover(ctxT(t), s, trackers.DiscoveryQuery{})
	var rl *trackers.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("rate-limited discover returned %v, want *trackers.RateLimitError", err)
	}
	if rl.RetryAfter < 6*time.Second || rl.RetryAfter > 8*time.Second {
		t.Errorf("RetryAfter = %v, want about 7s", rl.RetryAfter)
	}
	// The session holds its credential's next request back until the wait
	// has passed (trackers.Pacer) instead of sending it into another rate
	// limit: the call fails at once, unsent, as a rate limit.
	before := fx.Requests()
	if _, err := d.Discover(ctxT(t), s, trackers.DiscoveryQuery{}); !errors.As(err, &rl) || fx.Requests() != before {
		t.Errorf("discover within the wait: %v, %d requests sent; want a rate limit and none sent", err, fx.Requests()-before)
	}
	// A session of another process is not held back, and the tracker
	// answers it again.
	if _, err := d.Discover(ctxT(t), fx.Session(t), trackers.DiscoveryQuery{}); err != nil {
		t.Errorf("discover after the limit passed: %v", err)
	}
}

func (st suite) readTicket(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	key := fx.Seed(t, Seed{Summary: "read me", Description: "body"})
	r := must[trackers.TicketReader](t, st.tr)
	tk, err := r.GetTicket(ctxT(t), s, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if tk.Key != key || tk.Summary != "read me" || tk.Updated.IsZero() || tk.Reporter == (trackers.User{}) {
		t.Errorf("ticket = %+v", tk)
	}
	if _, err := r.GetTicket(ctxT(t), s, missingKey(key)); !errors.Is(err, trackers.ErrTicketNotFound) {
		t.Errorf("missing ticket: %v, want ErrTicketNotFound", err)
	}
}

// missingKey derives a key of the same shape that does not exist.
func missingKey(key string) string {
	if i := strings.LastIndex(key, "#"); i >= 0 {
		return key[:i+1] + "99999"
	}
	if i := strings.LastIndex(key, "-"); i >= 0 {
		return key[:i+1] + "99999"
	}
	return "99999"
}

func (st suite) status(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	key := fx.Seed(t, Seed{Summary: "move me"})
	w := must[trackers.StatusWriter](t, st.tr)
	for _, name := range []string{st.p.InProgress, strings.ToUpper(st.p.Done)} {
		if _, err := w.SetStatus(ctxT(t), s, key, name); err != nil {
			t.Fatalf("set status %q: %v", name, err)
		}
		if got := fx.Status(t, key); !strings.EqualFold(got, name) {
			t.Errorf("status after setting %q is %q", name, got)
		}
	}
	_, err := w.SetStatus(ctxT(t), s, key, "No Such Status")
	if !errors.Is(err, trackers.ErrUnknownStatus) {
		t.Fatalf("unknown status: %v, want ErrUnknownStatus", err)
	}
	if !strings.Contains(err.Error(), st.p.InProgress) && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(st.p.InProgress)) {
		t.Errorf("unknown-status error %q should list the possible statuses", err)
	}
}

func (st suite) comment(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	key := fx.Seed(t, Seed{Summary: "comment on me"})
	c := must[trackers.Commenter](t, st.tr)
	marker := "connectorhub:result-1:comment"
	if _, found, err := c.FindComment(ctxT(t), s, key, marker); err != nil || found {
		t.Fatalf("find before posting: found=%v err=%v", found, err)
	}
	link, err := c.AddComment(ctxT(t), s, key, trackers.NewComment{Markdown: "Done: see **PR**.\n\n- one\n- two", Marker: marker, Mention: &trackers.User{ID: "u-reporter", Login: "reporter", DisplayName: "Rita Reporter"}})
	if err != nil {
		t.Fatalf("add comment: %v", err)
	}
	if link.URL == "" && link.Key == "" {
		t.Errorf("comment link is empty: %+v", link)
	}
	bodies := fx.Comments(t, key)
	if len(bodies) != 1 || !strings.Contains(bodies[0], "PR") {
		t.Fatalf("comments = %q", bodies)
	}
	found, ok, err := c.FindComment(ctxT(t), s, key, marker)
	if err != nil || !ok {
		t.Fatalf("find after posting: found=%v err=%v", ok, err)
	}
	if found.URL != link.URL || found.Key != link.Key {
		t.Errorf("found %+v, posted %+v", found, link)
	}
	if _, ok, _ := c.FindComment(ctxT(t), s, key, "connectorhub:other:comment"); ok {
		t.Error("found a comment for a marker never posted")
	}
}

func (st suite) subtasks(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	key := fx.Seed(t, Seed{Summary: "parent"})
	c := must[trackers.SubtaskCreator](t, st.tr)
	marker := "connectorhub:result-1:subtask-0"
	link, err := c.CreateSubtask(ctxT(t), s, key, trackers.NewSubtask{Summary: "write tests", DescriptionMarkdown: "with *care*", Marker: marker})
	if err != nil {
		t.Fatalf("create sub-task: %v", err)
	}
	if got := fx.Subtasks(t, key); !slices.Contains(got, link.Key) {
		t.Errorf("sub-tasks of %s = %v, want %s", key, got, link.Key)
	}
	found, ok, err := c.FindSubtask(ctxT(t), s, key, marker)
	if err != nil || !ok || found.Key != link.Key {
		t.Fatalf("find sub-task: %+v %v %v", found, ok, err)
	}
	if _, ok, _ := c.FindSubtask(ctxT(t), s, key, "connectorhub:other:subtask-0"); ok {
		t.Error("found a sub-task for a marker never used")
	}
}

func (st suite) pullRequest(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	key := fx.Seed(t, Seed{Summary: "needs code"})
	p := must[trackers.PullRequestOpener](t, st.tr)
	pr := trackers.NewPullRequest{Head: "agent/fix-1", Title: "Fix it", BodyMarkdown: "Does the thing."}
	first, reused, err := p.OpenPullRequest(ctxT(t), s, key, pr)
	if err != nil || reused || first.URL == "" {
		t.Fatalf("open: %+v reused=%v err=%v", first, reused, err)
	}
	second, reused, err := p.OpenPullRequest(ctxT(t), s, key, pr)
	if err != nil || !reused || second.URL != first.URL {
		t.Fatalf("second open: %+v reused=%v err=%v, want the first one reused", second, reused, err)
	}
	if got := fx.PullRequests(t, "agent/fix-1"); len(got) != 1 {
		t.Errorf("open pull requests for the head: %v, want exactly one", got)
	}
}

func (st suite) conditional(t *testing.T, fx Fixture) {
	s := fx.Session(t)
	fx.Seed(t, Seed{Summary: "x"})
	d := must[trackers.Discoverer](t, st.tr)
	first, err := d.Discover(ctxT(t), s, trackers.DiscoveryQuery{})
	if err != nil || first.ETag == "" {
		t.Fatalf("first listing: etag %q err %v", first.ETag, err)
	}
	again, err := d.Discover(ctxT(t), s, trackers.DiscoveryQuery{ETag: first.ETag})
	if err != nil || !again.NotModified {
		t.Fatalf("unchanged listing: notModified=%v err=%v", again.NotModified, err)
	}
	key := fx.Seed(t, Seed{Summary: "new one"})
	changed, err := d.Discover(ctxT(t), s, trackers.DiscoveryQuery{ETag: first.ETag})
	if err != nil || changed.NotModified {
		t.Fatalf("changed listing: notModified=%v err=%v", changed.NotModified, err)
	}
	if !slices.ContainsFunc(changed.Tickets, func(tk trackers.Ticket) bool { return tk.Key == key }) && changed.NextPageToken == "" {
		t.Errorf("changed listing lacks the new ticket %s", key)
	}
}

func keys(m map[string]trackers.Ticket) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
