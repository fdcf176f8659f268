package registry_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

const (
	shareClient = "share-app-id"
	shareSecret = "SHAREoauthClientSecret0000001"
	shareSite   = "https://acme.atlassian.net"
	shareUser   = "mia@example.com"
)

var (
	jiraScopes = []string{"read:jira-work", "write:jira-work", "read:jira-user", "offline_access"}
	wikiScopes = []string{"read:confluence-content.all", "read:confluence-space.summary", "search:confluence", "offline_access"}
)

// hookCipher runs before once, at the first rewrap batch: a worker's
// refresh landing between the registry's read of a grant and its write.
type hookCipher struct {
	*secrets.Local
	mu     sync.Mutex
	before func()
}

func (h *hookCipher) RewrapBatch(ctx context.Context, items []secrets.RewrapItem) ([]string, error) {
	h.mu.Lock()
	f := h.before
	h.before = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Local.RewrapBatch(ctx, items)
}

type shareEnv struct {
	fake   *atlassianfake.Server
	ep     oauthgrant.Endpoints
	srv    *registrytest.Server
	admin  chv1.RegistryServiceClient
	cipher *hookCipher
}

func newShareEnv(t *testing.T) *shareEnv {
	t.Helper()
	jf := jirafake.New(jirafake.Options{
		Users:    []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Email: shareUser, DisplayName: "Mia", APIToken: "unused"}},
		Projects: []jirafake.Project{{ID: "10000", Key: "ACME", Name: "Acme"}},
	})
	wf := confluencefake.New(confluencefake.Options{
		Users:  []confluencefake.User{{AccountID: "5b10a2844c20165700ede21g", Email: shareUser, DisplayName: "Mia", APIToken: "unused"}},
		Spaces: []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}},
	})
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: shareClient, ClientSecret: shareSecret}, {ClientID: shareClient + "-2", ClientSecret: shareSecret}},
		Sites:   []atlassianfake.Site{{ID: "cloud-acme", Name: "acme", URL: shareSite, Jira: jf, Confluence: wf}},
		Consent: shareUser,
	})
	base := fake.Start(t)
	local, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := &shareEnv{fake: fake, ep: oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}, cipher: &hookCipher{Local: local}}
	e.srv = registrytest.Start(t, registrytest.WithOAuth(e.ep), registrytest.WithCipher(e.cipher))
	e.admin = e.srv.Dial(t, e.srv.AdminToken)
	return e
}

func (e *shareEnv) create(t *testing.T, id string, c *chv1.Connector) (*chv1.Connector, error) {
	t.Helper()
	c.Deployment, c.AuthMode, c.Enabled = chv1.Deployment_DEPLOYMENT_CLOUD, chv1.AuthMode_AUTH_MODE_OAUTH2, true
	if c.BaseUrl == "" {
		c.BaseUrl = shareSite
	}
	if c.OauthClientId == "" {
		c.OauthClientId = shareClient
	}
	got, err := e.admin.CreateConnector(ctxT(t), &chv1.CreateConnectorRequest{Connector: c, ConnectorId: id, Credential: shareSecret})
	return got.GetConnector(), err
}

func jiraConn(scopes ...string) *chv1.Connector {
	return &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Project: "ACME", OauthScopes: scopes}
}

func wikiConn(from string) *chv1.Connector {
	return &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, BaseUrl: shareSite + "/wiki", SpaceKeys: []string{"ENG"}, OauthGrantFrom: from}
}

func (e *shareEnv) get(t *testing.T, id string) *chv1.Connector {
	t.Helper()
	resp, err := e.admin.GetConnector(ctxT(t), &chv1.GetConnectorRequest{Id: id})
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return resp.GetConnector()
}

func (e *shareEnv) grant(t *testing.T, id string) connector.OAuthGrant {
	t.Helper()
	kv, err := e.srv.JS.KeyValue(ctxT(t), bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	g, err := connector.NewGrantStore(kv).Get(ctxT(t), id)
	if err != nil {
		t.Fatalf("grant of %s: %v", id, err)
	}
	return g
}

func (e *shareEnv) test(t *testing.T, id string) *chv1.TestConnectionResponse {
	t.Helper()
	res, err := e.admin.TestConnection(ctxT(t), &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: id}})
	if err != nil {
		t.Fatalf("test %s: %v", id, err)
	}
	return res
}

func wantCode(t *testing.T, what string, err error, code codes.Code, says ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q does not say %q", what, err, s)
		}
	}
}

func TestConfluenceConnectorUsesTheJiraConnectorsGrant(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t)
	ctx := ctxT(t)
	if _, err := e.create(t, "sh-jira", jiraConn()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "sh-jira", RefreshToken: e.fake.Grant(shareClient, shareUser)}); err != nil {
		t.Fatal(err)
	}
	if got := e.grant(t, "sh-jira").Scopes; !slices.Equal(got, jiraScopes) {
		t.Fatalf("grant scopes %v, want the Jira connector's %v", got, jiraScopes)
	}

	// The rules, each with a clear error naming the problem.
	if _, err := e.create(t, "sh-other", &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Project: "ACME", BaseUrl: "https://other.atlassian.net"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.create(t, "sh-app2", &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Project: "ACME", OauthClientId: shareClient + "-2"}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		c    *chv1.Connector
		says []string
	}{
		"missing source":                  {wikiConn("sh-nope"), []string{"oauth_grant_from", `"sh-nope" does not exist`}},
		"source on another site":          {wikiConn("sh-other"), []string{"a grant serves one site"}},
		"source of another app":           {wikiConn("sh-app2"), []string{"another OAuth app"}},
		"grant without Confluence scopes": {wikiConn("sh-jira"), []string{"lacks read:confluence-content.all", "hubctl connectors authorize sh-jira", "--oauth-scope search:confluence"}},
		"a Jira connector":                {&chv1.Connector{System: chv1.System_SYSTEM_JIRA, Project: "ACME", OauthGrantFrom: "sh-jira"}, []string{"only a Confluence connector"}},
	} {
		_, err := e.create(t, "sh-probe", tc.c)
		wantCode(t, name, err, codes.InvalidArgument, tc.says...)
	}

	// Attach after widening the Jira connector's consent: update its scopes,
	// authorize again (the grant records what the consent asked for).
	union := append(slices.Clone(jiraScopes), wikiScopes[:3]...)
	if _, err := e.admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "sh-jira", OauthScopes: union},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"oauth_scopes"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "sh-jira", RefreshToken: e.fake.Grant(shareClient, shareUser)}); err != nil {
		t.Fatal(err)
	}
	wiki, err := e.create(t, "sh-wiki", wikiConn("sh-jira"))
	if err != nil {
		t.Fatalf("attach after re-authorizing with the union: %v", err)
	}
	if wiki.GetOauthGrantFrom() != "sh-jira" {
		t.Fatalf("oauth_grant_from = %q", wiki.GetOauthGrantFrom())
	}

	// Both show the one grant; the source lists its user.
	jira := e.get(t, "sh-jira")
	wiki = e.get(t, "sh-wiki")
	if !slices.Equal(jira.GetOauthGrantUsers(), []string{"sh-wiki"}) {
		t.Fatalf("oauth_grant_users = %v", jira.GetOauthGrantUsers())
	}
	jc, wc := jira.GetCredential(), wiki.GetCredential()
	if !wc.GetOauthRefreshTokenSet() || wc.GetOauthRefreshTokenFingerprint() != jc.GetOauthRefreshTokenFingerprint() || !wc.GetOauthGrantTime().AsTime().Equal(jc.GetOauthGrantTime().AsTime()) {
		t.Fatalf("the Confluence connector does not show the shared grant: %v vs %v", wc, jc)
	}

	// Saved tests of both run through the one grant; the Confluence
	// connector never gets a grant of its own.
	for _, id := range []string{"sh-wiki", "sh-jira", "sh-wiki"} {
		if res := e.test(t, id); !res.GetOk() {
			t.Fatalf("saved test of %s: %v", id, res)
		}
	}
	kv, _ := e.srv.JS.KeyValue(ctx, bus.BucketOAuthGrants)
	if _, err := kv.Get(ctx, "sh-wiki"); err == nil {
		t.Fatal("a grant was stored under the Confluence connector")
	}
	if stored := e.get(t, "sh-wiki").GetCredential().GetOauthRefreshTokenFingerprint(); !slices.ContainsFunc(e.fake.LiveRefreshTokens(), func(rt string) bool {
		return secrets.Fingerprint([]byte(rt)) == stored
	}) {
		t.Fatalf("shown fingerprint %s is no live refresh token's: the one grant should hold the rotated token", stored)
	}

	// Authorizing the Confluence connector itself is refused: authorize
	// the source, whose consent covers both.
	_, err = e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "sh-wiki", RefreshToken: e.fake.Grant(shareClient, shareUser)})
	wantCode(t, "SetOAuthGrant on the user", err, codes.FailedPrecondition, "uses the OAuth grant of sh-jira", "hubctl connectors authorize sh-jira")
	// Re-authorizing the source records the union of both connectors'
	// scopes (also when the source's own scopes are Jira's only).
	if _, err := e.admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "sh-jira", OauthScopes: jiraScopes},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"oauth_scopes"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "sh-jira", RefreshToken: e.fake.Grant(shareClient, shareUser)}); err != nil {
		t.Fatal(err)
	}
	if got := e.grant(t, "sh-jira").Scopes; len(connector.MissingScopes(got, wikiScopes)) > 0 || len(connector.MissingScopes(got, jiraScopes)) > 0 {
		t.Fatalf("grant scopes after re-authorizing = %v, want the union", got)
	}

	// The source cannot be deleted, nor moved to another site, while used.
	_, err = e.admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "sh-jira"})
	wantCode(t, "delete the source", err, codes.FailedPrecondition, "sh-wiki", "--oauth-grant-from")
	_, err = e.admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "sh-jira", BaseUrl: "https://other.atlassian.net"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"base_url"}}, Credential: shareSecret})
	wantCode(t, "move the source", err, codes.FailedPrecondition, "sh-wiki")
	if res := e.test(t, "sh-wiki"); !res.GetOk() {
		t.Fatalf("after the refused changes: %v", res)
	}

	// A revoked grant: the Confluence connector's test names the command
	// that fixes it, on the source; its status shows the source's auth error.
	e.fake.RevokeAll()
	e.fake.ExpireAccessTokens()
	_ = e.test(t, "sh-wiki")
	if res := e.test(t, "sh-wiki"); res.GetOk() || !strings.Contains(failedMessages(res), "hubctl connectors authorize sh-jira") {
		t.Fatalf("revoked shared grant: %v", res)
	}
	skv, err := e.srv.JS.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connector.NewStateStore(skv).Put(ctx, "sh-jira", connector.PollState{AuthError: "the grant was revoked", Reauthorize: "hubctl connectors authorize sh-jira"}); err != nil {
		t.Fatal(err)
	}
	var st *chv1.ConnectorStatus
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st = e.get(t, "sh-wiki").GetStatus(); st.GetAuthError() != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(st.GetAuthError(), "sh-jira") || st.GetReauthorizeCommand() != "hubctl connectors authorize sh-jira" {
		t.Fatalf("status of the user: auth error %q, fix %q; want the source's", st.GetAuthError(), st.GetReauthorizeCommand())
	}

	// No client secret, code, access or refresh token of the shared grant
	// anywhere: KV (oauth_grants included), streams, logs.
	scanNowhere(t, ctx, e.srv, append([]string{shareSecret}, e.fake.Issued()...), 2)

	// Once the user is gone, the source may be deleted (with its grant).
	for _, id := range []string{"sh-wiki", "sh-jira"} {
		if _, err := e.admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: id}); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
}

func TestAttachingBeforeAuthorizingAsksForTheUnion(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t)
	ctx := ctxT(t)
	if _, err := e.create(t, "un-jira", jiraConn()); err != nil {
		t.Fatal(err)
	}
	// No grant yet: any scopes pass, authorize asks for the union.
	if _, err := e.create(t, "un-wiki", wikiConn("un-jira")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "un-jira", RefreshToken: e.fake.Grant(shareClient, shareUser)}); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(jiraScopes), wikiScopes[:3]...)
	if got := e.grant(t, "un-jira").Scopes; !slices.Equal(got, want) {
		t.Fatalf("grant scopes %v, want %v", got, want)
	}
	if res := e.test(t, "un-wiki"); !res.GetOk() {
		t.Fatalf("saved test: %v", res)
	}
	// Switching to its own grant (oauth_grant_from cleared) needs the
	// client secret again, like every field deciding where tokens go.
	upd := &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "un-wiki"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"oauth_grant_from"}}}
	_, err := e.admin.UpdateConnector(ctx, upd)
	wantCode(t, "detach without the secret", err, codes.FailedPrecondition)
	upd.Credential = shareSecret
	got, err := e.admin.UpdateConnector(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetConnector().GetCredential().GetOauthRefreshTokenSet() || len(e.get(t, "un-jira").GetOauthGrantUsers()) != 0 {
		t.Fatal("after detaching, the Confluence connector still shows the Jira grant, or the Jira connector its user")
	}
}

func TestRewrapCoversRefreshTokensAndAConcurrentRefreshWins(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t)
	ctx := ctxT(t)
	for _, id := range []string{"rw-a", "rw-b"} {
		if _, err := e.create(t, id, jiraConn()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.create(t, "rw-wiki", wikiConn("rw-a")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rw-a", "rw-b"} {
		if _, err := e.admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: id, RefreshToken: e.fake.Grant(shareClient, shareUser)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cipher.Rotate(); err != nil {
		t.Fatal(err)
	}
	// A worker refreshes rw-a's grant after the registry read it and
	// before it writes the rewrapped token: the worker's token must win.
	gkv, _ := e.srv.JS.KeyValue(ctx, bus.BucketOAuthGrants)
	ckv, _ := e.srv.JS.KeyValue(ctx, bus.BucketConnectors)
	store := connector.NewStore(ckv)
	worker := oauthgrant.New(oauthgrant.Config{Endpoints: e.ep, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}, Connectors: store}, connector.NewGrantStore(gkv), e.cipher)
	before := e.grant(t, "rw-a")
	e.cipher.before = func() {
		wiki, err := store.Get(ctx, "rw-wiki")
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := worker.Access(ctx, wiki, connector.NewSecret(shareSecret)); err != nil {
			t.Errorf("the worker's refresh: %v", err)
		}
	}
	rw, err := e.admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rw.GetRefreshTokensRewrapped() != 1 || rw.GetRefreshTokensUnchanged() != 1 || len(rw.GetFailedConnectorIds()) != 0 || rw.GetRewrapped() != 3 {
		t.Fatalf("rewrap = %v; want 3 client secrets rewrapped, rw-b's refresh token rewrapped and rw-a's (rotated meanwhile) kept", rw)
	}
	for _, id := range []string{"rw-a", "rw-b"} {
		g := e.grant(t, id)
		if !strings.HasPrefix(g.Refresh.Ciphertext, "local:v2:") {
			t.Errorf("%s: refresh token under %q, want the newest key (v2)", id, strings.Join(strings.SplitN(g.Refresh.Ciphertext, ":", 3)[:2], ":"))
		}
		c, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		clear, err := e.cipher.Decrypt(ctx, c.OAuthRefreshContext(), g.Refresh.Ciphertext)
		if err != nil || !slices.Contains(e.fake.LiveRefreshTokens(), string(clear)) {
			t.Errorf("%s: the stored refresh token does not open or is not live (%v): a rotation was lost", id, err)
		}
	}
	if g := e.grant(t, "rw-a"); g.Refresh.Fingerprint == before.Refresh.Fingerprint {
		t.Error("rw-a: the worker's refresh did not happen during the rewrap (the test proves nothing)")
	}
	// The workers still use the rewrapped tokens, and a second rewrap has
	// nothing left to do.
	for _, id := range []string{"rw-b", "rw-wiki"} {
		if res := e.test(t, id); !res.GetOk() {
			t.Fatalf("saved test of %s after the rewrap: %v", id, res)
		}
	}
	rw, err = e.admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetRefreshTokensRewrapped() != 0 || rw.GetRefreshTokensUnchanged() != 2 {
		t.Fatalf("second rewrap = %v, %v; want 2 refresh tokens unchanged", rw, err)
	}
}
