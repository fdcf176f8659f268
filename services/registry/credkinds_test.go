package registry_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

func testAppKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// A GitHub App's credential is its private key: CheckCredentials shows its
// kind and its age (reset by rotation), never an expiry; a token pool shows
// its size and its tokens' fingerprints; a pool is refused on a system
// without pools, and a GitHub App needs its app id.
func TestCredentialKindsGitHubAppAndTokenPool(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	app := &chv1.Connector{System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: "https://ghe.acme.example/api/v3",
		Project: "acme/widgets", AuthMode: chv1.AuthMode_AUTH_MODE_GITHUB_APP, AppId: 4711, Assignee: "hub-app[bot]"}
	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: app, ConnectorId: "gh-app", Credential: testAppKeyPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	cred := created.GetConnector().GetCredential()
	if cred.GetKind() != connector.CredentialKindGitHubApp || created.GetConnector().GetAppId() != 4711 || created.GetConnector().GetInstallationId() != 0 {
		t.Errorf("created: kind %q, app %d, installation %d", cred.GetKind(), created.GetConnector().GetAppId(), created.GetConnector().GetInstallationId())
	}
	pool := []string{"ghp_poolA000000000000001", "ghp_poolB000000000000002", "ghp_poolC000000000000003"}
	pc, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-pool", Credential: strings.Join(pool, ",")})
	if err != nil {
		t.Fatal(err)
	}
	pcred := pc.GetConnector().GetCredential()
	if pcred.GetKind() != connector.CredentialKindTokenPool || pcred.GetPoolSize() != 3 || pcred.GetPoolFingerprints()[1] != secrets.Fingerprint([]byte(pool[1])) {
		t.Errorf("pool credential: %v", pcred)
	}

	time.Sleep(10 * time.Millisecond) // the rotation's set time must differ from creation's
	rot, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "gh-app", Credential: testAppKeyPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !rot.GetConnector().GetCredential().GetSetTime().AsTime().After(cred.GetSetTime().AsTime()) {
		t.Error("rotating the private key did not reset its age")
	}
	ages, err := admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, a := range ages.GetCredentials() {
		if a.GetConnectorId() == "gh-app" {
			seen++
			if a.GetCredential().GetKind() != connector.CredentialKindGitHubApp || a.GetCredential().GetExpireTime() != nil || a.GetAge() == nil {
				t.Errorf("gh-app age: %v", a)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("gh-app listed %d times", seen)
	}

	for name, req := range map[string]*chv1.CreateConnectorRequest{
		"pool on jira":       {Connector: &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: "https://jira.acme.example", AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Project: "PROJ"}, ConnectorId: "jira-pool", Credential: "a,b"},
		"app without app id": {Connector: &chv1.Connector{System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, Project: "acme/widgets", AuthMode: chv1.AuthMode_AUTH_MODE_GITHUB_APP, Assignee: "x"}, ConnectorId: "gh-noid", Credential: testAppKeyPEM(t)},
		"app with a token":   {Connector: app, ConnectorId: "gh-tok", Credential: "ghp_notAKey"},
		"pool with a gap":    {Connector: githubConnector(), ConnectorId: "gh-gap", Credential: "a,,b"},
	} {
		if _, err := admin.CreateConnector(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}
