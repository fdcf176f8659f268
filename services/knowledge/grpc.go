package knowledge

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// grpcServer is the KnowledgeService port.
type grpcServer struct {
	chv1.UnimplementedKnowledgeServiceServer
	engine  *engine
	timeout time.Duration
}

var _ chv1.KnowledgeServiceServer = (*grpcServer)(nil)

func (g *grpcServer) Search(ctx context.Context, req *chv1.SearchRequest) (*chv1.SearchResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	res, err := g.engine.Search(ctx, toQuery(req, g.engine.cfg.MaxTerms))
	if err == nil {
		return toResponse(res), nil
	}
	msg := Reason(err)
	switch {
	case errors.Is(err, ErrInvalidQuery):
		return nil, status.Error(codes.InvalidArgument, msg)
	case errors.Is(err, ErrNoConnector):
		return nil, status.Error(codes.FailedPrecondition, msg)
	case errors.Is(err, ErrRateLimited):
		return nil, status.Error(codes.ResourceExhausted, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return nil, status.Error(codes.DeadlineExceeded, msg)
	case errors.Is(err, context.Canceled):
		return nil, status.Error(codes.Canceled, msg)
	}
	return nil, status.Error(codes.Unavailable, msg)
}
