package azuredevops_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// whyLeft asks tr about key and returns the reason and the requests it cost.
func whyLeft(t *testing.T, tr azuredevops.Tracker, fx *fixture, s *trackers.Session, key string) (string, int) {
	t.Helper()
	before := fx.fake.Requests()
	got, err := tr.WhyLeft(context.Background(), s, key)
	if err != nil {
		t.Fatalf("WhyLeft(%s): %v", key, err)
	}
	return got, fx.fake.Requests() - before
}

// TestWhyLeftReadsTheStateCategories: resolved means a state in the
// Completed or Removed category of the item's own type (a custom
// "Shipped" is resolved, a Bug's "Resolved" is still open work, a state
// closed in one type is open in another), as discovery's WIQL excludes.
func TestWhyLeftReadsTheStateCategories(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	fx.fake.AddState("User Story", "Shipped", "Completed")
	fx.fake.AddState("Task", "Parked", "Removed")
	fx.fake.AddState("Bug", "Parked", "InProgress")
	s := fx.Session(t)
	tr := azuredevops.New()
	for _, c := range []struct{ typ, state, want string }{
		{"User Story", "Shipped", trackers.LeftResolved},
		{"User Story", "Removed", trackers.LeftResolved},
		{"Bug", "Resolved", trackers.LeftOutOfScope},
		{"Task", "Parked", trackers.LeftResolved},
		{"Bug", "Parked", trackers.LeftOutOfScope},
		{"Task", "Active", trackers.LeftOutOfScope},
	} {
		id := fx.fake.AddWorkItem(azuredevopsfake.WorkItem{Title: c.typ + " " + c.state, Type: c.typ, State: c.state, AssignedTo: azMe})
		if got, _ := whyLeft(t, tr, fx, s, prefix+"#"+strconv.FormatInt(id, 10)); got != c.want {
			t.Errorf("%s in %s: WhyLeft = %q, want %q", c.typ, c.state, got, c.want)
		}
	}
}

// TestWhyLeftRequests: a cold state cache and an unknown account cost one
// request each beyond the work item; both are then kept (the states per
// project for StateCacheTTL, the account per session), and the zero
// Tracker, which caches no states, does not claim to.
func TestWhyLeftRequests(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	s := fx.Session(t)
	key := fx.Seed(t, trackertest.Seed{Summary: "still mine"})
	tr := azuredevops.New()
	if got, n := whyLeft(t, tr, fx, s, key); got != trackers.LeftOutOfScope || n != 3 {
		t.Errorf("cold: WhyLeft = %q in %d requests, want %q in 3 (item, types, account)", got, n, trackers.LeftOutOfScope)
	}
	if got, n := whyLeft(t, tr, fx, s, key); got != trackers.LeftOutOfScope || n != 1 {
		t.Errorf("warm: WhyLeft = %q in %d requests, want %q in 1", got, n, trackers.LeftOutOfScope)
	}
	if got, n := whyLeft(t, tr, fx, fx.Session(t), key); n != 2 {
		t.Errorf("new session: WhyLeft = %q in %d requests, want 2 (item, account)", got, n)
	}
	if !tr.CachesStateMetadata() || (azuredevops.Tracker{}).CachesStateMetadata() {
		t.Errorf("CachesStateMetadata: New() %v, zero value %v; want true, false", tr.CachesStateMetadata(), (azuredevops.Tracker{}).CachesStateMetadata())
	}
}

// TestWhyLeftWithTheConnectorsAssignee: with an assignee named on the
// connector, the work item's assignee is compared with it as WIQL matches
// an identity (unique or display name), and the account is not read.
func TestWhyLeftWithTheConnectorsAssignee(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	tr := azuredevops.New()
	ritas := fx.fake.AddWorkItem(azuredevopsfake.WorkItem{Title: "Rita's", AssignedTo: "rita@acme.example"})
	mine := fx.fake.AddWorkItem(azuredevopsfake.WorkItem{Title: "the PAT's", AssignedTo: azMe})
	for _, c := range []struct {
		assignee string
		id       int64
		want     string
	}{
		{"rita@acme.example", ritas, trackers.LeftOutOfScope},
		{"Rita Reporter", ritas, trackers.LeftOutOfScope},
		{"Rita Reporter <RITA@acme.example>", ritas, trackers.LeftOutOfScope},
		{"rita@acme.example", mine, trackers.LeftUnassigned},
	} {
		s := session(t, fx.base, func(c2 *connector.Connector) { c2.Assignee = c.assignee })
		if _, err := tr.WhyLeft(context.Background(), s, prefix+"#1"); err != nil { // warm the state cache
			t.Fatal(err)
		}
		got, n := whyLeft(t, tr, fx, s, prefix+"#"+strconv.FormatInt(c.id, 10))
		if got != c.want || n != 1 {
			t.Errorf("assignee %q, item %d: WhyLeft = %q in %d requests, want %q in 1", c.assignee, c.id, got, n, c.want)
		}
	}
}

// TestWhyLeftWhenTheItemIsRefused: a 403 for the work item while the PAT
// still reads its own account means the item is out of the credential's
// reach (deleted, for the connector); a PAT refused everywhere is an error,
// not a reason.
func TestWhyLeftWhenTheItemIsRefused(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	s := fx.Session(t)
	key := fx.Seed(t, trackertest.Seed{Summary: "in an area we lost"})
	item := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/_apis/wit/workitems/") }
	refused := `{"message":"TF401019: no permission","typeKey":"UnauthorizedRequestException"}`
	fx.fake.Faults().Add(faults.Fault{Match: item, Status: http.StatusForbidden, Body: refused})
	if got, n := whyLeft(t, azuredevops.New(), fx, s, key); got != trackers.LeftDeleted || n != 2 {
		t.Errorf("item refused: WhyLeft = %q in %d requests, want %q in 2 (item, account)", got, n, trackers.LeftDeleted)
	}
	fx.fake.Faults().Add(faults.Fault{Times: 2, Status: http.StatusUnauthorized, Body: refused})
	got, err := azuredevops.New().WhyLeft(context.Background(), fx.Session(t), key)
	if !errors.Is(err, trackers.ErrUnauthorized) {
		t.Errorf("PAT refused: WhyLeft = %q, %v; want ErrUnauthorized", got, err)
	}
}

// TestWhyLeftReviews: a pull request under review left the set when it
// closed (resolved), when the account is no longer among its reviewers
// (unassigned) or when it is gone (deleted).
func TestWhyLeftReviews(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	s := session(t, fx.base, func(c *connector.Connector) { c.ReviewPullRequests = true })
	tr := azuredevops.New()
	key := func(id int64) string { return prefix + "!" + strconv.FormatInt(id, 10) }
	want := map[string]string{
		key(fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "merged", Status: "completed", Reviewers: []string{azMe}})):      trackers.LeftResolved,
		key(fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "dropped", Status: "abandoned", Reviewers: []string{azMe}})):     trackers.LeftResolved,
		key(fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "not mine", Reviewers: []string{"other@acme.example"}})):         trackers.LeftUnassigned,
		key(fx.fake.AddPullRequest(azuredevopsfake.PullRequest{Title: "still mine", Reviewers: []string{"other@acme.example", azMe}})): trackers.LeftOutOfScope,
		key(999): trackers.LeftDeleted,
	}
	for k, reason := range want {
		if got, err := tr.WhyLeft(context.Background(), s, k); err != nil || got != reason {
			t.Errorf("WhyLeft(%s) = %q, %v; want %q", k, got, err, reason)
		}
	}
}
