package writeback

import (
	"reflect"
	"testing"

	envparse "github.com/caarlos0/env/v11"
)

func TestDefaultConfigIsWhatAnEmptyEnvironmentGives(t *testing.T) {
	t.Parallel()
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	var parsed Config
	if err := envparse.ParseWithOptions(&parsed, envparse.Options{Environment: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(def, parsed) {
		t.Fatalf("DefaultConfig() = %+v\nempty environment = %+v", def, parsed)
	}
}
