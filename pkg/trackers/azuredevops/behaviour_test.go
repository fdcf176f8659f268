package azuredevops_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

func check(r trackers.TestResult, name string) (trackers.Check, bool) {
	i := slices.IndexFunc(r.Checks, func(c trackers.Check) bool { return c.Name == name })
	if i < 0 {
		return trackers.Check{}, false
	}
	return r.Checks[i], true
}

func TestAzureDevOpsConnectionTest(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	conn := func(edit func(*connector.Connector)) connector.Connector {
		c := connector.Connector{ID: "az-1", System: connector.AzureDevOps, Deployment: connector.SelfHosted, BaseURL: fx.base,
			AuthMode: connector.AuthBearer, Project: azOrg + "/" + azProject}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	opts := trackers.Options{Timeout: 10 * time.Second}
	tests := []struct {
		name      string
		c         connector.Connector
		pat       string
		fault     *faults.Fault
		ok        bool
		failCheck string
		hint      string
	}{
		{name: "valid PAT and project", c: conn(nil), pat: azPAT, ok: true},
		{name: "rejected PAT", c: conn(nil), pat: "wrong", failCheck: trackers.CheckIdentity, hint: "401"},
		{name: "unknown project", c: conn(func(c *connector.Connector) { c.Project = azOrg + "/Nope" }), pat: azPAT, failCheck: trackers.CheckProject, hint: "check the organization and project"},
		{name: "PAT without Work Items scope", c: conn(nil), pat: azPAT, failCheck: trackers.CheckScopes, hint: "Work Items (Read & write)",
			fault: &faults.Fault{Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/_apis/wit/wiql") }, Status: http.StatusForbidden,
				Body: `{"message":"TF401027: You need the Git 'GenericRead' permission to perform this action.","typeKey":"UnauthorizedRequestException"}`}},
		{name: "PAT without Code scope, reviewing pull requests", c: conn(func(c *connector.Connector) { c.ReviewPullRequests = true }), pat: azPAT, failCheck: trackers.CheckScopes, hint: "Code (Read & write)",
			fault: &faults.Fault{Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/_apis/git/pullrequests") }, Status: http.StatusUnauthorized,
				Body: `{"message":"TF401027: You need the Git 'GenericRead' permission to perform this action.","typeKey":"UnauthorizedRequestException"}`}},
		{name: "reviewing pull requests with a full PAT", c: conn(func(c *connector.Connector) { c.ReviewPullRequests = true }), pat: azPAT, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != nil {
				fx.fake.Faults().Add(*tt.fault)
				t.Cleanup(fx.fake.Faults().Reset)
			}
			res, err := trackers.Test(context.Background(), azuredevops.New(), tt.c, connector.NewSecret(tt.pat), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.ok {
				t.Fatalf("OK = %v, checks %+v", res.OK, res.Checks)
			}
			if tt.ok {
				if res.Identity != azMe {
					t.Errorf("identity %q, want %s", res.Identity, azMe)
				}
				return
			}
			ch, found := check(res, tt.failCheck)
			if !found || ch.OK || !strings.Contains(ch.Message, tt.hint) {
				t.Errorf("check %s = %+v (found %v), want failed with %q", tt.failCheck, ch, found, tt.hint)
			}
			if strings.Contains(ch.Message, tt.pat) {
				t.Errorf("message %q leaks the PAT", ch.Message)
			}
		})
	}
}

func TestAzureDevOpsRulesRequireTheOrganization(t *testing.T) {
	t.Parallel()
	for _, project := range []string{"Widgets", "", "/Widgets", "acme/"} {
		c := connector.Connector{ID: "az-1", System: connector.AzureDevOps, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: project}
		if _, err := trackers.NewSession(azuredevops.New(), c, connector.NewSecret(azPAT), trackers.Options{}); !errors.Is(err, trackers.ErrInvalidConfig) {
			t.Errorf("project %q: %v, want ErrInvalidConfig", project, err)
		}
	}
}

func TestAzureDevOpsFaults(t *testing.T) {
	t.Parallel()
	isWIQL := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/_apis/wit/wiql") }
	tests := []struct {
		name  string
		fault faults.Fault
		want  func(error) bool
	}{
		{"5xx is transient", faults.Fault{Status: http.StatusInternalServerError, Body: `{"message":"boom"}`}, func(err error) bool { return errors.Is(err, trackers.ErrTransient) }},
		{"malformed WIQL answer", faults.Fault{Match: isWIQL, Status: http.StatusOK, Body: `{"workItems": [`}, func(err error) bool { return errors.Is(err, trackers.ErrMalformedResponse) }},
		{"malformed batch answer", faults.Fault{Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/workitemsbatch") }, Status: http.StatusOK,
			Body: `{"count":1,"value":[{"id":1,"fields":{"System.ChangedDate":"yesterday"}}]}`}, func(err error) bool { return errors.Is(err, trackers.ErrMalformedResponse) }},
		{"sign-in page instead of JSON", faults.Fault{Status: http.StatusNonAuthoritativeInfo, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<html>Sign in</html>"},
			func(err error) bool { return errors.Is(err, trackers.ErrUnauthorized) }},
		{"rate limit by X-RateLimit-Reset only", faults.Fault{Status: http.StatusTooManyRequests,
			Header: http.Header{"X-Ratelimit-Reset": {"%RESET%"}, "X-Ratelimit-Resource": {"Core"}}},
			func(err error) bool {
				var rl *trackers.RateLimitError
				return errors.As(err, &rl) && rl.RetryAfter > 20*time.Second && rl.RetryAfter <= 31*time.Second && rl.Reason == "Core"
			}},
		{"slow answer times out as transient", faults.Fault{Delay: 5 * time.Second}, func(err error) bool {
			r, _ := trackers.RetryOf(err)
			return r == trackers.RetryBackoff
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, azuredevopsfake.Options{})
			fx.Seed(t, trackertest.Seed{Summary: "x"})
			f := tt.fault
			if v := f.Header.Get("X-Ratelimit-Reset"); v == "%RESET%" {
				f.Header = f.Header.Clone()
				f.Header.Set("X-Ratelimit-Reset", strconvItoa(time.Now().Add(30*time.Second).Unix()))
			}
			fx.fake.Faults().Add(f)
			s := session(t, fx.base)
			if tt.name == "slow answer times out as transient" {
				var err error
				s, err = trackers.NewSession(azuredevops.New(), s.Connector, s.Secret, trackers.Options{Timeout: 200 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := azuredevops.New().Discover(context.Background(), s, trackers.DiscoveryQuery{Full: true})
			if err == nil || !tt.want(err) {
				t.Fatalf("discover: %v", err)
			}
			if strings.Contains(err.Error(), azPAT) {
				t.Errorf("error %q leaks the PAT", err)
			}
			// The fault was one answer: the next discovery succeeds.
			if _, err := azuredevops.New().Discover(context.Background(), session(t, fx.base), trackers.DiscoveryQuery{}); err != nil {
				t.Errorf("discover after the fault: %v", err)
			}
		})
	}
}

// TestAzureDevOpsDiscoveryStaysUnderTheWIQLCap: however many work items
// match, every WIQL query asks for at most one page ($top) keyed by id, so
// the fake's cap (lowered to 5 here) never refuses a listing.
func TestAzureDevOpsDiscoveryStaysUnderTheWIQLCap(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{WIQLCap: 5})
	for range 12 {
		fx.Seed(t, trackertest.Seed{Summary: "many"})
	}
	s := session(t, fx.base)
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Add(123 * time.Millisecond)
	page, err := azuredevops.New().Discover(context.Background(), s, trackers.DiscoveryQuery{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 12 {
		t.Errorf("discovered %d, want 12", len(page.Tickets))
	}
	qs := fx.fake.Queries()
	last := qs[len(qs)-1]
	for _, want := range []string{"[System.AssignedTo] = @Me", "[System.State] NOT IN (", "[System.ChangedDate] >= '" + since.Format(time.RFC3339) + "'", "ORDER BY [System.Id]"} {
		if !strings.Contains(last, want) {
			t.Errorf("WIQL %q lacks %q", last, want)
		}
	}
}

func TestAzureDevOpsCommentMentionsTheCreatorInMarkdown(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, azuredevopsfake.Options{})
	key := fx.Seed(t, trackertest.Seed{Summary: "c"})
	s := session(t, fx.base)
	tk, err := azuredevops.New().GetTicket(context.Background(), s, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := azuredevops.New().AddComment(context.Background(), s, key, trackers.NewComment{Markdown: "**done**", Mention: &tk.Reporter, Marker: "m-1"}); err != nil {
		t.Fatal(err)
	}
	w, _ := fx.fake.WorkItem(fx.id(t, key))
	c := w.Comments[0]
	if c.Format != "markdown" || !strings.HasPrefix(c.Text, "@<"+tk.Reporter.ID+"> **done**") {
		t.Errorf("comment %+v, want Markdown starting with a mention of %s", c, tk.Reporter.ID)
	}
}

func TestAzureDevOpsNormalizeKey(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.AzureDevOps, Project: "acme/Widgets"}
	for in, want := range map[string]string{
		"acme/Widgets#12": "acme/Widgets#12", "#12": "acme/Widgets#12", "12": "acme/Widgets#12",
		"https://dev.azure.com/acme/Widgets/_workitems/edit/12": "acme/Widgets#12",
		"acme/Other#12": "", "https://dev.azure.com/acme/Other/_workitems/edit/12": "", "PROJ-1": "",
	} {
		got, err := azuredevops.New().NormalizeKey(c, in)
		if want == "" {
			if !errors.Is(err, trackers.ErrInvalidTicketKey) {
				t.Errorf("%q: %q %v, want ErrInvalidTicketKey", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
}

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }
