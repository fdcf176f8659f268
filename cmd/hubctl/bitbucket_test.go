package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The Bitbucket username (the Atlassian account email) is resolved in
// DevLake's BasicAuth order: --username → env file → environment → prompt.
func TestAddBitbucketUsernameFollowsDevLakeOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		flag       string
		file       string
		env        string
		tty        bool
		want       string
		wantPrompt bool
	}{
		{name: "flag beats env file and environment", flag: "flag@example.com", file: "file@example.com", env: "env@example.com", want: "flag@example.com"},
		{name: "env file beats environment", file: "file@example.com", env: "env@example.com", want: "file@example.com"},
		{name: "environment beats the prompt", env: "env@example.com", tty: true, want: "env@example.com"},
		{name: "prompt comes last", tty: true, want: "prompt@example.com", wantPrompt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, addr := startFake(t)
			c := newCLI(t, addr)
			if tt.env != "" {
				c.vars["BITBUCKET_USERNAME"] = tt.env
			}
			term := &fakeTerminal{tty: tt.tty, lines: []string{"prompt@example.com"}}
			c.term = term
			envFile := filepath.Join(t.TempDir(), "bb.env")
			content := "BITBUCKET_TOKEN=ATATT-token-1234\n"
			if tt.file != "" {
				content += "BITBUCKET_USERNAME=" + tt.file + "\n"
			}
			writeFile(t, envFile, content)
			args := []string{"connectors", "add", "--system", "bitbucket", "--project", "acme/widgets", "--env-file", envFile}
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
			if conn.GetUsername() != tt.want || conn.GetAuthMode().String() != "AUTH_MODE_BASIC" {
				t.Errorf("username %q auth %v, want %q basic", conn.GetUsername(), conn.GetAuthMode(), tt.want)
			}
			if (term.lineReads > 0) != tt.wantPrompt {
				t.Errorf("prompted %d times, want prompt=%v", term.lineReads, tt.wantPrompt)
			}
			if strings.Contains(r.stdout+r.stderr, "ATATT-token-1234") {
				t.Error("output shows the token")
			}
		})
	}
}
