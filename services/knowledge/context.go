package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Context sources: a ticket connector names context connectors (Jenkins,
// CircleCI, SonarQube, Argo CD; any system whose tracker is a
// trackers.ContextReader), each watching a few scopes. For a ticket of that
// connector, contexts reads every watched scope of every named context
// connector concurrently under one deadline (KNOWLEDGE_CONTEXT_TIMEOUT), so
// one slow source delays the event by that much at most; a scope past the
// deadline is reported "timed out after …". Reports are kept in a
// size-bounded in-memory LRU for KNOWLEDGE_CONTEXT_CACHE_TTL: unlike
// Confluence results (the knowledge_cache bucket, shared by replicas), a
// report is small, read often by one replica's burst of tickets of one
// repository, and stale within minutes, so a per-replica cache is enough and
// costs no KV round trip inside the deadline.

// contextSource is one scope to read.
type contextSource struct {
	conn  connector.Connector
	scope string
}

// cachedReport is a report and when it was read.
type cachedReport struct {
	report trackers.ContextReport
	read   time.Time
}

// contexts reads context connectors through the cache.
type contexts struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	conns    *connectorSet
	trackers *trackers.Registry
	// sessions is the engine's: credentials are decrypted the way the
	// Confluence connectors' are (Deps.Decrypter, once per revision).
	sessions *trackers.Sessions
	cache    *lru.Cache[string, cachedReport]
	// hit, when set, hears of each cache hit (tests).
	hit func(connectorID, scope string)
}

func newContexts(cfg Config, log *slog.Logger, now func() time.Time, conns *connectorSet, reg *trackers.Registry, sessions *trackers.Sessions) (*contexts, error) {
	cache, err := lru.New[string, cachedReport](cfg.ContextCacheSize)
	if err != nil {
		return nil, fmt.Errorf("knowledge: context cache: %w", err)
	}
	return &contexts{cfg: cfg, log: log, now: now, conns: conns, trackers: reg, sessions: sessions, cache: cache}, nil
}

// forTicketConnector reads the context of a ticket connector's context
// connectors; nil when it names none (or is not known to this replica).
func (x *contexts) forTicketConnector(ctx context.Context, id string) *chv1.TicketContext {
	c, ok := x.conns.get(id)
	if !ok || len(c.ContextConnectors) == 0 {
		return nil
	}
	return x.read(ctx, c.ContextConnectors, nil)
}

// read reads every watched scope of the named context connectors (only
// those in scopes when scopes is not empty) under one deadline. A connector
// that cannot be read at all (unknown, disabled, not a context source) is
// one report with its reason and no scope.
func (x *contexts) read(ctx context.Context, ids, scopes []string) *chv1.TicketContext {
	out := &chv1.TicketContext{}
	var todo []contextSource
	for _, id := range ids {
		c, reason := x.source(id)
		if reason != "" {
			out.Sources = append(out.Sources, &chv1.ContextSourceReport{ConnectorId: id, System: connectorpb.SystemToProto(c.System), UnavailableReason: reason})
			continue
		}
		for _, s := range c.Watch {
			if len(scopes) == 0 || slices.Contains(scopes, s) {
				todo = append(todo, contextSource{conn: c, scope: s})
			}
		}
	}
	reports := make([]*chv1.ContextSourceReport, len(todo))
	type done struct {
		i   int
		rep *chv1.ContextSourceReport
	}
	dctx, cancel := context.WithTimeout(ctx, x.cfg.ContextTimeout)
	defer cancel()
	results := make(chan done, len(todo)) // buffered: a late reader never blocks
	for i, src := range todo {
		go func() { results <- done{i, x.readOne(dctx, src)} }()
	}
collect:
	for left := len(todo); left > 0; left-- {
		select {
		case d := <-results:
			reports[d.i] = d.rep
		case <-dctx.Done():
			break collect // the rest are reported as timed out below
		}
	}
drain: // what finished in the same instant as the deadline
	for {
		select {
		case d := <-results:
			reports[d.i] = d.rep
		default:
			break drain
		}
	}
	for i, r := range reports {
		if r == nil {
			src := todo[i]
			reason := fmt.Sprintf("timed out after %s", x.cfg.ContextTimeout)
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				reason = "cancelled"
			}
			reports[i] = &chv1.ContextSourceReport{ConnectorId: src.conn.ID, System: connectorpb.SystemToProto(src.conn.System), Scope: src.scope, UnavailableReason: reason}
		}
	}
	out.Sources = append(out.Sources, reports...)
	slices.SortStableFunc(out.Sources, func(a, b *chv1.ContextSourceReport) int {
		if c := strings.Compare(a.GetConnectorId(), b.GetConnectorId()); c != 0 {
			return c
		}
		return strings.Compare(a.GetScope(), b.GetScope())
	})
	return out
}

// source finds a context connector, or says why it cannot be read.
func (x *contexts) source(id string) (connector.Connector, string) {
	c, ok := x.conns.get(id)
	switch {
	case !ok:
		return c, "connector not found"
	case !c.Enabled:
		return c, "connector disabled"
	}
	tr, ok := x.trackers.Lookup(c.System)
	if !ok {
		return c, fmt.Sprintf("no tracker for %s in this replica", c.System)
	}
	if _, ok := tr.(trackers.ContextReader); !ok {
		return c, fmt.Sprintf("a %s connector is not a context source", c.System)
	}
	return c, ""
}

func contextCacheKey(c connector.Connector, scope string) string {
	return c.ID + "\x00" + strconv.FormatUint(c.Revision, 10) + "\x00" + scope
}

// readOne reads one scope from the cache or the source.
func (x *contexts) readOne(ctx context.Context, src contextSource) *chv1.ContextSourceReport {
	key := contextCacheKey(src.conn, src.scope)
	if e, ok := x.cache.Get(key); ok && x.now().Sub(e.read) < x.cfg.ContextCacheTTL {
		if x.hit != nil {
			x.hit(src.conn.ID, src.scope)
		}
		return reportToProto(src, e.report, e.read)
	}
	base := &chv1.ContextSourceReport{ConnectorId: src.conn.ID, System: connectorpb.SystemToProto(src.conn.System), Scope: src.scope}
	tr, _ := x.trackers.Lookup(src.conn.System)
	reader, ok := tr.(trackers.ContextReader)
	if !ok { // checked by source; kept so a changed registry cannot panic
		base.UnavailableReason = "not a context source"
		return base
	}
	sess, err := x.sessions.Get(ctx, src.conn)
	if err != nil {
		base.UnavailableReason = "connector unusable: " + err.Error()
		return base
	}
	rep, err := reader.ReadContext(ctx, sess, src.scope)
	if err != nil {
		if ctx.Err() != nil {
			base.UnavailableReason = fmt.Sprintf("timed out after %s", x.cfg.ContextTimeout)
		} else {
			base.UnavailableReason = contextReason(err)
		}
		x.log.DebugContext(ctx, "knowledge: context not read", "context_connector", src.conn.ID, "scope", src.scope, "reason", base.UnavailableReason)
		return base
	}
	read := x.now()
	x.cache.Add(key, cachedReport{report: rep, read: read})
	return reportToProto(src, rep, read)
}

// contextReason says in one line why a scope could not be read. Tracker
// errors carry no credential or request URL (pkg/trackers).
func contextReason(err error) string {
	var rl *trackers.RateLimitError
	switch {
	case errors.As(err, &rl):
		return fmt.Sprintf("rate limited: retry after %s", rl.RetryAfter.Round(time.Second))
	case errors.Is(err, trackers.ErrTicketNotFound):
		return "scope not found: " + err.Error()
	case errors.Is(err, trackers.ErrUnauthorized):
		return "access refused: " + err.Error()
	}
	return "unavailable: " + err.Error()
}

func reportToProto(src contextSource, r trackers.ContextReport, read time.Time) *chv1.ContextSourceReport {
	out := &chv1.ContextSourceReport{
		ConnectorId: src.conn.ID, System: connectorpb.SystemToProto(src.conn.System), Scope: src.scope,
		Url: r.URL, ReadTime: timestamppb.New(read),
	}
	for _, b := range r.Builds {
		out.Builds = append(out.Builds, &chv1.ContextBuild{
			Id: b.ID, Name: b.Name, Status: b.Status, Branch: b.Branch, Revision: b.Revision, Url: b.URL,
			StartTime: optTime(b.Started), FinishTime: optTime(b.Finished), FailingSteps: b.FailingSteps,
		})
	}
	if q := r.Quality; q != nil {
		g := &chv1.ContextQualityGate{Status: q.Status, FailedConditions: q.FailedConditions}
		if len(q.NewIssues) > 0 {
			g.NewIssues = make(map[string]int32, len(q.NewIssues))
			for k, v := range q.NewIssues {
				g.NewIssues[k] = int32(min(v, 1<<31-1))
			}
		}
		for _, i := range q.TopIssues {
			g.TopIssues = append(g.TopIssues, &chv1.ContextQualityIssue{
				Key: i.Key, Severity: i.Severity, Type: i.Type, Message: i.Message, Component: i.Component,
				Line: int32(min(i.Line, 1<<31-1)), Url: i.URL,
			})
		}
		out.QualityGate = g
	}
	if d := r.Deployment; d != nil {
		out.Deployment = &chv1.ContextDeployment{Health: d.Health, Sync: d.Sync, Revision: d.Revision, SyncedAt: optTime(d.SyncedAt), Message: d.Message}
	}
	return out
}

func optTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
