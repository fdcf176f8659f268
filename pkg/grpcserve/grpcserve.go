// Package grpcserve serves one connectorhub gRPC API the way every service
// does: API tokens checked on the API's methods (pkg/apiauth), the standard
// health service reporting the API, server reflection, and a bounded
// graceful drain (health NOT_SERVING first, then GracefulStop, then Stop).
package grpcserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/connectorhub/connectorhub/pkg/apiauth"
)

// Options configure a Server.
type Options struct {
	// Tokens are the API tokens accepted on the API's methods; at least one.
	Tokens []apiauth.Token
	// Required is the role a method (full name) needs; nil: any known token.
	Required func(fullMethod string) apiauth.Role
	// DrainTimeout bounds how long in-flight calls may run once draining
	// starts before they are cut. Zero cuts them at once.
	DrainTimeout time.Duration
}

// Server is one gRPC API with health and reflection beside it.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	name   string
	drain  time.Duration
}

// New returns a server for the API desc implemented by impl. Health and
// reflection stay open; every method of the API needs a token.
func New(desc *grpc.ServiceDesc, impl any, opts Options) (*Server, error) {
	if len(opts.Tokens) == 0 {
		return nil, fmt.Errorf("grpcserve: %s: no API token configured; every call would be refused", desc.ServiceName)
	}
	if opts.DrainTimeout < 0 {
		return nil, errors.New("grpcserve: negative drain timeout")
	}
	guard := apiauth.New(opts.Tokens).Guard(desc.ServiceName, opts.Required)
	// A server span per call (otelgrpc, on the global tracer provider: a
	// no-op unless telemetry.SetupTracing enabled tracing), continuing the
	// caller's trace context.
	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(guard.Unary), grpc.ChainStreamInterceptor(guard.Stream))
	srv.RegisterService(desc, impl)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	// Not serving until Serve runs.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	return &Server{grpc: srv, health: hs, name: desc.ServiceName, drain: opts.DrainTimeout}, nil
}

// Serve reports SERVING and accepts calls on lis until Drain stops the
// server (it then returns nil) or lis fails. It closes lis.
func (s *Server) Serve(lis net.Listener) error {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(s.name, healthpb.HealthCheckResponse_SERVING)
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil // Drain came first
	}
	return err
}

// Drain stops the server gracefully: health reports NOT_SERVING before it
// returns (for good: Serve cannot undo it), then the server stops taking
// calls and lets in-flight ones finish for up to DrainTimeout before it cuts
// them. The returned channel closes once the server has stopped.
func (s *Server) Drain() <-chan struct{} {
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(s.drain)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			s.grpc.Stop()
			<-stopped
		}
	}()
	return done
}

// Run serves on lis until ctx ends, then drains and returns nil once the
// server stopped; it returns an error when serving fails first.
func (s *Server) Run(ctx context.Context, lis net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case err := <-served:
		<-s.Drain()
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		return fmt.Errorf("serve %s: %w", s.name, err)
	case <-ctx.Done():
	}
	<-s.Drain()
	return <-served
}
