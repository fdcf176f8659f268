package main

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestTargetsAreChecked(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown service":           {[]string{"--target", "registry,nope"}, `"nope" is not a service`},
		"alone without shared NATS": {[]string{"--target", "poller"}, "HUB_NATS_URL"},
		"sandbox needs all":         {[]string{"--target", "registry", "--nats-url", "nats://127.0.0.1:1", "--sandbox"}, "--sandbox needs --target all"},
	} {
		err := run(context.Background(), tc.args, map[string]string{"HUB_DATA_DIR": t.TempDir()}, &testenv.LogBuffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// TestServicesAsSeparateProcesses runs the registry in one hub process and
// the poller and writeback in another, sharing only a NATS server (and, for
// this test, the local keyring's data dir): a connector added through the
// registry is polled by the other process, and a result is written back.
func TestServicesAsSeparateProcesses(t *testing.T) {
	t.Parallel()
	natsSrv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(natsSrv.Shutdown)
	separateProcesses(t, natsSrv.ClientURL(), nil)
}

// TestSeparateProcessesAuthenticateAsTheirRoles is the same run against a
// NATS configured from hub --provision-nats's auth.conf, as an operator
// would run it: the registry process has the credentials dir (operator.nk
// provisions), the worker process takes its roles' seeds from the same dir,
// the test publishes as the agent; a process without a credential, or with
// another role's, does not start.
func TestSeparateProcessesAuthenticateAsTheirRoles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	credsDir := filepath.Join(dir, "creds")
	out := &testenv.LogBuffer{}
	if err := run(context.Background(), []string{"--provision-nats", credsDir}, map[string]string{"HUB_DATA_DIR": filepath.Join(dir, "unused")}, out); err != nil {
		t.Fatal(err)
	}
	for _, r := range bus.Roles() {
		seed, err := os.ReadFile(filepath.Join(credsDir, bus.CredentialFile(r)))
		if err != nil || strings.Contains(out.String(), strings.TrimSpace(string(seed))) {
			t.Fatalf("%s seed: %v, or printed:\n%s", r, err, out.String())
		}
	}
	conf := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listen: \"127.0.0.1:-1\"\njetstream { store_dir: %q }\ninclude ./creds/%s\n", filepath.Join(dir, "js"), bus.AuthConfigFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := srv.ClientURL()

	for name, tc := range map[string]struct {
		creds, want string
	}{
		"no credential":       {"", "HUB_NATS_CREDS"},
		"another role's seed": {filepath.Join(credsDir, bus.CredentialFile(bus.RolePoller)), "knowledge"},
	} {
		environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": t.TempDir(), "HUB_STATE_FILE": filepath.Join(t.TempDir(), "hub.json"), "HUB_NATS_URL": url, "HUB_NATS_CREDS": tc.creds}
		ctx, cancel := context.WithCancel(context.Background()) // Verify bounds its own wait
		err := run(ctx, []string{"--target", "knowledge"}, environ, &testenv.LogBuffer{})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal naming %q", name, err, tc.want)
		}
	}
	agent, err := bus.ClientAuth{CredsFile: credsDir, Role: bus.RoleAgent}.Options()
	if err != nil {
		t.Fatal(err)
	}
	separateProcesses(t, url, map[string]string{"HUB_NATS_CREDS": credsDir}, agent...)
}

// separateProcesses runs the registry and the workers as two hub processes on
// the NATS at natsURL, with extra environment for both; clientOpts connect
// the test's own client (it reads the streams and publishes a result).
func separateProcesses(t *testing.T, natsURL string, extra map[string]string, clientOpts ...nats.Option) {
	t.Helper()
	var err error
	jira := jirafake.NewSandbox(connector.Cloud)
	fake := httptest.NewServer(jira)
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	stateFile := filepath.Join(dir, "hub.json")
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HUB_STATE_FILE": stateFile, "HUB_NATS_URL": natsURL}
	maps.Copy(environ, extra)
	start := func(args ...string) *testenv.LogBuffer {
		logs := &testenv.LogBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, args, environ, logs) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hub %v stopped with %v\n%s", args, err, logs.String())
			}
		})
		return logs
	}
	regLogs := start("--target", "registry", "--registry-addr", "127.0.0.1:0")
	var st hubstate.State
	waitFor(t, 20*time.Second, "the registry's state file", regLogs, func() bool {
		st, err = hubstate.Read(stateFile)
		return err == nil
	})
	workerLogs := start("--target", "poller,writeback")

	token, err := os.ReadFile(st.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(st.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(token)))
	_, err = chv1.NewRegistryServiceClient(conn).CreateConnector(ctx, &chv1.CreateConnectorRequest{ConnectorId: "jira-split", Credential: jirafake.SandboxToken,
		Connector: &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: fake.URL,
			AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true,
			PollInterval: durationpb.New(10 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(natsURL, clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var key string
	waitFor(t, 30*time.Second, "a ticket discovered by the worker process", workerLogs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.jira.jira-split") {
			var ev chv1.TicketDiscovered
			if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetTicket().GetParent() == nil {
				key = ev.GetTicket().GetKey()
				return true
			}
		}
		return false
	})
	subject, _ := bus.ResultSubject("jira", "jira-split")
	r := &chv1.ResultReady{ResultId: "split-1", ConnectorId: "jira-split", System: chv1.System_SYSTEM_JIRA, TicketKey: key,
		BaseTime: timestamppb.Now(), TargetStatus: "In Progress", CommentMarkdown: "Started."}
	if _, err := bus.Publish(context.Background(), js, subject, r, bus.WithID(r.GetResultId())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "writeback.completed from the worker process", workerLogs, func() bool {
		return len(messages(t, js, bus.StreamWriteback, "writeback.completed.jira.jira-split")) == 1
	})
	if tk, _ := jira.Ticket(key); tk.Status != "In Progress" {
		t.Errorf("ticket %s status %q after writeback", key, tk.Status)
	}
}
