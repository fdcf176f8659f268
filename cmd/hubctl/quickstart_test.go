package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// recordingTester stands in for the tracker in a registry's connection test:
// it records the connector and token the registry would send, and passes.
type recordingTester struct {
	mu      sync.Mutex
	tested  []connector.Connector
	secrets []string
}

func (r *recordingTester) Test(_ context.Context, c connector.Connector, s connector.Secret) (trackers.TestResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tested = append(r.tested, c)
	r.secrets = append(r.secrets, s.Reveal())
	return trackers.TestResult{OK: true, Identity: c.Username, Checks: []trackers.Check{{Name: "identity", OK: true}}}, nil
}

func (r *recordingTester) last(t *testing.T) (connector.Connector, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tested) == 0 {
		t.Fatal("the registry tested no connection")
	}
	return r.tested[len(r.tested)-1], r.secrets[len(r.secrets)-1]
}

// readmeCommand returns the arguments of the README's shell command that
// starts with prefix, joining lines continued with a backslash.
func readmeCommand(t *testing.T, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		cmd, _, _ := strings.Cut(line, "#")
		if strings.ContainsAny(cmd, `'"$`) {
			t.Fatalf("README command %q uses shell quoting or expansion; keep it plain so this test can run it", cmd)
		}
		return strings.Fields(cmd)[1:] // without the binary
	}
	t.Fatalf("README has no command starting with %q", prefix)
	return nil
}

// TestReadmeJiraCloudExampleAddsAConnector runs the README's Jira Cloud
// example against a real registry: the email is the basic-auth username, the
// token comes from JIRA_API_TOKEN, and the registry accepts and saves it.
func TestReadmeJiraCloudExampleAddsAConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	args := readmeCommand(t, ".bin/hubctl connectors add --system jira")
	tester := &recordingTester{}
	reg := registrytest.Start(t, registrytest.WithTester(tester))
	const token = "ATATT-readme-example-token-0001"

	c := newCLI(t, reg.Addr)
	c.vars["HUB_API_TOKEN"] = reg.AdminToken
	c.vars["JIRA_API_TOKEN"] = token
	r := c.run(args...)
	if r.err != nil {
		t.Fatalf("hubctl %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "token from environment variable JIRA_API_TOKEN") || !strings.Contains(r.stderr, "connection test passed") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.all(), token) {
		t.Error("hubctl printed the token")
	}
	got, secret := tester.last(t)
	if got.System != connector.Jira || got.Deployment != connector.Cloud || got.AuthMode != connector.AuthBasic ||
		!strings.Contains(got.Username, "@") || !strings.HasSuffix(got.BaseURL, ".atlassian.net") || got.Project == "" || secret != token {
		t.Errorf("the registry tested %+v with token %q", got, secret)
	}
	if r := c.run("connectors", "list", "--system", "jira"); r.err != nil || !strings.Contains(r.stdout, " set ") {
		t.Errorf("list: %v\n%s", r.err, r.stdout)
	}

	// Data Center, as the README says: --deployment data-center and a
	// personal access token, sent as a bearer token, with no --username.
	r = c.run("connectors", "add", "--system", "jira", "--deployment", "data-center", "--base-url", "https://jira.example.com", "--project", "OPS")
	if r.err != nil {
		t.Fatalf("data center add: %v\n%s", r.err, r.stderr)
	}
	if got, secret := tester.last(t); got.Deployment != connector.SelfHosted || got.AuthMode != connector.AuthBearer || got.Username != "" || secret != token {
		t.Errorf("the registry tested %+v with token %q", got, secret)
	}
}
