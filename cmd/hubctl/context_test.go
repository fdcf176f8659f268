package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// The Jenkins username is resolved in DevLake's BasicAuth order:
// --username → env file → environment (JENKINS_USERNAME) → prompt.
func TestAddJenkinsUsernameFollowsDevLakeOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, flag, file, env string
		tty                   bool
		want                  string
		wantPrompt            bool
	}{
		{name: "flag beats env file and environment", flag: "flag-user", file: "file-user", env: "env-user", want: "flag-user"},
		{name: "env file beats environment", file: "file-user", env: "env-user", want: "file-user"},
		{name: "environment beats the prompt", env: "env-user", tty: true, want: "env-user"},
		{name: "prompt comes last", tty: true, want: "prompt-user", wantPrompt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			if tt.env != "" {
				c.vars["JENKINS_USERNAME"] = tt.env
			}
			term := &fakeTerminal{tty: tt.tty, lines: []string{"prompt-user"}}
			c.term = term
			envFile := filepath.Join(t.TempDir(), "jenkins.env")
			content := "JENKINS_TOKEN=11jenkins-token-1234\n"
			if tt.file != "" {
				content += "JENKINS_USERNAME=" + tt.file + "\n"
			}
			writeFile(t, envFile, content)
			args := []string{"connectors", "add", "--system", "jenkins", "--endpoint", "https://ci.example.com", "--watch", "team/checkout,team/api", "--env-file", envFile}
			if tt.flag != "" {
				args = append(args, "--username", tt.flag)
			}
			r := c.run(args...)
			if r.err != nil {
				t.Fatalf("add: %v\n%s", r.err, r.stderr)
			}
			got := fake.snapshot()
			if len(got.creates) != 1 {
				t.Fatalf("%d creates", len(got.creates))
			}
			conn := got.creates[0].GetConnector()
			if conn.GetUsername() != tt.want || conn.GetAuthMode() != pb.AuthMode_AUTH_MODE_BASIC || conn.GetDeployment() != pb.Deployment_DEPLOYMENT_SELF_HOSTED ||
				conn.GetBaseUrl() != "https://ci.example.com" || !slices.Equal(conn.GetWatch(), []string{"team/checkout", "team/api"}) {
				t.Errorf("connector %v", conn)
			}
			if (term.lineReads > 0) != tt.wantPrompt {
				t.Errorf("prompted %d times, want prompt=%v", term.lineReads, tt.wantPrompt)
			}
			if strings.Contains(r.stdout+r.stderr, "11jenkins-token-1234") {
				t.Error("output shows the token")
			}
		})
	}
}

// --username given to a token-only system is ignored with a warning.
func TestAddWarnsAboutUsernameForTokenOnlySystem(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	c := newCLI(t, addr)
	c.vars["CIRCLECI_TOKEN"] = "CCIPAT_token_1234"
	r := c.run("connectors", "add", "--system", "circleci", "--watch", "gh/acme/checkout", "--username", "alice")
	if r.err != nil {
		t.Fatalf("add: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: --username is ignored: circleci authenticates with a token only") {
		t.Errorf("stderr %q", r.stderr)
	}
	got := fake.snapshot()
	if len(got.creates) != 1 {
		t.Fatalf("%d creates", len(got.creates))
	}
	if conn := got.creates[0].GetConnector(); conn.GetUsername() != "" || conn.GetDeployment() != pb.Deployment_DEPLOYMENT_CLOUD || conn.GetBaseUrl() != "" {
		t.Errorf("connector %v", conn)
	}
}

// Without a terminal, a context source names its missing flags: the
// endpoint where there is no default, and what it watches.
func TestAddContextSourceNamesMissingFlags(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"sonarqube": "missing required flags: --base-url, --watch",
		"argocd":    "missing required flags: --base-url, --watch",
		"circleci":  "missing required flags: --watch",
	}
	for sys, want := range tests {
		t.Run(sys, func(t *testing.T) {
			t.Parallel()
			_, addr := startFake(t)
			c := newCLI(t, addr)
			r := c.run("connectors", "add", "--system", sys, "--token", "x-token-1234")
			if r.err == nil || !strings.Contains(r.err.Error(), want) {
				t.Fatalf("err %v, want %q", r.err, want)
			}
		})
	}
}

// update --watch sends the watch path in the mask.
func TestUpdateWatch(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	c := newCLI(t, addr)
	r := c.run("connectors", "update", "sonar-1", "--watch", "acme_checkout", "--watch", "acme_api")
	if r.err != nil {
		t.Fatalf("update: %v\n%s", r.err, r.stderr)
	}
	got := fake.snapshot()
	if len(got.updates) != 1 {
		t.Fatalf("%d updates", len(got.updates))
	}
	u := got.updates[0]
	if !slices.Equal(u.GetUpdateMask().GetPaths(), []string{"watch"}) || !slices.Equal(u.GetConnector().GetWatch(), []string{"acme_checkout", "acme_api"}) {
		t.Errorf("update %v", u)
	}
}

// The README's context-source examples are accepted by a real registry
// (whose validation holds the rules: endpoint, basic auth for Jenkins, watch).
func TestReadmeContextSourceExamplesAddConnectors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	tester := &recordingTester{}
	reg := registrytest.Start(t, registrytest.WithTester(tester))
	c := newCLI(t, reg.Addr)
	c.vars["HUB_API_TOKEN"] = reg.AdminToken
	tests := []struct {
		system, tokenVar string
		want             func(connector.Connector) bool
	}{
		{"jenkins", "JENKINS_TOKEN", func(g connector.Connector) bool {
			return g.AuthMode == connector.AuthBasic && g.Username == "alice" && g.BaseURL == "https://ci.acme.com" && slices.Equal(g.Watch, []string{"team/checkout", "team/api"})
		}},
		{"circleci", "CIRCLECI_TOKEN", func(g connector.Connector) bool {
			return g.Deployment == connector.Cloud && g.BaseURL == "" && slices.Equal(g.Watch, []string{"gh/acme/checkout"})
		}},
		{"sonarqube", "SONARQUBE_TOKEN", func(g connector.Connector) bool {
			return g.Deployment == connector.SelfHosted && g.AuthMode == connector.AuthBearer && slices.Equal(g.Watch, []string{"acme_checkout"})
		}},
		{"argocd", "ARGOCD_TOKEN", func(g connector.Connector) bool {
			return g.BaseURL == "https://argocd.acme.com" && slices.Equal(g.Watch, []string{"checkout"})
		}},
	}
	for _, tt := range tests {
		args := readmeCommand(t, "hubctl connectors add --system "+tt.system+" ")
		token := tt.system + "-readme-token-0001"
		c.vars[tt.tokenVar] = token
		r := c.run(args...)
		if r.err != nil {
			t.Fatalf("hubctl %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
		if got, secret := tester.last(t); string(got.System) != tt.system || !tt.want(got) || secret != token {
			t.Errorf("%s: the registry tested %+v", tt.system, got)
		}
	}
	// get and list show what a context source watches.
	r := c.run("connectors", "list", "--system", "argocd")
	if r.err != nil || !strings.Contains(r.stdout, "checkout") {
		t.Errorf("list: %v\n%s", r.err, r.stdout)
	}
	id := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1])[0]
	if r := c.run("connectors", "get", id); r.err != nil || !strings.Contains(r.stdout, "Watch:") || !strings.Contains(r.stdout, "checkout") {
		t.Errorf("get %s: %v\n%s", id, r.err, r.stdout)
	}
}
