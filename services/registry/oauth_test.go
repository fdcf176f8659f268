package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// TestOAuthGrantLifecycleAndNoPlaintextAnywhere: an oauth2 Jira and an
// oauth2 Confluence connector on one app; the refresh token is stored
// through SetOAuthGrant, saved tests mint and rotate tokens, the client
// secret is rotated, a revoked grant fails the test with the command to
// re-authorize, a changed client id drops the grant, and neither the client
// secret nor any code, access or refresh token appears in KV, streams or logs.
func TestOAuthGrantLifecycleAndNoPlaintextAnywhere(t *testing.T) {
	t.Parallel()
	const (
		clientID = "scan-app-id"
		secret   = "SCANoauthClientSecret00000007"
		rotated  = "SCANoauthClientSecret00000008"
	)
	user := "mia@example.com"
	jf := jirafake.New(jirafake.Options{
		Users:    []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Email: user, DisplayName: "Mia", APIToken: "unused"}},
		Projects: []jirafake.Project{{ID: "10000", Key: "ACME", Name: "Acme"}},
	})
	wf := confluencefake.New(confluencefake.Options{
		Users:  []confluencefake.User{{AccountID: "5b10a2844c20165700ede21g", Email: user, DisplayName: "Mia", APIToken: "unused"}},
		Spaces: []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}},
	})
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: clientID, ClientSecret: secret}, {ClientID: clientID + "-2", ClientSecret: secret}},
		Sites:   []atlassianfake.Site{{ID: "cloud-acme", Name: "acme", URL: "https://acme.atlassian.net", Jira: jf, Confluence: wf}},
		Consent: user,
	})
	base := fake.Start(t)
	srv := registrytest.Start(t, registrytest.WithOAuth(oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	mk := func(id string, c *chv1.Connector) {
		t.Helper()
		c.Deployment, c.BaseUrl, c.AuthMode, c.OauthClientId, c.Enabled = chv1.Deployment_DEPLOYMENT_CLOUD, "https://acme.atlassian.net", chv1.AuthMode_AUTH_MODE_OAUTH2, clientID, true
		got, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: c, ConnectorId: id, Credential: secret})
		if err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		if scopes := strings.Join(got.GetConnector().GetOauthScopes(), " "); !strings.Contains(scopes, "offline_access") {
			t.Fatalf("%s: default scopes %q lack offline_access", id, scopes)
		}
	}
	mk("oa-jira", &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Project: "ACME"})
	mk("oa-wiki", &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, SpaceKeys: []string{"ENG"}})

	test := func(id string) *chv1.TestConnectionResponse {
		t.Helper()
		res, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: id}})
		if err != nil {
			t.Fatalf("test %s: %v", id, err)
		}
		return res
	}
	expiring := func(id string) bool {
		t.Helper()
		resp, err := admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.GetCredentials() {
			if a.GetConnectorId() == id {
				return a.GetExpiring()
			}
		}
		t.Fatalf("%s not in the credential check", id)
		return false
	}
	if res := test("oa-jira"); res.GetOk() || !strings.Contains(failedMessages(res), "hubctl connectors authorize oa-jira") {
		t.Fatalf("unauthorized connector test = %v, want a failure naming the command", res)
	}
	if !expiring("oa-jira") {
		t.Error("a connector without a refresh token is not reported as expiring")
	}

	// Only admins store grants; the value is never returned.
	if _, err := srv.Dial(t, srv.ViewerToken).SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "oa-jira", RefreshToken: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer SetOAuthGrant: %v", err)
	}
	etags := map[string]string{}
	for _, id := range []string{"oa-jira", "oa-wiki"} {
		resp, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		before := resp.GetConnector()
		got, err := admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: id, RefreshToken: fake.Grant(clientID, user), Etag: before.GetEtag()})
		if err != nil {
			t.Fatalf("SetOAuthGrant %s: %v", id, err)
		}
		// The grant lives in its own bucket: the connector record (and its
		// etag) is not changed by storing it, nor by the rotations below.
		if got.GetConnector().GetEtag() != before.GetEtag() {
			t.Fatalf("%s: SetOAuthGrant changed the connector's etag", id)
		}
		etags[id] = before.GetEtag()
		if cr := got.GetConnector().GetCredential(); !cr.GetOauthRefreshTokenSet() || cr.GetOauthRefreshTokenFingerprint() == "" || cr.GetOauthGrantTime() == nil {
			t.Fatalf("credential info after SetOAuthGrant = %v", cr)
		}
		if res := test(id); !res.GetOk() {
			t.Fatalf("saved test of %s: %v", id, res)
		}
	}
	if expiring("oa-jira") {
		t.Error("a freshly rotated refresh token is reported as expiring")
	}
	if fake.Refreshes() < 2 {
		t.Fatalf("refreshes = %d: the saved tests did not mint tokens", fake.Refreshes())
	}
	// After the rotations, an admin's update with the etag read before them
	// still applies (before the grants bucket it conflicted).
	for id, etag := range etags {
		resp, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetConnector()
		if got.GetEtag() != etag || !got.GetCredential().GetOauthRefreshTokenSet() {
			t.Fatalf("%s after refreshes: etag changed %v, refresh token shown %v", id, got.GetEtag() != etag, got.GetCredential().GetOauthRefreshTokenSet())
		}
		if _, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: id, DisplayName: "renamed " + id, Etag: etag},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); err != nil {
			t.Fatalf("%s: update with the etag read before the refreshes: %v", id, err)
		}
	}
	grants, err := srv.JS.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	hasGrant := func(id string) bool {
		t.Helper()
		_, err := grants.Get(ctx, id)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// Revoked at the gateway before expiry: the cached token is dropped and
	// the next use refreshes (rotating again).
	before := fake.Refreshes()
	fake.ExpireAccessTokens()
	_ = test("oa-jira") // 401 drops the cache
	if res := test("oa-jira"); !res.GetOk() || fake.Refreshes() <= before {
		t.Fatalf("after the gateway refused the access token: %v, refreshes %d → %d", res, before, fake.Refreshes())
	}

	// Rotating the client secret keeps the grant.
	if _, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "oa-jira", Credential: rotated}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	// (the fake accepts the old secret only; it stands for an app whose new
	// secret is not active yet, so the test must fail on the app, not the grant)
	fake.ExpireAccessTokens()
	_ = test("oa-jira")
	if res := test("oa-jira"); res.GetOk() || !strings.Contains(failedMessages(res), "client secret") {
		t.Fatalf("after rotating to a secret the app refuses: %v", res)
	}
	if _, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "oa-jira", Credential: secret}); err != nil {
		t.Fatalf("rotate back: %v", err)
	}
	if res := test("oa-jira"); !res.GetOk() {
		t.Fatalf("after rotating the client secret back: %v", res)
	}

	// A revoked grant: the test fails naming the command.
	fake.RevokeAll()
	_ = test("oa-wiki")
	if res := test("oa-wiki"); res.GetOk() || !strings.Contains(failedMessages(res), "hubctl connectors authorize oa-wiki") {
		t.Fatalf("revoked grant: %v", res)
	}

	// A new client id sends the client secret to another app: the secret
	// must be sent again, and the grant (bound to the old id) is dropped.
	upd := &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "oa-jira", OauthClientId: clientID + "-2"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"oauth_client_id"}}}
	if _, err := admin.UpdateConnector(ctx, upd); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("client id change without the secret: %v", err)
	}
	upd.Credential = secret
	got, err := admin.UpdateConnector(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetConnector().GetCredential().GetOauthRefreshTokenSet() || hasGrant("oa-jira") {
		t.Fatal("the grant of the old client id was kept")
	}
	// Authorized again for the new app: usable at once.
	if _, err := admin.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: "oa-jira", RefreshToken: fake.Grant(clientID+"-2", user)}); err != nil {
		t.Fatal(err)
	}
	if res := test("oa-jira"); !res.GetOk() {
		t.Fatalf("after authorizing the new app: %v", res)
	}

	tokens := append([]string{secret, rotated}, fake.Issued()...)
	if len(tokens) < 8 {
		t.Fatalf("only %d tokens to look for", len(tokens))
	}
	scanNowhere(t, ctx, srv, tokens, 2)

	// Deleting a connector deletes its grant.
	if !hasGrant("oa-wiki") {
		t.Fatal("oa-wiki has no grant before its deletion")
	}
	if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "oa-wiki"}); err != nil {
		t.Fatal(err)
	}
	if hasGrant("oa-wiki") {
		t.Fatal("the grant of a deleted connector was kept")
	}
}

func failedMessages(r *chv1.TestConnectionResponse) string {
	var b strings.Builder
	for _, c := range r.GetChecks() {
		if !c.GetOk() {
			b.WriteString(c.GetName() + ": " + c.GetMessage() + "\n")
		}
	}
	return b.String()
}
