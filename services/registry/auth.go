package registry

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Caller is who made a call, as the auth interceptor established it.
type Caller struct {
	Name string
	Role Role
}

type callerKey struct{}

// CallerFrom returns the authenticated caller of a call.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// adminMethods may only be called with an admin token; everything else in
// RegistryService needs at least a viewer token. TestConnection is admin-only
// because it sends a caller-supplied credential to a caller-supplied URL.
var adminMethods = map[string]bool{
	chv1.RegistryService_CreateConnector_FullMethodName:   true,
	chv1.RegistryService_UpdateConnector_FullMethodName:   true,
	chv1.RegistryService_DeleteConnector_FullMethodName:   true,
	chv1.RegistryService_TestConnection_FullMethodName:    true,
	chv1.RegistryService_RotateCredential_FullMethodName:  true,
	chv1.RegistryService_RewrapCredentials_FullMethodName: true,
	chv1.RegistryService_ReplayResult_FullMethodName:      true,
}

// authenticator checks bearer tokens. Tokens are compared by their SHA-256 in
// constant time, so neither timing nor a memory dump of the map reveals them.
type authenticator struct {
	tokens []hashedToken
}

type hashedToken struct {
	sum    [32]byte
	caller Caller
}

func newAuthenticator(tokens []APIToken) *authenticator {
	a := &authenticator{}
	for _, t := range tokens {
		a.tokens = append(a.tokens, hashedToken{sum: sha256.Sum256([]byte(t.Token)), caller: Caller{Name: t.Name, Role: t.Role}})
	}
	return a
}

func (a *authenticator) lookup(token string) (Caller, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Caller
	ok := false
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t.caller, true
		}
	}
	return found, ok
}

// authorize resolves the caller of a RegistryService call and checks its role.
// Health and reflection are open, so probes and grpcurl discovery work.
func (a *authenticator) authorize(ctx context.Context, method string) (context.Context, error) {
	if !strings.HasPrefix(method, "/"+chv1.RegistryService_ServiceDesc.ServiceName+"/") {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, `missing "authorization: Bearer <token>" metadata`)
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return nil, status.Error(codes.Unauthenticated, `authorization metadata must be "Bearer <token>"`)
	}
	caller, ok := a.lookup(strings.TrimSpace(token))
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown API token")
	}
	if adminMethods[method] && caller.Role != RoleAdmin {
		return nil, status.Errorf(codes.PermissionDenied, "token %q has role %s; %s needs role admin", caller.Name, caller.Role, method[strings.LastIndex(method, "/")+1:])
	}
	return context.WithValue(ctx, callerKey{}, caller), nil
}

func (a *authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if _, err := a.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
