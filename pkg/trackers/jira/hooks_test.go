package jira_test

import (
	"errors"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
)

func hookJira(t *testing.T, dep connector.Deployment) (*jirafake.Server, string) {
	t.Helper()
	fake := jirafake.New(jirafake.Options{
		Deployment: dep,
		Users: []jirafake.User{
			{AccountID: "a1", Name: "admin", Email: "admin@example.com", APIToken: "pat-admin", Admin: true},
			{AccountID: "a2", Name: "mia", Email: "mia@example.com", APIToken: "pat-mia"},
		},
		Projects: []jirafake.Project{{ID: "10000", Key: "PROJ", Name: "Project"}},
	})
	return fake, fake.Start(t)
}

func hookJiraSession(t *testing.T, dep connector.Deployment, base, user, token string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "jira-hooks", System: connector.Jira, Deployment: dep, BaseURL: base, AuthMode: connector.AuthBearer, Project: "PROJ"}
	if dep == connector.Cloud {
		c.AuthMode, c.Username = connector.AuthBasic, user
	}
	s, err := trackers.NewSession(jira.New(), c, connector.NewSecret(token), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// On Data Center an administrator's token creates the webhook; a change
// then arrives signed with the secret and names the issue; deleting it
// stops the deliveries (twice is no error).
func TestDataCenterWebhookIsCreatedAndDeleted(t *testing.T) {
	t.Parallel()
	fake, base := hookJira(t, connector.SelfHosted)
	key := fake.AddTicket(jirafake.Ticket{Summary: "a", Assignee: "mia"})
	url, got := trackertest.HookReceiver(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := hookJiraSession(t, connector.SelfHosted, base, "admin", "pat-admin")
	tr := jira.New()
	id, err := tr.CreateWebhook(t.Context(), s, url, secret)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" || fake.WebhookURL() != url {
		t.Fatalf("hook id %q, fake sends to %q; want %s", id, fake.WebhookURL(), url)
	}
	fake.Touch(key, time.Now())
	d := trackertest.NextDelivery(t, got)
	if _, err := tr.VerifyWebhook(trackers.WebhookVerify{Header: d.Header, Body: d.Body, Secret: secret, Now: time.Now()}); err != nil {
		t.Fatalf("delivery does not verify: %v", err)
	}
	if keys, err := tr.ParseWebhook(d.Header, d.Body); err != nil || len(keys) != 1 || keys[0] != key {
		t.Errorf("delivery names %v (%v), want %s", keys, err, key)
	}
	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Fatal(err)
	}
	if u := fake.WebhookURL(); u != "" {
		t.Errorf("still sending to %q after delete", u)
	}
	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Errorf("deleting a hook already gone: %v", err)
	}
}

// Registration is manual for a Data Center user who is not an administrator
// (403) and always on Jira Cloud with an API token (its webhook API is for
// OAuth and Connect apps); nothing is registered either way.
func TestJiraWebhookRegistrationIsManualWithoutTheRights(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		dep         connector.Deployment
		user, token string
	}{
		"data center non-admin":   {connector.SelfHosted, "mia", "pat-mia"},
		"cloud with an api token": {connector.Cloud, "admin@example.com", "pat-admin"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake, base := hookJira(t, tc.dep)
			_, err := jira.New().CreateWebhook(t.Context(), hookJiraSession(t, tc.dep, base, tc.user, tc.token), "https://hooks.example.com/webhooks/x", []byte("s"))
			if !errors.Is(err, trackers.ErrWebhookManual) {
				t.Fatalf("err = %v, want ErrWebhookManual", err)
			}
			if u := fake.WebhookURL(); u != "" {
				t.Errorf("fake sends to %q", u)
			}
		})
	}
}
