package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

// TestVaultInitGivesEachServiceItsAppRole: compose's vault-init step, run
// twice (idempotent), leaves a registry AppRole that encrypts and a workers
// AppRole that decrypts what the registry encrypted, read from the files it
// wrote; nothing secret is printed.
func TestVaultInitGivesEachServiceItsAppRole(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	ctx := t.Context()
	dir := t.TempDir()
	policies := filepath.Join(testenv.RepoRoot(t), "deploy", "vault")
	env := VaultEnv{Addr: v.Addr, Token: v.RootToken, Mount: "transit", Key: "connectorhub"}
	var out bytes.Buffer
	for range 2 {
		if err := vaultInit(ctx, env, policies, dir, &out); err != nil {
			t.Fatalf("vault init: %v", err)
		}
	}
	if strings.Contains(out.String(), v.RootToken) {
		t.Error("vault init printed the admin token")
	}
	open := func(role string) *secrets.Vault {
		e := VaultEnv{Addr: v.Addr, Mount: "transit", Key: "connectorhub",
			RoleIDFile: filepath.Join(dir, role+".role-id"), SecretIDFile: filepath.Join(dir, role+".secret-id")}
		if err := e.readSecretFiles(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), e.SecretID) {
			t.Errorf("vault init printed %s's secret id", role)
		}
		c, err := secrets.NewVault(ctx, e.secretsConfig(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatalf("%s AppRole login: %v", role, err)
		}
		return c
	}
	registry, workers := open("connectorhub-registry"), open("connectorhub-workers")
	ct, err := registry.Encrypt(ctx, "c1", []byte("token"))
	if err != nil {
		t.Fatalf("registry encrypt: %v", err)
	}
	pt, err := workers.Decrypt(ctx, "c1", ct)
	if err != nil || string(pt) != "token" {
		t.Fatalf("workers decrypt: %q, %v", pt, err)
	}
	if _, err := registry.Decrypt(ctx, "c1", ct); err == nil {
		t.Error("the registry's AppRole decrypts; its policy should allow encrypt and rewrap only")
	}
}

func TestProbeFailsUnlessReady(t *testing.T) {
	t.Parallel()
	code := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	t.Cleanup(srv.Close)
	if err := probe(t.Context(), srv.URL); err == nil {
		t.Error("probe passed on 503")
	}
	code = http.StatusOK
	if err := probe(t.Context(), srv.URL); err != nil {
		t.Errorf("probe failed on 200: %v", err)
	}
	if err := probe(t.Context(), "http://127.0.0.1:1/readyz"); err == nil || errors.Is(err, nil) {
		t.Error("probe passed with nothing listening")
	}
}
