package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Environment variables read by StartVault.
const (
	// EnvVaultBin names the vault binary to run.
	EnvVaultBin = "CONNECTORHUB_VAULT_BIN"
	// EnvRequireVault, when "1", turns a missing binary into a test failure
	// instead of a skip (set it in CI so the Vault tests cannot silently vanish).
	EnvRequireVault = "CONNECTORHUB_REQUIRE_VAULT"
)

// vaultStartTimeout bounds how long a dev server may take to answer
// /v1/sys/health. Generous: CI machines running many tests are slow.
const vaultStartTimeout = 60 * time.Second

// Vault is a real `vault server -dev` run for one test: in-memory storage,
// unsealed, with a random root token, listening on a free loopback port.
type Vault struct {
	// Addr is the server's base URL, e.g. "http://127.0.0.1:41234".
	Addr string
	// RootToken is the dev server's root token.
	RootToken string

	cmd      *exec.Cmd
	out      *LogBuffer
	exited   chan struct{}
	stopOnce sync.Once

	client   *api.Client
	mu       sync.Mutex // serialises mount and auth setup
	approle  bool
	transits map[string]bool
}

// StartVault starts a dev Vault server and stops it when the test ends. It
// skips the test when no vault binary is found, unless
// CONNECTORHUB_REQUIRE_VAULT=1. The server's output is logged only if the
// test fails. Safe to call from parallel tests: each gets its own server.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	bin, err := FindVaultBinary()
	if err != nil {
		if os.Getenv(EnvRequireVault) == "1" {
			t.Fatalf("vault binary required (%s=1) but not found: %v", EnvRequireVault, err)
		}
		t.Skipf("skipping: no vault binary: %v (build tools/vault, set %s, or put vault on PATH)", err, EnvVaultBin)
	}

	token := randomHex(t, 16)
	home := t.TempDir() // dev mode writes ~/.vault-token; keep it out of the real home
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		v, err := launchVault(bin, token, home)
		if err == nil {
			t.Cleanup(func() {
				v.Stop()
				if t.Failed() {
					t.Logf("vault server output (%s):\n%s", v.Addr, v.redactedOutput())
				}
			})
			return v
		}
		lastErr = err // typically a port taken between picking and binding
	}
	t.Fatalf("starting vault dev server: %v", lastErr)
	return nil
}

func launchVault(bin, token, home string) (*Vault, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	v := &Vault{
		Addr:      "http://" + addr,
		RootToken: token,
		out:       &LogBuffer{},
		exited:    make(chan struct{}),
		transits:  map[string]bool{},
	}
	cmd := exec.Command(bin, "server", "-dev", "-dev-listen-address="+addr)
	cmd.Env = append(vaultFreeEnv(),
		"HOME="+home,
		"VAULT_DEV_ROOT_TOKEN_ID="+token, // env, not argv: keeps it out of `ps`
	)
	cmd.Stdout = v.out
	cmd.Stderr = v.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	v.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(v.exited)
	}()
	if err := v.waitHealthy(vaultStartTimeout); err != nil {
		v.Stop()
		return nil, fmt.Errorf("%w; output:\n%s", err, v.redactedOutput())
	}
	if v.client, err = newRootClient(v.Addr, token); err != nil {
		v.Stop()
		return nil, fmt.Errorf("vault client: %w", err)
	}
	return v, nil
}

// vaultFreeEnv is the current environment without VAULT_* variables, so a
// developer's own Vault settings cannot leak into the test server.
func vaultFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (v *Vault) waitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.Addr+"/v1/sys/health", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-v.exited:
			return errors.New("vault server exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("vault at %s not healthy after %s", v.Addr, timeout)
		case <-tick.C:
		}
	}
}

// Stop kills the server (e.g. to test an outage mid-test) and waits for it
// to exit. Safe to call more than once; also called at test cleanup.
func (v *Vault) Stop() {
	v.stopOnce.Do(func() {
		if v.cmd == nil || v.cmd.Process == nil {
			return
		}
		_ = v.cmd.Process.Kill()
		<-v.exited
	})
}

// Client returns an API client for the server authenticated as root.
func (v *Vault) Client() *api.Client { return v.client }

func newRootClient(addr, token string) (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	conf.Address = addr
	conf.MaxRetries = 0
	conf.Timeout = 30 * time.Second
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c, nil
}

// EnableTransit mounts the transit secrets engine at "transit" (once).
func (v *Vault) EnableTransit(t testing.TB) {
	t.Helper()
	v.EnableTransitAt(t, "transit")
}

// EnableTransitAt mounts the transit secrets engine at path (once).
func (v *Vault) EnableTransitAt(t testing.TB, path string) {
	t.Helper()
	c := v.Client()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.transits[path] {
		return
	}
	if err := c.Sys().MountWithContext(context.Background(), path, &api.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("enable transit at %q: %v", path, err)
	}
	v.transits[path] = true
}

// WritePolicy stores an ACL policy.
func (v *Vault) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := v.Client().Sys().PutPolicyWithContext(context.Background(), name, hcl); err != nil {
		t.Fatalf("write vault policy %q: %v", name, err)
	}
}

// CreateToken creates a token (TTL 1h) holding the given policies plus
// "default".
func (v *Vault) CreateToken(t testing.TB, policies ...string) string {
	t.Helper()
	s, err := v.Client().Auth().Token().CreateWithContext(context.Background(), &api.TokenCreateRequest{
		Policies: policies,
		TTL:      "1h",
	})
	if err != nil {
		t.Fatalf("create vault token: %v", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		t.Fatal("create vault token: no token in response")
	}
	return s.Auth.ClientToken
}

// EnableAppRole enables the AppRole auth method at "approle" (once), creates
// role with the given token policies (token TTL 1h), and returns its role id
// and a fresh secret id.
func (v *Vault) EnableAppRole(t testing.TB, role string, policies ...string) (roleID, secretID string) {
	t.Helper()
	ctx := context.Background()
	c := v.Client()
	v.mu.Lock()
	if !v.approle {
		err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &api.EnableAuthOptions{Type: "approle"})
		if err != nil {
			v.mu.Unlock()
			t.Fatalf("enable approle auth: %v", err)
		}
		v.approle = true
	}
	v.mu.Unlock()

	rolePath := "auth/approle/role/" + role
	if _, err := c.Logical().WriteWithContext(ctx, rolePath, map[string]any{
		"token_policies": policies,
		"token_ttl":      "1h",
		"token_max_ttl":  "4h",
	}); err != nil {
		t.Fatalf("write approle role %q: %v", role, err)
	}
	s, err := c.Logical().ReadWithContext(ctx, rolePath+"/role-id")
	if err != nil || s == nil {
		t.Fatalf("read approle role id for %q: %v", role, err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = c.Logical().WriteWithContext(ctx, rolePath+"/secret-id", nil)
	if err != nil || s == nil {
		t.Fatalf("create approle secret id for %q: %v", role, err)
	}
	secretID, _ = s.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatalf("approle %q: empty role id or secret id", role)
	}
	return roleID, secretID
}

// Output returns the server's output so far, with the root token and unseal
// key redacted.
func (v *Vault) Output() string { return v.redactedOutput() }

func (v *Vault) redactedOutput() string {
	var b strings.Builder
	for line := range strings.Lines(v.out.String()) {
		if strings.Contains(line, "Unseal Key") {
			b.WriteString("Unseal Key: [redacted]\n")
			continue
		}
		b.WriteString(strings.ReplaceAll(line, v.RootToken, "[root-token]"))
	}
	return b.String()
}

// FindVaultBinary locates the vault binary: $CONNECTORHUB_VAULT_BIN, else
// tools/vault/bin/vault under the workspace root (the directory holding
// go.work, found by walking up from the working directory), else vault on
// PATH.
func FindVaultBinary() (string, error) {
	if p := os.Getenv(EnvVaultBin); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", EnvVaultBin, p)
	}
	if root, err := findRepoRoot(); err == nil {
		p := filepath.Join(root, "tools", "vault", "bin", "vault")
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("vault")
	if err != nil {
		return "", fmt.Errorf("not in $%s, tools/vault/bin, or PATH", EnvVaultBin)
	}
	return p, nil
}

// RepoRoot returns the workspace root: the nearest directory at or above the
// working directory that holds go.work.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.work")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work found above the working directory")
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// freePortPair returns a loopback port p with p+1 also free at the time of
// asking: a dev server binds its cluster listener on the port after the API
// port. Another process may still take them before vault binds; StartVault
// retries in that case.
func freePortPair() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port pair found")
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
