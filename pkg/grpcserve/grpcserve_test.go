package grpcserve_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/connectorhub/connectorhub/pkg/apiauth"
	"github.com/connectorhub/connectorhub/pkg/grpcserve"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

const (
	adminToken  = "admin-token-0123456789abcdef"
	viewerToken = "viewer-token-0123456789abcdef"
)

var tokens = []apiauth.Token{{Name: "ops", Role: apiauth.Admin, Token: adminToken}, {Name: "ci", Role: apiauth.Viewer, Token: viewerToken}}

// search is a KnowledgeService whose Search reports that it started and
// then waits for release (or for its call to end).
type search struct {
	chv1.UnimplementedKnowledgeServiceServer
	started chan struct{}
	release chan struct{}
}

func newSearch() *search {
	return &search{started: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *search) Search(ctx context.Context, _ *chv1.SearchRequest) (*chv1.SearchResponse, error) {
	caller, _ := apiauth.CallerFrom(ctx)
	s.started <- struct{}{}
	select {
	case <-s.release:
		return &chv1.SearchResponse{Terms: []string{caller.Name}}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

type running struct {
	conn *grpc.ClientConn
	done chan error // Run's result
}

// start runs a server on an in-memory listener until ctx ends.
func start(t *testing.T, ctx context.Context, impl chv1.KnowledgeServiceServer, opts grpcserve.Options) *running {
	t.Helper()
	srv, err := grpcserve.New(&chv1.KnowledgeService_ServiceDesc, impl, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	r := &running{done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx, lis) }()
	r.conn, err = grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.conn.Close() })
	return r
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// wait returns Run's result, failing the test if it does not come (the
// bound is generous: only a server that never stops exceeds it).
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestNewRefusesAServerNobodyCouldCall(t *testing.T) {
	t.Parallel()
	if _, err := grpcserve.New(&chv1.KnowledgeService_ServiceDesc, newSearch(), grpcserve.Options{}); err == nil {
		t.Fatal("a server without API tokens was built")
	}
}

func TestTheAPINeedsATokenWhileHealthAndReflectionStayOpen(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	impl := newSearch()
	close(impl.release)
	r := start(t, ctx, impl, grpcserve.Options{Tokens: tokens, DrainTimeout: time.Minute,
		Required: func(string) apiauth.Role { return apiauth.Admin }})
	client := chv1.NewKnowledgeServiceClient(r.conn)

	if _, err := client.Search(t.Context(), &chv1.SearchRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Search without a token: %v, want Unauthenticated", err)
	}
	if _, err := client.Search(bearer(t.Context(), viewerToken), &chv1.SearchRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("Search with a viewer token where admin is required: %v, want PermissionDenied", err)
	}
	res, err := client.Search(bearer(t.Context(), adminToken), &chv1.SearchRequest{})
	if err != nil || len(res.GetTerms()) != 1 || res.GetTerms()[0] != "ops" {
		t.Errorf("Search with the admin token: %v, %v; want the caller ops", res, err)
	}
	for _, name := range []string{"", chv1.KnowledgeService_ServiceDesc.ServiceName} {
		hc, err := healthpb.NewHealthClient(r.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q without a token: %v, %v; want SERVING", name, hc, err)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	list, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection without a token: %v", err)
	}
	found := false
	for _, s := range list.GetListServicesResponse().GetService() {
		found = found || s.GetName() == chv1.KnowledgeService_ServiceDesc.ServiceName
	}
	if !found {
		t.Errorf("reflection lists %v, without the API", list.GetListServicesResponse().GetService())
	}
	_ = stream.CloseSend()

	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after ctx ended: %v", err)
	}
}

func TestDrainReportsNotServingThenLetsInFlightCallsFinish(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	impl := newSearch()
	r := start(t, ctx, impl, grpcserve.Options{Tokens: tokens, DrainTimeout: 5 * time.Minute})

	// A load balancer watching health (the deadline only turns a missing
	// update into a failure instead of a hang).
	watchCtx, stopWatch := context.WithTimeout(t.Context(), 30*time.Second)
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(r.conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: chv1.KnowledgeService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before the drain: %v, %v; want SERVING", st, err)
	}
	// A call in flight when the drain starts.
	type answer struct {
		res *chv1.SearchResponse
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := chv1.NewKnowledgeServiceClient(r.conn).Search(bearer(t.Context(), viewerToken), &chv1.SearchRequest{})
		answered <- answer{res, err}
	}()
	select {
	case <-impl.started:
	case a := <-answered:
		t.Fatalf("the call ended before it started: %v, %v", a.res, a.err)
	}

	cancel()
	// Health says NOT_SERVING while the call is still running.
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health once draining: %v, %v; want NOT_SERVING", st, err)
	}
	select {
	case a := <-answered:
		t.Fatalf("the in-flight call ended before it was released: %v, %v", a.res, a.err)
	case err := <-r.done:
		t.Fatalf("Run returned with a call in flight: %v", err)
	default:
	}
	stopWatch() // the watcher goes away, as a load balancer would
	close(impl.release)
	a := <-answered
	if a.err != nil || len(a.res.GetTerms()) != 1 || a.res.GetTerms()[0] != "ci" {
		t.Fatalf("the in-flight call: %v, %v; want it answered", a.res, a.err)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after the drain: %v", err)
	}
}

func TestDrainCutsCallsThatOutlastTheTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	impl := newSearch() // never released
	r := start(t, ctx, impl, grpcserve.Options{Tokens: tokens, DrainTimeout: 10 * time.Millisecond})
	answered := make(chan error, 1)
	go func() {
		_, err := chv1.NewKnowledgeServiceClient(r.conn).Search(bearer(t.Context(), viewerToken), &chv1.SearchRequest{})
		answered <- err
	}()
	select {
	case <-impl.started:
	case err := <-answered:
		t.Fatalf("the call ended before it started: %v", err)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after a cut drain: %v", err)
	}
	if err := <-answered; status.Code(err) == codes.OK {
		t.Fatal("the call outlasting the drain was answered")
	}
}

func TestRunReportsAListenerThatFails(t *testing.T) {
	t.Parallel()
	srv, err := grpcserve.New(&chv1.KnowledgeService_ServiceDesc, newSearch(), grpcserve.Options{Tokens: tokens, DrainTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 10)
	_ = lis.Close()
	if err := srv.Run(t.Context(), lis); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Run on a closed listener: %v, want the serve error", err)
	}
}
