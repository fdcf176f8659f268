package pagerdutyfake_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
)

var auth = http.Header{"Authorization": {"Token token=" + pagerdutyfake.SandboxKey}}

func get(t *testing.T, s *pagerdutyfake.Server, target string, out any) {
	t.Helper()
	code, _, body := fakehttp.Call(s, http.MethodGet, target, auth)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, code, body)
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("GET %s: %v in %s", target, err, body)
	}
}

type listing struct {
	Incidents []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"incidents"`
	Offset, Limit int
	More          bool
	Total         *int
}

// The fake serves GET /incidents and GET /incidents/{id} from encodings
// cached per incident; a change must show in the next answer of both.
func TestCachedAnswersShowTheLatestChange(t *testing.T) {
	t.Parallel()
	s := pagerdutyfake.NewSandbox()
	var one struct {
		Incident struct {
			Title string `json:"title"`
			Body  struct {
				Details struct {
					Description string `json:"description"`
				} `json:"details"`
			} `json:"body"`
		} `json:"incident"`
	}
	var page listing
	list := "/incidents?user_ids[]=" + pagerdutyfake.SandboxUserID + "&statuses[]=triggered&statuses[]=acknowledged&date_range=all&limit=100"
	get(t, s, "/incidents/PINC0001", &one)
	get(t, s, list, &page)
	if one.Incident.Title != "Checkout API p99 latency above 2s" || one.Incident.Body.Details.Description == "" || page.Incidents[0].Title != one.Incident.Title {
		t.Fatalf("first answers: %+v, %+v", one, page)
	}
	s.Edit("PINC0001", func(in *pagerdutyfake.Incident) { in.Title, in.Details = "renamed", "new details" })
	get(t, s, "/incidents/PINC0001", &one)
	get(t, s, list, &page)
	if one.Incident.Title != "renamed" || one.Incident.Body.Details.Description != "new details" || page.Incidents[0].Title != "renamed" {
		t.Fatalf("after an edit: %+v, %+v", one, page)
	}
}

// Pages hold limit incidents from offset, in order, and "more" says
// whether any match is left after the page, also at the exact boundary.
func TestListingPagesAndMore(t *testing.T) {
	t.Parallel()
	opts := pagerdutyfake.SandboxOptions()
	opts.Incidents = nil
	s := pagerdutyfake.New(opts)
	now := time.Now().UTC()
	var ids []string
	for i := range 7 {
		ids = append(ids, s.AddIncident(pagerdutyfake.Incident{Title: fmt.Sprint("mine ", i), ServiceID: "PSVC001", Assignees: []string{pagerdutyfake.SandboxUserID}, Created: now.Add(-time.Hour)}))
		s.AddIncident(pagerdutyfake.Incident{Title: "not mine", ServiceID: "PSVC001", Assignees: []string{"PRITA01"}, Created: now.Add(-time.Hour)})
	}
	for _, c := range []struct {
		offset, limit int
		want          []string
		more          bool
	}{
		{0, 3, ids[0:3], true},
		{3, 3, ids[3:6], true},
		{4, 3, ids[4:7], false},
		{6, 3, ids[6:7], false},
		{7, 3, nil, false},
		{0, 7, ids, false},
		{0, 6, ids[:6], true},
	} {
		var page listing
		get(t, s, fmt.Sprintf("/incidents?user_ids[]=%s&date_range=all&offset=%d&limit=%d", pagerdutyfake.SandboxUserID, c.offset, c.limit), &page)
		var got []string
		for _, in := range page.Incidents {
			got = append(got, in.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || page.More != c.more || page.Offset != c.offset || page.Limit != c.limit || page.Total != nil {
			t.Errorf("offset %d limit %d: got %v more %v (%+v), want %v more %v", c.offset, c.limit, got, page.More, page, c.want, c.more)
		}
	}
}

// The matches of a date_range=all listing are kept between its pages; a
// resolved incident must leave the next listing and a new one join it.
func TestKeptListingFollowsChanges(t *testing.T) {
	t.Parallel()
	s := pagerdutyfake.NewSandbox()
	list := "/incidents?user_ids[]=" + pagerdutyfake.SandboxUserID + "&statuses[]=triggered&statuses[]=acknowledged&date_range=all&limit=100"
	ids := func() []string {
		var page listing
		get(t, s, list, &page)
		var out []string
		for _, in := range page.Incidents {
			out = append(out, in.ID)
		}
		return out
	}
	if got := fmt.Sprint(ids()); got != "[PINC0001 PINC0002]" {
		t.Fatalf("first listing %s", got)
	}
	s.Edit("PINC0001", func(in *pagerdutyfake.Incident) { in.Status = "resolved" })
	if got := fmt.Sprint(ids()); got != "[PINC0002]" {
		t.Fatalf("after a resolve: %s", got)
	}
	added := s.AddIncident(pagerdutyfake.Incident{Title: "new", ServiceID: "PSVC001", Assignees: []string{pagerdutyfake.SandboxUserID}})
	if got, want := fmt.Sprint(ids()), fmt.Sprint([]string{"PINC0002", added}); got != want {
		t.Fatalf("after an add: %s, want %s", got, want)
	}
	s.Delete("PINC0002")
	if got, want := fmt.Sprint(ids()), fmt.Sprint([]string{added}); got != want {
		t.Fatalf("after a delete: %s, want %s", got, want)
	}
}
