package gitlab_test

import (
	"errors"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

// hookFake serves the fake with its hook traffic checked against the
// project hook operations of GitLab's description (gitlab-hooks.shape.json).
func hookFake(t *testing.T, level int) (*gitlabfake.Server, string) {
	t.Helper()
	fake := newGitLabFake(gitlabfake.Options{})
	fake.AddProject(gitlabfake.Project{ID: 42, Path: gitlabProject, Name: "Widgets", DefaultBranch: "trunk", Members: map[string]int{gitlabAgent: level}})
	v := contract.NewValidator(contract.MustLoad(contract.GitLabHooks), contract.Options{})
	t.Cleanup(func() {
		for _, viol := range v.Violations() {
			t.Errorf("contract: %s", viol)
		}
	})
	return fake, fake.Start(t, v.Middleware)
}

// A Maintainer's token creates the project hook with the secret as its
// token; an edit then arrives as a delivery the receiver's own check
// accepts and parses to the ticket; the hook is deleted (twice is no error).
func TestCreateWebhookRegistersAHookThatDeliversChanges(t *testing.T) {
	t.Parallel()
	fake, base := hookFake(t, gitlabfake.Maintainer)
	iid := fake.AddIssue(gitlabfake.Issue{ProjectID: 42, Title: "a", Assignees: []string{gitlabAgent}})
	url, got := trackertest.HookReceiver(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := gitlabSession(t, base, gitlabProject)
	tr := gitlab.New()

	id, err := tr.CreateWebhook(t.Context(), s, url, secret)
	if err != nil {
		t.Fatal(err)
	}
	hooks := fake.Hooks()
	if len(hooks) != 1 || hooks[0].URL != url || string(hooks[0].Secret) != string(secret) {
		t.Fatalf("project hooks = %+v, want one to %s with the secret as token", hooks, url)
	}
	want := map[string]bool{"issues_events": true, "note_events": true, "merge_requests_events": true}
	for _, e := range hooks[0].Events {
		delete(want, e)
		if e == "push_events" {
			t.Errorf("hook sends push events")
		}
	}
	if len(want) > 0 {
		t.Errorf("hook events %v lack %v", hooks[0].Events, want)
	}

	fake.Touch(iid, time.Now())
	d := trackertest.NextDelivery(t, got)
	delivery, err := tr.VerifyWebhook(trackers.WebhookVerify{Header: d.Header, Body: d.Body, Secret: secret, Now: time.Now(), Tolerance: time.Minute})
	if err != nil || delivery == "" {
		t.Fatalf("the fake's delivery does not verify: id %q, %v", delivery, err)
	}
	keys, err := tr.ParseWebhook(d.Header, d.Body)
	if err != nil || len(keys) != 1 || keys[0] != gitlabProject+"#1" {
		t.Errorf("delivery names %v (%v), want %s#1", keys, err, gitlabProject)
	}
	fake.AddNote(iid, "rita", "a comment")
	d = trackertest.NextDelivery(t, got)
	if keys, err := tr.ParseWebhook(d.Header, d.Body); err != nil || len(keys) != 1 || d.Header.Get("X-Gitlab-Event") != "Note Hook" {
		t.Errorf("note delivery: %s names %v (%v)", d.Header.Get("X-Gitlab-Event"), keys, err)
	}

	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Fatal(err)
	}
	if h := fake.Hooks(); len(h) != 0 {
		t.Errorf("hooks after delete = %+v", h)
	}
	if err := tr.DeleteWebhook(t.Context(), s, id); err != nil {
		t.Errorf("deleting a hook already gone: %v", err)
	}
}

// A Developer may not create project hooks (403): the manual path.
func TestCreateWebhookAsDeveloperIsManual(t *testing.T) {
	t.Parallel()
	fake, base := hookFake(t, gitlabfake.Developer)
	_, err := gitlab.New().CreateWebhook(t.Context(), gitlabSession(t, base, gitlabProject), "https://hooks.example.com/webhooks/x", []byte("s"))
	if !errors.Is(err, trackers.ErrWebhookManual) {
		t.Fatalf("err = %v, want ErrWebhookManual", err)
	}
	if h := fake.Hooks(); len(h) != 0 {
		t.Errorf("hooks = %+v", h)
	}
}
