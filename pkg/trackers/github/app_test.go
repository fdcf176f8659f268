package github_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
)

// fakeClock is a settable clock shared by the fake and the installation
// sources, so token expiry is tested without waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAppKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

const (
	appID          = 4711
	installationID = 90001
)

type appFixture struct {
	fake      *githubfake.Server
	url       string
	keyPEM    string
	conn      connector.Connector
	validator *contract.Validator
}

// newAppFixture starts a fake GitHub with one app installed on acme/widgets
// with perms (issues/pull requests write, metadata read when nil), and an
// issue assigned to the app's bot. prefix "/api/v3" serves it as Enterprise Server.
func newAppFixture(t *testing.T, prefix string, perms map[string]string, opts ...func(*githubfake.Options)) *appFixture {
	t.Helper()
	key, keyPEM := newAppKey(t)
	if perms == nil {
		perms = map[string]string{"issues": "write", "pull_requests": "write", "metadata": "read"}
	}
	o := githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat"}},
		Repos: []githubfake.Repo{
			{ID: 7, Owner: "acme", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Admin}},
			{ID: 8, Owner: "acme", Name: "gadgets", Private: true},
		},
		Apps:          []githubfake.App{{ID: appID, Slug: "hub-app", PublicKey: &key.PublicKey}},
		Installations: []githubfake.Installation{{ID: installationID, AppID: appID, Account: "acme", Repos: []string{"acme/widgets", "acme/gadgets"}, Permissions: perms}},
	}
	for _, f := range opts {
		f(&o)
	}
	fake := githubfake.New(o)
	fake.AddIssue("acme/widgets", githubfake.Issue{Title: "Fix the widget", Assignees: []string{"hub-app[bot]"}})
	v := contract.NewValidator(contract.MustLoad(contract.GitHubApps), contract.Options{Rewrite: contract.StripGHESPrefix})
	t.Cleanup(func() {
		for _, viol := range v.Violations() {
			t.Errorf("contract: %s", viol)
		}
	})
	url := fake.Start(t, v.Middleware)
	dep := connector.Cloud
	if prefix != "" {
		dep = connector.SelfHosted
	}
	return &appFixture{fake: fake, url: url + prefix, keyPEM: keyPEM, validator: v, conn: connector.Connector{
		ID: "gh-app", System: connector.GitHub, Deployment: dep, BaseURL: url + prefix, AuthMode: connector.AuthGitHubApp,
		AppID: appID, InstallationID: installationID, Project: "acme/widgets", Assignee: "hub-app[bot]",
	}}
}

func (f *appFixture) session(t *testing.T, edit ...func(*connector.Connector)) *trackers.Session {
	t.Helper()
	c := f.conn
	for _, e := range edit {
		e(&c)
	}
	s, err := trackers.NewSession(github.New(), c, connector.NewSecret(f.keyPEM), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

func TestGitHubAppConnectionTestReportsInstallationRepositoriesAndPermissions(t *testing.T) {
	for name, prefix := range map[string]string{"cloud": "", "enterprise server": "/api/v3"} {
		t.Run(name, func(t *testing.T) {
			f := newAppFixture(t, prefix, nil)
			res, err := trackers.Test(context.Background(), github.New(), f.conn, connector.NewSecret(f.keyPEM), trackers.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK {
				t.Fatalf("test failed: %+v", res.Checks)
			}
			if res.Identity != "hub-app[bot]" {
				t.Errorf("identity = %q", res.Identity)
			}
			if !res.ExpireTime.IsZero() {
				t.Errorf("ExpireTime = %v: an installation token's hour is not the credential's expiry", res.ExpireTime)
			}
			var project string
			for _, c := range res.Checks {
				if c.Name == trackers.CheckProject {
					project = c.Message
				}
			}
			if !strings.Contains(project, "acme/widgets") || !strings.Contains(project, "acme/gadgets") {
				t.Errorf("project check does not list the installation's repositories: %q", project)
			}
			if f.fake.JWTsVerified() == 0 || f.fake.InstallationTokensIssued() != 1 {
				t.Errorf("JWTs verified %d, tokens issued %d", f.fake.JWTsVerified(), f.fake.InstallationTokensIssued())
			}
		})
	}
}

func TestGitHubAppConnectionTestNamesMissingPermissions(t *testing.T) {
	f := newAppFixture(t, "", map[string]string{"issues": "read", "metadata": "read"})
	res, err := trackers.Test(context.Background(), github.New(), f.conn, connector.NewSecret(f.keyPEM), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK {
		t.Fatal("test passed without issues:write and pull_requests:write")
	}
	var scopes string
	for _, c := range res.Checks {
		if c.Name == trackers.CheckScopes && !c.OK {
			scopes = c.Message
		}
	}
	for _, want := range []string{"issues:write", "pull_requests:write", "Repository permissions"} {
		if !strings.Contains(scopes, want) {
			t.Errorf("scopes check %q does not name %q", scopes, want)
		}
	}
	if strings.Join(res.MissingScopes, ",") != "issues:write,pull_requests:write" {
		t.Errorf("MissingScopes = %v", res.MissingScopes)
	}
}

func TestGitHubAppJWTSignedWithAnotherKeyIsRefused(t *testing.T) {
	f := newAppFixture(t, "", nil)
	_, otherPEM := newAppKey(t)
	res, err := trackers.Test(context.Background(), github.New(), f.conn, connector.NewSecret(otherPEM), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK {
		t.Fatal("a JWT signed with another key passed")
	}
	if f.fake.InstallationTokensIssued() != 0 || f.fake.JWTsVerified() != 0 {
		t.Errorf("fake accepted the JWT: verified %d, issued %d", f.fake.JWTsVerified(), f.fake.InstallationTokensIssued())
	}
}

func TestGitHubAppJWTClaims(t *testing.T) {
	f := newAppFixture(t, "", nil)
	s := f.session(t)
	before := time.Now()
	raw, err := github.AppJWT(s)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.RegisteredClaims
	key, _ := newAppKey(t) // unverified parse: only the claims are checked here, the fake checks the signature
	_, _, err = jwt.NewParser().ParseUnverified(raw, &claims)
	_ = key
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != "4711" {
		t.Errorf("iss = %q", claims.Issuer)
	}
	if iat := claims.IssuedAt.Time; iat.After(before.Add(-59*time.Second)) || iat.Before(before.Add(-2*time.Minute)) {
		t.Errorf("iat %v is not about 60 s before %v", iat, before)
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life > 10*time.Minute || life < 5*time.Minute {
		t.Errorf("exp - iat = %v, GitHub allows at most 10 min", life)
	}
}

func TestGitHubAppFindsInstallationFromRepository(t *testing.T) {
	f := newAppFixture(t, "", nil)
	s := f.session(t, func(c *connector.Connector) { c.InstallationID = 0 })
	page, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 {
		t.Fatalf("discovered %d tickets, want 1", len(page.Tickets))
	}
	if f.fake.InstallationTokensIssued() != 1 {
		t.Errorf("tokens issued %d", f.fake.InstallationTokensIssued())
	}
}

// An installation token is re-minted shortly before it expires, never used
// after, and cached in between: the clock is shared by the fake and the source.
func TestGitHubAppInstallationTokenExpiresAndIsReminted(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	defer github.SetAppClock(clk.Now)()
	f := newAppFixture(t, "", nil, func(o *githubfake.Options) {
		o.Now = clk.Now
		o.InstallationTokenTTL = 10 * time.Minute
	})
	s := f.session(t)
	discover := func() {
		t.Helper()
		if _, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{}); err != nil {
			t.Fatalf("discover: %v", err)
		}
	}
	steps := []struct {
		advance time.Duration
		mints   int
	}{
		{0, 1},
		{4 * time.Minute, 1},  // 6 min left: cached
		{2 * time.Minute, 2},  // 4 min left: inside the 5 min margin, re-minted
		{11 * time.Minute, 3}, // the second token expired meanwhile: re-minted, not sent
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		discover()
		if got := f.fake.InstallationTokensIssued(); got != st.mints {
			t.Fatalf("step %d: %d tokens minted, want %d", i, got, st.mints)
		}
	}
}

func TestGitHubAppConcurrentSessionsShareOneToken(t *testing.T) {
	f := newAppFixture(t, "", nil)
	sessions := []*trackers.Session{f.session(t), f.session(t), f.session(t)}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			_, err := github.New().Discover(context.Background(), sessions[i%len(sessions)], trackers.DiscoveryQuery{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.fake.InstallationTokensIssued(); got != 1 {
		t.Errorf("%d tokens minted for 30 concurrent requests of one installation, want 1", got)
	}
	if got := f.fake.RateLimitUsedBy("installation/90001"); got < 30 {
		t.Errorf("installation budget spent %d, want >= 30 (rate limit follows the installation)", got)
	}
}

func TestGitHubAppRevokedInstallationTokenIsReplaced(t *testing.T) {
	f := newAppFixture(t, "", nil)
	s := f.session(t)
	if _, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range f.fake.InstallationTokens() {
		f.fake.RevokeToken(tok)
	}
	_, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
	if !errors.Is(err, trackers.ErrUnauthorized) {
		t.Fatalf("with a revoked token: %v, want ErrUnauthorized", err)
	}
	if _, err := github.New().Discover(context.Background(), s, trackers.DiscoveryQuery{}); err != nil {
		t.Fatalf("after the refusal a new token should be minted: %v", err)
	}
	if got := f.fake.InstallationTokensIssued(); got != 2 {
		t.Errorf("tokens minted %d, want 2", got)
	}
}
