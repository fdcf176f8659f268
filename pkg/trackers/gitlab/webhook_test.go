package gitlab_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
)

// Examples copied from ../shared/specs/webhooks-gitlab.examples.json.
func TestParseWebhookNamesTheIssue(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"webhook-issue.json":         "gitlabhq/gitlab-test#23",
		"webhook-note_on_issue.json": "gitlab-org/gitlab-test#17",
	} {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := gitlab.New().ParseWebhook(nil, body)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: ParseWebhook = %v, %v; want [%s]", file, got, err, want)
		}
	}
	if got, err := gitlab.New().ParseWebhook(nil, []byte(`{"object_kind":"merge_request","object_attributes":{"iid":3}}`)); err != nil || got != nil {
		t.Errorf("merge request: ParseWebhook = %v, %v; want nothing", got, err)
	}
}

var gitlabKey = regexp.MustCompile(`^[^#\s]+/[^#]+#[1-9][0-9]*$`)

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"webhook-issue.json", "webhook-note_on_issue.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := gitlab.New().ParseWebhook(nil, body)
		if err != nil {
			return
		}
		for _, k := range keys {
			if !gitlabKey.MatchString(k) {
				t.Fatalf("key %q is not group/project#n", k)
			}
		}
	})
}

// sign is the Standard Webhooks signature GitLab sends with a signing token.
func sign(secret []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s3cret"), []byte(`{"object_kind":"issue"}`)
	now := time.Unix(1_800_000_000, 0)
	signed := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", "msg-1")
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sig)
		return h
	}
	token := func(tok string) http.Header {
		h := http.Header{}
		h.Set("X-Gitlab-Token", tok)
		h.Set("Idempotency-Key", "idem-1")
		return h
	}
	for name, tc := range map[string]struct {
		h       http.Header
		wantID  string
		wantErr error
	}{
		"signed":                  {signed(now.Unix(), sign(secret, "msg-1", now.Unix(), body)), "msg-1", nil},
		"signed during rotation":  {signed(now.Unix(), "v1,AAAA "+sign(secret, "msg-1", now.Unix(), body)), "msg-1", nil},
		"signed with other key":   {signed(now.Unix(), sign([]byte("x"), "msg-1", now.Unix(), body)), "", trackers.ErrWebhookBadSignature},
		"stale timestamp":         {signed(now.Add(-10*time.Minute).Unix(), sign(secret, "msg-1", now.Add(-10*time.Minute).Unix(), body)), "", trackers.ErrWebhookStale},
		"future timestamp":        {signed(now.Add(10*time.Minute).Unix(), sign(secret, "msg-1", now.Add(10*time.Minute).Unix(), body)), "", trackers.ErrWebhookStale},
		"timestamp not signed as": {signed(now.Unix(), sign(secret, "msg-1", now.Unix()-1, body)), "", trackers.ErrWebhookBadSignature},
		"token":                   {token("s3cret"), "idem-1", nil},
		"wrong token":             {token("s3cret2"), "", trackers.ErrWebhookBadSignature},
		"unsigned":                {http.Header{}, "", trackers.ErrWebhookUnsigned},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id, err := gitlab.New().VerifyWebhook(trackers.WebhookVerify{Header: tc.h, Body: body, Secret: secret, Now: now, Tolerance: 5 * time.Minute})
			if !errors.Is(err, tc.wantErr) || id != tc.wantID {
				t.Fatalf("VerifyWebhook = %q, %v; want %q, %v", id, err, tc.wantID, tc.wantErr)
			}
		})
	}
}
