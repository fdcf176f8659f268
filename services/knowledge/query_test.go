package knowledge_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/services/knowledge"
)

func TestBuildTerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   knowledge.Ticket
		max  int
		want []string
	}{
		{
			name: "summary first, stop words and numbers gone",
			in:   knowledge.Ticket{Summary: "The payment gateway is timing out after 30 seconds", Labels: []string{"payments"}},
			want: []string{"payment", "gateway", "timing", "seconds", "payments"},
		},
		{
			name: "markdown and jira markup removed",
			in: knowledge.Ticket{
				Summary: "Login fails",
				Description: "Hi @bob, see [the runbook](https://wiki.example.com/x) and ![shot](a.png).\n" +
					"```\npanic: nil map\n```\n{code:java}throw new X();{code} [~alice] {color:red}SSO{color} <b>redirect</b> &nbsp; loop mail ops@example.com",
			},
			want: []string{"login", "fails", "runbook", "sso", "redirect", "loop", "mail"},
		},
		{
			name: "weights: repeated description words beat single ones, ties keep order",
			in:   knowledge.Ticket{Summary: "Cache", Description: "redis redis redis redis eviction", Components: []string{"backend"}},
			want: []string{"redis", "cache", "backend", "eviction"},
		},
		{
			name: "capped",
			in:   knowledge.Ticket{Summary: "alpha beta gamma delta epsilon"},
			max:  3,
			want: []string{"alpha", "beta", "gamma"},
		},
		{
			name: "hex ids and one-letter words dropped, versions kept",
			in:   knowledge.Ticket{Summary: "Crash in v1.2 build deadbeefcafe x"},
			want: []string{"crash", "v1.2", "build"},
		},
		{
			name: "nothing searchable",
			in:   knowledge.Ticket{Summary: "It is what it is", Description: "https://x.example.com 12345"},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := knowledge.BuildTerms(tt.in, tt.max); !slices.Equal(got, tt.want) {
				t.Errorf("BuildTerms = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{`"payment gateway" runbook for the ops`, []string{"payment gateway", "runbook", "ops"}},
		{`the`, []string{"the"}}, // only stop words: kept rather than searching nothing
		{`  `, nil},
		{`"unterminated phrase`, []string{"unterminated phrase"}},
		{`Runbook runbook RUNBOOK`, []string{"runbook"}},
	}
	for _, tt := range tests {
		if got := knowledge.ParseQuery(tt.in, 12); !slices.Equal(got, tt.want) {
			t.Errorf("ParseQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := knowledge.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tokensFile := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokensFile, []byte("# comment\nci:viewer:"+apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*knowledge.Config)
		want   string // "" means valid
	}{
		{"tokens file", func(c *knowledge.Config) { c.TokensFile = tokensFile }, ""},
		{"full text", func(c *knowledge.Config) { c.FullText = true }, ""},
		{"consumer with a dot", func(c *knowledge.Config) { c.Consumer = "a.b" }, "KNOWLEDGE_CONSUMER"},
		{"zero concurrency", func(c *knowledge.Config) { c.Concurrency = 0 }, "KNOWLEDGE_CONCURRENCY"},
		{"short cache TTL", func(c *knowledge.Config) { c.CacheTTL = time.Millisecond }, "KNOWLEDGE_CACHE_TTL"},
		{"too many terms", func(c *knowledge.Config) { c.MaxTerms = 33 }, "KNOWLEDGE_MAX_TERMS"},
		{"tiny full text", func(c *knowledge.Config) { c.FullText, c.FullTextMaxBytes = true, 10 }, "KNOWLEDGE_FULL_TEXT_MAX_BYTES"},
		{"bad CIDR", func(c *knowledge.Config) { c.AllowEndpoints = []string{"10.0.0.0"} }, "HUB_ALLOW_ENDPOINTS"},
		{"short token", func(c *knowledge.Config) { c.Tokens = []string{"ci:viewer:short-secret"} }, "shorter"},
		{"malformed token", func(c *knowledge.Config) { c.Tokens = []string{"no-colons-here-at-all"} }, "name:role:token"},
		{"missing tokens file", func(c *knowledge.Config) { c.TokensFile = filepath.Join(t.TempDir(), "nope") }, "HUB_API_TOKENS_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := knowledge.DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "short-secret") {
				t.Errorf("error %q echoes a token", err)
			}
		})
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	if got := knowledge.Reason(knowledge.ErrNoConnector); got != "no enabled Confluence connector" {
		t.Errorf("Reason(ErrNoConnector) = %q", got)
	}
	if got := knowledge.Reason(errors.Join(knowledge.ErrUnavailable)); !strings.HasPrefix(got, "confluence unavailable") {
		t.Errorf("Reason(ErrUnavailable) = %q", got)
	}
}
