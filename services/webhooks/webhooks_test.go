package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/services/webhooks"
)

const secret = "hook-secret-1"

type env struct {
	srv *httptest.Server
	js  jetstream.JetStream
	log *testenv.LogBuffer
	svc *webhooks.Service
}

// start runs the receiver over embedded JetStream with connectors stored
// the way the registry stores them (secret encrypted with the local keyring).
func start(t *testing.T, now time.Time) env {
	t.Helper()
	_, js := testenv.NATS(t)
	ctx := t.Context()
	keyring, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	store := connector.NewStore(kv)
	for _, c := range []connector.Connector{
		{ID: "gh", System: connector.GitHub, Deployment: connector.Cloud, Enabled: true, Webhook: true},
		{ID: "gl", System: connector.GitLab, Deployment: connector.Cloud, Enabled: true, Webhook: true},
		{ID: "jc", System: connector.Jira, Deployment: connector.Cloud, Enabled: true, Webhook: true},
		{ID: "jdc", System: connector.Jira, Deployment: connector.SelfHosted, Enabled: true, Webhook: true},
		{ID: "nohook", System: connector.GitHub, Deployment: connector.Cloud, Enabled: true},
	} {
		if c.Webhook {
			ct, err := keyring.Encrypt(ctx, c.WebhookSecretContext(), []byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			c.WebhookSecret = connector.Credential{Ciphertext: ct, SetTime: now}
		}
		if _, err := store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	log := &testenv.LogBuffer{}
	s, err := webhooks.New(ctx, webhooks.DefaultConfig(), webhooks.Deps{JS: js, Decrypter: keyring, Trackers: all.Registry(),
		Logger: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return env{srv: srv, js: js, log: log, svc: s}
}

func (e env) post(t *testing.T, id string, h http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/webhooks/"+id, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// notices reads every notice on the bus.
func (e env) notices(t *testing.T) []bus.WebhookNotice {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, bus.StreamWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []bus.WebhookNotice
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var n bus.WebhookNotice
		if err := json.Unmarshal(m.Data, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

var (
	githubBody = []byte(`{"action":"edited","repository":{"full_name":"acme/app"},"issue":{"number":7}}`)
	gitlabBody = []byte(`{"object_kind":"issue","project":{"path_with_namespace":"grp/app"},"object_attributes":{"iid":4}}`)
	jiraBody   = []byte(`{"webhookEvent":"jira:issue_updated","issue":{"key":"PROJ-12"}}`)
)

func githubHeaders(sig, delivery string) http.Header {
	h := http.Header{}
	h.Set("X-GitHub-Event", "issues")
	if sig != "" {
		h.Set("X-Hub-Signature-256", sig)
	}
	h.Set("X-GitHub-Delivery", delivery)
	return h
}

func jiraHeaders(sig, delivery string) http.Header {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Hub-Signature", sig)
	}
	h.Set("X-Atlassian-Webhook-Identifier", delivery)
	return h
}

func gitlabSigned(key string, id string, ts time.Time, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return h
}

func sig(key string, body []byte) string {
	return "sha256=" + trackers.HMACSHA256Hex([]byte(key), body)
}

// TestEverySignatureCase sends each kind of delivery in order on one
// receiver: only the valid, first deliveries reach the bus.
func TestEverySignatureCase(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	e := start(t, now)
	steps := []struct {
		name, id string
		h        http.Header
		body     []byte
		want     int
	}{
		{"github valid", "gh", githubHeaders(sig(secret, githubBody), "g-1"), githubBody, http.StatusAccepted},
		{"github replayed", "gh", githubHeaders(sig(secret, githubBody), "g-1"), githubBody, http.StatusUnauthorized},
		{"github unsigned", "gh", githubHeaders("", "g-2"), githubBody, http.StatusUnauthorized},
		{"github mis-signed", "gh", githubHeaders(sig("wrong", githubBody), "g-3"), githubBody, http.StatusUnauthorized},
		{"github body altered", "gh", githubHeaders(sig(secret, githubBody), "g-4"), append([]byte(" "), githubBody...), http.StatusUnauthorized},
		{"unknown connector", "nobody", githubHeaders(sig(secret, githubBody), "g-5"), githubBody, http.StatusNotFound},
		{"connector without webhook", "nohook", githubHeaders(sig(secret, githubBody), "g-6"), githubBody, http.StatusNotFound},
		{"invalid connector id", "a.b", githubHeaders(sig(secret, githubBody), "g-7"), githubBody, http.StatusNotFound},
		{"gitlab signed", "gl", gitlabSigned(secret, "m-1", now, gitlabBody), gitlabBody, http.StatusAccepted},
		{"gitlab replayed", "gl", gitlabSigned(secret, "m-1", now, gitlabBody), gitlabBody, http.StatusUnauthorized},
		{"gitlab stale timestamp", "gl", gitlabSigned(secret, "m-2", now.Add(-time.Hour), gitlabBody), gitlabBody, http.StatusUnauthorized},
		{"gitlab mis-signed", "gl", gitlabSigned("wrong", "m-3", now, gitlabBody), gitlabBody, http.StatusUnauthorized},
		{"gitlab token", "gl", http.Header{"X-Gitlab-Token": {secret}, "Idempotency-Key": {"k-1"}}, gitlabBody, http.StatusAccepted},
		{"gitlab wrong token", "gl", http.Header{"X-Gitlab-Token": {"nope"}, "Idempotency-Key": {"k-2"}}, gitlabBody, http.StatusUnauthorized},
		{"gitlab unsigned", "gl", http.Header{}, gitlabBody, http.StatusUnauthorized},
		{"jira cloud valid", "jc", jiraHeaders(sig(secret, jiraBody), "j-1"), jiraBody, http.StatusAccepted},
		{"jira cloud replayed", "jc", jiraHeaders(sig(secret, jiraBody), "j-1"), jiraBody, http.StatusUnauthorized},
		{"jira cloud unsigned", "jc", jiraHeaders("", "j-2"), jiraBody, http.StatusUnauthorized},
		{"jira cloud mis-signed", "jc", jiraHeaders(sig("wrong", jiraBody), "j-3"), jiraBody, http.StatusUnauthorized},
		{"jira data center valid", "jdc", jiraHeaders(sig(secret, jiraBody), ""), jiraBody, http.StatusAccepted},
		{"jira data center replayed", "jdc", jiraHeaders(sig(secret, jiraBody), ""), jiraBody, http.StatusUnauthorized},
	}
	for _, st := range steps {
		if got := e.post(t, st.id, st.h, st.body); got != st.want {
			t.Errorf("%s: status %d, want %d", st.name, got, st.want)
		}
	}
	got := e.notices(t)
	want := []bus.WebhookNotice{
		{ConnectorID: "gh", DeliveryID: "g-1", Keys: []string{"acme/app#7"}},
		{ConnectorID: "gl", DeliveryID: "m-1", Keys: []string{"grp/app#4"}},
		{ConnectorID: "gl", DeliveryID: "k-1", Keys: []string{"grp/app#4"}},
		{ConnectorID: "jc", DeliveryID: "j-1", Keys: []string{"PROJ-12"}},
		{ConnectorID: "jdc", DeliveryID: trackers.BodyDigest(jiraBody), Keys: []string{"PROJ-12"}},
	}
	if len(got) != len(want) {
		t.Fatalf("notices on the bus: %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ConnectorID != want[i].ConnectorID || got[i].DeliveryID != want[i].DeliveryID || strings.Join(got[i].Keys, ",") != strings.Join(want[i].Keys, ",") {
			t.Errorf("notice %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if strings.Contains(e.log.String(), secret) {
		t.Error("the webhook secret appears in the logs")
	}
}

// TestReplayRefusedAfterRestart: the dedup state is the stream's, so a new
// receiver (a restart, or another replica) refuses a delivery already taken.
func TestReplayRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	now := time.Now()
	e := start(t, now)
	if got := e.post(t, "gh", githubHeaders(sig(secret, githubBody), "r-1"), githubBody); got != http.StatusAccepted {
		t.Fatalf("first delivery: %d", got)
	}
	s2, err := webhooks.New(t.Context(), webhooks.DefaultConfig(), webhooks.Deps{JS: e.js, Trackers: all.Registry(),
		Hooks: staticHooks{connector.Connector{ID: "gh", System: connector.GitHub}}})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(s2.Handler())
	defer srv2.Close()
	if got := (env{srv: srv2}).post(t, "gh", githubHeaders(sig(secret, githubBody), "r-1"), githubBody); got != http.StatusUnauthorized {
		t.Fatalf("replay on a second replica: %d, want 401", got)
	}
}

func TestBodyCapped(t *testing.T) {
	t.Parallel()
	e := start(t, time.Now())
	big := bytes.Repeat([]byte("x"), int(webhooks.DefaultConfig().MaxBody)+1)
	if got := e.post(t, "gh", githubHeaders(sig(secret, big), "big"), big); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", got)
	}
	if n := e.notices(t); len(n) != 0 {
		t.Fatalf("notices: %+v", n)
	}
}

type staticHooks struct{ c connector.Connector }

func (s staticHooks) Hook(_ context.Context, id string) (webhooks.Hook, error) {
	if id != s.c.ID {
		return webhooks.Hook{}, connector.ErrNotFound
	}
	return webhooks.Hook{Connector: s.c, Secret: connector.NewSecret(secret)}, nil
}

// Refused deliveries reach the bus as one report per connector, not one
// message each: its count and last reason, naming no ticket; nothing is
// reported when nothing was refused.
func TestRefusalsAreReportedInBatches(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	e := start(t, now)
	for i, h := range []http.Header{
		githubHeaders("", "r-1"), githubHeaders(sig("wrong", githubBody), "r-2"), githubHeaders(sig("wrong", githubBody), "r-3"),
	} {
		if got := e.post(t, "gh", h, githubBody); got != http.StatusUnauthorized {
			t.Fatalf("delivery %d: %d", i, got)
		}
	}
	if got := e.post(t, "gl", http.Header{"X-Gitlab-Token": {"nope"}}, gitlabBody); got != http.StatusUnauthorized {
		t.Fatal(got)
	}
	if n := len(e.notices(t)); n != 0 {
		t.Fatalf("%d messages before the report", n)
	}
	e.svc.ReportRefusals(t.Context())
	e.svc.ReportRefusals(t.Context()) // nothing new: no message
	got := map[string]bus.WebhookNotice{}
	for _, n := range e.notices(t) {
		if _, dup := got[n.ConnectorID]; dup {
			t.Fatalf("two reports for %s", n.ConnectorID)
		}
		got[n.ConnectorID] = n
	}
	if n := got["gh"]; len(got) != 2 || n.Refused != 3 || n.Reason != webhooks.OutcomeBadSignature || len(n.Keys) != 0 {
		t.Errorf("reports = %+v; want gh: 3 (bad_signature) and gl: 1", got)
	}
	if n := got["gl"]; n.Refused != 1 || n.Reason != webhooks.OutcomeBadSignature {
		t.Errorf("gl report = %+v", n)
	}
}
