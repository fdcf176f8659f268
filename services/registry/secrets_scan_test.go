package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// TestPlaintextCredentialsAppearNowhere drives every credential path (create,
// update with a new credential, rotate, saved test, key rotation + rewrap) and
// then scans every KV revision, every stream message (data and headers) and
// every log line for the clear tokens and their base64 forms.
func TestPlaintextCredentialsAppearNowhere(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	tokens := []string{
		"ghp_SCANgithubToken0000000001",
		"atlSCANjiraToken000000000002",
		"glpat-SCANgitlabToken00000003",
		"atlSCANconfluenceToken000004",
		"ghp_SCANrotatedToken00000005",
		"atlSCANupdatedToken000000006",
	}
	reqs := []*chv1.CreateConnectorRequest{
		{Connector: githubConnector(), ConnectorId: "scan-github", Credential: tokens[0]},
		{Connector: jiraConnector(), ConnectorId: "scan-jira", Credential: tokens[1]},
		{Connector: &chv1.Connector{System: chv1.System_SYSTEM_GITLAB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, Project: "acme/widgets"}, ConnectorId: "scan-gitlab", Credential: tokens[2]},
		{Connector: &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: "https://acme.atlassian.net", Username: "bot@acme.example", SpaceKeys: []string{"ENG"}}, ConnectorId: "scan-confluence", Credential: tokens[3]},
	}
	// A GitHub App (its private key, rotated below) and a GitLab token pool.
	appKey, appKey2 := testAppKeyPEM(t), testAppKeyPEM(t)
	poolTokens := []string{"glpat-SCANpoolToken000000007", "glpat-SCANpoolToken000000008"}
	tokens = append(tokens, appKey, appKey2, poolTokens[0], poolTokens[1])
	for _, k := range []string{appKey, appKey2} {
		lines := strings.Split(strings.TrimSpace(k), "\n")
		tokens = append(tokens, lines[len(lines)/2]) // a line of the key's body
	}
	reqs = append(reqs,
		&chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, Project: "acme/widgets",
			AuthMode: chv1.AuthMode_AUTH_MODE_GITHUB_APP, AppId: 4711, InstallationId: 90001, Assignee: "hub-app[bot]"}, ConnectorId: "scan-github-app", Credential: appKey},
		&chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_GITLAB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, Project: "acme/widgets"},
			ConnectorId: "scan-gitlab-pool", Credential: strings.Join(poolTokens, ",")},
	)
	for _, r := range reqs {
		if _, err := admin.CreateConnector(ctx, r); err != nil {
			t.Fatalf("create %s: %v", r.GetConnectorId(), err)
		}
	}
	if _, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "scan-github-app", Credential: appKey2}); err != nil {
		t.Fatalf("rotate the app's private key: %v", err)
	}
	if _, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "scan-github", Credential: tokens[4]}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector: &chv1.Connector{Id: "scan-jira", BaseUrl: "https://acme2.atlassian.net"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"base_url"}}, Credential: tokens[5],
	}); err != nil {
		t.Fatalf("update with credential: %v", err)
	}
	if _, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "scan-gitlab"}}); err != nil {
		t.Fatalf("saved test: %v", err)
	}
	local, ok := srv.Cipher.(*secrets.Local)
	if !ok {
		t.Fatalf("harness cipher is %T, want the local keyring", srv.Cipher)
	}
	if _, err := local.Rotate(); err != nil {
		t.Fatal(err)
	}
	rw, err := admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetRewrapped() != 6 {
		t.Fatalf("rewrap after key rotation = %v, %v; want 6 rewrapped", rw, err)
	}
	// The worker still decrypts after the rewrap.
	if res, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "scan-confluence"}}); err != nil || !res.GetOk() {
		t.Fatalf("saved test after rewrap: %v, %v", res, err)
	}

	scanNowhere(t, ctx, srv, tokens, 4)
	audit, err := srv.JS.Stream(ctx, bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := audit.Info(ctx); info == nil || info.State.Msgs < 7 {
		t.Errorf("expected an audit event per mutation (≥7), stream has %v", info)
	}
}

// scanNowhere scans every KV revision of the buckets, every stream message
// (data and headers) and the registry's log (which the harness's worker
// shares) for the clear tokens and their base64 forms; it fails when fewer
// than minKV KV entries were scanned (the scan would prove nothing).
func scanNowhere(t *testing.T, ctx context.Context, srv *registrytest.Server, tokens []string, minKV int) {
	t.Helper()
	var needles [][]byte
	for _, tok := range tokens {
		needles = append(needles, []byte(tok), []byte(base64.StdEncoding.EncodeToString([]byte(tok))), []byte(base64.RawURLEncoding.EncodeToString([]byte(tok))))
	}
	scan := func(where string, data []byte) {
		t.Helper()
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("a clear credential appears in %s", where)
			}
		}
	}

	scanned := 0
	for _, bucket := range []string{bus.BucketConnectors, bus.BucketOAuthGrants, bus.BucketPollLeases, bus.BucketPollState, bus.BucketWritebackLedger} {
		kv, err := srv.JS.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("open %s: %v", bucket, err)
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for key := range keys.Keys() {
			hist, err := kv.History(ctx, key)
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Fatal(err)
			}
			for _, e := range hist {
				scan("KV "+bucket+"/"+key, e.Value())
				scanned++
			}
		}
	}
	if scanned < minKV {
		t.Fatalf("scanned only %d KV entries; the scan is not looking where the data is", scanned)
	}
	for name := range srv.JS.StreamNames(ctx).Name() {
		st, err := srv.JS.Stream(ctx, name)
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
			scan("stream "+name+" subject "+m.Subject, m.Data)
			for k, vs := range m.Header {
				scan("stream "+name+" header "+k, []byte(strings.Join(vs, "\n")))
			}
		}
	}
	logs := srv.Logs()
	if len(logs) == 0 {
		t.Fatal("no logs captured; the log scan would prove nothing")
	}
	scan("the registry log", logs)
}
