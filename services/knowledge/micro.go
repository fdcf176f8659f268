package knowledge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// NATS micro service: other services search with a request on SearchSubject
// carrying a SearchRequest as protobuf JSON; the reply is a SearchResponse,
// or a micro error (headers Nats-Service-Error-Code and Nats-Service-Error)
// with one of the codes below. $SRV.PING|INFO|STATS.knowledge discover it.
const (
	ServiceName    = "knowledge"
	ServiceVersion = "1.0.0"
	SearchSubject  = "knowledge.search"
	// QueueGroup spreads requests over replicas.
	QueueGroup = "knowledge"
)

// Error codes of the NATS endpoint (HTTP-like, as micro services use).
const (
	CodeInvalid     = "400" // ErrInvalidQuery, malformed request
	CodeNoConnector = "412" // ErrNoConnector
	CodeRateLimited = "429" // ErrRateLimited
	CodeUnavailable = "503" // ErrUnavailable, ErrConnector
	CodeTimeout     = "504" // deadline passed
)

// toQuery translates a request; the query text is split by ParseQuery.
func toQuery(req *chv1.SearchRequest, maxTerms int) Query {
	return Query{
		Terms:        ParseQuery(req.GetQuery(), maxTerms),
		Spaces:       req.GetSpaceKeys(),
		Limit:        int(req.GetLimit()),
		ConnectorIDs: req.GetConnectorIds(),

		TicketConnectorID: req.GetTicketConnectorId(),
		Ticket:            req.GetTicket(),

		IncludeContext:      req.GetIncludeContext(),
		ContextConnectorIDs: req.GetContextConnectorIds(),
		ContextScopes:       req.GetContextScopes(),
	}
}

func toResponse(res Result) *chv1.SearchResponse {
	out := &chv1.SearchResponse{Terms: res.Terms, TicketKey: res.TicketKey, Context: res.Context}
	for _, h := range res.Hits {
		out.Hits = append(out.Hits, &chv1.SearchHit{ConnectorId: h.ConnectorID, PageId: h.PageID, Hit: hitToProto(h)})
	}
	for _, f := range res.Failures {
		out.Failures = append(out.Failures, &chv1.SearchFailure{ConnectorId: f.ConnectorID, Reason: Reason(f.Err)})
	}
	return out
}

// microServer serves the engine's search as a NATS micro endpoint. Each
// request runs in its own goroutine (micro calls handlers one at a time),
// up to limit at once.
type microServer struct {
	engine  *engine
	timeout time.Duration
	log     *slog.Logger
	sem     chan struct{}
	wg      sync.WaitGroup
}

func startMicro(ctx context.Context, nc *nats.Conn, m *microServer) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     ServiceVersion,
		Description: "Confluence search over the configured knowledge connectors",
		QueueGroup:  QueueGroup,
	})
	if err != nil {
		return nil, err
	}
	err = svc.AddEndpoint("search", micro.ContextHandler(ctx, m.handle),
		micro.WithEndpointSubject(SearchSubject),
		micro.WithEndpointMetadata(map[string]string{
			"request":  "connectorhub.v1.SearchRequest (protobuf JSON)",
			"response": "connectorhub.v1.SearchResponse (protobuf JSON)",
		}))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	// Subscriptions are sent asynchronously: make sure the server has them
	// before the service reports ready.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

func (m *microServer) handle(ctx context.Context, req micro.Request) {
	m.sem <- struct{}{}
	m.wg.Go(func() {
		defer func() { <-m.sem }()
		m.answer(ctx, req)
	})
}

func (m *microServer) answer(ctx context.Context, req micro.Request) {
	var in chv1.SearchRequest
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(req.Data(), &in); err != nil {
		m.respondErr(req, CodeInvalid, "request is not a connectorhub.v1.SearchRequest in protobuf JSON")
		return
	}
	// A requester's traceparent header carries its trace into the search.
	ctx = propagation.TraceContext{}.Extract(ctx, bus.HeaderCarrier(req.Headers()))
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	res, err := m.engine.Search(ctx, toQuery(&in, m.engine.cfg.MaxTerms))
	if err != nil {
		code := CodeUnavailable
		switch {
		case errors.Is(err, ErrInvalidQuery):
			code = CodeInvalid
		case errors.Is(err, ErrNoConnector):
			code = CodeNoConnector
		case errors.Is(err, ErrRateLimited):
			code = CodeRateLimited
		case errors.Is(err, context.DeadlineExceeded):
			code = CodeTimeout
		}
		m.respondErr(req, code, Reason(err))
		return
	}
	data, err := protojson.Marshal(toResponse(res))
	if err != nil {
		m.respondErr(req, CodeUnavailable, "cannot encode the response")
		return
	}
	if err := req.Respond(data); err != nil {
		m.log.Warn("knowledge: reply to search", "error", err)
	}
}

func (m *microServer) respondErr(req micro.Request, code, desc string) {
	if err := req.Error(code, desc, nil); err != nil {
		m.log.Warn("knowledge: reply to search", "error", err)
	}
}
