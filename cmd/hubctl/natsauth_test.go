package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
)

// TestHubctlUsesTheHubsNATSCredential: against a NATS that requires a
// credential (as the all-in-one's does), hubctl without one is refused with
// what to set, and connects with the file the state file names or with
// --nats-creds / HUB_NATS_CREDS.
func TestHubctlUsesTheHubsNATSCredential(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(t.TempDir(), "nats-creds"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	opt, err := creds.Option(bus.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	seedEvents(t, js)
	url := srv.ClientURL()
	tail := []string{"events", "tail", "--count", "1", "--timeout", "20s"}

	t.Run("without a credential", func(t *testing.T) {
		t.Parallel()
		r := busCLI(t, url, "").run(tail...)
		if r.err == nil || !strings.Contains(r.err.Error(), "rejected the connection") || !strings.Contains(r.err.Error(), "HUB_NATS_CREDS") {
			t.Errorf("err = %v, want a refusal naming HUB_NATS_CREDS", r.err)
		}
	})
	t.Run("the state file's credential", func(t *testing.T) {
		t.Parallel()
		statePath := filepath.Join(t.TempDir(), "hub.json")
		if err := hubstate.Write(statePath, hubstate.State{RegistryAddr: "127.0.0.1:7400", NATSURL: url, NATSCredsFile: creds.File(bus.RoleHubctl)}); err != nil {
			t.Fatal(err)
		}
		c := newCLI(t, "")
		c.vars["HUB_STATE_FILE"] = statePath
		if r := c.run(tail...); r.err != nil || !strings.Contains(r.stdout, "SAND-1") {
			t.Errorf("tail with the state file's credential: %v\n%s", r.err, r.stdout)
		}
	})
	t.Run("--nats-creds with the credentials dir", func(t *testing.T) {
		t.Parallel()
		if r := busCLI(t, url, "").run(append(tail, "--nats-creds", creds.Dir())...); r.err != nil || !strings.Contains(r.stdout, "SAND-1") {
			t.Errorf("tail with --nats-creds: %v\n%s", r.err, r.stdout)
		}
	})
	t.Run("HUB_NATS_CREDS with the reader's seed", func(t *testing.T) {
		t.Parallel()
		c := busCLI(t, url, "")
		c.vars["HUB_NATS_CREDS"] = creds.File(bus.RoleReader)
		if r := c.run(tail...); r.err != nil || !strings.Contains(r.stdout, "SAND-1") {
			t.Errorf("tail with HUB_NATS_CREDS: %v\n%s", r.err, r.stdout)
		}
		// The reader may not publish a result.
		r := c.run("results", "publish", "--connector", "j1", "--ticket", "SAND-1", "--system", "jira", "--status", "Done", "--timeout", "3s")
		if r.err == nil {
			t.Error("publishing a result with the reader's credential succeeded")
		}
		if !strings.Contains(r.stderr, "does not allow it") {
			t.Errorf("stderr does not explain the refusal:\n%s", r.stderr)
		}
		if s, err := js.Stream(t.Context(), bus.StreamResults); err != nil || s.CachedInfo().State.Msgs != 0 {
			t.Errorf("RESULTS after the reader's publish: %v; want empty", err)
		}
	})
}
