package main

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// e2eTokens are GitHub tokens of the fake, one per user, so a saved
// connector's test tells which token the registry stored.
var e2eTokens = map[string]string{
	"flag-user":    "ghp_e2eFlagToken0000000000000000000001",
	"file-user":    "ghp_e2eFileToken0000000000000000000002",
	"env-user":     "ghp_e2eEnvToken00000000000000000000003",
	"prompt-user":  "ghp_e2ePromptToken000000000000000000004",
	"rotated-user": "ghp_e2eRotatedToken00000000000000000005",
	"scopeless":    "ghp_e2eNoRepoScope000000000000000000006",
}

// TestEndToEndAgainstARunningRegistry drives hubctl against a real registry
// (embedded NATS, local keyring, loopback gRPC) whose connection tests call a
// fake GitHub over HTTP.
func TestEndToEndAgainstARunningRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	opts := githubfake.Options{Repos: []githubfake.Repo{{ID: 10, Owner: "acme", Name: "api", Private: true, Collaborators: map[string]githubfake.Role{}}}}
	var id int64
	for login, tok := range e2eTokens {
		id++
		opts.Users = append(opts.Users, githubfake.User{ID: id, Login: login})
		scopes := []string{"repo"}
		if login == "scopeless" {
			scopes = []string{"read:org"}
		}
		opts.Tokens = append(opts.Tokens, githubfake.Token{Value: tok, Login: login, Scopes: scopes})
		opts.Repos[0].Collaborators[login] = githubfake.Write
	}
	gh := githubfake.New(opts)
	ghURL := gh.Start(t) + "/api/v3"
	reg := registrytest.Start(t)

	admin := func() *cli {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		return c
	}
	addArgs := func(id string, extra ...string) []string {
		return append([]string{"connectors", "add", "--id", id, "--system", "github", "--deployment", "enterprise",
			"--base-url", ghURL, "--project", "acme/api", "--assignee", "octocat"}, extra...)
	}
	mustRun := func(c *cli, args ...string) result {
		t.Helper()
		r := c.run(args...)
		if r.err != nil {
			t.Fatalf("hubctl %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
		return r
	}
	noTokens := func(r result) {
		t.Helper()
		for _, tok := range e2eTokens {
			if strings.Contains(r.all(), tok) {
				t.Errorf("hubctl printed a tracker token")
			}
		}
	}
	getConnector := func(id string) *pb.Connector {
		t.Helper()
		r := mustRun(admin(), "connectors", "get", id, "-o", "json")
		var resp pb.GetConnectorResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatalf("get %s -o json: %v", id, err)
		}
		return resp.GetConnector()
	}
	// savedIdentity tests a saved connector; the worker decrypts its
	// credential, so the identity names the token that was stored.
	savedIdentity := func(id string) string {
		t.Helper()
		r := mustRun(admin(), "connectors", "test", id, "-o", "json")
		var resp pb.TestConnectionResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatalf("test %s -o json: %v", id, err)
		}
		if !resp.GetOk() {
			t.Fatalf("saved test of %s failed: %v", id, resp.GetChecks())
		}
		return resp.GetIdentity()
	}

	t.Run("token from each source is saved", func(t *testing.T) {
		envFile := writeFile(t, filepath.Join(t.TempDir(), "hub.env"), "GITHUB_TOKEN="+e2eTokens["file-user"]+"\n")
		cases := []struct {
			id, user, source string
			setup            func(c *cli) []string
		}{
			{"gh-flag", "flag-user", "the --token flag", func(c *cli) []string {
				c.vars["GITHUB_TOKEN"] = e2eTokens["env-user"] // loses to the flag
				return []string{"--token", e2eTokens["flag-user"], "--env-file", envFile}
			}},
			{"gh-file", "file-user", "env file " + envFile, func(c *cli) []string {
				c.vars["GITHUB_TOKEN"] = e2eTokens["env-user"] // loses to the file
				c.term = &fakeTerminal{tty: true, passwords: []string{e2eTokens["prompt-user"]}}
				return []string{"--env-file", envFile}
			}},
			{"gh-env", "env-user", "environment variable GH_TOKEN", func(c *cli) []string {
				c.vars["GH_TOKEN"] = e2eTokens["env-user"]
				c.term = &fakeTerminal{tty: true, passwords: []string{e2eTokens["prompt-user"]}}
				return nil
			}},
			{"gh-prompt", "prompt-user", "the terminal prompt", func(c *cli) []string {
				c.term = &fakeTerminal{tty: true, passwords: []string{e2eTokens["prompt-user"]}}
				return nil
			}},
		}
		fingerprints := map[string]bool{}
		for _, tc := range cases {
			c := admin()
			r := mustRun(c, addArgs(tc.id, tc.setup(c)...)...)
			noTokens(r)
			if !strings.Contains(r.stderr, "token from "+tc.source) {
				t.Errorf("%s: source not reported:\n%s", tc.id, r.stderr)
			}
			if warned := strings.Contains(r.stderr, "visible to other users"); warned != (tc.id == "gh-flag") {
				t.Errorf("%s: warning about a token on the command line shown = %v:\n%s", tc.id, warned, r.stderr)
			}
			if tc.id == "gh-prompt" && !strings.Contains(r.stderr, "needs these scopes: repo") {
				t.Errorf("required scopes not shown before the prompt:\n%s", r.stderr)
			}
			got := getConnector(tc.id)
			if !got.GetCredential().GetSet() || got.GetCredential().GetFingerprint() == "" {
				t.Errorf("%s: credential = %v", tc.id, got.GetCredential())
			}
			fingerprints[got.GetCredential().GetFingerprint()] = true
			if who := savedIdentity(tc.id); who != tc.user {
				t.Errorf("%s saved the token of %q, want %q", tc.id, who, tc.user)
			}
		}
		if len(fingerprints) != len(cases) {
			t.Errorf("%d distinct fingerprints for %d tokens", len(fingerprints), len(cases))
		}
		if exists(envFile) {
			t.Error("the env file the token came from was not deleted")
		}

		r := mustRun(admin(), "connectors", "list")
		noTokens(r)
		for _, tc := range cases {
			if !strings.Contains(r.stdout, tc.id) {
				t.Errorf("list lacks %s:\n%s", tc.id, r.stdout)
			}
		}
		if strings.Count(r.stdout, " set ") != len(cases) {
			t.Errorf("list does not show every credential as set:\n%s", r.stdout)
		}
	})

	t.Run("a token lacking scopes is refused and nothing saved", func(t *testing.T) {
		r := admin().run(addArgs("gh-scopeless", "--token", e2eTokens["scopeless"])...)
		if r.err == nil || !strings.Contains(r.err.Error(), "missing scopes: repo") || !strings.Contains(r.err.Error(), "not saved") {
			t.Fatalf("err = %v", r.err)
		}
		noTokens(r)
		r = admin().run("connectors", "get", "gh-scopeless")
		if status.Code(r.err) != codes.NotFound {
			t.Errorf("get after a refused add: %v", r.err)
		}
	})

	t.Run("unsaved test with add flags", func(t *testing.T) {
		c := admin()
		c.vars["GITHUB_TOKEN"] = e2eTokens["flag-user"]
		r := mustRun(c, "connectors", "test", "--system", "github", "--deployment", "self-hosted", "--base-url", ghURL, "--project", "acme/api")
		if !strings.Contains(r.stdout, "identity: flag-user") || !strings.Contains(r.stdout, "passed") {
			t.Errorf("unsaved test:\n%s", r.stdout)
		}
	})

	t.Run("update changes only the given fields", func(t *testing.T) {
		before := getConnector("gh-flag")
		mustRun(admin(), "connectors", "update", "gh-flag", "--label", "agent", "--label", "backend", "--poll-interval", "2m", "--etag", before.GetEtag())
		after := getConnector("gh-flag")
		if got := after.GetScope().GetLabels(); strings.Join(got, ",") != "agent,backend" || after.GetPollInterval().AsDuration().String() != "2m0s" {
			t.Errorf("after update: labels %v, interval %v", got, after.GetPollInterval().AsDuration())
		}
		if after.GetProject() != before.GetProject() || after.GetAssignee() != before.GetAssignee() ||
			after.GetCredential().GetFingerprint() != before.GetCredential().GetFingerprint() {
			t.Errorf("fields outside the mask changed: %v -> %v", before, after)
		}
		r := admin().run("connectors", "update", "gh-flag", "--name", "stale", "--etag", before.GetEtag())
		if status.Code(r.err) != codes.Aborted {
			t.Errorf("update with a stale etag: %v", r.err)
		}
		mustRun(admin(), "connectors", "pause", "gh-flag")
		if getConnector("gh-flag").GetEnabled() {
			t.Error("pause left the connector enabled")
		}
		mustRun(admin(), "connectors", "resume", "gh-flag")
		if !getConnector("gh-flag").GetEnabled() {
			t.Error("resume left the connector paused")
		}
	})

	t.Run("moving the base URL needs the token again", func(t *testing.T) {
		r := admin().run("connectors", "update", "gh-flag", "--base-url", ghURL+"/")
		if r.err == nil || !strings.Contains(r.err.Error(), "needs the token again") {
			t.Fatalf("err = %v", r.err)
		}
		r = mustRun(admin(), "connectors", "update", "gh-flag", "--base-url", ghURL+"/", "--token", e2eTokens["flag-user"])
		noTokens(r)
		if got := getConnector("gh-flag").GetBaseUrl(); got != ghURL+"/" {
			t.Errorf("base url = %q", got)
		}
	})

	t.Run("capabilities and secrets check", func(t *testing.T) {
		r := mustRun(admin(), "connectors", "capabilities")
		if !strings.Contains(r.stdout, "GITHUB") || !strings.Contains(r.stdout, "repo") {
			t.Errorf("capabilities:\n%s", r.stdout)
		}
		r = mustRun(admin(), "secrets", "check")
		noTokens(r)
		for _, id := range []string{"gh-flag", "gh-file", "gh-env", "gh-prompt"} {
			line := lineWith(r.stdout, id)
			if f := strings.Fields(line); len(f) < 6 || f[1] != "github" || f[2] != "yes" || f[4] != "no" || f[5] != getConnector(id).GetCredential().GetFingerprint() {
				t.Errorf("check row of %s = %q", id, line)
			}
		}
	})

	t.Run("rotate replaces the credential only after a passing test", func(t *testing.T) {
		before := getConnector("gh-env").GetCredential().GetFingerprint()
		r := admin().run("secrets", "rotate", "gh-env", "--token", e2eTokens["scopeless"])
		if r.err == nil || status.Code(r.err) != codes.FailedPrecondition {
			t.Fatalf("rotate to a scopeless token: %v", r.err)
		}
		if got := getConnector("gh-env").GetCredential().GetFingerprint(); got != before {
			t.Errorf("a failed rotation changed the fingerprint")
		}
		c := admin()
		c.vars["GITHUB_TOKEN"] = e2eTokens["rotated-user"]
		r = mustRun(c, "secrets", "rotate", "gh-env")
		noTokens(r)
		if got := getConnector("gh-env").GetCredential().GetFingerprint(); got == before {
			t.Error("rotation kept the old fingerprint")
		}
		if who := savedIdentity("gh-env"); who != "rotated-user" {
			t.Errorf("after rotation the connector authenticates as %q", who)
		}
	})

	t.Run("viewer cannot add but can list", func(t *testing.T) {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.ViewerToken
		for _, extra := range [][]string{nil, {"--skip-test"}} {
			r := c.run(addArgs("gh-viewer", append([]string{"--token", e2eTokens["flag-user"]}, extra...)...)...)
			if status.Code(r.err) != codes.PermissionDenied || !strings.Contains(r.err.Error(), "PERMISSION_DENIED") || !strings.Contains(r.err.Error(), "admin") {
				t.Errorf("viewer add %v: %v", extra, r.err)
			}
			noTokens(r)
		}
		if r := admin().run("connectors", "get", "gh-viewer"); status.Code(r.err) != codes.NotFound {
			t.Errorf("viewer's add was saved: %v", r.err)
		}
		mustRun(c, "connectors", "list")
		c.vars["HUB_API_TOKEN"] = "not-a-token"
		if r := c.run("connectors", "list"); status.Code(r.err) != codes.Unauthenticated || !strings.Contains(r.err.Error(), "rejected the API token") {
			t.Errorf("unknown API token: %v", r.err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if r := admin().run("connectors", "remove", "gh-file"); r.err == nil {
			t.Error("removed without --force on a non-terminal")
		}
		c := admin()
		c.term = &fakeTerminal{tty: true, lines: []string{"y"}}
		mustRun(c, "connectors", "remove", "gh-file")
		if r := admin().run("connectors", "get", "gh-file"); status.Code(r.err) != codes.NotFound {
			t.Errorf("get after remove: %v", r.err)
		}
		mustRun(admin(), "connectors", "remove", "gh-prompt", "--force")
	})

	for _, tok := range e2eTokens {
		if strings.Contains(string(reg.Logs()), tok) {
			t.Error("the registry logged a tracker token")
		}
	}
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}
