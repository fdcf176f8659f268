package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// vaultRoles are the AppRoles vaultInit creates: the registry
// encrypts/rewraps, the workers decrypt (deploy/vault/*.hcl).
var vaultRoles = []struct{ role, policyFile string }{
	{"connectorhub-registry", "registry.hcl"},
	{"connectorhub-workers", "workers.hcl"},
}

// vaultInit is deploy/vault/README.md's setup as one idempotent step, for a
// container without a shell (compose's vault-init; the official Vault image
// would need a script): it enables transit and the derived key, writes the
// policies from policyDir, enables AppRole, creates a role per policy, and
// writes each role's role id and a fresh secret id into outDir
// (<role>.role-id, <role>.secret-id, 0600) for the services to mount. It
// uses VAULT_ADDR and an admin VAULT_TOKEN; nothing secret is printed.
//
// It is written against vault/api rather than as `vault` CLI calls because
// the images have no shell to sequence them.
func vaultInit(ctx context.Context, v VaultEnv, policyDir, outDir string, w io.Writer) error {
	if v.Addr == "" || v.Token == "" {
		return errors.New("--vault-init needs VAULT_ADDR and an admin VAULT_TOKEN")
	}
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	if v.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CACert}); err != nil {
			return err
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(v.Token)
	if v.Namespace != "" {
		c.SetNamespace(v.Namespace)
	}
	// Vault may still be starting (containers start in any order).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h, err := c.Sys().HealthWithContext(ctx)
		if err == nil && h.Initialized && !h.Sealed {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault at %s not ready: %v", v.Addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list secret engines: %w", err)
	}
	if _, ok := mounts[v.Mount+"/"]; !ok {
		if err := c.Sys().MountWithContext(ctx, v.Mount, &api.MountInput{Type: "transit"}); err != nil {
			return fmt.Errorf("enable transit at %s: %w", v.Mount, err)
		}
	}
	keyPath := v.Mount + "/keys/" + v.Key
	if s, err := c.Logical().ReadWithContext(ctx, keyPath); err != nil {
		return fmt.Errorf("read transit key: %w", err)
	} else if s == nil {
		if _, err := c.Logical().WriteWithContext(ctx, keyPath, map[string]any{"type": "aes256-gcm96", "derived": true}); err != nil {
			return fmt.Errorf("create transit key: %w", err)
		}
	}
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list auth methods: %w", err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
			return fmt.Errorf("enable approle: %w", err)
		}
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return err
	}
	for _, r := range vaultRoles {
		policy, err := os.ReadFile(filepath.Join(policyDir, r.policyFile))
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if err := c.Sys().PutPolicyWithContext(ctx, r.role, string(policy)); err != nil {
			return fmt.Errorf("write policy %s: %w", r.role, err)
		}
		rolePath := "auth/approle/role/" + r.role
		if _, err := c.Logical().WriteWithContext(ctx, rolePath, map[string]any{
			"token_policies": []string{r.role}, "token_ttl": "1h", "token_max_ttl": "24h",
		}); err != nil {
			return fmt.Errorf("write approle %s: %w", r.role, err)
		}
		s, err := c.Logical().ReadWithContext(ctx, rolePath+"/role-id")
		if err != nil || s == nil {
			return fmt.Errorf("read role id of %s: %v", r.role, err)
		}
		roleID, _ := s.Data["role_id"].(string)
		s, err = c.Logical().WriteWithContext(ctx, rolePath+"/secret-id", nil)
		if err != nil || s == nil {
			return fmt.Errorf("create secret id of %s: %v", r.role, err)
		}
		secretID, _ := s.Data["secret_id"].(string)
		if roleID == "" || secretID == "" {
			return fmt.Errorf("approle %s: empty role id or secret id", r.role)
		}
		for ext, val := range map[string]string{".role-id": roleID, ".secret-id": secretID} {
			if err := os.WriteFile(filepath.Join(outDir, r.role+ext), []byte(val+"\n"), 0o600); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "AppRole %s: role id and secret id written to %s\n", r.role, filepath.Join(outDir, r.role+".{role-id,secret-id}"))
	}
	fmt.Fprintf(w, "Vault transit %s, key %s (derived), policies and AppRoles ready\n", v.Mount, v.Key)
	return nil
}

// readSecretFiles fills RoleID and SecretID from VAULT_ROLE_ID_FILE and
// VAULT_SECRET_ID_FILE (mounted secrets), when those are set.
func (v *VaultEnv) readSecretFiles() error {
	for _, f := range []struct {
		path string
		dst  *string
	}{{v.RoleIDFile, &v.RoleID}, {v.SecretIDFile, &v.SecretID}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("vault AppRole: %w", err)
		}
		*f.dst = strings.TrimSpace(string(data))
	}
	return nil
}

// probe GETs url (a process's /readyz or /healthz) and fails unless it
// answers 200: the container health check of an image without a shell or curl.
func probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s\n%s", url, resp.Status, body)
	}
	return nil
}
