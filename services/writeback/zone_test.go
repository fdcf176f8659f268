package writeback_test

import (
	"testing"

	"github.com/connectorhub/connectorhub/services/writeback"
)

// An edge replica left at the default durable gets its zone's own, so it
// never shares (and splits) the central durable's deliveries.
func TestZoneReplicasConsumeWithTheirZonesDurable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		zone, durable, want string
	}{
		"central":             {"", "writeback", "writeback"},
		"edge at the default": {"plant", "writeback", "writeback-plant"},
		"edge with its own":   {"plant", "wb-plant", "wb-plant"},
	} {
		cfg := writeback.DefaultConfig()
		cfg.Zone, cfg.Durable = tc.zone, tc.durable
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := cfg.ConsumerName(); got != tc.want {
			t.Errorf("%s: consumer %q, want %q", name, got, tc.want)
		}
	}
	cfg := writeback.DefaultConfig()
	cfg.Zone = "Plant.A"
	if cfg.Validate() == nil {
		t.Error("WRITEBACK_ZONE=Plant.A accepted")
	}
}
