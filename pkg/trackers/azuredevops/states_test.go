package azuredevops_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// discoverAll follows a listing's work item pages.
func discoverAll(t *testing.T, tr azuredevops.Tracker, s *trackers.Session) []string {
	t.Helper()
	var keys []string
	token := ""
	for {
		page, err := tr.Discover(context.Background(), s, trackers.DiscoveryQuery{PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Tickets {
			keys = append(keys, tk.Key+" "+tk.Status)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	slices.Sort(keys)
	return keys
}

// A custom process's states are excluded or kept by their category, not
// their name: "Shipped" (Completed) is closed, "Waiting" (InProgress) open,
// and "Parked", Removed on Bugs but InProgress on Tasks, is closed only for
// Bugs. Resolved stays open.
func TestAzureDevOpsDiscoveryExcludesClosedStateCategories(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	fx.fake.AddState("User Story", "Shipped", "Completed")
	fx.fake.AddState("User Story", "Waiting", "InProgress")
	fx.fake.AddState("Bug", "Parked", "Removed")
	fx.fake.AddState("Task", "Parked", "InProgress")
	add := func(typ, state string) {
		fx.fake.AddWorkItem(azuredevopsfake.WorkItem{Type: typ, State: state, Title: typ + " " + state, AssignedTo: azMe, CreatedBy: "rita@acme.example"})
	}
	add("User Story", "Shipped") // 1: closed (custom, Completed)
	add("User Story", "Waiting") // 2: open (custom, InProgress)
	add("User Story", "Active")  // 3: open
	add("User Story", "Closed")  // 4: closed
	add("Bug", "Resolved")       // 5: open (Resolved)
	add("Bug", "Parked")         // 6: closed on a Bug
	add("Task", "Parked")        // 7: open on a Task
	add("Task", "Removed")       // 8: closed (Removed)
	want := []string{"acme/Widgets#2 Waiting", "acme/Widgets#3 Active", "acme/Widgets#5 Resolved", "acme/Widgets#7 Parked"}

	var typeReads atomic.Int32
	fx.fake.Faults().Add(faults.Fault{Match: func(r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/_apis/wit/workitemtypes") {
			typeReads.Add(1)
		}
		return false
	}})
	var clock atomic.Int64 // seconds after the start
	start := time.Now()
	tr := azuredevops.NewWithClock(func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Second) })
	s := session(t, fx.base)
	if got := discoverAll(t, tr, s); !slices.Equal(got, want) {
		t.Errorf("discovered %q, want %q", got, want)
	}
	qs := fx.fake.Queries()
	last := qs[len(qs)-1]
	for _, frag := range []string{"[System.State] NOT IN (", "'Shipped'", "NOT ([System.State] = 'Parked' AND [System.WorkItemType] IN ('Bug'))"} {
		if !strings.Contains(last, frag) {
			t.Errorf("WIQL %q lacks %q", last, frag)
		}
	}
	for _, open := range []string{"'Waiting'", "'Resolved'", "'Active'"} {
		if strings.Contains(last, open) {
			t.Errorf("WIQL %q excludes the open state %s", last, open)
		}
	}
	// A second listing reuses the project's categories (StateCacheTTL).
	discoverAll(t, tr, s)
	if n := typeReads.Load(); n != 1 {
		t.Errorf("work item types read %d times in two listings, want 1 (cached)", n)
	}
	// After the TTL, a state moved to Completed in the process is excluded.
	fx.fake.AddState("User Story", "Waiting", "Completed")
	clock.Store(int64((azuredevops.StateCacheTTL - time.Second) / time.Second))
	if got := discoverAll(t, tr, s); !slices.Equal(got, want) {
		t.Errorf("within the TTL: discovered %q, want %q", got, want)
	}
	clock.Store(int64((azuredevops.StateCacheTTL + time.Second) / time.Second))
	want = slices.DeleteFunc(want, func(k string) bool { return strings.HasSuffix(k, " Waiting") })
	if got := discoverAll(t, tr, s); !slices.Equal(got, want) {
		t.Errorf("after the TTL: discovered %q, want %q", got, want)
	}
	if n := typeReads.Load(); n != 2 {
		t.Errorf("work item types read %d times, want 2 (once more after the TTL)", n)
	}
}

// Without the cache (the zero Tracker) every page reads the types, and a
// state added to the process is honoured at once.
func TestAzureDevOpsZeroTrackerReadsStatesEachTime(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	fx.fake.AddState("User Story", "Shipped", "InProgress")
	fx.fake.AddWorkItem(azuredevopsfake.WorkItem{State: "Shipped", Title: "s", AssignedTo: azMe, CreatedBy: "rita@acme.example", Changed: time.Now()})
	s := session(t, fx.base)
	if got := discoverAll(t, azuredevops.Tracker{}, s); len(got) != 1 {
		t.Fatalf("discovered %q, want the Shipped story while Shipped is InProgress", got)
	}
}
