package poller

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
)

// A GitHub App connector and a GitHub token-pool connector (one of its
// tokens revoked) are polled by a real poller against the fake GitHub; then
// every KV revision, every stream message (data and headers), every log
// line and every span (names, attributes, events) is scanned for the app's
// private key (PEM, its base64 body and a line of it), the installation
// tokens the fake minted and the pool's tokens: 0 occurrences. The pool's
// revoked token shows on the status by fingerprint.
//
// Not parallel: it installs the global tracer provider.
func TestGitHubAppKeysMintedTokensAndPoolTokensAppearNowhere(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := telemetry.NewTracerProvider(context.Background(), "connectorhub-test", sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	telemetry.Install(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = tp.Shutdown(context.Background())
	})

	e := newEnv(t, time.Second)
	ctx := context.Background()
	keyring, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
	const (
		poolOne     = "ghp_SCANpoolTokenOne0000000001"
		poolRevoked = "ghp_SCANpoolTokenRevoked00002"
		poolTwo     = "ghp_SCANpoolTokenTwo0000000003"
	)
	fake := githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}, {ID: 2, Login: "hubot"}},
		Tokens: []githubfake.Token{
			{Value: poolOne, Login: "octocat", Scopes: []string{"repo"}},
			{Value: poolTwo, Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos:         []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Read}}},
		Apps:          []githubfake.App{{ID: 4711, Slug: "hub-app", PublicKey: &key.PublicKey}},
		Installations: []githubfake.Installation{{ID: 90001, AppID: 4711, Account: "acme", Repos: []string{"acme/widgets"}, Permissions: map[string]string{"issues": "write", "pull_requests": "write", "metadata": "read"}}},
		// Short-lived installation tokens: several are minted during the run.
		InstallationTokenTTL: 2 * time.Second,
	})
	fake.AddIssue("acme/widgets", githubfake.Issue{Title: "for the app", Assignees: []string{"hub-app[bot]"}})
	fake.AddIssue("acme/widgets", githubfake.Issue{Title: "for the pool", Assignees: []string{"octocat"}})
	url := fake.Start(t)

	store := func(c connector.Connector, clear string) {
		t.Helper()
		c.Credential = connector.Credential{Binding: connector.BindingFields}
		c.ApplyDefaults(all.Registry())
		if err := c.Validate(all.Registry()); err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		ct, err := keyring.Encrypt(ctx, c.CredentialContext(), []byte(clear))
		if err != nil {
			t.Fatal(err)
		}
		c.Credential.Ciphertext = ct
		if _, err := e.store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	store(connector.Connector{ID: "gh-app", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthGitHubApp,
		AppID: 4711, Project: "acme/widgets", Assignee: "hub-app[bot]", Enabled: true, PollInterval: connector.MinPollInterval}, keyPEM)
	store(connector.Connector{ID: "gh-pool", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
		Project: "acme/widgets", Enabled: true, PollInterval: connector.MinPollInterval}, poolOne+","+poolRevoked+","+poolTwo)

	logs := &testenv.LogBuffer{}
	cfg := DefaultConfig()
	cfg.ReplicaID, cfg.LeaseTTL, cfg.Tick, cfg.RetryBase = "r-scan", time.Second, 50*time.Millisecond, 10*time.Millisecond
	p, err := New(ctx, cfg, Deps{JS: e.js, Decrypter: keyring, Trackers: all.Registry(),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	states, err := e.js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	ss := connector.NewStateStore(states)
	polled := func(id string) connector.PollState {
		st, err := ss.Get(ctx, id)
		if err != nil {
			return connector.PollState{}
		}
		return st
	}
	testenv.Eventually(t, 60*time.Second, "both connectors polled with success", func() bool {
		return !polled("gh-app").LastSuccess.IsZero() && !polled("gh-pool").LastSuccess.IsZero()
	})
	// Discovery takes the token with the most budget left, every token once
	// first: the revoked one is reached within a few cycles.
	testenv.Eventually(t, 90*time.Second, "the revoked pool token set aside", func() bool { return len(polled("gh-pool").PoolSetAside) > 0 })
	pool := polled("gh-pool")
	if !pool.LastSuccess.After(pool.LastPoll.Add(-time.Second)) || pool.LastError != "" {
		t.Errorf("the pool connector failed (%q) while one token was revoked", pool.LastError)
	}
	if len(pool.PoolSetAside) != 1 || pool.PoolSetAside[0] != secrets.Fingerprint([]byte(poolRevoked)) || pool.PoolUsable != 2 {
		t.Errorf("pool status: set aside %v, usable %d; want the revoked token's fingerprint and 2 usable", pool.PoolSetAside, pool.PoolUsable)
	}
	if fake.InstallationTokensIssued() == 0 {
		t.Fatal("no installation token minted")
	}
	stop()
	<-done
	done <- nil // Cleanup waits on done once more

	// What must appear nowhere.
	needles := map[string][]byte{"private key PEM": []byte(keyPEM), "private key DER (base64)": []byte(base64.StdEncoding.EncodeToString(der))}
	body := strings.Split(strings.TrimSpace(keyPEM), "\n")
	needles["a line of the private key"] = []byte(body[len(body)/2])
	for i, tok := range append(fake.InstallationTokens(), poolOne, poolRevoked, poolTwo) {
		needles[fmt.Sprintf("token %d", i)] = []byte(tok)
		needles[fmt.Sprintf("token %d (base64)", i)] = []byte(base64.StdEncoding.EncodeToString([]byte(tok)))
	}
	if len(needles) < 3+2*4 {
		t.Fatalf("only %d needles: the scan would prove little", len(needles))
	}
	scan := func(where string, data []byte) {
		t.Helper()
		for name, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s appears in %s", name, where)
			}
		}
	}

	scanned := 0
	for _, bucket := range []string{bus.BucketConnectors, bus.BucketPollLeases, bus.BucketPollState, bus.BucketWritebackLedger} {
		kv, err := e.js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("open %s: %v", bucket, err)
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys.Keys() {
			hist, err := kv.History(ctx, k)
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Fatal(err)
			}
			for _, en := range hist {
				scan("KV "+bucket+"/"+k, en.Value())
				scanned++
			}
		}
	}
	if scanned < 4 {
		t.Fatalf("scanned only %d KV entries", scanned)
	}
	msgs := 0
	for name := range e.js.StreamNames(ctx).Name() {
		st, err := e.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs++
			scan("stream "+name+" subject "+m.Subject, m.Data)
			for k, vs := range m.Header {
				scan("stream "+name+" header "+k, []byte(strings.Join(vs, "\n")))
			}
		}
	}
	if msgs < 2 {
		t.Fatalf("only %d stream messages: both tickets should have been published", msgs)
	}
	if len(logs.Bytes()) == 0 {
		t.Fatal("no logs captured")
	}
	scan("the poller log", logs.Bytes())
	spans := exp.GetSpans()
	if len(spans) == 0 {
		t.Fatal("no spans recorded")
	}
	for _, s := range spans {
		data, err := json.Marshal(struct {
			Name       string
			Attributes any
			Events     any
			Status     any
		}{s.Name, s.Attributes, s.Events, s.Status})
		if err != nil {
			t.Fatal(err)
		}
		scan("span "+s.Name, data)
	}
}
