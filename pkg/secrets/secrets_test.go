package secrets_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/secrets"
)

func TestKind_NamesBackendFromPrefix(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want string
	}{
		"vault":              {"vault:v1:abc", "vault"},
		"vault later ver":    {"vault:v12:abc", "vault"},
		"local":              {"local:v3:abc", "local"},
		"empty":              {"", ""},
		"plain text":         {"ghp_token", ""},
		"prefix without ver": {"vault:abc", ""},
		"upper case":         {"VAULT:v1:abc", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := secrets.Kind(tc.in); got != tc.want {
				t.Fatalf("Kind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFingerprint_ShortStableOneWay(t *testing.T) {
	t.Parallel()
	secret := []byte("ghp_FingerprintMe_123456")
	fp := secrets.Fingerprint(secret)
	if len(fp) != 12 {
		t.Fatalf("len = %d, want 12", len(fp))
	}
	if fp != secrets.Fingerprint(secret) {
		t.Fatal("fingerprint not stable")
	}
	if fp == secrets.Fingerprint([]byte("ghp_FingerprintMe_123457")) {
		t.Fatal("different secrets share a fingerprint")
	}
	// Domain separated: not the plain SHA-256 of the value.
	plain := sha256.Sum256(secret)
	if fp == hex.EncodeToString(plain[:])[:12] {
		t.Fatal("fingerprint is the undomain-separated SHA-256")
	}
	// Pin the construction so an accidental change (which would make every
	// stored fingerprint mismatch) is caught.
	if got := secrets.Fingerprint([]byte("")); got != fingerprintOfEmpty {
		t.Fatalf("Fingerprint(empty) = %s, want %s", got, fingerprintOfEmpty)
	}
}

// printf 'connectorhub/secret-fingerprint/v1\0' | sha256sum | cut -c1-12
const fingerprintOfEmpty = "5d55b40ea8ee"

func TestVaultConfigValidate(t *testing.T) {
	t.Parallel()
	ar := &secrets.AppRoleAuth{RoleID: "r", SecretID: "s"}
	tests := map[string]struct {
		cfg     secrets.VaultConfig
		wantErr string
	}{
		"token ok":             {secrets.VaultConfig{Address: "http://127.0.0.1:8200", Token: "t"}, ""},
		"approle ok":           {secrets.VaultConfig{Address: "https://vault:8200", AppRole: ar}, ""},
		"missing address":      {secrets.VaultConfig{Token: "t"}, "address is required"},
		"address without http": {secrets.VaultConfig{Address: "127.0.0.1:8200", Token: "t"}, "http:// or https://"},
		"no auth":              {secrets.VaultConfig{Address: "http://v"}, "one of token or approle"},
		"both auths":           {secrets.VaultConfig{Address: "http://v", Token: "t", AppRole: ar}, "mutually exclusive"},
		"approle no role id":   {secrets.VaultConfig{Address: "http://v", AppRole: &secrets.AppRoleAuth{SecretID: "s"}}, "role id is required"},
		"approle no secret id": {secrets.VaultConfig{Address: "http://v", AppRole: &secrets.AppRoleAuth{RoleID: "r"}}, "secret id is required"},
		"key name with slash":  {secrets.VaultConfig{Address: "http://v", Token: "t", KeyName: "a/b"}, "must not contain '/'"},
		"negative timeout":     {secrets.VaultConfig{Address: "http://v", Token: "t", Timeout: -time.Second}, "must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, secrets.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestVaultConfig_PrintingRedactsSecrets(t *testing.T) {
	t.Parallel()
	const token, secretID = "hvs.TOKEN-DO-NOT-PRINT", "SECRET-ID-DO-NOT-PRINT"
	cfgs := []secrets.VaultConfig{
		{Address: "http://v", Token: token},
		{Address: "http://v", AppRole: &secrets.AppRoleAuth{RoleID: "r", SecretID: secretID}},
	}
	for _, cfg := range cfgs {
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "vault", cfg)
		outs := []string{
			fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg),
			fmt.Sprintf("%v", cfg.AppRole), fmt.Sprintf("%+v", &cfg), logged.String(),
		}
		for _, out := range outs {
			if strings.Contains(out, token) || strings.Contains(out, secretID) {
				t.Errorf("printed config leaks a secret: %s", out)
			}
		}
	}
	// Validation errors name fields, not values.
	err := secrets.VaultConfig{Token: token, AppRole: &secrets.AppRoleAuth{SecretID: secretID}}.Validate()
	assertNoSecretIn(t, []error{err}, token, secretID)
}

func TestBatchError_MessageAndUnwrap(t *testing.T) {
	t.Parallel()
	be := &secrets.BatchError{Failed: map[int]error{
		7: fmt.Errorf("x: %w", secrets.ErrInvalidCiphertext),
		2: secrets.ErrEmptyKeyContext,
	}}
	msg := be.Error()
	if !strings.Contains(msg, "2 item(s) failed") || strings.Index(msg, "item 2") > strings.Index(msg, "item 7") {
		t.Fatalf("message %q: want count and items in index order", msg)
	}
	if !errors.Is(be, secrets.ErrInvalidCiphertext) || !errors.Is(be, secrets.ErrEmptyKeyContext) {
		t.Fatal("BatchError does not unwrap to its item errors")
	}
	if errors.Is(be, secrets.ErrUnavailable) {
		t.Fatal("BatchError matches an error none of its items has")
	}
}
