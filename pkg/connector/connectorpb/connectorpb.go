// Package connectorpb maps the connector domain's enums to and from their
// protobuf forms, the one place the services (registry, poller, writeback,
// knowledge) and the ledger translate them.
package connectorpb

import (
	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

var systems = map[connector.System]chv1.System{
	connector.Jira:       chv1.System_SYSTEM_JIRA,
	connector.GitHub:     chv1.System_SYSTEM_GITHUB,
	connector.GitLab:     chv1.System_SYSTEM_GITLAB,
	connector.Confluence: chv1.System_SYSTEM_CONFLUENCE,
}

var systemsBack = func() map[chv1.System]connector.System {
	m := make(map[chv1.System]connector.System, len(systems))
	for k, v := range systems {
		m[v] = k
	}
	return m
}()

// SystemToProto is the protobuf form of a system (unspecified for an unknown one).
func SystemToProto(s connector.System) chv1.System { return systems[s] }

// SystemFromProto is the domain form of a protobuf system; ok is false for
// unspecified and unknown values.
func SystemFromProto(s chv1.System) (connector.System, bool) {
	sys, ok := systemsBack[s]
	return sys, ok
}
