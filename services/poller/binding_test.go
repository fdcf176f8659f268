package poller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Whoever can write the connectors bucket could point a connector at their
// own server. The credential is bound to the record's base URL (and the other
// fields that decide where it goes), so after such an edit it no longer
// decrypts: the new server gets nothing, the status says why, and an audit
// event records it.
func TestARecordChangedOutsideTheRegistrySendsItsTokenNowhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	ctx := context.Background()
	keyring, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	const token = "ghp_boundToItsRecord000000000001"
	serve := func(hits *atomic.Int64) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.Header.Get("Authorization"), token) {
				hits.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("[]"))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	var legit, attacker atomic.Int64
	tracker, capture := serve(&legit), serve(&attacker)

	c := connector.Connector{ID: "gh-bound", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: tracker.URL,
		AuthMode: connector.AuthBearer, Project: "acme/widgets", Enabled: true, PollInterval: 100 * time.Millisecond,
		Credential: connector.Credential{Binding: connector.BindingFields}}
	c.ApplyDefaults(all.Registry())
	ct, err := keyring.Encrypt(ctx, c.CredentialContext(), []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	c.Credential.Ciphertext = ct
	if _, err := e.store.Create(ctx, c); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.ReplicaID, cfg.LeaseTTL, cfg.Tick, cfg.RetryBase = "r-bound", time.Second, 50*time.Millisecond, 10*time.Millisecond
	p, err := New(ctx, cfg, Deps{JS: e.js, Decrypter: keyring, Trackers: all.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	// The record as the registry wrote it: the tracker gets the token.
	testenv.Eventually(t, 30*time.Second, "a poll of the real tracker", func() bool { return legit.Load() > 0 })

	// Someone with access to the bucket points the record elsewhere.
	got, err := e.store.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.BaseURL = capture.URL
	if _, err := e.store.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	states := connector.NewStateStore(mustKV(t, e.js, bus.BucketPollState))
	testenv.Eventually(t, 30*time.Second, "the poll status to name the changed record", func() bool {
		st, err := states.Get(ctx, c.ID)
		return err == nil && strings.Contains(st.LastError, "changed outside the registry")
	})
	audit := auditEvents(t, e.js)
	if audit["credential.mismatch"] != 1 {
		t.Errorf("audit events = %v, want one credential.mismatch", audit)
	}
	if n := attacker.Load(); n != 0 {
		t.Fatalf("the new endpoint received the token %d times", n)
	}
}

func mustKV(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// auditEvents counts the AUDIT stream's events by action.
func auditEvents(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]int{}
	s, err := js.Stream(ctx, bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var ev chv1.AuditEvent
		if err := protojson.Unmarshal(m.Data, &ev); err == nil {
			out[ev.GetAction()]++
		}
	}
	return out
}
