package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/services/registry"
)

// TestGrantsInConnectorRecordsMoveToTheirBucket: a record written before
// the oauth_grants bucket (the grant inside it) has its grant moved to the
// bucket, usable for the connector as it is, and the record rewritten
// without the ciphertext; a second pass moves nothing.
func TestGrantsInConnectorRecordsMoveToTheirBucket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, js := testenv.NATS(t)
	cipher, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := connector.Connector{ID: "oa-old", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://acme.atlassian.net",
		AuthMode: connector.AuthOAuth2, OAuthClientID: "app", Project: "ACME", Enabled: true, Credential: connector.Credential{Binding: connector.BindingFields}}
	c.ApplyDefaults(all.Registry())
	if c.Credential.Ciphertext, err = cipher.Encrypt(ctx, c.CredentialContext(), []byte("client-secret")); err != nil {
		t.Fatal(err)
	}
	rt, err := cipher.Encrypt(ctx, c.OAuthRefreshContext(), []byte("old-release-refresh-token"))
	if err != nil {
		t.Fatal(err)
	}
	// The record as the earlier release wrote it.
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	granted := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	rec["v"], rec["oauth_grant_time"] = 1, granted
	rec["oauth_refresh"] = connector.Credential{Ciphertext: rt, SetTime: granted, Fingerprint: "fp", Binding: connector.BindingFields}
	if raw, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	ckv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ckv.Create(ctx, c.ID, raw); err != nil {
		t.Fatal(err)
	}

	svc, err := registry.New(ctx, registry.DefaultConfig(), registry.Deps{Trackers: all.Registry(), NC: nc, JS: js, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.MoveLegacyGrants(ctx); err != nil || n != 1 {
		t.Fatalf("moved %d, %v; want 1", n, err)
	}
	gkv, err := js.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		t.Fatal(err)
	}
	g, err := connector.NewGrantStore(gkv).Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !g.For(c) || !g.GrantTime.Equal(granted) {
		t.Fatalf("moved grant = %+v: not for the connector, or the grant time lost", g)
	}
	clear, err := cipher.Decrypt(ctx, c.OAuthRefreshContext(), g.Refresh.Ciphertext)
	if err != nil || string(clear) != "old-release-refresh-token" {
		t.Fatalf("the moved refresh token does not open for the connector: %v", err)
	}
	e, err := ckv.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Value(), []byte(rt)) || bytes.Contains(e.Value(), []byte("oauth_refresh")) {
		t.Fatal("the connector record still holds the refresh token")
	}
	got, err := svc.Get(ctx, c.ID)
	if err != nil || !got.Grant.Refresh.Set() {
		t.Fatalf("the registry does not show the moved grant: %+v, %v", got.Grant, err)
	}
	if n, err := svc.MoveLegacyGrants(ctx); err != nil || n != 0 {
		t.Fatalf("second pass moved %d, %v; want 0", n, err)
	}
	if _, err := connector.NewGrantStore(gkv).Get(ctx, "nobody"); !errors.Is(err, connector.ErrNoGrant) {
		t.Fatal(err)
	}
}
