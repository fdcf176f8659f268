package knowledge

import "context"

// Search runs a search in process, as the NATS and gRPC ports do.
func (s *Service) Search(ctx context.Context, q Query) (Result, error) {
	return s.engine.Search(ctx, q)
}
