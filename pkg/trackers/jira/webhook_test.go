package jira_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// Examples copied from ../shared/specs/webhooks-jira.examples.json.
func TestParseWebhookNamesTheIssue(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"webhook-jira_issue_updated.json": "TEST-1",
		"webhook-comment_created.json":    "ZUL-1",
	} {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := jira.New().ParseWebhook(nil, body)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: ParseWebhook = %v, %v; want [%s]", file, got, err, want)
		}
	}
	if got, err := jira.New().ParseWebhook(nil, []byte(`{"webhookEvent":"project_created"}`)); err != nil || got != nil {
		t.Errorf("no issue: ParseWebhook = %v, %v; want nothing", got, err)
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"webhook-jira_issue_updated.json", "webhook-comment_created.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := jira.New().ParseWebhook(nil, body)
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, nerr := jira.New().NormalizeKey(jiraConnector(), k); nerr != nil {
				t.Fatalf("key %q does not normalize: %v", k, nerr)
			}
		}
	})
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s3cret"), []byte(`{"issue":{"key":"A-1"}}`)
	sig := "sha256=" + trackers.HMACSHA256Hex(secret, body)
	for name, tc := range map[string]struct {
		sig, id, wantID string
		wantErr         error
	}{
		"valid":               {sig, "wh-1", "wh-1", nil},
		"valid without an id": {sig, "", trackers.BodyDigest(body), nil},
		"unsigned":            {"", "wh-1", "", trackers.ErrWebhookUnsigned},
		"mis-signed":          {"sha256=" + trackers.HMACSHA256Hex([]byte("x"), body), "wh-1", "", trackers.ErrWebhookBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.sig != "" {
				h.Set("X-Hub-Signature", tc.sig)
			}
			if tc.id != "" {
				h.Set("X-Atlassian-Webhook-Identifier", tc.id)
			}
			id, err := jira.New().VerifyWebhook(trackers.WebhookVerify{Header: h, Body: body, Secret: secret, Now: time.Now(), Tolerance: time.Minute})
			if !errors.Is(err, tc.wantErr) || id != tc.wantID {
				t.Fatalf("VerifyWebhook = %q, %v; want %q, %v", id, err, tc.wantID, tc.wantErr)
			}
		})
	}
}

func jiraConnector() connector.Connector {
	return connector.Connector{System: connector.Jira, BaseURL: "https://acme.atlassian.net"}
}

// TestFakeSendsSignedDeliveries: the fake Jira sends, on a change, a
// delivery that the receiver's own verification and parser accept.
func TestFakeSendsSignedDeliveries(t *testing.T) {
	t.Parallel()
	type got struct {
		h    http.Header
		body []byte
	}
	deliveries := make(chan got, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		deliveries <- got{r.Header.Clone(), b}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rcv.Close()
	fake := jirafake.NewSandbox(connector.Cloud)
	key := fake.AddTicket(jirafake.Ticket{Summary: "hooked", Assignee: jirafake.SandboxEmail, Created: time.Now(), Updated: time.Now()})
	secret := []byte("fake-secret")
	fake.RegisterWebhook(rcv.URL, secret)
	fake.Touch(key, time.Now())
	var d got
	select {
	case d = <-deliveries:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s")
	}
	id, err := jira.New().VerifyWebhook(trackers.WebhookVerify{Header: d.h, Body: d.body, Secret: secret, Now: time.Now(), Tolerance: time.Minute})
	if err != nil || id == "" {
		t.Fatalf("VerifyWebhook = %q, %v", id, err)
	}
	keys, err := jira.New().ParseWebhook(d.h, d.body)
	if err != nil || len(keys) != 1 || keys[0] != key {
		t.Fatalf("ParseWebhook = %v, %v; want [%s]", keys, err, key)
	}
	if _, err := jira.New().VerifyWebhook(trackers.WebhookVerify{Header: d.h, Body: d.body, Secret: []byte("other"), Now: time.Now()}); err == nil {
		t.Fatal("a delivery verified with another secret")
	}
	if answers, refused := fake.WebhookAnswers(); len(answers) != 1 || refused != 0 {
		t.Fatalf("answers %v, refused %d", answers, refused)
	}
}
