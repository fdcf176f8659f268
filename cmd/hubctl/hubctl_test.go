package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/hubstate"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestAddTokenSourcesEachWinOverTheLaterOnes(t *testing.T) {
	t.Parallel()
	const (
		flagTok   = "tok-from-flag-1111"
		fileTok   = "tok-from-file-2222"
		envTok    = "tok-from-env-3333"
		ghTok     = "tok-from-gh-4444"
		promptTok = "tok-from-prompt-5555"
	)
	allTokens := []string{flagTok, fileTok, envTok, ghTok, promptTok}
	tests := []struct {
		name        string
		flagToken   bool
		fileContent string // "" = no env file
		env         map[string]string
		tty         bool
		keep        bool
		want        string
		wantSource  string
		fileRemains bool
	}{
		{name: "flag beats env file, env and prompt", flagToken: true, fileContent: "GITHUB_TOKEN=" + fileTok + "\n",
			env: map[string]string{"GITHUB_TOKEN": envTok}, tty: true, want: flagTok, wantSource: "--token flag", fileRemains: true},
		{name: "env file beats env and prompt and is deleted", fileContent: "# tokens\nGITHUB_TOKEN=\"" + fileTok + "\"\n",
			env: map[string]string{"GITHUB_TOKEN": envTok}, tty: true, want: fileTok, wantSource: "(GITHUB_TOKEN)", fileRemains: false},
		{name: "env file is kept with --keep-env-file", fileContent: "GITHUB_TOKEN=" + fileTok + "\n", keep: true,
			want: fileTok, wantSource: "(GITHUB_TOKEN)", fileRemains: true},
		{name: "GH_TOKEN in the env file is read too", fileContent: "GH_TOKEN=" + ghTok + "\n",
			want: ghTok, wantSource: "(GH_TOKEN)", fileRemains: false},
		{name: "env var beats prompt; env file without the key stays", fileContent: "GITLAB_TOKEN=other\n",
			env: map[string]string{"GITHUB_TOKEN": envTok}, tty: true, want: envTok, wantSource: "environment variable GITHUB_TOKEN", fileRemains: true},
		{name: "GITHUB_TOKEN beats GH_TOKEN", env: map[string]string{"GITHUB_TOKEN": envTok, "GH_TOKEN": ghTok},
			want: envTok, wantSource: "environment variable GITHUB_TOKEN"},
		{name: "GH_TOKEN is the fallback", env: map[string]string{"GH_TOKEN": ghTok},
			want: ghTok, wantSource: "environment variable GH_TOKEN"},
		{name: "masked prompt on a terminal comes last", tty: true, want: promptTok, wantSource: "terminal prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			for k, v := range tt.env {
				c.vars[k] = v
			}
			term := &fakeTerminal{tty: tt.tty, passwords: []string{promptTok}}
			c.term = term
			envFile := filepath.Join(t.TempDir(), "tokens.env")
			if tt.fileContent != "" {
				writeFile(t, envFile, tt.fileContent)
			}
			args := []string{"connectors", "add", "--system", "github", "--project", "acme/api", "--env-file", envFile}
			if tt.flagToken {
				args = append(args, "--token", flagTok)
			}
			if tt.keep {
				args = append(args, "--keep-env-file")
			}
			if tt.fileContent == "" {
				args = slices.DeleteFunc(args, func(a string) bool { return a == "--env-file" || a == envFile })
			}
			r := c.run(args...)
			if r.err != nil {
				t.Fatalf("add: %v\n%s", r.err, r.stderr)
			}
			got := fake.snapshot()
			if len(got.creates) != 1 || got.creates[0].GetCredential() != tt.want {
				t.Fatalf("created with credential %q, want %q", credentialsOf(got.creates), tt.want)
			}
			if len(got.tests) != 1 || got.tests[0].GetCredential() != tt.want {
				t.Errorf("the unsaved config was not tested with the chosen token")
			}
			if !strings.Contains(r.stderr, tt.wantSource) {
				t.Errorf("stderr does not name the source %q:\n%s", tt.wantSource, r.stderr)
			}
			if tt.fileContent != "" && exists(envFile) != tt.fileRemains {
				t.Errorf("env file exists=%v, want %v", exists(envFile), tt.fileRemains)
			}
			if tt.want == promptTok {
				if term.pwReads != 1 {
					t.Errorf("password read %d times, want 1", term.pwReads)
				}
				if !strings.Contains(r.stderr, "repo, read:org") {
					t.Errorf("the required scopes were not shown before the prompt:\n%s", r.stderr)
				}
			} else if term.pwReads != 0 {
				t.Errorf("prompted although a token was found earlier")
			}
			for _, tok := range allTokens {
				if strings.Contains(r.stdout+r.stderr, tok) {
					t.Errorf("output shows a token %q", tok)
				}
			}
		})
	}
}

func credentialsOf(reqs []*pb.CreateConnectorRequest) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.GetCredential())
	}
	return out
}

func TestAddReadsDefaultEnvFileInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, filepath.Join(dir, DefaultEnvFile), "GITHUB_TOKEN=tok-default-file\n")
	fake, addr := startFake(t)
	r := newCLI(t, addr).run("connectors", "add", "--system", "github", "--project", "acme/api")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := fake.snapshot().creates; len(got) != 1 || got[0].GetCredential() != "tok-default-file" {
		t.Fatalf("credential = %q", credentialsOf(got))
	}
	if exists(filepath.Join(dir, DefaultEnvFile)) {
		t.Error(".hub.env was not deleted after a successful add")
	}
}

func TestAddTokenErrors(t *testing.T) {
	t.Parallel()
	t.Run("no token without a terminal names the sources", func(t *testing.T) {
		t.Parallel()
		fake, addr := startFake(t)
		r := newCLI(t, addr).run("connectors", "add", "--system", "github", "--project", "acme/api")
		if r.err == nil || !strings.Contains(r.err.Error(), "GITHUB_TOKEN or GH_TOKEN") || !strings.Contains(r.err.Error(), "not a terminal") {
			t.Fatalf("err = %v", r.err)
		}
		if n := len(fake.snapshot().creates); n != 0 {
			t.Errorf("%d creates without a token", n)
		}
	})
	t.Run("a named env file that is missing is an error", func(t *testing.T) {
		t.Parallel()
		_, addr := startFake(t)
		c := newCLI(t, addr)
		c.vars["GITHUB_TOKEN"] = "tok-env"
		r := c.run("connectors", "add", "--system", "github", "--project", "acme/api", "--env-file", filepath.Join(t.TempDir(), "nope.env"))
		if r.err == nil || !errors.Is(r.err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want not-exist", r.err)
		}
	})
	t.Run("a malformed env file error does not quote the token", func(t *testing.T) {
		t.Parallel()
		_, addr := startFake(t)
		f := writeFile(t, filepath.Join(t.TempDir(), "bad.env"), "GITHUB_TOKEN=\"tok-secret-unterminated\n")
		r := newCLI(t, addr).run("connectors", "add", "--system", "github", "--project", "acme/api", "--env-file", f)
		if r.err == nil || !strings.Contains(r.err.Error(), "not valid dotenv") {
			t.Fatalf("err = %v", r.err)
		}
		if strings.Contains(r.all(), "tok-secret") {
			t.Errorf("the token leaked: %s", r.all())
		}
	})
}

func TestAddFailedTestSavesNothing(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	fake.testResult = &pb.TestConnectionResponse{Ok: false, MissingScopes: []string{"read:org"},
		Checks: []*pb.CheckResult{{Name: "identity", Ok: true}, {Name: "scopes", Ok: false, Message: "token lacks read:org"}}}
	envFile := writeFile(t, filepath.Join(t.TempDir(), "t.env"), "GITHUB_TOKEN=tok-x\n")
	c := newCLI(t, addr)
	r := c.run("connectors", "add", "--system", "github", "--project", "acme/api", "--env-file", envFile)
	if r.err == nil || !strings.Contains(r.err.Error(), "scopes") || !strings.Contains(r.err.Error(), "read:org") || !strings.Contains(r.err.Error(), "not saved") {
		t.Fatalf("err = %v", r.err)
	}
	if !strings.Contains(r.stderr, "token lacks read:org") {
		t.Errorf("failed check not printed:\n%s", r.stderr)
	}
	if n := len(fake.snapshot().creates); n != 0 {
		t.Errorf("saved %d connectors after a failed test", n)
	}
	if !exists(envFile) {
		t.Error("env file deleted although nothing was saved")
	}

	r = c.run("connectors", "add", "--system", "github", "--project", "acme/api", "--env-file", envFile, "--skip-test", "--keep-env-file")
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := fake.snapshot()
	if len(got.tests) != 1 || len(got.creates) != 1 {
		t.Errorf("--skip-test: %d tests, %d creates; want 1 (from before), 1", len(got.tests), len(got.creates))
	}
}

func TestAddWithoutTerminalListsMissingFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--system"},
		{[]string{"--system", "github"}, "--project"},
		{[]string{"--system", "jira"}, "--base-url, --username"},
		{[]string{"--system", "confluence", "--auth", "bearer", "--deployment", "data-center"}, "--base-url, --space"},
		{[]string{"--system", "gitlab", "--deployment", "self-managed"}, "--base-url, --project"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			c.vars["GITHUB_TOKEN"] = "tok"
			r := c.run(append([]string{"connectors", "add"}, tt.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), "missing required flags: "+tt.want+" (") {
				t.Fatalf("err = %v, want missing %s", r.err, tt.want)
			}
			if s := fake.snapshot(); len(s.auth) != 0 {
				t.Errorf("called the registry %d times before the flags were complete", len(s.auth))
			}
		})
	}
}

func TestAddPromptsOnTerminal(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	c := newCLI(t, addr)
	// On a terminal, add without --system is interactive: the system from the
	// catalog, the project, then the optional assignee, labels and id.
	term := &fakeTerminal{tty: true, lines: []string{"svn", "github", "acme/api", "", "", ""}, passwords: []string{"tok-typed"}}
	c.term = term
	r := c.run("connectors", "add", "--name", "API issues")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	got := fake.snapshot().creates
	if len(got) != 1 {
		t.Fatalf("%d creates", len(got))
	}
	cn := got[0].GetConnector()
	if cn.GetSystem() != pb.System_SYSTEM_GITHUB || cn.GetProject() != "acme/api" || cn.GetDisplayName() != "API issues" ||
		got[0].GetCredential() != "tok-typed" || !cn.GetEnabled() || cn.GetAuthMode() != pb.AuthMode_AUTH_MODE_BEARER {
		t.Errorf("created %v with credential %q", cn, got[0].GetCredential())
	}
	if !strings.Contains(r.stderr, `"svn" is none of the choices`) || strings.Count(r.stderr, "System: ") != 2 || !strings.Contains(r.stderr, "2) github") {
		t.Errorf("a bad answer was not asked again:\n%s", r.stderr)
	}
	if term.lineReads != 6 || term.pwReads != 1 {
		t.Errorf("read %d lines and %d passwords, want 6 and 1", term.lineReads, term.pwReads)
	}
}

func TestUpdateMaskNamesExactlyTheGivenFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		paths []string
		check func(*pb.Connector) bool
	}{
		{"labels, interval and pause", []string{"--label", "agent", "--label", "backend", "--poll-interval", "2m", "--disabled"},
			[]string{"poll_interval", "scope.labels", "enabled"},
			func(c *pb.Connector) bool {
				return slices.Equal(c.GetScope().GetLabels(), []string{"agent", "backend"}) && c.GetPollInterval().AsDuration() == 2*time.Minute && !c.GetEnabled()
			}},
		{"empty value clears a list", []string{"--status="}, []string{"scope.statuses"},
			func(c *pb.Connector) bool { return len(c.GetScope().GetStatuses()) == 0 }},
		{"false boolean is sent", []string{"--index-comments=false", "--enabled"}, []string{"index_comments", "enabled"},
			func(c *pb.Connector) bool { return !c.GetIndexComments() && c.GetEnabled() }},
		{"zone moves the connector to an edge site", []string{"--zone", "plant"}, []string{"zone"},
			func(c *pb.Connector) bool { return c.GetZone() == "plant" }},
		{"empty zone moves it back to the central site", []string{"--zone="}, []string{"zone"},
			func(c *pb.Connector) bool { return c.GetZone() == "" }},
		{"enum aliases", []string{"--conflict-policy", "agent-wins", "--name", "x", "--done-label", "Shipped"},
			[]string{"display_name", "status_labels.done", "conflict_policy"},
			func(c *pb.Connector) bool {
				return c.GetConflictPolicy() == pb.ConflictPolicy_CONFLICT_POLICY_AGENT_WINS && c.GetStatusLabels().GetDone() == "Shipped"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			r := newCLI(t, addr).run(append([]string{"connectors", "update", "gh-1", "--etag", "e7"}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			ups := fake.snapshot().updates
			if len(ups) != 1 {
				t.Fatalf("%d updates", len(ups))
			}
			if got := ups[0].GetUpdateMask().GetPaths(); !slices.Equal(got, tt.paths) {
				t.Errorf("mask = %v, want %v", got, tt.paths)
			}
			c := ups[0].GetConnector()
			if c.GetId() != "gh-1" || c.GetEtag() != "e7" || !tt.check(c) {
				t.Errorf("connector sent = %v", c)
			}
			if ups[0].GetCredential() != "" {
				t.Error("a credential was sent for a change that does not need one")
			}
		})
	}
}

func TestUpdateRefusals(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"--enabled", "--disabled"}, {"--conflict-policy", "both"}} {
		fake, addr := startFake(t)
		r := newCLI(t, addr).run(append([]string{"connectors", "update", "gh-1"}, args...)...)
		if r.err == nil {
			t.Errorf("update %v succeeded", args)
		}
		if n := len(fake.snapshot().updates); n != 0 {
			t.Errorf("update %v sent %d requests", args, n)
		}
	}
}

func TestUpdateOfBaseURLSendsTheTokenAgain(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	fake.add(&pb.Connector{Id: "gh-1", System: pb.System_SYSTEM_GITHUB, AuthMode: pb.AuthMode_AUTH_MODE_BEARER}, time.Hour)
	c := newCLI(t, addr)
	r := c.run("connectors", "update", "gh-1", "--base-url", "https://ghe.example.com/api/v3")
	if r.err == nil || !strings.Contains(r.err.Error(), "needs the token again") {
		t.Fatalf("without a token: err = %v", r.err)
	}
	if n := len(fake.snapshot().updates); n != 0 {
		t.Fatalf("%d updates without the token", n)
	}
	c.vars["GH_TOKEN"] = "tok-again"
	if r = c.run("connectors", "update", "gh-1", "--base-url", "https://ghe.example.com/api/v3"); r.err != nil {
		t.Fatal(r.err)
	}
	ups := fake.snapshot().updates
	if len(ups) != 1 || ups[0].GetCredential() != "tok-again" || !slices.Equal(ups[0].GetUpdateMask().GetPaths(), []string{"base_url"}) {
		t.Errorf("update = %v", ups)
	}
}

func TestResolveTargetOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := writeFile(t, filepath.Join(dir, "admin.token"), "state-admin-token\n")
	statePath := filepath.Join(dir, "state", "hub.json")
	if err := hubstate.Write(statePath, hubstate.State{RegistryAddr: "127.0.0.1:7411", AdminTokenFile: tokenFile, PID: 42, StartTime: fakeNow}); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{"HUB_STATE_FILE": statePath}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name                string
		flag, flagToken     string
		getenv              func(string) string
		addr, addrSrc       string
		token, tokenSrcPart string
	}{
		{"flag beats env and state", "10.0.0.1:1", "flag-tok", env("HUB_SERVER", "10.0.0.2:2", "HUB_API_TOKEN", "env-tok"),
			"10.0.0.1:1", "--server flag", "flag-tok", "--api-token"},
		{"env beats state", "", "", env("HUB_SERVER", "10.0.0.2:2", "HUB_API_TOKEN", "env-tok"),
			"10.0.0.2:2", "HUB_SERVER", "env-tok", "HUB_API_TOKEN"},
		{"state file gives address and token", "", "", env(),
			"127.0.0.1:7411", "state file " + statePath, "state-admin-token", "token file " + tokenFile},
		{"state token only for the state's registry", "10.0.0.9:9", "", env(),
			"10.0.0.9:9", "--server flag", "", ""},
		{"state token when the flag names the same registry", "127.0.0.1:7411", "", env(),
			"127.0.0.1:7411", "--server flag", "state-admin-token", "token file"},
		{"default without anything", "", "", func(k string) string {
			return map[string]string{"HUB_STATE_FILE": filepath.Join(dir, "missing.json")}[k]
		}, DefaultServer, "the default address", "", ""},
		{"XDG_STATE_HOME locates the state file", "", "", func(k string) string {
			return map[string]string{"XDG_STATE_HOME": filepath.Join(dir, "xdg")}[k]
		}, "127.0.0.1:7499", "state file " + filepath.Join(dir, "xdg", "connectorhub", "hub.json"), "", ""},
	}
	if err := hubstate.Write(filepath.Join(dir, "xdg", "connectorhub", "hub.json"), hubstate.State{RegistryAddr: "127.0.0.1:7499"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveTarget(tt.flag, tt.flagToken, tt.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != tt.addr || got.AddrSource != tt.addrSrc || got.Token != tt.token || !strings.Contains(got.TokenSource, tt.tokenSrcPart) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestHubStateWriteIsPrivateAndRoundTrips(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new", "hub.json")
	want := hubstate.State{RegistryAddr: "127.0.0.1:7400", AdminTokenFile: "/x/admin.token", PID: 7, StartTime: fakeNow}
	if err := hubstate.Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := hubstate.Read(path)
	if err != nil || got != want {
		t.Fatalf("read %+v, %v", got, err)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(filepath.Dir(path))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes file %v dir %v", fi.Mode().Perm(), di.Mode().Perm())
	}
	if _, err := hubstate.Read(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestUnreachableRegistryErrorNamesAddressAndSource(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	statePath := filepath.Join(t.TempDir(), "hub.json")
	if err := hubstate.Write(statePath, hubstate.State{RegistryAddr: addr}); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, "")
	c.vars["HUB_STATE_FILE"] = statePath
	r := c.run("connectors", "list")
	want := "registry " + addr + " (from state file " + statePath + ") is unreachable"
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("err = %v, want %q", r.err, want)
	}
	if status.Code(r.err) != codes.Unavailable {
		t.Errorf("code = %v; the status should stay reachable through the error", status.Code(r.err))
	}
}

func TestCallsCarryTheAPIToken(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	c := newCLI(t, addr)
	if r := c.run("connectors", "list", "--api-token", "flag-api-token"); r.err != nil {
		t.Fatal(r.err)
	}
	if r := c.run("connectors", "list"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := fake.snapshot().auth; !slices.Equal(got, []string{"Bearer flag-api-token", "Bearer api-token-for-tests"}) {
		t.Errorf("authorization = %q", got)
	}
}

func TestErrorsExplainAuthFailures(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	fake.failWith = status.Error(codes.PermissionDenied, `token "ci" has role viewer; DeleteConnector needs role admin`)
	r := newCLI(t, addr).run("connectors", "remove", "gh-1", "--force")
	if r.err == nil || !strings.Contains(r.err.Error(), "PERMISSION_DENIED") || !strings.Contains(r.err.Error(), "admin token") {
		t.Fatalf("err = %v", r.err)
	}
	if strings.Contains(r.err.Error(), "api-token-for-tests") {
		t.Error("the API token is in the error")
	}
	fake.failWith = status.Error(codes.Unauthenticated, "missing authorization")
	c := newCLI(t, addr)
	delete(c.vars, "HUB_API_TOKEN")
	r = c.run("connectors", "remove", "gh-1", "--force")
	if r.err == nil || !strings.Contains(r.err.Error(), "--api-token or set HUB_API_TOKEN") {
		t.Fatalf("err = %v", r.err)
	}
}

func TestNoTokenErrorNamesTheStateFileTried(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	fake.failWith = status.Error(codes.Unauthenticated, "missing authorization")
	dir := t.TempDir()
	otherRegistry := filepath.Join(dir, "other.json")
	if err := hubstate.Write(otherRegistry, hubstate.State{RegistryAddr: "127.0.0.1:1", AdminTokenFile: filepath.Join(dir, "admin.token")}); err != nil {
		t.Fatal(err)
	}
	noTokenFile := filepath.Join(dir, "no-token.json")
	if err := hubstate.Write(noTokenFile, hubstate.State{RegistryAddr: addr}); err != nil {
		t.Fatal(err)
	}
	broken := writeFile(t, filepath.Join(dir, "broken.json"), "{not json")
	tests := []struct {
		name string
		vars map[string]string // replaces HUB_STATE_FILE
		want []string
	}{
		{"custom HUB_STATE_FILE that does not exist",
			map[string]string{"HUB_STATE_FILE": filepath.Join(dir, "custom", "hub.json")},
			[]string{"hub state file " + filepath.Join(dir, "custom", "hub.json") + " (from HUB_STATE_FILE) does not exist"}},
		{"default path that does not exist",
			map[string]string{"XDG_STATE_HOME": filepath.Join(dir, "xdg")},
			[]string{"hub state file " + filepath.Join(dir, "xdg", "connectorhub", "hub.json") + " (the default path) does not exist", "set the same HUB_STATE_FILE here"}},
		{"state file of another registry",
			map[string]string{"HUB_STATE_FILE": otherRegistry},
			[]string{"hub state file " + otherRegistry + " (from HUB_STATE_FILE) exists but is for registry 127.0.0.1:1, so its API token is not sent to " + addr}},
		{"state file without a token file",
			map[string]string{"HUB_STATE_FILE": noTokenFile},
			[]string{"hub state file " + noTokenFile + " (from HUB_STATE_FILE) exists but names no API token file"}},
		{"broken state file",
			map[string]string{"HUB_STATE_FILE": broken},
			[]string{"hub state file " + broken + " (from HUB_STATE_FILE) exists but was not used: invalid character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t, addr)
			delete(c.vars, "HUB_API_TOKEN")
			delete(c.vars, "HUB_STATE_FILE")
			for k, v := range tt.vars {
				c.vars[k] = v
			}
			r := c.run("connectors", "remove", "gh-1", "--force")
			if r.err == nil {
				t.Fatal("no error")
			}
			for _, w := range append([]string{"requires an API token", "pass --api-token or set HUB_API_TOKEN"}, tt.want...) {
				if !strings.Contains(r.err.Error(), w) {
					t.Errorf("err = %v\nlacks %q", r.err, w)
				}
			}
		})
	}
}

func TestUnreachableDefaultRegistryNamesTheStateFileTried(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "hub.json")
	tgt, err := resolveTarget("", "", func(k string) string { return map[string]string{"HUB_STATE_FILE": missing}[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := (&rpcError{err: status.Error(codes.Unavailable, "connection refused"), target: tgt}).Error()
	want := "registry " + DefaultServer + " (from the default address) is unreachable: connection refused; hub state file " + missing + " (from HUB_STATE_FILE) does not exist"
	if !strings.HasPrefix(got, want) {
		t.Errorf("err = %q\nwant prefix %q", got, want)
	}
	// An address the user gave is not blamed on the state file.
	tgt, err = resolveTarget("127.0.0.1:1", "tok", func(k string) string { return map[string]string{"HUB_STATE_FILE": missing}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := (&rpcError{err: status.Error(codes.Unavailable, "connection refused"), target: tgt}).Error(); strings.Contains(got, "state file") {
		t.Errorf("err = %q names the state file although --server gave the address", got)
	}
	// A registry found through the state file needs no note.
	if err := hubstate.Write(missing, hubstate.State{RegistryAddr: "127.0.0.1:7499", AdminTokenFile: writeFile(t, filepath.Join(t.TempDir(), "t"), "tok\n")}); err != nil {
		t.Fatal(err)
	}
	tgt, err = resolveTarget("", "", func(k string) string { return map[string]string{"HUB_STATE_FILE": missing}[k] })
	if err != nil || tgt.StateNote != "" {
		t.Errorf("state note %q, err %v; want none", tgt.StateNote, err)
	}
}

func TestPollIntervalHelpStatesDefaultAndLimits(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"add", "update", "test"} {
		r := newCLI(t, "").run("connectors", cmd, "--help")
		if r.err != nil {
			t.Fatal(r.err)
		}
		if want := "(between 10s and 24h; a connector without one is polled every 1m)"; !strings.Contains(r.stdout, want) {
			t.Errorf("connectors %s --help lacks %q:\n%s", cmd, want, r.stdout)
		}
	}
	for d, want := range map[time.Duration]string{time.Minute: "1m", 10 * time.Second: "10s", 24 * time.Hour: "24h", 90 * time.Second: "1m30s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestRemoveConfirmation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		term       *fakeTerminal
		force      bool
		wantDelete bool
		wantErr    string
	}{
		{"terminal, answer no", &fakeTerminal{tty: true, lines: []string{"n"}}, false, false, ""},
		{"terminal, empty answer is no", &fakeTerminal{tty: true, lines: []string{""}}, false, false, ""},
		{"terminal, answer yes", &fakeTerminal{tty: true, lines: []string{"y"}}, false, true, ""},
		{"no terminal without --force", &fakeTerminal{}, false, false, "pass --force"},
		{"no terminal with --force", &fakeTerminal{}, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			c.term = tt.term
			args := []string{"connectors", "remove", "gh-1"}
			if tt.force {
				args = append(args, "--force")
			}
			r := c.run(args...)
			if tt.wantErr == "" && r.err != nil || tt.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", r.err, tt.wantErr)
			}
			if got := len(fake.snapshot().deletes) == 1; got != tt.wantDelete {
				t.Errorf("deleted = %v, want %v", got, tt.wantDelete)
			}
			if tt.term.tty && !tt.force && !strings.Contains(r.stderr, "Delete connector gh-1? [y/N]") {
				t.Errorf("no question asked:\n%s", r.stderr)
			}
		})
	}
}

func seed(f *fakeRegistry) {
	f.add(&pb.Connector{Id: "gh-1", System: pb.System_SYSTEM_GITHUB, Deployment: pb.Deployment_DEPLOYMENT_CLOUD, Project: "acme/api", Enabled: true}, 100*24*time.Hour)
	f.add(&pb.Connector{Id: "jira-1", System: pb.System_SYSTEM_JIRA, Deployment: pb.Deployment_DEPLOYMENT_SELF_HOSTED, Project: "OPS",
		HttpProxyUrl: "http://user:proxy-pass@proxy:3128"}, 3*time.Hour)
	f.add(&pb.Connector{Id: "gh-2", System: pb.System_SYSTEM_GITHUB, Deployment: pb.Deployment_DEPLOYMENT_CLOUD, Project: "acme/web", Enabled: true}, 30*time.Minute)
}

func TestListTableFollowsEveryPage(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	seed(fake)
	r := newCLI(t, addr).run("connectors", "list")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []string{
		"ID      SYSTEM  DEPLOYMENT   NAME  PROJECT   ENABLED  CREDENTIAL  AGE  FINGERPRINT",
		"gh-1    github  cloud        -     acme/api  yes      set         100d  fp-gh-1",
		"jira-1  jira    self-hosted  -     OPS       no       set         3h   fp-jira-1",
		"gh-2    github  cloud        -     acme/web  yes      set         30m  fp-gh-2",
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("list:\n%s", r.stdout)
	}
	for i, w := range want {
		if strings.Join(strings.Fields(lines[i]), " ") != strings.Join(strings.Fields(w), " ") {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	if got := fake.snapshot().listCalls; got != 2 {
		t.Errorf("%d list calls, want 2 pages", got)
	}
	r = newCLI(t, addr).run("connectors", "list", "--system", "jira")
	if r.err != nil || strings.Contains(r.stdout, "gh-1") || !strings.Contains(r.stdout, "jira-1") {
		t.Errorf("--system jira: %v\n%s", r.err, r.stdout)
	}
}

func TestJSONOutputIsStableProtoJSON(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	seed(fake)
	first := newCLI(t, addr).run("connectors", "list", "-o", "json")
	second := newCLI(t, addr).run("connectors", "list", "-o", "json")
	if first.err != nil || second.err != nil {
		t.Fatal(first.err, second.err)
	}
	if first.stdout != second.stdout {
		t.Errorf("json output differs between runs")
	}
	var resp pb.ListConnectorsResponse
	if err := protojson.Unmarshal([]byte(first.stdout), &resp); err != nil {
		t.Fatalf("not protojson: %v\n%s", err, first.stdout)
	}
	if len(resp.GetConnectors()) != 3 || resp.GetNextPageToken() != "" {
		t.Errorf("json holds %d connectors, next %q", len(resp.GetConnectors()), resp.GetNextPageToken())
	}
	if !strings.Contains(first.stdout, "\n  \"connectors\": [") {
		t.Errorf("not indented:\n%s", first.stdout)
	}
	if r := newCLI(t, addr).run("connectors", "list", "-o", "yaml"); r.err == nil {
		t.Error("-o yaml accepted")
	}
}

func TestGetTableRedactsProxyPassword(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	seed(fake)
	r := newCLI(t, addr).run("connectors", "get", "jira-1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{"Credential:", "set, age 3h, fingerprint fp-jira-1", "http://user:xxxxx@proxy:3128", "self-hosted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "proxy-pass") {
		t.Error("proxy password shown")
	}
}

func TestCapabilitiesTable(t *testing.T) {
	t.Parallel()
	_, addr := startFake(t)
	r := newCLI(t, addr).run("connectors", "capabilities")
	if r.err != nil {
		t.Fatal(r.err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, want := range []string{"FEATURE JIRA GITHUB", "discovery yes yes", "subtasks yes -", "pull_request - yes",
		"github cloud bearer repo, read:org", "jira cloud, self-hosted basic, bearer -"} {
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			found = found || norm(l) == want
		}
		if !found {
			t.Errorf("no line %q in:\n%s", want, r.stdout)
		}
	}
}

func TestSecretsCheckTableAndStale(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	seed(fake)
	c := newCLI(t, addr)
	r := c.run("secrets", "check")
	if r.err != nil {
		t.Fatal(r.err)
	}
	norm := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"ID SYSTEM SET AGE STALE FINGERPRINT EXPIRES", "gh-1 github yes 100d yes fp-gh-1 -", "jira-1 jira yes 3h no fp-jira-1 -"} {
		if !strings.Contains(norm, want) {
			t.Errorf("check lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = c.run("secrets", "check", "--stale-after", "1h", "--fail-on-stale"); r.err == nil || !strings.Contains(r.err.Error(), "gh-1, jira-1") {
		t.Errorf("--fail-on-stale: %v", r.err)
	}
}

func TestRotateResolvesTokenForTheConnectorsSystem(t *testing.T) {
	t.Parallel()
	fake, addr := startFake(t)
	seed(fake)
	c := newCLI(t, addr)
	c.vars["JIRA_API_TOKEN"] = "tok-jira-new"
	c.vars["GITHUB_TOKEN"] = "tok-github-new"
	r := c.run("secrets", "rotate", "jira-1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	rot := fake.snapshot().rotates
	if len(rot) != 1 || rot[0].GetCredential() != "tok-jira-new" || rot[0].GetId() != "jira-1" {
		t.Fatalf("rotate = %v", rot)
	}
	if strings.Contains(r.stdout+r.stderr, "tok-jira-new") {
		t.Error("token shown")
	}
	fake.testResult = &pb.TestConnectionResponse{Ok: false, Checks: []*pb.CheckResult{{Name: "identity", Message: "401"}}}
	if r = c.run("secrets", "rotate", "jira-1"); r.err == nil || !strings.Contains(r.err.Error(), "identity") {
		t.Errorf("failed test: %v", r.err)
	}
}

func TestAddAzureDevOpsPromptsForTheOrganizationAndReadsItsPAT(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"AZURE_DEVOPS_PAT beats AZDO_PAT", map[string]string{"AZURE_DEVOPS_PAT": "pat-long", "AZDO_PAT": "pat-short"}, "pat-long"},
		{"AZDO_PAT alone", map[string]string{"AZDO_PAT": "pat-short"}, "pat-short"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			for k, v := range tt.vars {
				c.vars[k] = v
			}
			term := &fakeTerminal{tty: true, lines: []string{"acme/Widgets"}}
			c.term = term
			r := c.run("connectors", "add", "--system", "azdo")
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.stderr)
			}
			got := fake.snapshot().creates
			if len(got) != 1 {
				t.Fatalf("%d creates", len(got))
			}
			cn := got[0].GetConnector()
			if cn.GetSystem() != pb.System_SYSTEM_AZURE_DEVOPS || cn.GetProject() != "acme/Widgets" || got[0].GetCredential() != tt.want {
				t.Errorf("created %v with credential %q, want %q", cn, got[0].GetCredential(), tt.want)
			}
			if !strings.Contains(r.stderr, "Project (organization/project)") || term.pwReads != 0 {
				t.Errorf("prompted %d passwords; stderr:\n%s", term.pwReads, r.stderr)
			}
		})
	}
}
