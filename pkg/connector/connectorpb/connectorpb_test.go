package connectorpb

import (
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestSystemsRoundTrip(t *testing.T) {
	t.Parallel()
	for v := range chv1.System_name {
		p := chv1.System(v)
		if p == chv1.System_SYSTEM_UNSPECIFIED {
			continue
		}
		s, ok := SystemFromProto(p)
		if !ok || s == "" {
			t.Errorf("%v has no domain form", p)
		}
		if back := SystemToProto(s); back != p {
			t.Errorf("%v → %q → %v", p, s, back)
		}
	}
	if len(systemValues) != len(chv1.System_name)-1 {
		t.Errorf("the table of systems has %d entries, want every value but unspecified (%d)", len(systemValues), len(chv1.System_name)-1)
	}
	if SystemToProto("Azure-DevOps") != chv1.System_SYSTEM_AZURE_DEVOPS {
		t.Error("a spelling outside the table is not computed")
	}
	if SystemToProto(connector.Jira) != chv1.System_SYSTEM_JIRA || SystemToProto("trello") != chv1.System_SYSTEM_UNSPECIFIED {
		t.Error("jira or an unknown system maps wrongly")
	}
	for _, p := range []chv1.System{chv1.System_SYSTEM_UNSPECIFIED, chv1.System(99)} {
		if s, ok := SystemFromProto(p); ok || s != "" {
			t.Errorf("%v mapped to %q", p, s)
		}
	}
}
