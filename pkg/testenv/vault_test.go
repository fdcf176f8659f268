package testenv_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/testenv"
)

func TestStartVault_ServesAndStopsIdempotently(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	if !strings.HasPrefix(v.Addr, "http://127.0.0.1:") || v.RootToken == "" {
		t.Fatalf("Addr = %q, RootToken set = %v", v.Addr, v.RootToken != "")
	}
	health, err := v.Client().Sys().Health()
	if err != nil || !health.Initialized || health.Sealed {
		t.Fatalf("health = %+v, %v; want initialized and unsealed", health, err)
	}
	if strings.Contains(v.Output(), v.RootToken) {
		t.Error("Output() shows the root token")
	}

	v.Stop()
	v.Stop()
	hc := &http.Client{Timeout: time.Second}
	if resp, err := hc.Get(v.Addr + "/v1/sys/health"); err == nil {
		resp.Body.Close()
		t.Fatal("vault still answers after Stop")
	}
}

func TestVault_TokensPoliciesAndAppRole(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	v.EnableTransit(t)
	v.EnableTransit(t) // once only
	v.WritePolicy(t, "keys-read", `path "transit/keys/*" { capabilities = ["read", "list"] }`)

	c := v.Client()
	if _, err := c.Logical().Write("transit/keys/k", nil); err != nil {
		t.Fatal(err)
	}
	limited, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	limited.SetToken(v.CreateToken(t, "keys-read"))
	if _, err := limited.Logical().Read("transit/keys/k"); err != nil {
		t.Fatalf("token with keys-read cannot read a key: %v", err)
	}
	if _, err := limited.Logical().Write("transit/keys/k2", nil); err == nil {
		t.Fatal("token with keys-read could create a key")
	}

	roleID, secretID := v.EnableAppRole(t, "svc", "keys-read")
	r2, s2 := v.EnableAppRole(t, "svc2", "keys-read") // approle mount enabled once
	if roleID == r2 || secretID == s2 {
		t.Fatal("two roles share credentials")
	}
	login, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	login.ClearToken()
	s, err := login.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || s == nil || s.Auth == nil {
		t.Fatalf("approle login: %v", err)
	}
	if !contains(s.Auth.TokenPolicies, "keys-read") {
		t.Fatalf("approle token policies = %v, want keys-read", s.Auth.TokenPolicies)
	}
}

func TestFindVaultBinary_EnvOverrideMustBeExecutable(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testenv.EnvVaultBin, notExec)
	if _, err := testenv.FindVaultBinary(); err == nil || !strings.Contains(err.Error(), testenv.EnvVaultBin) {
		t.Fatalf("FindVaultBinary = %v, want error naming %s", err, testenv.EnvVaultBin)
	}
	if err := os.Chmod(notExec, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := testenv.FindVaultBinary(); err != nil || got != notExec {
		t.Fatalf("FindVaultBinary = %q, %v; want %q", got, err, notExec)
	}
}

func TestRepoRoot_HoldsGoWork(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("RepoRoot %q has no go.work: %v", root, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
