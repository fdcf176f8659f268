package main

import (
	"reflect"
	"testing"

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
