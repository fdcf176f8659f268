package registry_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/services/registry"
)

func TestDefaultConfigIsWhatAnEmptyEnvironmentGives(t *testing.T) {
	t.Parallel()
	def := registry.DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	var parsed registry.Config
	if err := env.ParseWithOptions(&parsed, env.Options{Environment: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(def, parsed) {
		t.Fatalf("DefaultConfig() = %+v\nempty environment = %+v", def, parsed)
	}
}

func TestValidateNamesAnEndpointAllowListEntryThatIsNotAPrefix(t *testing.T) {
	t.Parallel()
	cfg := registry.DefaultConfig()
	cfg.AllowEndpoints = []string{"169.254.10.0/24", "169.254.169.254"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `HUB_ALLOW_ENDPOINTS: "169.254.169.254"`) {
		t.Fatalf("Validate: %v", err)
	}
}
