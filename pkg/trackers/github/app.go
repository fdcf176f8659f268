package github

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// GitHub App installations.
//
// A connector with auth mode github_app holds the app's private key as its
// credential. A worker signs a JWT with it (RS256, iss = app id, iat a
// minute in the past against clock skew, exp under GitHub's ten minutes),
// exchanges it at POST /app/installations/{id}/access_tokens for an
// installation token (an hour), and keeps that token in memory only, until
// shortly before it expires. Every session of the same installation (same
// host, app, installation and key) shares one token: one mint at a time
// (single flight), safe for concurrent use.
//
// Written here rather than taken from bradleyfalzon/ghinstallation (v2.19.0
// resolves): it brings a second go-github major (v88) and golang-jwt v4
// beside the v92 and v5 this module uses, signs iat only 30 s in the past,
// and keeps one token per transport where every session of an installation
// must share one. The JWT itself is golang-jwt/jwt/v5's.

const (
	// appJWTBackdate and appJWTLifetime: GitHub refuses a JWT whose iat is
	// in its future or whose exp is more than ten minutes after it.
	appJWTBackdate = 60 * time.Second
	appJWTLifetime = 9 * time.Minute
	// appTokenMargin: an installation token is re-minted this long before it
	// expires (or at half its lifetime, for short-lived tokens), so no
	// request carries a token that expires on the way.
	appTokenMargin = 5 * time.Minute
)

// appClock is the clock of new installation sources (tests replace it).
var appClock = time.Now

// appSources holds the installation source of every installation in use:
// appSourceKey → *appSource; at most maxAppSources, counted by appSourceCount.
var (
	appSources     sync.Map
	appSourceCount atomic.Int64
)

const maxAppSources = 4096

type appSourceKey struct {
	host           string
	appID          int64
	installationID int64  // 0: found from repo
	repo           string // owner/repo when installationID is 0
	key            string // SHA-256 of the private key: a rotated key is a new source
}

// appSource mints and caches the installation tokens of one installation.
type appSource struct {
	appID int64
	key   *rsa.PrivateKey
	now   func() time.Time
	repo  string
	// client builds the go-github client (the first session's HTTP client:
	// endpoint policy, proxy, CA bundle) with the given auth.
	client func(auth func(context.Context) (string, error)) (*github.Client, error)

	mu           sync.Mutex
	installation int64
	token        string
	expires      time.Time
	minted       time.Time
	permissions  *github.InstallationPermissions
	flight       chan struct{} // closed when the mint under way ends
	flightErr    error

	mints atomic.Int64
}

// appSourceFor returns the installation source of a github_app session.
func appSourceFor(s *trackers.Session) (*appSource, error) {
	c := s.Connector
	sum := sha256.Sum256([]byte(s.Secret.Reveal()))
	k := appSourceKey{host: s.BaseURL.Host, appID: c.AppID, installationID: c.InstallationID, key: hex.EncodeToString(sum[:])}
	if c.InstallationID == 0 {
		k.repo = strings.ToLower(c.Project)
	}
	if v, ok := appSources.Load(k); ok {
		return v.(*appSource), nil
	}
	key, err := connector.ParseRSAPrivateKey([]byte(s.Secret.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("%w: GitHub App private key: %w", trackers.ErrInvalidConfig, err)
	}
	src := &appSource{appID: c.AppID, key: key, now: appClock, repo: c.Project, installation: c.InstallationID}
	src.client = func(auth func(context.Context) (string, error)) (*github.Client, error) {
		return buildGitHubClient(s, auth, nil, nil)
	}
	v, loaded := appSources.LoadOrStore(k, src)
	if !loaded && appSourceCount.Add(1) > maxAppSources {
		// Every key, app or installation ever tested (the registry tests
		// unsaved configurations) would otherwise stay: start over, at the
		// cost of one mint per installation in use.
		appSources.Clear()
		appSourceCount.Store(0)
	}
	return v.(*appSource), nil
}

// jwt signs the app's JWT.
func (a *appSource) jwt() (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-appJWTBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(appJWTLifetime)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
}

// jwtClient is a go-github client that authenticates as the app itself.
func (a *appSource) jwtClient() (*github.Client, error) {
	return a.client(func(context.Context) (string, error) { return a.jwt() })
}

// Token returns a valid installation token, minting one when none is cached
// or the cached one is about to expire. Concurrent callers share one mint.
func (a *appSource) Token(ctx context.Context) (string, error) {
	for {
		a.mu.Lock()
		if a.token != "" && a.now().Before(a.refreshAt()) {
			tok := a.token
			a.mu.Unlock()
			return tok, nil
		}
		if f := a.flight; f != nil {
			a.mu.Unlock()
			select {
			case <-f:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			a.mu.Lock()
			err := a.flightErr
			a.mu.Unlock()
			if err != nil {
				return "", err
			}
			continue
		}
		f := make(chan struct{})
		a.flight = f
		a.mu.Unlock()

		err := a.mint(ctx)
		a.mu.Lock()
		a.flight, a.flightErr = nil, err
		a.mu.Unlock()
		close(f)
		if err != nil {
			return "", err
		}
	}
}

// refreshAt is when the cached token must be replaced; a.mu held.
func (a *appSource) refreshAt() time.Time {
	margin := min(appTokenMargin, a.expires.Sub(a.minted)/2)
	return a.expires.Add(-margin)
}

// Invalidate drops the cached token (GitHub refused it: revoked), so the next
// request mints another.
func (a *appSource) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// errAppMint wraps a failed exchange; its message names the step, never a token.
var errAppMint = errors.New("GitHub App installation token")

func (a *appSource) mint(ctx context.Context) error {
	gc, err := a.jwtClient()
	if err != nil {
		return err
	}
	a.mu.Lock()
	inst := a.installation
	a.mu.Unlock()
	if inst == 0 {
		owner, repo, err := splitRepo(a.repo)
		if err != nil {
			return err
		}
		in, _, err := gc.Apps.GetRepositoryInstallation(ctx, owner, repo)
		if err != nil {
			return fmt.Errorf("%w: find the installation on %s: %w", errAppMint, a.repo, githubError(ctx, err, "installation of "+a.repo, trackers.ErrUnauthorized))
		}
		inst = in.GetID()
		a.mu.Lock()
		a.installation = inst
		a.mu.Unlock()
	}
	minted := a.now()
	tok, _, err := gc.Apps.CreateInstallationToken(ctx, inst, &github.InstallationTokenOptions{}) // "{}": GitHub's schema refuses a null body
	if err != nil {
		return fmt.Errorf("%w: installation %d: %w", errAppMint, inst, githubError(ctx, err, "installation token", trackers.ErrUnauthorized))
	}
	if tok.GetToken() == "" || tok.ExpiresAt == nil {
		return fmt.Errorf("%w: installation %d: tracker sent no token or expiry", errAppMint, inst)
	}
	a.mints.Add(1)
	a.mu.Lock()
	a.token, a.expires, a.minted, a.permissions = tok.GetToken(), tok.ExpiresAt.Time, minted, tok.Permissions
	a.mu.Unlock()
	return nil
}

// Installation is the installation id, once known.
func (a *appSource) Installation() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.installation
}

// Permissions are what the last minted token was granted.
func (a *appSource) Permissions() *github.InstallationPermissions {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.permissions
}

// appNeeds are the installation permissions a connector needs, with what
// each is for.
var appNeeds = []struct {
	name, level, why string
	get              func(*github.InstallationPermissions) string
}{
	{"issues", "write", "read assigned issues, set status labels, comment", func(p *github.InstallationPermissions) string { return p.GetIssues() }},
	{"pull_requests", "write", "open pull requests", func(p *github.InstallationPermissions) string { return p.GetPullRequests() }},
	{"metadata", "read", "read the repository", func(p *github.InstallationPermissions) string { return p.GetMetadata() }},
}

func permissionCovers(granted, need string) bool {
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	return rank[granted] >= rank[need]
}

// checkApp is CheckIdentity for a GitHub App: the JWT is accepted (GET
// /app), an installation token is minted, the installation reaches the
// connector's repository (GET /installation/repositories) with the
// permissions the connector needs. The token's hour is not a credential
// expiry: ExpireTime stays unset (the private key does not expire).
func (t Tracker) checkApp(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	src, err := appSourceFor(s)
	if err != nil {
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	}
	jc, err := src.jwtClient()
	if err != nil {
		r.Fail(trackers.CheckIdentity, "cannot build GitHub client for this base URL")
		return
	}
	app, _, err := jc.Apps.Get(ctx, "")
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s (is the app id %d and its private key right?)", describeGitHubError(err, "GitHub App"), s.Connector.AppID)
		return
	}
	if _, err := src.Token(ctx); err != nil {
		if !s.TransportFailed() {
			r.Fail(trackers.CheckIdentity, "app %s: %v (is the app installed on %s?)", app.GetSlug(), err, s.Connector.Project)
		}
		return
	}
	r.Identity = app.GetSlug() + "[bot]"
	r.Pass(trackers.CheckIdentity, "GitHub App %s (id %d), installation %d", app.GetSlug(), s.Connector.AppID, src.Installation())

	perms := src.Permissions()
	var missing, granted []string
	for _, n := range appNeeds {
		g := ""
		if perms != nil {
			g = n.get(perms)
		}
		if g != "" {
			granted = append(granted, n.name+":"+g)
		}
		if !permissionCovers(g, n.level) {
			missing = append(missing, n.name+":"+n.level)
			r.MissingScopes = append(r.MissingScopes, n.name+":"+n.level)
		}
	}
	r.GrantedScopes = granted
	if len(missing) > 0 {
		r.Fail(trackers.CheckScopes, "installation lacks permission %s (has: %s): in the app's settings, Permissions & events → Repository permissions, grant Issues: Read and write, Pull requests: Read and write, Metadata: Read-only; then accept the new permissions on the installation",
			strings.Join(missing, ", "), orNone(granted))
	} else {
		r.Pass(trackers.CheckScopes, "installation has permissions %s", strings.Join(granted, ", "))
	}

	gc, err := newGitHubClient(s)
	if err != nil {
		r.Fail(trackers.CheckProject, "cannot build GitHub client for this base URL")
		return
	}
	var names []string
	found, archived := false, false
	opts := &github.ListOptions{PerPage: 100}
	for page := 0; page < 10; page++ { // 1000 repositories are enough to show
		list, resp, err := gc.Apps.ListRepos(ctx, opts)
		switch {
		case s.TransportFailed():
			return
		case err != nil:
			r.Fail(trackers.CheckProject, "%s", describeGitHubError(err, "installation repositories"))
			return
		}
		for _, repo := range list.Repositories {
			names = append(names, repo.GetFullName())
			if strings.EqualFold(repo.GetFullName(), s.Connector.Project) {
				found, archived = true, repo.GetArchived()
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if !found {
		r.Fail(trackers.CheckProject, "the installation does not include %s (it has: %s): add the repository to the installation (Configure → Repository access)", s.Connector.Project, orNone(names))
		return
	}
	r.Pass(trackers.CheckProject, "repository %s in the installation (%d repositories: %s)", s.Connector.Project, len(names), strings.Join(names, ", "))
	switch {
	case archived:
		r.Fail(trackers.CheckWriteAccess, "repository %s is archived and read-only", s.Connector.Project)
	case perms != nil && permissionCovers(perms.GetIssues(), "write") && permissionCovers(perms.GetPullRequests(), "write"):
		r.Pass(trackers.CheckWriteAccess, "installation may write issues and pull requests on %s", s.Connector.Project)
	default:
		r.Fail(trackers.CheckWriteAccess, "installation may not write issues and pull requests on %s", s.Connector.Project)
	}
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, ", ")
}

// appAuth is the auth of a github_app session's requests: the installation
// token (githubAuthTransport hands a refused one to appSource.Invalidate).
func appAuth(src *appSource) func(context.Context) (string, error) {
	return src.Token
}
