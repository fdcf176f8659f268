package oauthgrant_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	clientID     = "app-client-id-1"
	clientSecret = "app-client-5ecret-value"
	siteURL      = "https://acme.atlassian.net"
	cloudID      = "11111111-2222-3333-4444-555555555555"
	miaEmail     = "mia@example.com"
)

// env is one embedded NATS server, a local keyring, the Atlassian fake with
// a Jira and a Confluence site behind it, and a stored oauth2 connector.
type env struct {
	srv    *bus.Embedded
	cipher *secrets.Local
	fake   *atlassianfake.Server
	ep     oauthgrant.Endpoints
	conn   connector.Connector
	jira   *jirafake.Server
	wiki   *confluencefake.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testenv.NATSServer(t)
	nc, err := srv.Connect(nats.Name("provision"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	cipher, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	jf := jirafake.New(jirafake.Options{
		Users:    []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Email: miaEmail, DisplayName: "Mia", APIToken: "unused-api-token"}},
		Projects: []jirafake.Project{{ID: "10000", Key: "PROJ", Name: "Project"}},
	})
	wf := confluencefake.New(confluencefake.Options{
		Users:  []confluencefake.User{{AccountID: "5b10a2844c20165700ede21g", Email: miaEmail, DisplayName: "Mia", APIToken: "unused-api-token"}},
		Spaces: []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}},
	})
	fake := atlassianfake.New(atlassianfake.Options{
		Apps:    []atlassianfake.App{{ClientID: clientID, ClientSecret: clientSecret}},
		Sites:   []atlassianfake.Site{{ID: "other-site-id", Name: "other", URL: "https://other.atlassian.net"}, {ID: cloudID, Name: "acme", URL: siteURL, Jira: jf, Confluence: wf}},
		Consent: miaEmail,
	})
	base := fake.Start(t)
	e := &env{srv: srv, cipher: cipher, fake: fake, jira: jf, wiki: wf,
		ep: oauthgrant.Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", APIURL: base}}
	c := connector.Connector{ID: "jira-oauth", System: connector.Jira, Deployment: connector.Cloud, BaseURL: siteURL,
		AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, Project: "PROJ", Enabled: true,
		Credential: connector.Credential{Binding: connector.BindingFields}}
	e.conn = e.create(t, c, fake.Grant(clientID, miaEmail))
	return e
}

// create stores c with the client secret encrypted, and its grant with
// the refresh token encrypted, as the registry does.
func (e *env) create(t *testing.T, c connector.Connector, refresh string) connector.Connector {
	t.Helper()
	ctx := context.Background()
	ct, err := e.cipher.Encrypt(ctx, c.CredentialContext(), []byte(clientSecret))
	if err != nil {
		t.Fatal(err)
	}
	c.Credential.Ciphertext = ct
	out, err := e.store(t).Create(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	e.authorize(t, out, refresh)
	return out
}

// authorize stores a new grant for c holding refresh, as SetOAuthGrant does.
func (e *env) authorize(t *testing.T, c connector.Connector, refresh string) connector.OAuthGrant {
	t.Helper()
	ctx := context.Background()
	rt, err := e.cipher.Encrypt(ctx, c.OAuthRefreshContext(), []byte(refresh))
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.grants(t).Put(ctx, connector.OAuthGrant{ConnectorID: c.ID, GrantTime: time.Now().UTC(), Context: c.GrantContextDigest(),
		Refresh: connector.Credential{Ciphertext: rt, SetTime: time.Now().UTC(), Binding: connector.BindingFields}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// kv opens bucket on a connection of its own, as a separate replica would.
func (e *env) kv(t *testing.T, bucket string) jetstream.KeyValue {
	t.Helper()
	nc, err := e.srv.Connect(nats.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func (e *env) store(t *testing.T) *connector.Store {
	return connector.NewStore(e.kv(t, bus.BucketConnectors))
}

func (e *env) grants(t *testing.T) *connector.GrantStore {
	return connector.NewGrantStore(e.kv(t, bus.BucketOAuthGrants))
}

// clock is a settable offset over the real clock (access token expiry comes
// from x/oauth2, which reads the real one).
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (e *env) replica(t *testing.T, clk *clock, rec oauthgrant.Grants) *oauthgrant.Manager {
	t.Helper()
	if rec == nil {
		rec = e.grants(t)
	}
	cfg := oauthgrant.Config{Endpoints: e.ep, RotationGrace: 5 * time.Second, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}}
	if clk != nil {
		cfg.Now = clk.now
	}
	return oauthgrant.New(cfg, rec, e.cipher)
}

// storedRefresh decrypts the refresh token the grant holds now.
func (e *env) storedRefresh(t *testing.T) string {
	t.Helper()
	g := e.grant(t)
	clear, err := e.cipher.Decrypt(context.Background(), e.conn.OAuthRefreshContext(), g.Refresh.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	return string(clear)
}

func (e *env) grant(t *testing.T) connector.OAuthGrant {
	t.Helper()
	g, err := e.grants(t).Get(context.Background(), e.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *env) current(t *testing.T) connector.Connector {
	t.Helper()
	c, err := e.store(t).Get(context.Background(), e.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAccessTokenIsCachedUntilShortlyBeforeExpiryAndEachRefreshRotatesTheStoredToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	clk := &clock{}
	m := e.replica(t, clk, nil)
	secret := connector.NewSecret(clientSecret)
	first := e.storedRefresh(t)
	firstGrant := e.grant(t)

	acc, err := m.Access(ctx, e.conn, secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.ep.APIURL + "/ex/jira/" + cloudID; acc.APIRoot.String() != want {
		t.Fatalf("API root = %s, want %s (the site's cloudId, not the other site's)", acc.APIRoot, want)
	}
	second := e.storedRefresh(t)
	if second == first || !slices.Contains(e.fake.LiveRefreshTokens(), second) {
		t.Fatalf("the record does not hold the rotated refresh token")
	}
	if g := e.grant(t); g.Refresh.SetTime.Before(firstGrant.Refresh.SetTime) || g.Refresh.Fingerprint == "" || !g.GrantTime.Equal(firstGrant.GrantTime) {
		t.Fatalf("rotation did not update set time and fingerprint, or changed the grant time: %+v", g)
	}
	// Cached: the stale copy of the record (older revision) still gets it,
	// without another refresh.
	clk.advance(50 * time.Minute)
	again, err := m.Access(ctx, e.conn, secret)
	if err != nil || again.Token.Reveal() != acc.Token.Reveal() || e.fake.Refreshes() != 1 {
		t.Fatalf("second access: err %v, same token %v, refreshes %d; want the cached token", err, again.Token.Reveal() == acc.Token.Reveal(), e.fake.Refreshes())
	}
	// Within Early (2 min) of the expiry: refreshed, rotated again.
	clk.advance(9 * time.Minute)
	third, err := m.Access(ctx, e.current(t), secret)
	if err != nil {
		t.Fatal(err)
	}
	if third.Token.Reveal() == acc.Token.Reveal() || e.fake.Refreshes() != 2 {
		t.Fatalf("near expiry: refreshes %d, want 2 and a new token", e.fake.Refreshes())
	}
	if got := e.storedRefresh(t); got == second || !slices.Contains(e.fake.LiveRefreshTokens(), got) {
		t.Fatalf("the second rotation was not stored")
	}
	// Two rotations, and the connector record is untouched: an admin's etag
	// stays valid and a pause recorded for its revision stays in force.
	if c := e.current(t); c.Revision != e.conn.Revision {
		t.Fatalf("the connector record changed on refresh: revision %d → %d", e.conn.Revision, c.Revision)
	}
}

// gatedGrants holds a replica's first store of a rotated token until
// release is closed: the window in which another replica uses the token
// that was just retired.
type gatedGrants struct {
	oauthgrant.Grants
	release chan struct{}
	once    sync.Once
}

func (g *gatedGrants) Update(ctx context.Context, gr connector.OAuthGrant) (connector.OAuthGrant, error) {
	g.once.Do(func() { <-g.release })
	return g.Grants.Update(ctx, gr)
}

func TestTwoReplicasRefreshingAtOnceLoseNoTokenAndTheLoserUsesTheWinners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	secret := connector.NewSecret(clientSecret)
	gate := &gatedGrants{Grants: e.grants(t), release: make(chan struct{})}
	winner := e.replica(t, nil, gate)
	loser := e.replica(t, nil, nil)

	var wg sync.WaitGroup
	var werr, lerr error
	wg.Add(1)
	go func() { defer wg.Done(); _, werr = winner.Access(ctx, e.conn, secret) }()
	// The winner has exchanged the refresh token and waits to store its successor.
	testenv.Eventually(t, 30*time.Second, "the winner's refresh", func() bool { return e.fake.Refreshes() == 1 })
	wg.Add(1)
	go func() { defer wg.Done(); _, lerr = loser.Access(ctx, e.conn, secret) }()
	// The loser's refresh with the same (retired) token is refused...
	testenv.Eventually(t, 30*time.Second, "the loser's refused refresh", func() bool {
		return strings.Count(strings.Join(e.fake.Calls(), "\n"), "POST /oauth/token") == 2
	})
	close(gate.release) // ...then the winner stores its token.
	wg.Wait()
	if werr != nil || lerr != nil {
		t.Fatalf("winner: %v; loser: %v", werr, lerr)
	}
	// The loser refreshed again with the winner's token: three calls, two grants.
	if got := e.fake.Refreshes(); got != 2 {
		t.Fatalf("refreshes = %d, want 2 (the winner's, then the loser's with the winner's token)", got)
	}
	if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
		t.Fatal("the stored refresh token is not live: a rotation was lost")
	}

	// Many rounds at once, both replicas' caches expired each time: the
	// stored token is always live and no call fails.
	a, b := e.replica(t, nil, nil), e.replica(t, nil, nil)
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []*oauthgrant.Manager{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.Forget(e.conn.ID)
				_, errs[i] = m.Access(ctx, e.current(t), secret)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
			t.Fatalf("round %d: the stored refresh token is not live", round)
		}
	}
}

func TestRevokedGrantFailsOnceWithTheReauthorizeCommandAndStopsAsking(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := oauthgrant.Config{Endpoints: e.ep, RotationGrace: 300 * time.Millisecond, TrackerOptions: trackers.Options{Timeout: 10 * time.Second}}
	m := oauthgrant.New(cfg, e.grants(t), e.cipher)
	e.fake.RevokeAll()
	_, err := m.Access(ctx, e.conn, connector.NewSecret(clientSecret))
	if !errors.Is(err, trackers.ErrGrantInvalid) || !errors.Is(err, trackers.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrGrantInvalid and ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "hubctl connectors authorize jira-oauth") || func() bool { r, _ := trackers.RetryOf(err); return r != trackers.RetryNever }() {
		t.Fatalf("err = %q: want the command to re-authorize and no retry", err)
	}
	calls := len(e.fake.Calls())
	if _, err2 := m.Access(ctx, e.conn, connector.NewSecret(clientSecret)); err2 == nil || len(e.fake.Calls()) != calls {
		t.Fatalf("second access asked the server again (%d → %d calls) or succeeded: %v", calls, len(e.fake.Calls()), err2)
	}
	// A new grant stored (re-authorized) is used at once, with the same
	// connector record (a grant no longer changes it).
	e.authorize(t, e.conn, e.fake.Grant(clientID, miaEmail))
	if _, err := m.Access(ctx, e.conn, connector.NewSecret(clientSecret)); err != nil {
		t.Fatalf("after re-authorization: %v", err)
	}
}

func TestWrongClientSecretIsUnauthorizedNotARevokedGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.replica(t, nil, nil)
	_, err := m.Access(context.Background(), e.conn, connector.NewSecret("wrong-secret"))
	if !errors.Is(err, trackers.ErrUnauthorized) || errors.Is(err, trackers.ErrGrantInvalid) || !strings.Contains(err.Error(), "hubctl secrets rotate") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatal("the error carries the secret")
	}
}

func TestJiraAndConfluenceCallTheSiteThroughTheGatewayOnOneGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.replica(t, nil, nil)
	opts := trackers.Options{Timeout: 10 * time.Second, OAuth: m}
	secret := connector.NewSecret(clientSecret)

	res, err := trackers.Test(ctx, jira.New(), e.conn, secret, opts)
	if err != nil || !res.OK {
		t.Fatalf("jira test: %+v, %v", res, err)
	}
	// Confluence on the same app and grant (one consent covering both products).
	wiki := connector.Connector{ID: "wiki-oauth", System: connector.Confluence, Deployment: connector.Cloud, BaseURL: siteURL + "/wiki",
		AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, SpaceKeys: []string{"ENG"}, Enabled: true,
		Credential: connector.Credential{Binding: connector.BindingFields}}
	wiki = e.create(t, wiki, e.fake.Grant(clientID, miaEmail))
	res, err = trackers.Test(ctx, confluence.New(), wiki, secret, opts)
	if err != nil || !res.OK {
		t.Fatalf("confluence test: %+v, %v", res, err)
	}
	calls := strings.Join(e.fake.Calls(), "\n")
	for _, want := range []string{"GET /ex/jira/" + cloudID + "/rest/api/3/myself", "GET /ex/confluence/" + cloudID + "/wiki/rest/api/"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}
	if strings.Contains(calls, "other-site-id") {
		t.Error("a call went to another site")
	}
}

func TestOAuthSessionWithoutTheTokenServiceIsInvalidConfig(t *testing.T) {
	t.Parallel()
	c := connector.Connector{ID: "j", System: connector.Jira, Deployment: connector.Cloud, BaseURL: siteURL, AuthMode: connector.AuthOAuth2, OAuthClientID: clientID, Project: "PROJ"}
	res, err := trackers.Test(context.Background(), jira.New(), c, connector.NewSecret(clientSecret), trackers.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK {
		t.Fatalf("a session without OAuth tokens passed: %+v", res)
	}
}

// TestNoTokenInTraces (not parallel: it sets the global tracer provider
// that tracker sessions use) runs calls through the gateway and a refresh,
// then looks for the client secret and every issued code and token in
// every span's name, status, attributes and events.
func TestNoTokenInTraces(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	e := newEnv(t)
	ctx := context.Background()
	m := e.replica(t, nil, nil)
	opts := trackers.Options{Timeout: 10 * time.Second, OAuth: m}
	secret := connector.NewSecret(clientSecret)
	for range 2 {
		if res, err := trackers.Test(ctx, jira.New(), e.current(t), secret, opts); err != nil || !res.OK {
			t.Fatalf("jira test: %+v, %v", res, err)
		}
		e.fake.ExpireAccessTokens() // the next round: a 401, a refresh, a rotation
		_, _ = trackers.Test(ctx, jira.New(), e.current(t), secret, opts)
	}
	spans := rec.Ended()
	if len(spans) < 3 {
		t.Fatalf("%d spans: tracing did not record the tracker calls", len(spans))
	}
	// Each refresh and each accessible-resources call is a client span of
	// its own, naming the connector and the server, not the token.
	kinds := map[string]int{}
	for _, s := range spans {
		if !strings.HasPrefix(s.Name(), "oauth2 ") {
			continue
		}
		kinds[s.Name()]++
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if s.SpanKind() != trace.SpanKindClient || attrs["connectorhub.connector.id"] != e.conn.ID || attrs["server.address"] != "127.0.0.1" || attrs["http.response.status_code"] != "200" {
			t.Errorf("span %q: kind %v, attributes %v", s.Name(), s.SpanKind(), attrs)
		}
	}
	if kinds["oauth2 token refresh"] != e.fake.Refreshes() || kinds["oauth2 token refresh"] < 2 || kinds["oauth2 accessible-resources"] < 1 {
		t.Errorf("oauth2 spans %v for %d refreshes: want one per refresh and per accessible-resources call", kinds, e.fake.Refreshes())
	}
	needles := append([]string{clientSecret}, e.fake.Issued()...)
	for _, s := range spans {
		text := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			text = append(text, a.Value.Emit())
		}
		for _, ev := range s.Events() {
			text = append(text, ev.Name)
			for _, a := range ev.Attributes {
				text = append(text, a.Value.Emit())
			}
		}
		for _, n := range needles {
			for _, v := range text {
				if strings.Contains(v, n) {
					t.Errorf("span %q carries a secret", s.Name())
				}
			}
		}
	}
}

// failingGrants refuses the first store as an unreachable KV would.
type failingGrants struct {
	oauthgrant.Grants
	failed atomic.Bool
}

func (f *failingGrants) Update(ctx context.Context, g connector.OAuthGrant) (connector.OAuthGrant, error) {
	if f.failed.CompareAndSwap(false, true) {
		return connector.OAuthGrant{}, errors.New("nats: timeout")
	}
	return f.Grants.Update(ctx, g)
}

func TestARotatedTokenTheStoreRefusedIsKeptAndStoredBeforeTheNextRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	secret := connector.NewSecret(clientSecret)
	m := e.replica(t, nil, &failingGrants{Grants: e.grants(t)})
	first := e.storedRefresh(t)
	if _, err := m.Access(ctx, e.conn, secret); err != nil {
		t.Fatalf("access with the store failing: %v", err)
	}
	if e.storedRefresh(t) != first || slices.Contains(e.fake.LiveRefreshTokens(), first) {
		t.Fatal("setup: the store should have refused the rotated token, and the first one be retired")
	}
	m.Forget(e.conn.ID) // e.g. the gateway refused the access token
	if _, err := m.Access(ctx, e.conn, secret); err != nil {
		t.Fatalf("next refresh: %v", err)
	}
	if got := e.storedRefresh(t); !slices.Contains(e.fake.LiveRefreshTokens(), got) {
		t.Fatal("the stored refresh token is not live: the one kept in memory was lost")
	}
}

func TestAGrantStoredForAnotherConfigurationOrNoneIsUnusableAndNeverSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	secret := connector.NewSecret(clientSecret)

	// The connector as it would be after its base URL changed, with the
	// grant of the old configuration still stored (the registry drops it;
	// here it is left behind as if that failed).
	moved := e.conn
	moved.BaseURL = "https://other.atlassian.net"
	m := e.replica(t, nil, nil)
	_, err := m.Access(ctx, moved, secret)
	if !errors.Is(err, trackers.ErrGrantInvalid) || !strings.Contains(err.Error(), "another configuration") {
		t.Fatalf("grant of another configuration: %v, want ErrGrantInvalid naming it", err)
	}
	if n := e.fake.Refreshes(); n != 0 || strings.Contains(strings.Join(e.fake.Calls(), "\n"), "/oauth/token") {
		t.Fatalf("the old grant's refresh token was sent (%d refreshes)", n)
	}

	// No grant at all (deleted with its connector, or never authorized).
	if err := e.grants(t).Delete(ctx, e.conn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.replica(t, nil, nil).Access(ctx, e.conn, secret); !errors.Is(err, trackers.ErrGrantInvalid) || !strings.Contains(err.Error(), "no refresh token") {
		t.Fatalf("no grant: %v, want ErrGrantInvalid", err)
	}
}

// deletingGrants deletes the grant (as the registry does when the connector
// is deleted) just before the first rotation is stored.
type deletingGrants struct {
	oauthgrant.Grants
	del  func()
	once sync.Once
}

func (d *deletingGrants) Update(ctx context.Context, g connector.OAuthGrant) (connector.OAuthGrant, error) {
	d.once.Do(d.del)
	return d.Grants.Update(ctx, g)
}

func TestARotationDoesNotRecreateAGrantDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	gs := e.grants(t)
	m := e.replica(t, nil, &deletingGrants{Grants: gs, del: func() {
		if err := gs.Delete(ctx, e.conn.ID); err != nil {
			t.Error(err)
		}
	}})
	if _, err := m.Access(ctx, e.conn, connector.NewSecret(clientSecret)); err != nil {
		t.Fatalf("access (the token in hand stays valid): %v", err)
	}
	if _, err := gs.Get(ctx, e.conn.ID); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatalf("the rotation recreated a deleted grant: %v", err)
	}
}
