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
	return chv1.System(chv1.System_value[systemEnumName(s)])
}

// SystemFromProto is the domain form of a protobuf system; ok is false for
// unspecified and unknown values.
func SystemFromProto(s chv1.System) (connector.System, bool) {
	name, ok := chv1.System_name[int32(s)]
	if !ok || s == chv1.System_SYSTEM_UNSPECIFIED {
		return "", false
	}
	return connector.System(strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "SYSTEM_")), "_", "-")), true
}
