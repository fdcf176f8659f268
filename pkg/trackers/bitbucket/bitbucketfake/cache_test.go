package bitbucketfake_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

type issuePage struct {
	Values []struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	} `json:"values"`
	Pagelen, Size, Page int
	Next                string
}

func list(t *testing.T, s *bitbucketfake.Server, target string) issuePage {
	t.Helper()
	code, _, body := fakehttp.Call(s, http.MethodGet, target, http.Header{"Authorization": {bitbucketfake.BasicAuthHeader(bitbucketfake.SandboxEmail, bitbucketfake.SandboxToken)}})
	var pg issuePage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &pg) != nil {
		t.Fatalf("GET %s: %d %s", target, code, body)
	}
	return pg
}

// Issue listings are written from encodings cached per issue; an edit must
// show in the next listing, and pages keep their shape (values, pagelen,
// size, page, an absolute next link on all but the last).
func TestIssueListingShowsEditsAndPages(t *testing.T) {
	t.Parallel()
	opts := bitbucketfake.SandboxOptions()
	opts.Issues = nil
	s := bitbucketfake.New(opts)
	now := time.Now().UTC()
	var ids []int64
	for i := range 5 {
		ids = append(ids, s.AddIssue(bitbucketfake.Issue{Repo: bitbucketfake.SandboxRepo, Title: fmt.Sprint("issue ", i), Assignee: bitbucketfake.SandboxUUID, Created: now, Updated: now.Add(time.Duration(i) * time.Second)}))
	}
	path := "/2.0/repositories/" + bitbucketfake.SandboxRepo + "/issues"
	first := path + "?" + url.Values{"q": {`assignee.uuid="` + bitbucketfake.SandboxUUID + `"`}, "sort": {"updated_on"}, "pagelen": {"2"}}.Encode()
	var got []int64
	target := first
	for n := 0; target != ""; n++ {
		pg := list(t, s, target)
		if pg.Pagelen != 2 || pg.Size != 5 || pg.Page != n+1 || len(pg.Values) > 2 {
			t.Fatalf("page %d: %+v", n+1, pg)
		}
		for _, v := range pg.Values {
			got = append(got, v.ID)
		}
		target = ""
		if pg.Next != "" {
			u, err := url.Parse(pg.Next)
			if err != nil || !u.IsAbs() {
				t.Fatalf("next %q is not an absolute link", pg.Next)
			}
			target = u.RequestURI()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
	s.EditIssue(ids[0], func(is *bitbucketfake.Issue) { is.Title = "renamed" })
	pg := list(t, s, path+"?pagelen=10")
	for _, v := range pg.Values {
		if v.ID == ids[0] && v.Title != "renamed" {
			t.Fatalf("after an edit: title %q", v.Title)
		}
	}
}
