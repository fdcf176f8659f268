package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/services/registry"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

var hexSecret = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

// TestWebhookCommandsAgainstARunningRegistry: --webhook on add and update,
// the manual path's "connectors webhook ID" (URL, events, the secret once)
// when the token may not create hooks, and "secrets rotate --webhook" for a
// manual hook (a new secret printed) and a registered one (replaced on the
// tracker, nothing printed).
func TestWebhookCommandsAgainstARunningRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	const writer, admin = "ghp_whWriterToken0000000000000000000001", "ghp_whAdminToken00000000000000000000002"
	gh := githubfake.New(githubfake.Options{
		Users:  []githubfake.User{{ID: 1, Login: "writer"}, {ID: 2, Login: "admin"}},
		Tokens: []githubfake.Token{{Value: writer, Login: "writer", Scopes: []string{"repo"}}, {Value: admin, Login: "admin", Scopes: []string{"repo"}}},
		Repos: []githubfake.Repo{{ID: 10, Owner: "acme", Name: "api", Private: true,
			Collaborators: map[string]githubfake.Role{"writer": githubfake.Write, "admin": githubfake.Admin}}},
	})
	ghURL := gh.Start(t) + "/api/v3"
	reg := registrytest.Start(t, registrytest.WithConfig(func(c *registry.Config) { c.WebhookPublicURL = "https://hooks.example.com" }))
	run := func(args ...string) result {
		t.Helper()
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		r := c.run(args...)
		if r.err != nil {
			t.Fatalf("hubctl %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
		return r
	}
	add := func(id, token string) {
		run("connectors", "add", "--id", id, "--system", "github", "--deployment", "enterprise", "--base-url", ghURL,
			"--project", "acme/api", "--webhook", "--token", token)
	}

	// Manual: the writer's token may not create hooks.
	add("gh-manual", writer)
	if out := run("connectors", "get", "gh-manual").stdout; !strings.Contains(out, "manual") || !strings.Contains(out, "Changes only the poll found") {
		t.Errorf("get shows no manual registration:\n%s", out)
	}
	first := run("connectors", "webhook", "gh-manual")
	secret := hexSecret.FindString(first.stdout)
	for _, want := range []string{"https://hooks.example.com/webhooks/gh-manual", "issues", "issue_comment", "application/json"} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("connectors webhook lacks %q:\n%s", want, first.stdout)
		}
	}
	if secret == "" {
		t.Fatalf("the first connectors webhook shows no secret:\n%s", first.stdout)
	}
	again := run("connectors", "webhook", "gh-manual")
	if strings.Contains(again.all(), secret) || hexSecret.MatchString(again.stdout) || !strings.Contains(again.stdout, "shown before") {
		t.Errorf("the secret was shown twice:\n%s", again.stdout)
	}
	rot := run("secrets", "rotate", "--webhook", "gh-manual")
	if s2 := hexSecret.FindString(rot.stdout); s2 == "" || s2 == secret {
		t.Errorf("rotate --webhook of a manual hook printed %q, want a new secret:\n%s", s2, rot.stdout)
	}
	if len(gh.Hooks("acme/api")) != 0 {
		t.Fatalf("hooks = %+v", gh.Hooks("acme/api"))
	}

	// Registered: the admin's token creates it; rotation replaces it.
	add("gh-auto", admin)
	if out := run("connectors", "get", "gh-auto").stdout; !strings.Contains(out, "registered") {
		t.Errorf("get shows no registered hook:\n%s", out)
	}
	before := gh.Hooks("acme/api")
	if len(before) != 1 || before[0].URL != "https://hooks.example.com/webhooks/gh-auto" {
		t.Fatalf("hooks = %+v", before)
	}
	rot = run("secrets", "rotate", "--webhook", "gh-auto")
	after := gh.Hooks("acme/api")
	if hexSecret.MatchString(rot.all()) || len(after) != 1 || string(after[0].Secret) == string(before[0].Secret) {
		t.Errorf("rotate --webhook of a registered hook: output %q, hooks %+v", rot.stdout, after)
	}
	run("connectors", "update", "gh-auto", "--webhook=false")
	if h := gh.Hooks("acme/api"); len(h) != 0 {
		t.Errorf("hooks after --webhook=false = %+v", h)
	}
}
