package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

const vaultPlaintext = "glpat-VaultSecretToken-0123456789"

// startTransit runs a real dev Vault with transit enabled and the derived
// connectorhub key created through EnsureKey; it returns the server and an
// admin (root token) Cipher.
func startTransit(t *testing.T) (*testenv.Vault, *secrets.Vault) {
	t.Helper()
	tv := testenv.StartVault(t)
	tv.EnableTransit(t)
	admin := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.RootToken})
	if err := admin.EnsureKey(context.Background()); err != nil {
		t.Fatalf("EnsureKey: %v", err)
	}
	return tv, admin
}

func newVault(t *testing.T, cfg secrets.VaultConfig) *secrets.Vault {
	t.Helper()
	v, err := secrets.NewVault(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// loadDeployPolicies writes deploy/vault/{registry,workers}.hcl, read from
// the repository, into the server.
func loadDeployPolicies(t *testing.T, tv *testenv.Vault) {
	t.Helper()
	for _, name := range []string{"registry", "workers"} {
		hcl, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatalf("read policy: %v", err)
		}
		tv.WritePolicy(t, "connectorhub-"+name, string(hcl))
	}
}

func TestVault_RoundTrip(t *testing.T) {
	t.Parallel()
	_, v := startTransit(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte{0x00, 0xff, 'x'}, 4096)
	for name, pt := range map[string][]byte{
		"token":       []byte(vaultPlaintext),
		"binary 12KB": big,
	} {
		t.Run(name, func(t *testing.T) {
			ct, err := v.Encrypt(ctx, "conn-a", pt)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if !strings.HasPrefix(ct, "vault:v1:") || secrets.Kind(ct) != "vault" {
				t.Fatalf("ciphertext %.20q: want vault:v1: prefix", ct)
			}
			got, err := v.Decrypt(ctx, "conn-a", ct)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatal("round trip changed the plaintext")
			}
		})
	}
}

func TestVault_DeployPoliciesSeparateEncryptFromDecrypt(t *testing.T) {
	t.Parallel()
	tv, admin := startTransit(t)
	loadDeployPolicies(t, tv)
	ctx := context.Background()
	registry := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.CreateToken(t, "connectorhub-registry")})
	workers := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.CreateToken(t, "connectorhub-workers")})

	ct, err := registry.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))
	if err != nil {
		t.Fatalf("registry Encrypt: %v", err)
	}
	pt, err := workers.Decrypt(ctx, "conn-a", ct)
	if err != nil || string(pt) != vaultPlaintext {
		t.Fatalf("workers Decrypt: %v", err)
	}

	// Workers encrypt too: the rotated OAuth refresh tokens (deploy/vault/workers.hcl).
	if _, err := workers.Encrypt(ctx, "conn-a", []byte(vaultPlaintext)); err != nil {
		t.Fatalf("workers Encrypt (rotated OAuth refresh tokens): %v", err)
	}
	denied := map[string]func() error{
		"registry decrypt": func() error { _, err := registry.Decrypt(ctx, "conn-a", ct); return err },
		"registry manages keys": func() error {
			return registry.EnsureKey(ctx)
		},
		"workers rewrap": func() error { _, err := workers.Rewrap(ctx, "conn-a", ct); return err },
		"workers rewrap batch": func() error {
			_, err := workers.RewrapBatch(ctx, []secrets.RewrapItem{{KeyContext: "conn-a", Ciphertext: ct}})
			return err
		},
	}
	var errs []error
	for name, op := range denied {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, secrets.ErrPermissionDenied) {
				t.Fatalf("err = %v, want ErrPermissionDenied", err)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tv.Addr) {
				t.Errorf("error %q does not name the vault address", err)
			}
			errs = append(errs, err)
		})
	}

	allowed := map[string]func() error{
		"registry rewrap": func() error { _, err := registry.Rewrap(ctx, "conn-a", ct); return err },
		"registry rewrap batch": func() error {
			_, err := registry.RewrapBatch(ctx, []secrets.RewrapItem{{KeyContext: "conn-a", Ciphertext: ct}})
			return err
		},
		"admin decrypt": func() error { _, err := admin.Decrypt(ctx, "conn-a", ct); return err },
	}
	for name, op := range allowed {
		t.Run(name, func(t *testing.T) {
			if err := op(); err != nil {
				t.Fatalf("err = %v, want success", err)
			}
		})
	}
	assertNoSecretIn(t, errs, vaultPlaintext, tv.RootToken)
}

func TestVault_RotateThenRewrapMovesToNewVersion(t *testing.T) {
	t.Parallel()
	tv, _ := startTransit(t)
	loadDeployPolicies(t, tv)
	ctx := context.Background()

	// Count requests per path through a proxy to prove a batch is one call.
	var mu sync.Mutex
	calls := map[string]int{}
	target, _ := url.Parse(tv.Addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	registry := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: tv.CreateToken(t, "connectorhub-registry")})
	workers := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.CreateToken(t, "connectorhub-workers")})

	ids := []string{"conn-1", "conn-2", "conn-3", "conn-4", "conn-5"}
	v1 := map[string]string{}
	for _, id := range ids {
		ct, err := registry.Encrypt(ctx, id, []byte(vaultPlaintext+id))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ct, "vault:v1:") {
			t.Fatalf("before rotation: %.12q, want vault:v1:", ct)
		}
		v1[id] = ct
	}

	if _, err := tv.Client().Logical().Write("transit/keys/connectorhub/rotate", nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}

	// Single rewrap.
	re, err := registry.Rewrap(ctx, ids[0], v1[ids[0]])
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if !strings.HasPrefix(re, "vault:v2:") {
		t.Fatalf("rewrapped %.12q, want vault:v2:", re)
	}
	if pt, err := workers.Decrypt(ctx, ids[0], re); err != nil || string(pt) != vaultPlaintext+ids[0] {
		t.Fatalf("decrypt rewrapped: %v", err)
	}

	// Batch rewrap of the rest: one request.
	mu.Lock()
	clear(calls)
	mu.Unlock()
	var items []secrets.RewrapItem
	for _, id := range ids[1:] {
		items = append(items, secrets.RewrapItem{KeyContext: id, Ciphertext: v1[id]})
	}
	out, err := registry.RewrapBatch(ctx, items)
	if err != nil {
		t.Fatalf("RewrapBatch: %v", err)
	}
	mu.Lock()
	if n := calls["PUT /v1/transit/rewrap/connectorhub"]; n != 1 || len(calls) != 1 {
		t.Errorf("RewrapBatch of %d items made requests %v, want exactly one rewrap call", len(items), calls)
	}
	mu.Unlock()
	for i, ct := range out {
		if !strings.HasPrefix(ct, "vault:v2:") {
			t.Errorf("batch item %d = %.12q, want vault:v2:", i, ct)
		}
		id := items[i].KeyContext
		if pt, err := workers.Decrypt(ctx, id, ct); err != nil || string(pt) != vaultPlaintext+id {
			t.Errorf("batch item %d does not decrypt: %v", i, err)
		}
	}

	// Old versions still decrypt until min_decryption_version is raised.
	if _, err := workers.Decrypt(ctx, ids[1], v1[ids[1]]); err != nil {
		t.Errorf("v1 ciphertext no longer decrypts: %v", err)
	}
}

func TestVault_RewrapBatchReportsBadItems(t *testing.T) {
	t.Parallel()
	_, v := startTransit(t)
	ctx := context.Background()
	a, _ := v.Encrypt(ctx, "a", []byte(vaultPlaintext))
	c, _ := v.Encrypt(ctx, "c", []byte(vaultPlaintext))

	t.Run("some items bad", func(t *testing.T) {
		items := []secrets.RewrapItem{
			{KeyContext: "a", Ciphertext: a},
			{KeyContext: "b", Ciphertext: a},               // bound to another connector
			{KeyContext: "c", Ciphertext: "local:v1:AAAA"}, // other backend: never sent
			{KeyContext: "", Ciphertext: c},                // no key context
			{KeyContext: "c", Ciphertext: c},
		}
		out, err := v.RewrapBatch(ctx, items)
		var be *secrets.BatchError
		if !errors.As(err, &be) {
			t.Fatalf("err = %v, want *BatchError", err)
		}
		for _, i := range []int{1, 2} {
			if !errors.Is(be.Failed[i], secrets.ErrInvalidCiphertext) {
				t.Errorf("item %d error = %v, want ErrInvalidCiphertext", i, be.Failed[i])
			}
		}
		if !errors.Is(be.Failed[3], secrets.ErrEmptyKeyContext) {
			t.Errorf("item 3 error = %v, want ErrEmptyKeyContext", be.Failed[3])
		}
		if len(be.Failed) != 3 {
			t.Errorf("failed = %v, want items 1, 2, 3", be.Failed)
		}
		for _, i := range []int{0, 4} {
			if pt, err := v.Decrypt(ctx, items[i].KeyContext, out[i]); err != nil || string(pt) != vaultPlaintext {
				t.Errorf("good item %d not rewrapped: %q, %v", i, out[i], err)
			}
		}
	})
	t.Run("all items bad", func(t *testing.T) {
		out, err := v.RewrapBatch(ctx, []secrets.RewrapItem{
			{KeyContext: "x", Ciphertext: a},
			{KeyContext: "y", Ciphertext: c},
		})
		var be *secrets.BatchError
		if !errors.As(err, &be) || len(be.Failed) != 2 || !errors.Is(err, secrets.ErrInvalidCiphertext) {
			t.Fatalf("err = %v, want *BatchError with 2 invalid items", err)
		}
		t.Logf("error: %v", err)
		if len(out) != 2 || out[0] != "" || out[1] != "" {
			t.Fatalf("out = %q", out)
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		out, err := v.RewrapBatch(ctx, nil)
		if err != nil || len(out) != 0 {
			t.Fatalf("RewrapBatch(nil) = %q, %v", out, err)
		}
	})
}

func TestVault_InvalidCiphertextRejected(t *testing.T) {
	t.Parallel()
	_, v := startTransit(t)
	ctx := context.Background()
	ct, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(ct, "vault:v1:")
	tampered := []byte(body)
	tampered[len(tampered)/2] ^= 0x01
	if tampered[len(tampered)/2] == '+' || tampered[len(tampered)/2] == '/' {
		tampered[len(tampered)/2] = 'A'
	}
	local, _ := secrets.OpenLocal(filepath.Join(t.TempDir(), "k.json"))
	localCT, _ := local.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))

	tests := map[string]struct{ keyContext, ciphertext string }{
		"bound to another connector": {"conn-b", ct},
		"tampered":                   {"conn-a", "vault:v1:" + string(tampered)},
		"unknown key version":        {"conn-a", "vault:v9:" + body},
		"malformed base64":           {"conn-a", "vault:v1:!!!"},
		"local ciphertext":           {"conn-a", localCT},
		"no prefix":                  {"conn-a", body},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := v.Decrypt(ctx, tc.keyContext, tc.ciphertext)
			if !errors.Is(err, secrets.ErrInvalidCiphertext) {
				t.Fatalf("Decrypt err = %v, want ErrInvalidCiphertext", err)
			}
			_, err = v.Rewrap(ctx, tc.keyContext, tc.ciphertext)
			if !errors.Is(err, secrets.ErrInvalidCiphertext) {
				t.Fatalf("Rewrap err = %v, want ErrInvalidCiphertext", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestVault_MissingKeyIsErrKeyNotFound(t *testing.T) {
	t.Parallel()
	tv, v := startTransit(t)
	ctx := context.Background()
	ct, _ := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))
	other := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.RootToken, KeyName: "absent"})
	if _, err := other.Decrypt(ctx, "conn-a", ct); !errors.Is(err, secrets.ErrKeyNotFound) {
		t.Fatalf("err = %v, want ErrKeyNotFound", err)
	}
}

func TestVault_EnsureKey(t *testing.T) {
	t.Parallel()
	tv, v := startTransit(t)
	ctx := context.Background()
	t.Run("idempotent", func(t *testing.T) {
		if err := v.EnsureKey(ctx); err != nil {
			t.Fatalf("second EnsureKey: %v", err)
		}
	})
	t.Run("creates a derived key", func(t *testing.T) {
		s, err := tv.Client().Logical().Read("transit/keys/connectorhub")
		if err != nil || s == nil {
			t.Fatalf("read key: %v", err)
		}
		if d, _ := s.Data["derived"].(bool); !d {
			t.Fatalf("key not derived: %v", s.Data)
		}
	})
	t.Run("rejects an existing non-derived key", func(t *testing.T) {
		if _, err := tv.Client().Logical().Write("transit/keys/plain", nil); err != nil {
			t.Fatal(err)
		}
		p := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.RootToken, KeyName: "plain"})
		if err := p.EnsureKey(ctx); err == nil || !strings.Contains(err.Error(), "not derived") {
			t.Fatalf("EnsureKey on non-derived key = %v, want 'not derived' error", err)
		}
	})
	t.Run("transit not mounted", func(t *testing.T) {
		p := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.RootToken, TransitMount: "nowhere"})
		if err := p.EnsureKey(ctx); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
			t.Fatalf("EnsureKey without mount = %v, want error naming the mount", err)
		}
	})
}

func TestVault_StoppedServerIsErrUnavailableQuickly(t *testing.T) {
	t.Parallel()
	tv, _ := startTransit(t)
	ctx := context.Background()
	v := newVault(t, secrets.VaultConfig{Address: tv.Addr, Token: tv.RootToken, Timeout: 2 * time.Second})
	ct, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))
	if err != nil {
		t.Fatal(err)
	}

	tv.Stop()
	tv.Stop() // idempotent

	var errs []error
	ops := map[string]func() error{
		"encrypt": func() error { _, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext)); return err },
		"decrypt": func() error { _, err := v.Decrypt(ctx, "conn-a", ct); return err },
		"rewrap":  func() error { _, err := v.Rewrap(ctx, "conn-a", ct); return err },
		"rewrap batch": func() error {
			_, err := v.RewrapBatch(ctx, []secrets.RewrapItem{{KeyContext: "conn-a", Ciphertext: ct}})
			return err
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := op()
			if !errors.Is(err, secrets.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s to report unavailability", d)
			}
			t.Logf("error: %v", err)
			want := fmt.Sprintf("vault at %s is unreachable", tv.Addr)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q should contain %q", err, want)
			}
			errs = append(errs, err)
		})
	}
	assertNoSecretIn(t, errs, vaultPlaintext, tv.RootToken)
}

func TestVault_SealedServerIsErrUnavailable(t *testing.T) {
	t.Parallel()
	tv, v := startTransit(t)
	if err := tv.Client().Sys().Seal(); err != nil {
		t.Fatalf("seal: %v", err)
	}
	_, err := v.Encrypt(context.Background(), "conn-a", []byte(vaultPlaintext))
	if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), tv.Addr) {
		t.Fatalf("err = %v, want ErrUnavailable naming %s", err, tv.Addr)
	}
	t.Logf("error: %v", err)
}

func TestVault_AppRoleLogin(t *testing.T) {
	t.Parallel()
	tv, _ := startTransit(t)
	loadDeployPolicies(t, tv)
	ctx := context.Background()
	roleID, secretID := tv.EnableAppRole(t, "registry", "connectorhub-registry")

	t.Run("valid credentials encrypt under the registry policy", func(t *testing.T) {
		v := newVault(t, secrets.VaultConfig{Address: tv.Addr, AppRole: &secrets.AppRoleAuth{RoleID: roleID, SecretID: secretID}})
		ct, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext))
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		if _, err := v.Decrypt(ctx, "conn-a", ct); !errors.Is(err, secrets.ErrPermissionDenied) {
			t.Fatalf("Decrypt err = %v, want ErrPermissionDenied", err)
		}
	})
	t.Run("wrong secret id is denied", func(t *testing.T) {
		const wrong = "00000000-0000-0000-0000-000000000000"
		_, err := secrets.NewVault(ctx, secrets.VaultConfig{Address: tv.Addr, AppRole: &secrets.AppRoleAuth{RoleID: roleID, SecretID: wrong}})
		if !errors.Is(err, secrets.ErrPermissionDenied) {
			t.Fatalf("err = %v, want ErrPermissionDenied", err)
		}
		assertNoSecretIn(t, []error{err}, wrong, secretID)
	})
	t.Run("unreachable vault at login is ErrUnavailable", func(t *testing.T) {
		_, err := secrets.NewVault(ctx, secrets.VaultConfig{
			Address: "http://127.0.0.1:1", AppRole: &secrets.AppRoleAuth{RoleID: roleID, SecretID: secretID}, Timeout: time.Second,
		})
		if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), "http://127.0.0.1:1") {
			t.Fatalf("err = %v, want ErrUnavailable naming the address", err)
		}
		assertNoSecretIn(t, []error{err}, secretID)
	})
}

func TestVault_AppRoleLogsInAgainAfterTokenMaxTTL(t *testing.T) {
	t.Parallel()
	tv, _ := startTransit(t)
	loadDeployPolicies(t, tv)
	ctx := context.Background()
	roleID, secretID := tv.EnableAppRole(t, "registry", "connectorhub-registry")
	if _, err := tv.Client().Logical().Write("auth/approle/role/registry", map[string]any{
		"token_ttl": "2s", "token_max_ttl": "3s",
	}); err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v := newVault(t, secrets.VaultConfig{
		Address: tv.Addr, AppRole: &secrets.AppRoleAuth{RoleID: roleID, SecretID: secretID}, Logger: log,
	})
	if _, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext)); err != nil {
		t.Fatalf("Encrypt with first token: %v", err)
	}
	// Well past the first token's max TTL only a re-login keeps this working.
	// Vault's TTLs run on its own clock in another process (no bubble or
	// injected clock reaches them), so wait for the second re-login rather
	// than a fixed time: the token it replaces was itself obtained after the
	// first one could be renewed no more.
	testenv.Eventually(t, time.Minute, "two approle re-logins", func() bool {
		return strings.Count(logs.String(), "re-login succeeded") >= 2
	})
	if _, err := v.Encrypt(ctx, "conn-a", []byte(vaultPlaintext)); err != nil {
		t.Fatalf("Encrypt after max TTL: %v\nlogs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "re-login succeeded") {
		t.Errorf("no re-login logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secretID) {
		t.Error("logs contain the secret id")
	}
}
