package connectorpb

import (
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestSystemsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range connector.Systems {
		p := SystemToProto(s)
		if p == chv1.System_SYSTEM_UNSPECIFIED {
			t.Errorf("%s has no protobuf form", s)
		}
		if back, ok := SystemFromProto(p); !ok || back != s {
			t.Errorf("%s → %v → %q, %v", s, p, back, ok)
		}
	}
	for _, p := range []chv1.System{chv1.System_SYSTEM_UNSPECIFIED, chv1.System(99)} {
		if s, ok := SystemFromProto(p); ok || s != "" {
			t.Errorf("%v mapped to %q", p, s)
		}
	}
}
