package knowledge_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

func TestSearchByTicketTakesWhatAPersonTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	const token = "ghp_knowledge000000000000000000000001"
	fake := githubfake.New(githubfake.Options{
		Users:  []githubfake.User{{ID: 1, Login: "bot"}},
		Tokens: []githubfake.Token{{Value: token, Login: "bot", Scopes: []string{"repo"}}},
		Repos:  []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Collaborators: map[string]githubfake.Role{"bot": githubfake.Write}}},
	})
	n := fake.AddIssue("acme/widgets", githubfake.Issue{Title: "Payment gateway timeouts", Body: "The **settlement** batch stalls when the gateway times out.", Assignees: []string{"bot"}, Author: "bot", Updated: time.Now()})
	url := fake.Start(t)
	ctx := context.Background()
	ct, err := h.cipher.Encrypt(ctx, "gh-k", []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Create(ctx, connector.Connector{ID: "gh-k", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: url + "/api/v3/",
		AuthMode: connector.AuthBearer, Project: "acme/widgets", Enabled: true, Credential: connector.Credential{Ciphertext: ct, SetTime: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	r := h.start(testConfig(), nil)
	want := "acme/widgets#" + strconv.Itoa(n)
	for _, in := range []string{want, strconv.Itoa(n), "#" + strconv.Itoa(n), "https://github.com/acme/widgets/issues/" + strconv.Itoa(n)} {
		res, err := r.svc.Search(ctx, knowledge.Query{TicketConnectorID: "gh-k", Ticket: in})
		if err != nil {
			t.Fatalf("search by ticket %q: %v", in, err)
		}
		if res.TicketKey != want || len(res.Hits) == 0 || res.Hits[0].Title != "Payment gateway runbook" {
			t.Errorf("search by ticket %q: key %q, terms %v, hits %+v", in, res.TicketKey, res.Terms, res.Hits)
		}
	}
	for _, tc := range []struct{ connectorID, ticket, says string }{
		{"gh-k", "acme/gadgets#1", "acme/widgets"},
		{"gh-k", "999", "not found"},
		{"nope", "1", "no connector nope"},
		{"", "1", "ticket_connector_id"},
		{"wiki-eng", "1", "no tickets"},
	} {
		_, err := r.svc.Search(ctx, knowledge.Query{TicketConnectorID: tc.connectorID, Ticket: tc.ticket})
		if !errors.Is(err, knowledge.ErrInvalidQuery) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("search by ticket %q of %q: %v, want ErrInvalidQuery saying %q", tc.ticket, tc.connectorID, err, tc.says)
		}
	}
}
