// Package connectorpb maps the connector domain's enums to and from their
// protobuf forms, the one place the services (registry, poller, writeback,
// knowledge) and the ledger translate them.
package connectorpb

import (
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// The enum values follow the system names (SYSTEM_JIRA for "jira",
// SYSTEM_AZURE_DEVOPS for "azure-devops": a '-' in a name is '_' in the
// enum), so a new system needs only its value in connector.proto.
func systemEnumName(s connector.System) string {
	return "SYSTEM_" + strings.ToUpper(strings.ReplaceAll(string(s), "-", "_"))
}

// SystemToProto is the protobuf form of a system (unspecified for an unknown one).
func SystemToProto(s connector.System) chv1.System {
	if s == "" {
		return chv1.System_SYSTEM_UNSPECIFIED
	}
	if v, ok := systemValues[s]; ok {
		return v // every event carries its system: no string built per event
	}
	return chv1.System(chv1.System_value[systemEnumName(s)])
}

// systemValues maps each system's name (as SystemFromProto gives it) to
// its enum value; SystemToProto computes any other spelling.
var systemValues = func() map[connector.System]chv1.System {
	m := map[connector.System]chv1.System{}
	for n := range chv1.System_name {
		if s, ok := SystemFromProto(chv1.System(n)); ok && systemEnumName(s) == chv1.System_name[n] {
			m[s] = chv1.System(n)
		}
	}
	return m
}()

// SystemFromProto is the domain form of a protobuf system; ok is false for
// unspecified and unknown values.
func SystemFromProto(s chv1.System) (connector.System, bool) {
	name, ok := chv1.System_name[int32(s)]
	if !ok || s == chv1.System_SYSTEM_UNSPECIFIED {
		return "", false
	}
	return connector.System(strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "SYSTEM_")), "_", "-")), true
}
