package github_test

import (
	"errors"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

const (
	hookAdminToken  = "ghp_hookadmin5ecret"
	hookWriterToken = "ghp_hookwriter5ecret"
)

// hookFake is a fake GitHub whose hook traffic is checked against the hook
// operations of GitHub's description (github-hooks.shape.json).
func hookFake(t *testing.T) (*githubfake.Server, string) {
	t.Helper()
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "admin"}, {ID: 2, Login: "writer"}},
		Tokens: []githubfake.Token{
			{Value: hookAdminToken, Login: "admin", Scopes: []string{"repo"}},
			{Value: hookWriterToken, Login: "writer", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true,
			Collaborators: map[string]githubfake.Role{"admin": githubfake.Admin, "writer": githubfake.Write}}},
	})
	v := contract.NewValidator(contract.MustLoad(contract.GitHubHooks), contract.Options{})
	t.Cleanup(func() {
		for _, viol := range v.Violations() {
			t.Errorf("contract: %s", viol)
		}
	})
	return fake, fake.Start(t, v.Middleware)
}

func hookSession(t *testing.T, base, token string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "gh-hooks", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: base, AuthMode: connector.AuthBearer, Project: "acme/widgets"}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A repository admin's token creates the hook; a change to an issue then
// arrives as a delivery the receiver's own check accepts and parses to the
// ticket; deleting the hook stops it, and deleting it again is no error.
func TestCreateWebhookRegistersAHookThatDeliversSignedChanges(t *testing.T) {
	t.Parallel()
	fake, base := hookFake(t)
	n := fake.AddIssue("acme/widgets", githubfake.Issue{Title: "a", Assignees: []string{"admin"}})
	url, got := trackertest.HookReceiver(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := hookSession(t, base, hookAdminToken)

	id, err := github.New().CreateWebhook(t.Context(), s, url, secret)
	if err != nil {
		t.Fatal(err)
	}
	hooks := fake.Hooks("acme/widgets")
	if len(hooks) != 1 || hooks[0].URL != url || string(hooks[0].Secret) != string(secret) || !hooks[0].Active {
		t.Fatalf("hooks on the repository = %+v, want one active hook to %s with the secret", hooks, url)
	}
	for _, ev := range []string{"issues", "issue_comment", "pull_request"} {
		found := false
		for _, e := range hooks[0].Events {
			found = found || e == ev
		}
		if !found {
			t.Errorf("hook events %v lack %s", hooks[0].Events, ev)
		}
	}

	fake.Touch("acme/widgets", n, time.Now())
	d := trackertest.NextDelivery(t, got)
	tr := github.New()
	delivery, err := tr.VerifyWebhook(trackers.WebhookVerify{Header: d.Header, Body: d.Body, Secret: secret, Now: time.Now(), Tolerance: time.Minute})
	if err != nil || delivery == "" {
		t.Fatalf("the fake's delivery does not verify: id %q, %v", delivery, err)
	}
	if _, err := tr.VerifyWebhook(trackers.WebhookVerify{Header: d.Header, Body: d.Body, Secret: []byte("another secret"), Now: time.Now()}); !errors.Is(err, trackers.ErrWebhookBadSignature) {
		t.Errorf("verified with the wrong secret: %v", err)
	}
	keys, err := tr.ParseWebhook(d.Header, d.Body)
	if err != nil || len(keys) != 1 || keys[0] != "acme/widgets#1" {
		t.Errorf("delivery names %v (%v), want acme/widgets#1", keys, err)
	}

	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Fatal(err)
	}
	if h := fake.Hooks("acme/widgets"); len(h) != 0 {
		t.Errorf("hooks after delete = %+v", h)
	}
	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Errorf("deleting a hook already gone: %v", err)
	}
}

// A token without admin rights cannot create hooks: that is the manual path.
func TestCreateWebhookWithoutAdminRightsIsManual(t *testing.T) {
	t.Parallel()
	fake, base := hookFake(t)
	_, err := github.New().CreateWebhook(t.Context(), hookSession(t, base, hookWriterToken), "https://hooks.example.com/webhooks/x", []byte("s"))
	if !errors.Is(err, trackers.ErrWebhookManual) {
		t.Fatalf("err = %v, want ErrWebhookManual", err)
	}
	if h := fake.Hooks("acme/widgets"); len(h) != 0 {
		t.Errorf("hooks = %+v", h)
	}
}
