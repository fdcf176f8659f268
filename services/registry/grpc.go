package registry

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectorhub/connectorhub/pkg/conncheck"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/grpcserve"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// newGRPCServer serves the registry's API with health, reflection and auth
// on every RegistryService call.
func newGRPCServer(svc *Service, cfg Config) (*grpcserve.Server, error) {
	tokens, err := cfg.apiTokens()
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("registry: no API token configured (HUB_API_TOKENS or HUB_API_TOKENS_FILE); every call would be refused")
	}
	return grpcserve.New(&chv1.RegistryService_ServiceDesc, &grpcServer{svc: svc},
		grpcserve.Options{Tokens: tokens, Required: requiredRole, DrainTimeout: cfg.DrainTimeout})
}

// grpcServer is the thin port: proto ⇄ domain and domain errors ⇄ codes.
type grpcServer struct {
	chv1.UnimplementedRegistryServiceServer
	svc *Service
}

var _ chv1.RegistryServiceServer = (*grpcServer)(nil)

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

func (g *grpcServer) CreateConnector(ctx context.Context, req *chv1.CreateConnectorRequest) (*chv1.CreateConnectorResponse, error) {
	if req.GetConnector() == nil {
		return nil, invalid("connector", "is required")
	}
	c := connectorFromProto(req.GetConnector())
	if req.GetConnectorId() != "" {
		c.ID = req.GetConnectorId()
	}
	out, err := g.svc.Create(ctx, c, connector.NewSecret(req.GetCredential()))
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.CreateConnectorResponse{Connector: connectorToProto(out)}, nil
}

func (g *grpcServer) GetConnector(ctx context.Context, req *chv1.GetConnectorRequest) (*chv1.GetConnectorResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	c, err := g.svc.Get(ctx, req.GetId())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	st, err := g.svc.Statuses(ctx, c.ID)
	if err == nil {
		err = g.svc.withSharedStatus(ctx, []connector.Connector{c}, st)
	}
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	p := connectorToProto(c)
	p.Status = connectorStatusToProto(c, st[0])
	return &chv1.GetConnectorResponse{Connector: p}, nil
}

// ListConnectors pages by id: the page token is the last id of the previous page,
// so paging stays stable while connectors are added or removed.
func (g *grpcServer) ListConnectors(ctx context.Context, req *chv1.ListConnectorsRequest) (*chv1.ListConnectorsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalid("page_size", "must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	if t := req.GetPageToken(); t != "" && !connector.ValidID(t) {
		return nil, invalid("page_token", "is not a token this server issued")
	}
	system := systemFromProto(req.GetSystem())
	if _, known := g.svc.trackers.Lookup(system); system != "" && !known {
		return nil, invalid("system", fmt.Sprintf("unknown system %d", req.GetSystem()))
	}
	page, more, err := g.svc.Page(ctx, system, req.GetPageToken(), size)
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	ids := make([]string, len(page))
	for i, c := range page {
		ids[i] = c.ID
	}
	statuses, err := g.svc.Statuses(ctx, ids...)
	if err == nil {
		err = g.svc.withSharedStatus(ctx, page, statuses)
	}
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	resp := &chv1.ListConnectorsResponse{Connectors: make([]*chv1.Connector, len(page))}
	for i, c := range page {
		p := connectorToProto(c)
		p.Status = connectorStatusToProto(c, statuses[i])
		resp.Connectors[i] = p
	}
	if more && len(page) > 0 {
		resp.NextPageToken = page[len(page)-1].ID
	}
	return resp, nil
}

func (g *grpcServer) UpdateConnector(ctx context.Context, req *chv1.UpdateConnectorRequest) (*chv1.UpdateConnectorResponse, error) {
	in := req.GetConnector()
	if in.GetId() == "" {
		return nil, invalid("connector.id", "is required")
	}
	rev, ok := revisionOf(in.GetEtag())
	if !ok {
		return nil, invalid("connector.etag", "is not an etag this server issued")
	}
	stored, err := g.svc.Get(ctx, in.GetId())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	if rev > 0 && rev != stored.Revision {
		return nil, status.Errorf(codes.Aborted, "connector %s changed since etag %s (now %s); read it again and retry", stored.ID, in.GetEtag(), etagOf(stored.Revision))
	}
	merged := connectorToProto(stored)
	if err := applyMask(merged, in, req.GetUpdateMask().GetPaths()); err != nil {
		return nil, g.fail(ctx, err)
	}
	next := connectorFromProto(merged)
	next.Credential, next.CreateTime, next.Revision = stored.Credential, stored.CreateTime, stored.Revision
	next.WebhookSecret, next.WebhookHook = stored.WebhookSecret, stored.WebhookHook
	out, err := g.svc.Update(ctx, next, topLevel(req.GetUpdateMask().GetPaths()), connector.NewSecret(req.GetCredential()))
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.UpdateConnectorResponse{Connector: connectorToProto(out)}, nil
}

func (g *grpcServer) DeleteConnector(ctx context.Context, req *chv1.DeleteConnectorRequest) (*chv1.DeleteConnectorResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	rev, ok := revisionOf(req.GetEtag())
	if !ok {
		return nil, invalid("etag", "is not an etag this server issued")
	}
	if err := g.svc.Delete(ctx, req.GetId(), rev); err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.DeleteConnectorResponse{}, nil
}

func (g *grpcServer) TestConnection(ctx context.Context, req *chv1.TestConnectionRequest) (*chv1.TestConnectionResponse, error) {
	var (
		res trackers.TestResult
		err error
	)
	switch t := req.GetTarget().(type) {
	case *chv1.TestConnectionRequest_Config:
		res, err = g.svc.TestUnsaved(ctx, connectorFromProto(t.Config), connector.NewSecret(req.GetCredential()))
	case *chv1.TestConnectionRequest_ConnectorId:
		if req.GetCredential() != "" {
			return nil, invalid("credential", "is not used when testing a saved connector; use RotateCredential to test a new one")
		}
		res, err = g.svc.TestSaved(ctx, t.ConnectorId)
	default:
		return nil, invalid("target", "set config (an unsaved configuration) or connector_id")
	}
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return testResultToProto(res), nil
}

func (g *grpcServer) GetCapabilities(_ context.Context, req *chv1.GetCapabilitiesRequest) (*chv1.GetCapabilitiesResponse, error) {
	resp := &chv1.GetCapabilitiesResponse{}
	if req.GetSystem() == chv1.System_SYSTEM_UNSPECIFIED {
		for _, c := range g.svc.trackers.AllCapabilities() {
			resp.Systems = append(resp.Systems, capabilitiesToProto(c))
		}
		return resp, nil
	}
	c, ok := g.svc.trackers.Capabilities(systemFromProto(req.GetSystem()))
	if !ok {
		return nil, invalid("system", fmt.Sprintf("unknown system %d", req.GetSystem()))
	}
	resp.Systems = append(resp.Systems, capabilitiesToProto(c))
	return resp, nil
}

func (g *grpcServer) RotateCredential(ctx context.Context, req *chv1.RotateCredentialRequest) (*chv1.RotateCredentialResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	rev, ok := revisionOf(req.GetEtag())
	if !ok {
		return nil, invalid("etag", "is not an etag this server issued")
	}
	out, res, err := g.svc.Rotate(ctx, req.GetId(), connector.NewSecret(req.GetCredential()), rev)
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.RotateCredentialResponse{Connector: connectorToProto(out), Test: testResultToProto(res)}, nil
}

// SetOAuthGrant stores an oauth2 connector's refresh token (encrypted).
func (g *grpcServer) SetOAuthGrant(ctx context.Context, req *chv1.SetOAuthGrantRequest) (*chv1.SetOAuthGrantResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	rev, ok := revisionOf(req.GetEtag())
	if !ok {
		return nil, invalid("etag", "is not an etag this server issued")
	}
	out, err := g.svc.SetOAuthGrant(ctx, req.GetId(), connector.NewSecret(req.GetRefreshToken()), rev)
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.SetOAuthGrantResponse{Connector: connectorToProto(out)}, nil
}

func (g *grpcServer) CheckCredentials(ctx context.Context, req *chv1.CheckCredentialsRequest) (*chv1.CheckCredentialsResponse, error) {
	stale := req.GetStaleAfter().AsDuration()
	if req.GetStaleAfter() != nil && stale <= 0 {
		return nil, invalid("stale_after", "must be positive")
	}
	if caller, _ := CallerFrom(ctx); req.GetRefresh() && caller.Role != RoleAdmin {
		return nil, status.Errorf(codes.PermissionDenied, "token %q has role %s; a refreshing check tests every connector and needs role admin", caller.Name, caller.Role)
	}
	ages, err := g.svc.CheckCredentials(ctx, stale, req.GetRefresh())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	resp := &chv1.CheckCredentialsResponse{}
	for _, a := range ages {
		resp.Credentials = append(resp.Credentials, &chv1.CredentialAge{
			ConnectorId:  a.Connector.ID,
			System:       connectorpb.SystemToProto(a.Connector.System),
			Credential:   credentialInfoOf(a.Connector),
			Age:          durationpb.New(a.Age),
			Stale:        a.Stale,
			Expiring:     a.Expiring,
			RefreshError: a.RefreshError,
		})
	}
	return resp, nil
}

func (g *grpcServer) RewrapCredentials(ctx context.Context, _ *chv1.RewrapCredentialsRequest) (*chv1.RewrapCredentialsResponse, error) {
	rep, err := g.svc.Rewrap(ctx)
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.RewrapCredentialsResponse{Rewrapped: int32(rep.Rewrapped), Unchanged: int32(rep.Unchanged), FailedConnectorIds: rep.Failed,
		RefreshTokensRewrapped: int32(rep.RefreshRewrapped), RefreshTokensUnchanged: int32(rep.RefreshUnchanged)}, nil
}

// fail maps a domain error to a status and logs the cause of an unexpected one,
// whose status says only "internal error".
func (g *grpcServer) fail(ctx context.Context, err error) error {
	if errorCode(err) == codes.Internal {
		g.svc.log.ErrorContext(ctx, "registry call failed", "error", err)
	}
	return toStatus(err)
}

func (g *grpcServer) ReplayResult(ctx context.Context, req *chv1.ReplayResultRequest) (*chv1.ReplayResultResponse, error) {
	if req.GetResultId() == "" {
		return nil, invalid("result_id", "is required")
	}
	subject, n, err := g.svc.Replay(ctx, req.GetResultId())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.ReplayResultResponse{ResultId: req.GetResultId(), Subject: subject, Replays: int32(n)}, nil
}

func (g *grpcServer) NormalizeTicketKey(ctx context.Context, req *chv1.NormalizeTicketKeyRequest) (*chv1.NormalizeTicketKeyResponse, error) {
	if req.GetConnectorId() == "" {
		return nil, invalid("connector_id", "is required")
	}
	system, key, err := g.svc.NormalizeTicketKey(ctx, req.GetConnectorId(), req.GetTicket())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.NormalizeTicketKeyResponse{Key: key, System: connectorpb.SystemToProto(system)}, nil
}

func (g *grpcServer) GetWebhookSetup(ctx context.Context, req *chv1.GetWebhookSetupRequest) (*chv1.GetWebhookSetupResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	w, err := g.svc.WebhookSetup(ctx, req.GetId())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.GetWebhookSetupResponse{Setup: webhookSetupToProto(w)}, nil
}

func (g *grpcServer) RotateWebhookSecret(ctx context.Context, req *chv1.RotateWebhookSecretRequest) (*chv1.RotateWebhookSecretResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id", "is required")
	}
	w, err := g.svc.RotateWebhookSecret(ctx, req.GetId())
	if err != nil {
		return nil, g.fail(ctx, err)
	}
	return &chv1.RotateWebhookSecretResponse{Setup: webhookSetupToProto(w)}, nil
}

func invalid(field, desc string) error {
	return toStatus(connector.ValidationError{{Field: field, Description: desc}})
}

// errorCode maps a domain error to its gRPC code.
func errorCode(err error) codes.Code {
	var verr connector.ValidationError
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &verr):
		return codes.InvalidArgument
	case errors.Is(err, connector.ErrNotFound), errors.Is(err, ledger.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ledger.ErrNotFailed):
		return codes.FailedPrecondition
	case errors.Is(err, trackers.ErrInvalidTicketKey):
		return codes.InvalidArgument
	case errors.Is(err, trackers.ErrInvalidConfig), errors.Is(err, trackers.ErrUnknownSystem):
		// The stored connector cannot name tickets (a malformed project, a
		// system this build lacks): fix the connector, not the request.
		return codes.FailedPrecondition
	case errors.Is(err, connector.ErrExists):
		return codes.AlreadyExists
	case errors.Is(err, connector.ErrConflict):
		return codes.Aborted
	case errors.Is(err, errCredentialRequired), errors.Is(err, errTestFailed), errors.Is(err, errNoWebhook), errors.Is(err, errGrantInUse):
		return codes.FailedPrecondition
	case errors.Is(err, secrets.ErrUnavailable), errors.Is(err, conncheck.ErrNoWorker), errors.Is(err, errIndexBehind):
		return codes.Unavailable
	case errors.Is(err, secrets.ErrPermissionDenied), errors.Is(err, secrets.ErrNotSetUp), errors.Is(err, secrets.ErrKeyNotFound):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Internal
}

// toStatus turns a domain error into a status with a message a person can act
// on. Validation errors carry a BadRequest detail with one violation per field.
func toStatus(err error) error {
	code := errorCode(err)
	var verr connector.ValidationError
	switch {
	case errors.As(err, &verr):
		br := &errdetails.BadRequest{}
		for _, f := range verr {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Description})
		}
		st, derr := status.New(code, verr.Error()).WithDetails(br)
		if derr != nil {
			return status.Error(code, verr.Error())
		}
		return st.Err()
	case errors.Is(err, secrets.ErrUnavailable):
		return status.Errorf(code, "credential store unavailable, nothing was stored: %v", err)
	case errors.Is(err, secrets.ErrPermissionDenied):
		return status.Errorf(code, "the registry's credential store policy refused the operation (it needs encrypt and rewrap): %v", err)
	case errors.Is(err, secrets.ErrNotSetUp), errors.Is(err, secrets.ErrKeyNotFound):
		return status.Errorf(code, "the credential store is not set up, nothing was stored: %v", err)
	case code == codes.Internal:
		return status.Error(code, "internal error; see the registry log")
	}
	return status.Error(code, err.Error())
}
