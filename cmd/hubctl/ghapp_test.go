package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// hubctl adds a GitHub App connector from --app-id and --private-key-file
// (the installation found from the repository), never prints the key, rotates
// the key with `secrets rotate`, shows its kind and age in `secrets check`;
// a token pool comes from --token-file, one token a line.
func TestGitHubAppAndTokenPoolThroughHubctl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	newKey := func() (*rsa.PrivateKey, string) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	}
	key1, pem1 := newKey()
	key2, pem2 := newKey()
	gh := githubfake.New(githubfake.Options{
		Users:  []githubfake.User{{ID: 1, Login: "pool-one"}, {ID: 2, Login: "pool-two"}},
		Tokens: []githubfake.Token{{Value: "ghp_hubctlPoolOne000000000001", Login: "pool-one", Scopes: []string{"repo"}}, {Value: "ghp_hubctlPoolTwo000000000002", Login: "pool-two", Scopes: []string{"repo"}}},
		Repos:  []githubfake.Repo{{ID: 10, Owner: "acme", Name: "api", Private: true, Collaborators: map[string]githubfake.Role{"pool-one": githubfake.Write, "pool-two": githubfake.Write}}},
		Apps:   []githubfake.App{{ID: 4711, Slug: "hub-app", PublicKey: &key1.PublicKey}},
		Installations: []githubfake.Installation{{ID: 90001, AppID: 4711, Account: "acme", Repos: []string{"acme/api"},
			Permissions: map[string]string{"issues": "write", "pull_requests": "write", "metadata": "read"}}},
	})
	ghURL := gh.Start(t) + "/api/v3"
	reg := registrytest.Start(t)
	admin := func() *cli {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		return c
	}
	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "app.pem"), pem1)
	keyFile2 := writeFile(t, filepath.Join(dir, "app2.pem"), pem2)
	leaks := func(r result) {
		t.Helper()
		for _, p := range []string{pem1, pem2} {
			for _, line := range strings.Split(strings.TrimSpace(p), "\n")[1:3] {
				if strings.Contains(r.all(), line) {
					t.Fatal("hubctl printed the private key")
				}
			}
		}
	}
	base := []string{"connectors", "add", "--id", "gh-app", "--system", "github", "--deployment", "enterprise", "--base-url", ghURL,
		"--project", "acme/api", "--assignee", "hub-app[bot]", "--app-id", "4711"}

	if r := admin().run(base...); r.err == nil || !strings.Contains(r.err.Error(), "--private-key-file") {
		t.Fatalf("add without --private-key-file: %v", r.err)
	}
	r := admin().run(append(base, "--private-key-file", keyFile)...)
	if r.err != nil {
		t.Fatalf("add: %v\n%s", r.err, r.stderr)
	}
	leaks(r)
	get := func(id string) *pb.Connector {
		t.Helper()
		r := admin().run("connectors", "get", id, "-o", "json")
		if r.err != nil {
			t.Fatal(r.err)
		}
		var resp pb.GetConnectorResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatal(err)
		}
		return resp.GetConnector()
	}
	c := get("gh-app")
	if c.GetAuthMode() != pb.AuthMode_AUTH_MODE_GITHUB_APP || c.GetAppId() != 4711 || c.GetCredential().GetKind() != "github_app_private_key" {
		t.Fatalf("saved: auth %v, app %d, kind %q", c.GetAuthMode(), c.GetAppId(), c.GetCredential().GetKind())
	}
	r = admin().run("connectors", "test", "gh-app", "-o", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var res pb.TestConnectionResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &res); err != nil || !res.GetOk() || res.GetIdentity() != "hub-app[bot]" {
		t.Fatalf("saved test: %v %v", res.GetChecks(), err)
	}

	// Rotation: the app's new key (the fake now knows only it).
	gh.AddApp(githubfake.App{ID: 4711, Slug: "hub-app", PublicKey: &key2.PublicKey})
	r = admin().run("secrets", "rotate", "gh-app", "--private-key-file", keyFile2)
	if r.err != nil {
		t.Fatalf("rotate: %v\n%s", r.err, r.stderr)
	}
	leaks(r)
	if get("gh-app").GetCredential().GetFingerprint() == c.GetCredential().GetFingerprint() {
		t.Error("rotation kept the old key")
	}
	r = admin().run("secrets", "check")
	if r.err != nil || !strings.Contains(r.stdout, "github_app_private_key") {
		t.Errorf("secrets check does not show the key's kind: %v\n%s", r.err, r.stdout)
	}

	tokFile := writeFile(t, filepath.Join(dir, "tokens"), "# discovery pool\nghp_hubctlPoolOne000000000001\n\nghp_hubctlPoolTwo000000000002\n")
	r = admin().run("connectors", "add", "--id", "gh-pool", "--system", "github", "--deployment", "enterprise", "--base-url", ghURL,
		"--project", "acme/api", "--token-file", tokFile)
	if r.err != nil {
		t.Fatalf("add pool: %v\n%s", r.err, r.stderr)
	}
	if strings.Contains(r.all(), "ghp_hubctlPool") {
		t.Error("hubctl printed a pool token")
	}
	if got := get("gh-pool").GetCredential(); got.GetKind() != "token_pool" || got.GetPoolSize() != 2 {
		t.Errorf("pool credential: %v", got)
	}
	r = admin().run("connectors", "get", "gh-pool")
	if !strings.Contains(r.stdout, "token pool of 2") {
		t.Errorf("get does not show the pool:\n%s", r.stdout)
	}
}
