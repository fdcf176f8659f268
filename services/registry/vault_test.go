package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// splitCipher is the production split of rights: the registry encrypts and
// rewraps with its own Vault token; the worker decrypts with another.
type splitCipher struct {
	*secrets.Vault                // registry token: encrypt + rewrap
	worker         *secrets.Vault // workers token: decrypt
}

func (s splitCipher) Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error) {
	return s.worker.Decrypt(ctx, keyContext, ciphertext)
}

func vaultWithPolicies(t *testing.T) (*testenv.Vault, splitCipher) {
	t.Helper()
	v := testenv.StartVault(t)
	v.EnableTransit(t)
	root, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Address: v.Addr, Token: v.RootToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := root.EnsureKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"registry", "workers"} {
		hcl, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, "connectorhub-"+name, string(hcl))
	}
	open := func(policy string) *secrets.Vault {
		c, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Address: v.Addr, Token: v.CreateToken(t, policy), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return v, splitCipher{Vault: open("connectorhub-registry"), worker: open("connectorhub-workers")}
}

func TestRegistryWithVaultTransit(t *testing.T) {
	t.Parallel()
	v, cipher := vaultWithPolicies(t)
	srv := registrytest.Start(t, registrytest.WithCipher(cipher), registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	const secret = "ghp_vaultBoundSecret000000001"
	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-vault", Credential: secret})
	if err != nil {
		t.Fatalf("create with vault: %v", err)
	}
	if got := created.GetConnector().GetCredential().GetCipher(); got != "vault" {
		t.Errorf("cipher = %q, want vault", got)
	}
	// The registry's own token cannot decrypt what it stored.
	kv, _ := srv.JS.KeyValue(ctx, "connectors")
	e, err := kv.Get(ctx, "gh-vault")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Value()), "vault:v1:") || strings.Contains(string(e.Value()), secret) {
		t.Fatalf("stored value is not a vault ciphertext: %s", e.Value())
	}
	// Saved test: the worker (decrypt policy) opens it.
	if res, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "gh-vault"}}); err != nil || !res.GetOk() {
		t.Fatalf("saved test through the worker: %v, %v", res, err)
	}

	// Key rotation in Vault, then RewrapCredentials moves the record to v2.
	if _, err := v.Client().Logical().Write("transit/keys/connectorhub/rotate", nil); err != nil {
		t.Fatal(err)
	}
	rw, err := admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetRewrapped() != 1 {
		t.Fatalf("rewrap = %v, %v", rw, err)
	}
	e, _ = kv.Get(ctx, "gh-vault")
	if !strings.Contains(string(e.Value()), "vault:v2:") {
		t.Fatalf("after rewrap the record holds %s", e.Value())
	}
	// A second rewrap finds nothing newer to move to and writes nothing.
	rw, err = admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetRewrapped() != 0 || rw.GetUnchanged() != 1 {
		t.Fatalf("second rewrap = %v, %v; want 1 unchanged", rw, err)
	}
	if e2, _ := kv.Get(ctx, "gh-vault"); e2.Revision() != e.Revision() {
		t.Error("a rewrap without a key rotation rewrote the record")
	}

	// Vault goes away: create fails UNAVAILABLE with a clear message and stores nothing.
	v.Stop()
	_, err = admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-novault", Credential: "ghp_whileVaultDown0000000001"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("create with vault down: %v, want Unavailable", err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "nothing was stored") || !strings.Contains(msg, v.Addr) {
		t.Errorf("message %q should say nothing was stored and name the vault address", msg)
	}
	if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-novault"}); status.Code(err) != codes.NotFound {
		t.Errorf("a connector was stored although encryption failed: %v", err)
	}
	if strings.Contains(string(srv.Logs()), "ghp_whileVaultDown") {
		t.Error("the credential leaked into the log on the failure path")
	}
}

func TestCreateWithoutTheTransitMountIsAFailedPrecondition(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	cipher, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Address: v.Addr, Token: v.RootToken, TransitMount: "no-such-transit", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := registrytest.Start(t, registrytest.WithCipher(splitCipher{Vault: cipher, worker: cipher}), registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	_, err = admin.CreateConnector(ctxT(t), &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-nomount", Credential: "ghp_noTransitMount00000000001"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("create without a transit mount: %v, want FailedPrecondition", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "not set up") || !strings.Contains(msg, `"no-such-transit"`) || !strings.Contains(msg, "nothing was stored") {
		t.Errorf("message %q should say the store is not set up, name the mount and say nothing was stored", msg)
	}
}
