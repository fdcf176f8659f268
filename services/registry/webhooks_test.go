package registry_test

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

const hookPublicURL = "https://hooks.example.com/hub"

// hookView is one hook a fake tracker holds.
type hookView struct{ url, secret string }

// hookTracker is a fake tracker with a credential that may create hooks
// (admin) and one that may not (user).
type hookTracker struct {
	conn        func() *chv1.Connector
	admin, user string
	hooks       func() []hookView
}

func githubHookTracker(t *testing.T) hookTracker {
	const admin, user = "ghp_hookadmin0000000000000000000000000001", "ghp_hookwriter000000000000000000000000001"
	fake := githubfake.New(githubfake.Options{
		Users:  []githubfake.User{{ID: 1, Login: "admin"}, {ID: 2, Login: "writer"}},
		Tokens: []githubfake.Token{{Value: admin, Login: "admin", Scopes: []string{"repo"}}, {Value: user, Login: "writer", Scopes: []string{"repo"}}},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true,
			Collaborators: map[string]githubfake.Role{"admin": githubfake.Admin, "writer": githubfake.Write}}},
	})
	url := fake.Start(t)
	return hookTracker{
		conn: func() *chv1.Connector {
			return &chv1.Connector{System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
				AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Project: "acme/widgets", Enabled: true, Webhook: true}
		},
		admin: admin, user: user,
		hooks: func() (out []hookView) {
			for _, h := range fake.Hooks("acme/widgets") {
				out = append(out, hookView{h.URL, string(h.Secret)})
			}
			return out
		},
	}
}

func gitlabHookTracker(t *testing.T) hookTracker {
	const admin, user = "glpat-hookmaintainer0001", "glpat-hookdeveloper00001"
	fake := gitlabfake.New(gitlabfake.Options{
		Users:  []gitlabfake.User{{ID: 1, Username: "maint"}, {ID: 2, Username: "dev"}},
		Tokens: []gitlabfake.Token{{ID: 1, Name: "a", Value: admin, Username: "maint", Scopes: []string{"api"}}, {ID: 2, Name: "b", Value: user, Username: "dev", Scopes: []string{"api"}}},
		Projects: []gitlabfake.Project{{ID: 42, Path: "acme/widgets", Name: "Widgets",
			Members: map[string]int{"maint": gitlabfake.Maintainer, "dev": gitlabfake.Developer}}},
	})
	url := fake.Start(t)
	return hookTracker{
		conn: func() *chv1.Connector {
			return &chv1.Connector{System: chv1.System_SYSTEM_GITLAB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
				AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Project: "acme/widgets", Enabled: true, Webhook: true}
		},
		admin: admin, user: user,
		hooks: func() (out []hookView) {
			for _, h := range fake.Hooks() {
				out = append(out, hookView{h.URL, string(h.Secret)})
			}
			return out
		},
	}
}

func jiraDCHookTracker(t *testing.T) hookTracker {
	const admin, user = "jira-pat-admin-000000000001", "jira-pat-user-0000000000001"
	fake := jirafake.New(jirafake.Options{
		Deployment: connector.SelfHosted,
		Users: []jirafake.User{
			{AccountID: "a1", Name: "admin", Email: "admin@example.com", APIToken: admin, Admin: true},
			{AccountID: "a2", Name: "mia", Email: "mia@example.com", APIToken: user},
		},
		Projects: []jirafake.Project{{ID: "10000", Key: "PROJ", Name: "Project"}},
	})
	url := fake.Start(t)
	return hookTracker{
		conn: func() *chv1.Connector {
			return &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
				AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Project: "PROJ", Enabled: true, Webhook: true}
		},
		admin: admin, user: user,
		hooks: func() []hookView {
			// The fake keeps one hook and does not report its secret.
			if u := fake.WebhookURL(); u != "" {
				return []hookView{{url: u}}
			}
			return nil
		},
	}
}

var hookTrackers = map[string]func(*testing.T) hookTracker{
	"github": githubHookTracker, "gitlab": gitlabHookTracker, "jira data center": jiraDCHookTracker,
}

// storedHookSecret opens the connector's stored webhook secret (as the
// workers do) to compare it with what the tracker's hook holds.
func storedHookSecret(t *testing.T, srv *registrytest.Server, id string) (connector.Connector, string) {
	t.Helper()
	kv, err := srv.JS.KeyValue(t.Context(), "connectors")
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.NewStore(kv).Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.WebhookSecret.Set() {
		return c, ""
	}
	clear, err := srv.Cipher.Decrypt(t.Context(), c.WebhookSecretContext(), c.WebhookSecret.Ciphertext)
	if err != nil {
		t.Fatalf("stored webhook secret does not decrypt: %v", err)
	}
	return c, string(clear)
}

func withPublicURL(c *registry.Config) { c.WebhookPublicURL = hookPublicURL }

func setWebhook(t *testing.T, admin chv1.RegistryServiceClient, ctx context.Context, id string, on bool) *chv1.Connector {
	t.Helper()
	resp, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector: &chv1.Connector{Id: id, Webhook: on}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"webhook"}},
	})
	if err != nil {
		t.Fatalf("update webhook=%v: %v", on, err)
	}
	return resp.GetConnector()
}

// With a public URL and a credential that may, the registry creates the
// hook on create (secret generated, stored encrypted, the same on the
// tracker), deletes it when webhook is turned off, creates it again when
// turned on, replaces it on rotation and deletes it with the connector.
func TestWebhookRegistrationFollowsTheConnector(t *testing.T) {
	t.Parallel()
	for name, newTracker := range hookTrackers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := newTracker(t)
			srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}), registrytest.WithConfig(withPublicURL))
			admin := srv.Dial(t, srv.AdminToken)
			ctx := ctxT(t)
			const id = "hooked"
			wantURL := hookPublicURL + "/webhooks/" + id

			created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: tr.conn(), ConnectorId: id, Credential: tr.admin})
			if err != nil {
				t.Fatal(err)
			}
			if st := created.GetConnector().GetStatus(); st.GetWebhookRegistration() != "registered" || st.GetWebhookUrl() != wantURL {
				t.Fatalf("status after create = %v, want registered at %s", st, wantURL)
			}
			if !created.GetConnector().GetWebhook() {
				t.Error("webhook not returned as set")
			}
			rec, secret := storedHookSecret(t, srv, id)
			if len(secret) < 64 || rec.WebhookHook.ID == "" || strings.Contains(rec.WebhookSecret.Ciphertext, secret) {
				t.Fatalf("stored secret %d chars, hook id %q", len(secret), rec.WebhookHook.ID)
			}
			hooks := tr.hooks()
			if len(hooks) != 1 || hooks[0].url != wantURL || (hooks[0].secret != "" && hooks[0].secret != secret) {
				t.Fatalf("tracker hooks = %+v, want one to %s with the stored secret", hooks, wantURL)
			}
			got, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id})
			if err != nil || got.GetConnector().GetStatus().GetWebhookRegistration() != "registered" {
				t.Fatalf("get: %v %v", got, err)
			}

			if c := setWebhook(t, admin, ctx, id, false); c.GetWebhook() || c.GetStatus().GetWebhookRegistration() != "" {
				t.Errorf("after webhook off: %v", c)
			}
			if h := tr.hooks(); len(h) != 0 {
				t.Errorf("hooks after webhook off = %+v", h)
			}
			if rec, _ := storedHookSecret(t, srv, id); rec.WebhookSecret.Set() {
				t.Error("secret kept after webhook off")
			}
			if c := setWebhook(t, admin, ctx, id, true); c.GetStatus().GetWebhookRegistration() != "registered" {
				t.Fatalf("after webhook on again: %v", c.GetStatus())
			}
			_, secret2 := storedHookSecret(t, srv, id)
			if secret2 == secret || len(tr.hooks()) != 1 {
				t.Errorf("turning it on again: same secret %v, hooks %+v", secret2 == secret, tr.hooks())
			}

			rot, err := admin.RotateWebhookSecret(ctx, &chv1.RotateWebhookSecretRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			if rot.GetSetup().GetSecret() != "" || rot.GetSetup().GetRegistration() != "registered" {
				t.Errorf("rotating a registered hook = %v; the secret goes to the tracker, not the caller", rot.GetSetup())
			}
			_, secret3 := storedHookSecret(t, srv, id)
			hooks = tr.hooks()
			if secret3 == secret2 || len(hooks) != 1 || (hooks[0].secret != "" && hooks[0].secret != secret3) {
				t.Errorf("after rotation: new secret %v, hooks %+v", secret3 != secret2, hooks)
			}

			if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: id}); err != nil {
				t.Fatal(err)
			}
			if h := tr.hooks(); len(h) != 0 {
				t.Errorf("hooks after the connector was deleted = %+v", h)
			}
			for _, s := range []string{secret, secret2, secret3} {
				if strings.Contains(string(srv.Logs()), s) {
					t.Fatal("a webhook secret is in the registry's log")
				}
			}
		})
	}
}

// Without the rights to create hooks (403), or without a public URL, the
// connector is saved with registration manual; the setup shows the URL,
// the events and the secret once, to an admin only; rotation shows a new one.
func TestManualWebhookRegistration(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		publicURL bool
		admin     bool
		reason    string
	}{
		"403 from the tracker": {publicURL: true, reason: "hook"},
		"no public url":        {admin: true, reason: "REGISTRY_WEBHOOK_PUBLIC_URL"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := githubHookTracker(t)
			opts := []registrytest.Option{registrytest.WithTester(&recordingTester{})}
			if tc.publicURL {
				opts = append(opts, registrytest.WithConfig(withPublicURL))
			}
			srv := registrytest.Start(t, opts...)
			admin, viewer := srv.Dial(t, srv.AdminToken), srv.Dial(t, srv.ViewerToken)
			ctx := ctxT(t)
			token := tr.user
			if tc.admin {
				token = tr.admin
			}
			created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: tr.conn(), ConnectorId: "manual", Credential: token})
			if err != nil {
				t.Fatal(err)
			}
			st := created.GetConnector().GetStatus()
			if st.GetWebhookRegistration() != "manual" || !strings.Contains(st.GetWebhookRegistrationReason(), tc.reason) {
				t.Fatalf("status = %v, want manual (%s)", st, tc.reason)
			}
			if h := tr.hooks(); len(h) != 0 {
				t.Fatalf("hooks = %+v", h)
			}

			if _, err := viewer.GetWebhookSetup(ctx, &chv1.GetWebhookSetupRequest{Id: "manual"}); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("viewer setup: %v, want PermissionDenied", err)
			}
			first, err := admin.GetWebhookSetup(ctx, &chv1.GetWebhookSetupRequest{Id: "manual"})
			if err != nil {
				t.Fatal(err)
			}
			s := first.GetSetup()
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s.GetSecret()) || s.GetSecretShownBefore() {
				t.Fatalf("first setup secret %q (shown before %v), want 64 hex characters", s.GetSecret(), s.GetSecretShownBefore())
			}
			if !slices.Contains(s.GetEvents(), "issues") || s.GetRegistration() != "manual" {
				t.Errorf("setup = %v", s)
			}
			if tc.publicURL && s.GetUrl() != hookPublicURL+"/webhooks/manual" || !tc.publicURL && s.GetUrl() != "" {
				t.Errorf("setup url = %q", s.GetUrl())
			}
			if _, stored := storedHookSecret(t, srv, "manual"); stored != s.GetSecret() {
				t.Error("the secret shown is not the one stored")
			}
			again, err := admin.GetWebhookSetup(ctx, &chv1.GetWebhookSetupRequest{Id: "manual"})
			if err != nil || again.GetSetup().GetSecret() != "" || !again.GetSetup().GetSecretShownBefore() {
				t.Fatalf("second setup = %v, %v; want no secret, shown before", again.GetSetup(), err)
			}
			rot, err := admin.RotateWebhookSecret(ctx, &chv1.RotateWebhookSecretRequest{Id: "manual"})
			if err != nil {
				t.Fatal(err)
			}
			if ns := rot.GetSetup().GetSecret(); len(ns) != 64 || ns == s.GetSecret() {
				t.Errorf("rotation gave %q, want a new secret", ns)
			}
			if _, stored := storedHookSecret(t, srv, "manual"); stored != rot.GetSetup().GetSecret() {
				t.Error("the rotated secret shown is not the one stored")
			}
			if strings.Contains(string(srv.Logs()), s.GetSecret()) || strings.Contains(string(srv.Logs()), rot.GetSetup().GetSecret()) {
				t.Fatal("a webhook secret is in the registry's log")
			}
			if _, err := admin.GetWebhookSetup(ctx, &chv1.GetWebhookSetupRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
				t.Errorf("setup of an unknown connector: %v", err)
			}
		})
	}
}

// A connector without webhook has no setup to show.
func TestWebhookSetupNeedsAWebhook(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "plain", Credential: "ghp_plainSecretValue000000000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetWebhookSetup(ctx, &chv1.GetWebhookSetupRequest{Id: "plain"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("setup without webhook: %v, want FailedPrecondition", err)
	}
	if _, err := admin.RotateWebhookSecret(ctx, &chv1.RotateWebhookSecretRequest{Id: "plain"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("rotate without webhook: %v, want FailedPrecondition", err)
	}
	// A system whose webhooks the receiver cannot verify refuses the field.
	pd := &chv1.Connector{System: chv1.System_SYSTEM_PAGERDUTY, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Enabled: true, Webhook: true}
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: pd, ConnectorId: "pd", Credential: "u+pagerdutyToken0000001"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "webhook") {
		t.Errorf("webhook on pagerduty: %v, want InvalidArgument naming webhook", err)
	}
}

// After a key rotation, rewrap moves the webhook secret to the new key
// version with the credential, and it still opens to the same value.
func TestRewrapMovesTheWebhookSecretToo(t *testing.T) {
	t.Parallel()
	local, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}), registrytest.WithCipher(local))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	c := githubConnector()
	c.Webhook = true
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: c, ConnectorId: "rw", Credential: "ghp_rewrapSecretValue00000000001"}); err != nil {
		t.Fatal(err)
	}
	before, secret := storedHookSecret(t, srv, "rw")
	if _, err := local.Rotate(); err != nil {
		t.Fatal(err)
	}
	rw, err := admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetRewrapped() != 1 {
		t.Fatalf("rewrap = %v, %v", rw, err)
	}
	after, again := storedHookSecret(t, srv, "rw")
	if after.WebhookSecret.Ciphertext == before.WebhookSecret.Ciphertext || !strings.HasPrefix(after.WebhookSecret.Ciphertext, "local:v2:") || again != secret {
		t.Errorf("webhook secret after rewrap: %q (same value %v)", after.WebhookSecret.Ciphertext[:9], again == secret)
	}
	if !strings.HasPrefix(after.Credential.Ciphertext, "local:v2:") {
		t.Errorf("credential after rewrap: %q", after.Credential.Ciphertext[:9])
	}
}
