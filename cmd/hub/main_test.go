package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestHubStartsServesAndStopsCleanly runs the all-in-one on a temporary data
// dir: it writes the state file, answers the registry with the generated admin
// token, refuses calls without it, and removes the state file on shutdown.
func TestHubStartsServesAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state", "hub.json")
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HUB_STATE_FILE": stateFile, "HOME": dir}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--registry-addr", "127.0.0.1:0", "--knowledge-addr", "127.0.0.1:0", "--nats-listen", ""}, environ, logs)
	}()

	var st hubstate.State
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if st, err = hubstate.Read(stateFile); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("hub exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state file after 20s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	token, err := os.ReadFile(st.AdminTokenFile)
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	if fi, _ := os.Stat(st.AdminTokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(token))) {
		t.Error("the admin token was logged")
	}

	conn, err := grpc.NewClient(st.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := chv1.NewRegistryServiceClient(conn)
	callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer callCancel()
	if _, err := client.ListConnectors(callCtx, &chv1.ListConnectorsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("call without token: %v, want Unauthenticated", err)
	}
	authed := metadata.AppendToOutgoingContext(callCtx, "authorization", "Bearer "+strings.TrimSpace(string(token)))
	caps, err := client.GetCapabilities(authed, &chv1.GetCapabilitiesRequest{})
	if err != nil || len(caps.GetSystems()) != len(all.Registry().Systems()) {
		t.Fatalf("capabilities with the admin token: %v, %v", caps, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hub stopped with %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hub did not stop within 20s of SIGTERM")
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Errorf("state file left behind after shutdown: %v", err)
	}
	// The keyring and data survive for the next start.
	if _, err := os.Stat(filepath.Join(dir, "data", "keyring.json")); err != nil {
		t.Errorf("local keyring missing: %v", err)
	}
}

func TestHubRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_LOG_FORMAT": "xml"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "HUB_LOG_FORMAT") {
		t.Fatalf("bad log format: %v", err)
	}
	err = run(context.Background(), nil, map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_API_TOKENS": "ops:root:0123456789abcdef0123"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("bad token role: %v", err)
	}
}

func TestDataDirIsPrivateEvenWhenItExisted(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o700 {
		t.Fatalf("data dir mode = %o, want 700", mode)
	}
	fresh := filepath.Join(t.TempDir(), "new", "data")
	if err := prepareDataDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new data dir: %v %v", fi.Mode(), err)
	}
}
