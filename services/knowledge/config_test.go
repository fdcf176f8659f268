package knowledge_test

import (
	"reflect"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/services/knowledge"
)

func TestDefaultConfigIsWhatAnEmptyEnvironmentGives(t *testing.T) {
	t.Parallel()
	def := knowledge.DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	var parsed knowledge.Config
	if err := env.ParseWithOptions(&parsed, env.Options{Environment: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(def, parsed) {
		t.Fatalf("DefaultConfig() = %+v\nempty environment = %+v", def, parsed)
	}
}
