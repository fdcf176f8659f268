package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/services/knowledge"
	"github.com/connectorhub/connectorhub/services/poller"
	"github.com/connectorhub/connectorhub/services/registry"
	"github.com/connectorhub/connectorhub/services/writeback"
)

func TestAnEmptyEnvironmentGivesEachServiceItsDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_STATE_FILE": "hub.json"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"registry", cfg.Registry, registry.DefaultConfig()},
		{"poller", cfg.Poller, poller.DefaultConfig()},
		{"writeback", cfg.Writeback, writeback.DefaultConfig()},
		{"knowledge", cfg.Knowledge, knowledge.DefaultConfig()},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: the hub reads %+v\nDefaultConfig() = %+v", tc.name, tc.got, tc.want)
		}
	}
	if err := cfg.Registry.Validate(); err != nil {
		t.Errorf("registry defaults: %v", err)
	}
}

func TestOneEndpointAllowListForEveryService(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_STATE_FILE": "hub.json",
		"HUB_ALLOW_ENDPOINTS": "169.254.10.0/24, fd00:ec2::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"169.254.10.0/24", " fd00:ec2::/32"}
	for name, got := range map[string][]string{"hub (poller, writeback, test responder)": cfg.AllowEndpoints,
		"registry": cfg.Registry.AllowEndpoints, "knowledge": cfg.Knowledge.AllowEndpoints} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s reads %q, want %q", name, got, want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid allow-list refused: %v", err)
	}

	err = run(t.Context(), nil, map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_ALLOW_ENDPOINTS": "169.254.10.0/24,metadata"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `HUB_ALLOW_ENDPOINTS: "metadata" is not a CIDR prefix`) {
		t.Fatalf("an entry that is not a CIDR prefix: %v", err)
	}
}

func TestStreamSettingsReachProvisioning(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_STATE_FILE": "hub.json",
		"HUB_STREAM_REPLICAS": "3", "HUB_TICKETS_MAX_AGE": "48h", "HUB_TICKETS_MAX_BYTES": "1048576", "HUB_AUDIT_MAX_AGE": "-1s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := cfg.provisionOptions()
	if opts.Replicas != 3 || opts.LeaseTTL != cfg.Poller.LeaseTTL {
		t.Errorf("replicas %d, lease TTL %s; want 3, %s", opts.Replicas, opts.LeaseTTL, cfg.Poller.LeaseTTL)
	}
	if got := opts.Limits[bus.StreamTickets]; got != (bus.StreamLimits{MaxAge: 48 * time.Hour, MaxBytes: 1 << 20}) {
		t.Errorf("TICKETS limits %+v", got)
	}
	if got := opts.Limits[bus.StreamAudit]; got.MaxAge != -time.Second {
		t.Errorf("AUDIT limits %+v, want no max age", got)
	}

	bad, err := loadConfig(map[string]string{"HUB_DATA_DIR": t.TempDir(), "HUB_STATE_FILE": "hub.json", "HUB_RESULTS_MAX_AGE": "1m", "HUB_STREAM_REPLICAS": "7"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "RESULTS max age") || !strings.Contains(err.Error(), "replicas 7") {
		t.Errorf("a max age under the duplicate window and 7 replicas: %v", err)
	}
}
