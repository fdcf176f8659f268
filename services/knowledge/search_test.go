package knowledge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

func TestCacheHitAndExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	cfg := testConfig()
	cfg.CacheTTL = 10 * time.Minute
	r := h.start(cfg, nil)
	ctx := context.Background()
	q := knowledge.Query{Terms: []string{"payment", "gateway"}}

	first, err := r.svc.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Hits) == 0 || h.fake.Searches() != 1 {
		t.Fatalf("hits %d, searches %d", len(first.Hits), h.fake.Searches())
	}
	// Same terms in another order and case: a cache hit, also for a second replica.
	other := h.start(cfg, nil)
	for _, s := range []*knowledge.Service{r.svc, other.svc} {
		again, err := s.Search(ctx, knowledge.Query{Terms: []string{"Gateway", "payment"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Hits) != len(first.Hits) || again.Hits[0].URL != first.Hits[0].URL {
			t.Errorf("cached hits differ: %+v vs %+v", again.Hits, first.Hits)
		}
	}
	if n := h.fake.Searches(); n != 1 {
		t.Fatalf("searches after cache hits = %d, want 1", n)
	}
	h.clock.Advance(cfg.CacheTTL + time.Second)
	if _, err := r.svc.Search(ctx, q); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.Searches(); n != 2 {
		t.Fatalf("searches after the TTL = %d, want 2 (entry expired)", n)
	}
}

func TestSearchMergesConnectorsAndReportsFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	ops := h.addWiki("wiki-ops", "OPS")
	r := h.start(testConfig(), nil)
	ctx := context.Background()

	res, err := r.svc.Search(ctx, knowledge.Query{Terms: []string{"payments", "timeouts", "gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	from := map[string]bool{}
	for _, hit := range res.Hits {
		from[hit.ConnectorID] = true
	}
	if !from["wiki-eng"] || !from["wiki-ops"] || len(res.Failures) != 0 {
		t.Errorf("hits from %v, failures %v", from, res.Failures)
	}
	if !slices.IsSortedFunc(res.Hits, func(a, b knowledge.Hit) int { return -cmpFloat(a.Score, b.Score) }) {
		t.Errorf("hits not best first: %+v", res.Hits)
	}

	// Spaces narrow within each connector; a connector without them is skipped.
	res, err = r.svc.Search(ctx, knowledge.Query{Terms: []string{"timeouts"}, Spaces: []string{"OPS"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].ConnectorID != ops.ID || len(res.Failures) != 1 || !errors.Is(res.Failures[0].Err, knowledge.ErrInvalidQuery) {
		t.Errorf("hits %+v failures %+v", res.Hits, res.Failures)
	}

	// One connector failing leaves the other's hits.
	h.fake.Faults.Add(faults.Fault{Times: 2, Status: http.StatusInternalServerError, Match: func(r *http.Request) bool {
		return strings.Contains(r.URL.Query().Get("cql"), `"ENG"`)
	}})
	res, err = r.svc.Search(ctx, knowledge.Query{Terms: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 || len(res.Failures) != 1 || res.Failures[0].ConnectorID != "wiki-eng" || !errors.Is(res.Failures[0].Err, knowledge.ErrUnavailable) {
		t.Errorf("hits %+v failures %+v", res.Hits, res.Failures)
	}

	for _, tt := range []struct {
		q    knowledge.Query
		want error
	}{
		{knowledge.Query{Terms: []string{" ", "\x00"}}, knowledge.ErrInvalidQuery},
		{knowledge.Query{Terms: []string{"x"}, Spaces: []string{`ENG") OR ("`}}, knowledge.ErrInvalidQuery},
		{knowledge.Query{Terms: []string{"x"}, ConnectorIDs: []string{"nope"}}, knowledge.ErrNoConnector},
	} {
		if _, err := r.svc.Search(ctx, tt.q); !errors.Is(err, tt.want) {
			t.Errorf("Search(%+v) err = %v, want %v", tt.q, err, tt.want)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestMicroServiceDiscoveryAndSearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.start(testConfig(), nil)

	// $SRV discovery.
	msg, err := h.nc.Request("$SRV.PING."+knowledge.ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ping micro.Ping
	if err := json.Unmarshal(msg.Data, &ping); err != nil || ping.Name != knowledge.ServiceName || ping.Version != knowledge.ServiceVersion {
		t.Fatalf("PING = %s (%v)", msg.Data, err)
	}
	msg, err = h.nc.Request("$SRV.INFO."+knowledge.ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil || len(info.Endpoints) != 1 || info.Endpoints[0].Subject != knowledge.SearchSubject || info.Endpoints[0].QueueGroup != knowledge.QueueGroup {
		t.Fatalf("INFO = %s (%v)", msg.Data, err)
	}

	// A search.
	req, _ := protojson.Marshal(&chv1.SearchRequest{Query: `"payment gateway" runbook the`, Limit: 1})
	msg, err = h.nc.Request(knowledge.SearchSubject, req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		t.Fatalf("error %s: %s", code, msg.Header.Get(micro.ErrorHeader))
	}
	var resp chv1.SearchResponse
	if err := protojson.Unmarshal(msg.Data, &resp); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.GetTerms(), []string{"payment gateway", "runbook"}) || len(resp.GetHits()) != 1 ||
		resp.GetHits()[0].GetHit().GetTitle() != "Payment gateway runbook" || resp.GetHits()[0].GetConnectorId() != "wiki-eng" || resp.GetHits()[0].GetPageId() != "101" {
		t.Fatalf("response = %v", &resp)
	}

	msg, err = h.nc.Request("$SRV.STATS."+knowledge.ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var stats micro.Stats
	if err := json.Unmarshal(msg.Data, &stats); err != nil || len(stats.Endpoints) != 1 || stats.Endpoints[0].NumRequests != 1 {
		t.Fatalf("STATS = %s (%v)", msg.Data, err)
	}

	// Clear errors.
	for _, tt := range []struct {
		data []byte
		code string
	}{
		{[]byte("not json"), knowledge.CodeInvalid},
		{mustJSON(t, &chv1.SearchRequest{Query: "  "}), knowledge.CodeInvalid},
		{mustJSON(t, &chv1.SearchRequest{Query: "gateway", ConnectorIds: []string{"nope"}}), knowledge.CodeNoConnector},
	} {
		msg, err := h.nc.Request(knowledge.SearchSubject, tt.data, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := msg.Header.Get(micro.ErrorCodeHeader); got != tt.code || msg.Header.Get(micro.ErrorHeader) == "" {
			t.Errorf("request %s: code %q (%s), want %s", tt.data, got, msg.Header.Get(micro.ErrorHeader), tt.code)
		}
	}
}

func mustJSON(t *testing.T, m *chv1.SearchRequest) []byte {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSearchAnswersWithinTheDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG")
	h.fake.Faults.Add(faults.Fault{Times: 100, Delay: 3 * time.Second})
	cfg := testConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = []string{"svc:viewer:" + apiToken}
	h.start(cfg, lis)

	start := time.Now()
	msg, err := h.nc.Request(knowledge.SearchSubject, mustJSON(t, &chv1.SearchRequest{Query: "gateway"}), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != knowledge.CodeTimeout || time.Since(start) > 2*time.Second {
		t.Errorf("NATS: code %q after %s, want %s within the 300ms deadline", code, time.Since(start), knowledge.CodeTimeout)
	}

	client := chv1.NewKnowledgeServiceClient(dial(t, lis.Addr()))
	start = time.Now()
	_, err = client.Search(authCtx(t), &chv1.SearchRequest{Query: "gateway settlement"})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 2*time.Second {
		t.Errorf("gRPC: %v after %s, want DeadlineExceeded within the deadline", err, time.Since(start))
	}
}

func dial(t *testing.T, addr net.Addr) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func authCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiToken)
}

func TestGRPCSearchHealthAndReflection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addWiki("wiki-eng", "ENG", "OPS")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Tokens = []string{"svc:viewer:" + apiToken}
	r := h.start(cfg, lis)
	if r.addr == nil || r.addr.String() != lis.Addr().String() {
		t.Fatalf("Ready address = %v", r.addr)
	}
	conn := dial(t, lis.Addr())
	client := chv1.NewKnowledgeServiceClient(conn)

	resp, err := client.Search(authCtx(t), &chv1.SearchRequest{Query: "settlement gateway", SpaceKeys: []string{"ENG"}, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetHits()) != 2 || resp.GetHits()[0].GetHit().GetSpaceKey() != "ENG" || resp.GetHits()[0].GetHit().GetUrl() == "" {
		t.Fatalf("response = %v", resp)
	}

	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *chv1.SearchRequest
		code codes.Code
	}{
		{"no token", context.Background(), &chv1.SearchRequest{Query: "gateway"}, codes.Unauthenticated},
		{"wrong token", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer not-the-token-0000000"), &chv1.SearchRequest{Query: "gateway"}, codes.Unauthenticated},
		{"empty query", authCtx(t), &chv1.SearchRequest{Query: "!!"}, codes.InvalidArgument},
		{"unknown connector", authCtx(t), &chv1.SearchRequest{Query: "gateway", ConnectorIds: []string{"nope"}}, codes.FailedPrecondition},
	} {
		if _, err := client.Search(tt.ctx, tt.req); status.Code(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}

	h.fake.Faults.Add(faults.Fault{Times: 5, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"90"}}})
	_, err = client.Search(authCtx(t), &chv1.SearchRequest{Query: "onboarding"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "retry after 1m30s") {
		t.Errorf("rate limited: %v, want ResourceExhausted saying when to retry", err)
	}

	hc, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: chv1.KnowledgeService_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v", hc, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "connectorhub.v1.KnowledgeService") {
		t.Errorf("reflection lists %v", names)
	}
	_ = stream.CloseSend()

	// Stopping drains: health goes away and the service returns cleanly.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.nc.Request(knowledge.SearchSubject, mustJSON(t, &chv1.SearchRequest{Query: "x"}), 500*time.Millisecond); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("after stop, NATS search: %v, want no responders", err)
	}
}

func TestGRPCNeedsATokenToStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	nc, js := h.connect("knowledge")
	svc, err := knowledge.New(context.Background(), testConfig(), knowledge.Deps{NC: nc, JS: js, Decrypter: h.cipher, Trackers: all.Registry(), Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Serve(ctx); err == nil || !strings.Contains(err.Error(), "API token") {
		t.Fatalf("Serve = %v, want a refusal naming the missing API token", err)
	}
}
