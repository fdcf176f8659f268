package knowledge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// tracerName names the knowledge service's spans (one per search of a
// Confluence connector).
const tracerName = "github.com/connectorhub/connectorhub/services/knowledge"

// Errors of a search, for errors.Is. The gRPC and NATS ports map them to
// status codes.
var (
	// ErrInvalidQuery: no searchable terms, a malformed space key, or spaces
	// none of the connectors covers.
	ErrInvalidQuery = errors.New("invalid knowledge query")
	// ErrNoConnector: no enabled Confluence connector (matching the request).
	ErrNoConnector = errors.New("no enabled Confluence connector")
	// ErrUnavailable: Confluence could not be reached, failed, or answered
	// with something unreadable.
	ErrUnavailable = errors.New("confluence unavailable")
	// ErrRateLimited: Confluence asked us to wait.
	ErrRateLimited = errors.New("confluence rate limited")
	// ErrConnector: the connector cannot be used as configured (credential
	// undecryptable or rejected, endpoint refused, invalid configuration).
	ErrConnector = errors.New("confluence connector unusable")
)

// Decrypter opens a credential bound to its connector id (pkg/secrets.Cipher
// satisfies it; workers hold decrypt rights only).
type Decrypter = trackers.Decrypter

// confluenceClient is what the service needs from the Confluence tracker.
type confluenceClient interface {
	trackers.Searcher
	trackers.PageReader
}

// Hit is one page found for a query.
type Hit struct {
	ConnectorID string    `json:"connector_id"`
	PageID      string    `json:"page_id"`
	Title       string    `json:"title"`
	URL         string    `json:"url"`
	SpaceKey    string    `json:"space_key"`
	Updated     time.Time `json:"updated"`
	Excerpt     string    `json:"excerpt"`
	Score       float64   `json:"score"`
	BodyText    string    `json:"body_text,omitempty"`
}

// Query is a search request.
type Query struct {
	Terms        []string
	Spaces       []string // within each connector's spaces
	Limit        int      // Config.DefaultLimit when 0
	ConnectorIDs []string // all enabled Confluence connectors when empty
	// Ticket, when set, adds the terms of a ticket of connector
	// TicketConnectorID (any form its tracker's KeyNormalizer accepts)
	// before Terms.
	TicketConnectorID string
	Ticket            string
	// IncludeContext adds the context of TicketConnectorID's context
	// connectors; ContextConnectorIDs reads these instead. ContextScopes
	// narrows either to these watched scopes. Asking for context with no
	// Terms and no Ticket searches no Confluence connector.
	IncludeContext      bool
	ContextConnectorIDs []string
	ContextScopes       []string
}

// Failure is a connector that gave no hits.
type Failure struct {
	ConnectorID string
	Err         error
}

// Result is the answer to a search.
type Result struct {
	// TicketKey is the ticket searched for (Query.Ticket normalised).
	TicketKey string
	Terms     []string // as searched, after cleaning
	Hits      []Hit    // best first
	Failures  []Failure
	// Context is what the context sources reported, when asked for (the
	// event's form: the same section ticket.enriched carries).
	Context *chv1.TicketContext
}

// spaceKey is the registry's rule for space keys.
var spaceKey = regexp.MustCompile(`^~?[A-Za-z0-9_]{1,255}$`)

// errSpacesOutside: none of the requested spaces is configured on a connector.
var errSpacesOutside = fmt.Errorf("%w: none of the requested spaces is configured on this connector", ErrInvalidQuery)

// engine searches Confluence connectors through the cache. It is the
// application core the ports (bus consumer, NATS micro, gRPC) call.
type engine struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	conns    *connectorSet
	cache    *cache
	sessions *trackers.Sessions
	client   confluenceClient
	tickets  *ticketTerms // nil: no search by ticket
	contexts *contexts
	policy   trackers.EndpointPolicy
	flight   flight
	metrics  searchCounter // nil: not counted

	mu      sync.Mutex
	blocked map[string]block
}

// block keeps a connector that failed from being asked again at once.
type block struct {
	revision uint64
	until    time.Time
	err      error
}

// Search searches the enabled Confluence connectors and merges their hits,
// and reads the context asked for beside it (see Query.IncludeContext). It
// fails only when no connector answered; the others' failures are listed.
// With context asked for, having no Confluence connector is not a failure.
func (e *engine) Search(ctx context.Context, q Query) (Result, error) {
	if !q.IncludeContext && len(q.ContextConnectorIDs) == 0 {
		return e.search(ctx, q)
	}
	ids := q.ContextConnectorIDs
	if len(ids) == 0 {
		if q.TicketConnectorID == "" {
			return Result{}, fmt.Errorf("%w: include_context needs ticket_connector_id (or name context_connector_ids)", ErrInvalidQuery)
		}
		c, ok := e.conns.get(q.TicketConnectorID)
		if !ok {
			return Result{}, fmt.Errorf("%w: no connector %q", ErrInvalidQuery, q.TicketConnectorID)
		}
		if len(c.ContextConnectors) == 0 {
			return Result{}, fmt.Errorf("%w: connector %q names no context connectors", ErrInvalidQuery, q.TicketConnectorID)
		}
		ids = c.ContextConnectors
	}
	tctx := make(chan *chv1.TicketContext, 1)
	go func() { tctx <- e.contexts.read(ctx, ids, q.ContextScopes) }()
	if len(q.Terms) == 0 && q.Ticket == "" {
		return Result{Context: <-tctx}, nil
	}
	res, err := e.search(ctx, q)
	res.Context = <-tctx
	if errors.Is(err, ErrNoConnector) {
		err = nil
	}
	return res, err
}

func (e *engine) search(ctx context.Context, q Query) (Result, error) {
	var key string
	if q.Ticket != "" || q.TicketConnectorID != "" {
		if e.tickets == nil {
			return Result{}, fmt.Errorf("%w: this replica cannot search by ticket", ErrInvalidQuery)
		}
		k, terms, err := e.tickets.terms(ctx, q.TicketConnectorID, q.Ticket)
		if err != nil {
			return Result{TicketKey: k}, err
		}
		key, q.Terms = k, append(terms, q.Terms...)
	}
	res := Result{TicketKey: key, Terms: confluence.SearchTerms(q.Terms)}
	if len(res.Terms) == 0 {
		return res, fmt.Errorf("%w: no search terms", ErrInvalidQuery)
	}
	for _, k := range q.Spaces {
		if !spaceKey.MatchString(k) {
			return res, fmt.Errorf("%w: %q is not a space key", ErrInvalidQuery, k)
		}
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = e.cfg.DefaultLimit
	case limit > trackers.MaxSearchLimit:
		limit = trackers.MaxSearchLimit
	}
	conns := e.conns.enabled(q.ConnectorIDs)
	if len(conns) == 0 {
		return res, ErrNoConnector
	}
	type answer struct {
		hits []Hit
		err  error
	}
	answers := make([]answer, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			hits, _, err := e.searchConnector(ctx, c, res.Terms, q.Spaces, limit)
			answers[i] = answer{hits, err}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a.err != nil {
			res.Failures = append(res.Failures, Failure{ConnectorID: conns[i].ID, Err: a.err})
			continue
		}
		res.Hits = append(res.Hits, a.hits...)
	}
	slices.SortStableFunc(res.Hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	if len(res.Hits) > limit {
		res.Hits = res.Hits[:limit]
	}
	if len(res.Failures) == len(conns) {
		return res, allFailed(ctx, res.Failures)
	}
	return res, nil
}

// allFailed picks the error of a search no connector answered: the caller's
// deadline, else rate limiting when every connector was limited, else the
// first failure's class.
func allFailed(ctx context.Context, fs []Failure) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	limited := 0
	for _, f := range fs {
		if errors.Is(f.Err, ErrRateLimited) {
			limited++
		}
	}
	if limited == len(fs) {
		return fs[0].Err
	}
	for _, f := range fs {
		if errors.Is(f.Err, ErrUnavailable) || errors.Is(f.Err, context.DeadlineExceeded) {
			return f.Err
		}
	}
	return fs[0].Err
}

// effectiveSpaces narrows a request's spaces to a connector's: the request's
// within the connector's, the connector's when the request names none.
func effectiveSpaces(conn, req []string) ([]string, error) {
	switch {
	case len(req) == 0:
		return conn, nil
	case len(conn) == 0:
		return req, nil
	}
	var out []string
	for _, k := range req {
		if slices.ContainsFunc(conn, func(c string) bool { return strings.EqualFold(c, k) }) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errSpacesOutside
	}
	return out, nil
}

// searchConnector answers from the cache or asks Confluence once for all
// concurrent askers of the same query. cached reports a cache hit.
func (e *engine) searchConnector(ctx context.Context, c connector.Connector, terms, spaces []string, limit int) (hits []Hit, cached bool, err error) {
	ctx, span := telemetry.Tracer(tracerName).Start(ctx, "knowledge search", trace.WithAttributes(
		attribute.String("connectorhub.connector.id", c.ID), attribute.Int("connectorhub.knowledge.terms", len(terms))))
	defer func() {
		span.SetAttributes(attribute.Bool("connectorhub.knowledge.cached", cached), attribute.Int("connectorhub.knowledge.hits", len(hits)))
		telemetry.End(span, err)
	}()
	spaces, err = effectiveSpaces(c.SpaceKeys, spaces)
	if err != nil {
		return nil, false, err
	}
	if e.metrics != nil {
		defer func() { e.metrics.KnowledgeSearch(ctx, cached, err) }()
	}
	key := cacheKey(c.ID, c.Revision, terms, spaces, limit, e.fullText(c))
	if hits, ok := e.cache.get(ctx, key); ok {
		return hits, true, nil
	}
	hits, shared, err := e.flight.do(ctx, key, func() ([]Hit, error) {
		// Detached from the first asker so its giving up fails nobody else;
		// bounded by SearchTimeout instead.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.SearchTimeout)
		defer cancel()
		if hits, ok := e.cache.get(fctx, key); ok { // filled by another replica meanwhile
			return hits, nil
		}
		hits, err := e.fetch(fctx, c, terms, spaces, limit)
		if err != nil {
			return nil, err
		}
		if err := e.cache.put(fctx, key, hits); err != nil {
			e.log.WarnContext(fctx, "knowledge: cache write failed", "connector", c.ID, "error", err)
		}
		return hits, nil
	})
	return hits, shared && err == nil, err
}

// fetch asks Confluence, retrying once in place when that is cheap, and
// blocks the connector for a while after a failure that waiting may cure.
func (e *engine) fetch(ctx context.Context, c connector.Connector, terms, spaces []string, limit int) ([]Hit, error) {
	if err := e.blockedErr(c); err != nil {
		return nil, err
	}
	sess, err := e.session(ctx, c)
	if err != nil {
		return nil, err
	}
	q := trackers.SearchQuery{Terms: terms, Spaces: spaces, Limit: limit}
	var found []trackers.SearchHit
	for attempt := 0; ; attempt++ {
		found, err = e.client.Search(ctx, sess, q)
		if err == nil {
			break
		}
		wait, again := e.retryAfter(err, attempt)
		if !again {
			classified := classify(err)
			e.setBlock(c, err, classified)
			return nil, classified
		}
		e.log.DebugContext(ctx, "knowledge: retrying search", "connector", c.ID, "wait", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			classified := classify(err)
			e.setBlock(c, err, classified)
			return nil, classified
		case <-t.C:
		}
	}
	e.clearBlock(c.ID)
	hits := make([]Hit, len(found))
	for i, h := range found {
		hits[i] = Hit{ConnectorID: c.ID, PageID: h.ID, Title: h.Title, URL: h.URL, SpaceKey: h.SpaceKey, Updated: h.Updated, Excerpt: h.Excerpt, Score: h.Score}
	}
	if e.fullText(c) {
		e.addBodies(ctx, sess, hits)
	}
	return hits, nil
}

// fullText reports whether hits of c carry page bodies: the connector asks
// for it, or the service does for every connector (KNOWLEDGE_FULL_TEXT).
func (e *engine) fullText(c connector.Connector) bool { return e.cfg.FullText || c.FullText }

// retryAfter says whether to retry a failed search in place, and after how
// long: once, for a rate limit no longer than MaxRetryWait or a transient
// failure (the one retry rule, trackers.RetryOf).
func (e *engine) retryAfter(err error, attempt int) (time.Duration, bool) {
	if attempt > 0 {
		return 0, false
	}
	switch retry, wait := trackers.RetryOf(err); retry {
	case trackers.RetryAfterWait:
		return wait, wait <= e.cfg.MaxRetryWait
	case trackers.RetryBackoff:
		return 200 * time.Millisecond, true
	}
	return 0, false
}

// addBodies reads each hit's page text, four at a time. A page that cannot
// be read keeps its excerpt only.
func (e *engine) addBodies(ctx context.Context, sess *trackers.Session, hits []Hit) {
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range hits {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			text, err := e.client.PageText(ctx, sess, hits[i].PageID, e.cfg.FullTextMaxBytes)
			if err != nil {
				e.log.DebugContext(ctx, "knowledge: page body not read", "connector", hits[i].ConnectorID, "page", hits[i].PageID, "error", err)
				return
			}
			hits[i].BodyText = text
		})
	}
	wg.Wait()
}

// session returns the connector's tracker session (decrypted once per revision).
func (e *engine) session(ctx context.Context, c connector.Connector) (*trackers.Session, error) {
	s, err := e.sessions.Get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConnector, c.ID, err)
	}
	return s, nil
}

// classify turns a tracker error into the service's error for its kind,
// keeping the detail (never a credential or URL: pkg/trackers leaves them out).
func classify(err error) error {
	detail := func(sentinel error) string { return strings.TrimPrefix(err.Error(), sentinel.Error()+": ") }
	var rl *trackers.RateLimitError
	switch {
	case errors.As(err, &rl):
		msg := fmt.Sprintf("retry after %s", rl.RetryAfter.Round(time.Second))
		if rl.Reason != "" {
			msg += " (" + rl.Reason + ")"
		}
		return fmt.Errorf("%w: %s", ErrRateLimited, msg)
	case errors.Is(err, trackers.ErrUnauthorized):
		return fmt.Errorf("%w: credential rejected (%s)", ErrConnector, detail(trackers.ErrUnauthorized))
	case errors.Is(err, trackers.ErrInvalidSearch):
		return fmt.Errorf("%w: %s", ErrInvalidQuery, detail(trackers.ErrInvalidSearch))
	case errors.Is(err, trackers.ErrSearchUnavailable):
		return fmt.Errorf("%w: %s", ErrUnavailable, detail(trackers.ErrSearchUnavailable))
	case errors.Is(err, ErrConnector), errors.Is(err, ErrInvalidQuery), errors.Is(err, ErrUnavailable):
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (e *engine) blockedErr(c connector.Connector) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.blocked[c.ID]
	if !ok || b.revision != c.Revision {
		return nil
	}
	left := b.until.Sub(e.now())
	if left <= 0 {
		delete(e.blocked, c.ID)
		return nil
	}
	if errors.Is(b.err, ErrRateLimited) {
		return fmt.Errorf("%w: retry after %s", ErrRateLimited, left.Round(time.Second))
	}
	return fmt.Errorf("%w (not asked again for %s)", b.err, left.Round(time.Second))
}

// setBlock keeps a failed connector from being asked for a while: the
// Retry-After of a rate limit, FailureBackoff after an outage or a rejected
// credential (a changed connector, i.e. a new revision, is asked at once).
// raw is the tracker's error, err what callers are told.
func (e *engine) setBlock(c connector.Connector, raw, err error) {
	d := e.cfg.FailureBackoff
	var rl *trackers.RateLimitError
	switch {
	case errors.As(raw, &rl):
		d = rl.RetryAfter
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrConnector):
	default:
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.blocked[c.ID] = block{revision: c.Revision, until: e.now().Add(d), err: err}
}

func (e *engine) clearBlock(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.blocked, id)
}

// Reason says in one line why a connector gave no hits, for empty_reason and
// search failures. It never holds a secret: errors from pkg/secrets and
// pkg/trackers do not carry credentials or request URLs.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoConnector):
		return "no enabled Confluence connector"
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrUnavailable), errors.Is(err, ErrConnector), errors.Is(err, ErrInvalidQuery):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "confluence did not answer in time"
	}
	return "search failed: " + err.Error()
}
