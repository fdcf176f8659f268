package github_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
)

// Examples copied from ../shared/specs/webhooks-github.shape.json
// (definitions.<event>.examples[0]).
func TestParseWebhookNamesTheIssueOnly(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		file, event string
		want        []string
	}{
		"issue opened":      {"webhook-issues.json", "issues", []string{"Codertocat/Hello-World#1"}},
		"issue comment":     {"webhook-issue_comment.json", "issue_comment", []string{"Codertocat/Hello-World#1"}},
		"pull request":      {"webhook-pull_request.json", "pull_request", nil},
		"ping names nobody": {"webhook-issues.json", "ping", nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := github.New().ParseWebhook(http.Header{"X-Github-Event": {tc.event}}, body)
			if err != nil || len(got) != len(tc.want) || len(got) == 1 && got[0] != tc.want[0] {
				t.Fatalf("ParseWebhook = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

var githubKey = regexp.MustCompile(`^[^/#\s]+/[^/#]+#[1-9][0-9]*$`)

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"webhook-issues.json", "webhook-issue_comment.json", "webhook-pull_request.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"repository":{"full_name":"a/b"},"issue":{"number":3}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := github.New().ParseWebhook(http.Header{"X-Github-Event": {"issues"}}, body)
		if err != nil {
			return
		}
		for _, k := range keys {
			if !githubKey.MatchString(k) {
				t.Fatalf("key %q is not owner/repo#n", k)
			}
		}
	})
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s3cret"), []byte(`{"x":1}`)
	sig := "sha256=" + trackers.HMACSHA256Hex(secret, body)
	for name, tc := range map[string]struct {
		sig     string
		body    []byte
		wantErr error
	}{
		"valid":           {sig, body, nil},
		"unsigned":        {"", body, trackers.ErrWebhookUnsigned},
		"wrong secret":    {"sha256=" + trackers.HMACSHA256Hex([]byte("other"), body), body, trackers.ErrWebhookBadSignature},
		"body changed":    {sig, []byte(`{"x":2}`), trackers.ErrWebhookBadSignature},
		"sha1 not enough": {"sha1=abcd", body, trackers.ErrWebhookBadSignature},
		"not hex":         {"sha256=zz", body, trackers.ErrWebhookBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			h.Set("X-Hub-Signature-256", tc.sig)
			h.Set("X-GitHub-Delivery", "d-1")
			id, err := github.New().VerifyWebhook(trackers.WebhookVerify{Header: h, Body: tc.body, Secret: secret, Now: time.Now(), Tolerance: time.Minute})
			if !errors.Is(err, tc.wantErr) || err == nil && id != "d-1" {
				t.Fatalf("VerifyWebhook = %q, %v; want %v", id, err, tc.wantErr)
			}
		})
	}
}
