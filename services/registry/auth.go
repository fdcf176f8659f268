package registry

import (
	"github.com/connectorhub/connectorhub/pkg/apiauth"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Role, Caller and CallerFrom are the API-token roles shared with the other
// gRPC services (pkg/apiauth).
type (
	Role   = apiauth.Role
	Caller = apiauth.Caller
)

const (
	RoleAdmin  = apiauth.Admin
	RoleViewer = apiauth.Viewer
)

// CallerFrom returns the authenticated caller of a call.
var CallerFrom = apiauth.CallerFrom

// MinAPITokenLen keeps guessable tokens out.
const MinAPITokenLen = apiauth.MinTokenLen

// adminMethods may only be called with an admin token; everything else in
// RegistryService needs at least a viewer token. TestConnection is admin-only
// because it sends a caller-supplied credential to a caller-supplied URL.
var adminMethods = map[string]bool{
	chv1.RegistryService_CreateConnector_FullMethodName:   true,
	chv1.RegistryService_UpdateConnector_FullMethodName:   true,
	chv1.RegistryService_DeleteConnector_FullMethodName:   true,
	chv1.RegistryService_TestConnection_FullMethodName:    true,
	chv1.RegistryService_RotateCredential_FullMethodName:  true,
	chv1.RegistryService_SetOAuthGrant_FullMethodName:     true,
	chv1.RegistryService_RewrapCredentials_FullMethodName: true,
	chv1.RegistryService_ReplayResult_FullMethodName:      true,
	// The setup reveals the webhook secret (once): admin only.
	chv1.RegistryService_GetWebhookSetup_FullMethodName:     true,
	chv1.RegistryService_RotateWebhookSecret_FullMethodName: true,
}

func requiredRole(method string) Role {
	if adminMethods[method] {
		return RoleAdmin
	}
	return RoleViewer
}
