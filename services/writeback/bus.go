package writeback

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// The bus port: result.ready in, writeback.completed and writeback.failed
// out. It translates proto ⇄ domain; the step runner (steps.go) decides.

// handle processes one delivery of a result once its connector's turn and
// a writer are there (slots.go); until then it waits, holding nothing that
// another connector's results need.
func (s *Service) handle(ctx context.Context, env bus.Envelope, r *chv1.ResultReady) error {
	res := resultFromProto(r)
	if mine, err := s.inZone(ctx, res.ConnectorID); err != nil || !mine {
		return err // another zone's result: acknowledged here, written back there
	}
	limit, paced := 0, s.paces(res.System)
	if paced {
		limit = 1 // more would only wait for the same token's pace
	}
	release, err := s.slots.acquire(ctx, s.stopping, res.ConnectorID, limit, paced)
	if err != nil {
		return err
	}
	defer release()
	return s.process(ctx, res, env.Delivered)
}

// inZone reports whether this replica's zone writes back the connector's
// results. A connector that is not found belongs to the central site,
// which dead-letters the result (once, not once per zone).
func (s *Service) inZone(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return s.cfg.Zone == "", nil // invalid: dead-lettered centrally
	}
	c, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, connector.ErrNotFound):
		return s.cfg.Zone == "", nil
	case err != nil:
		return false, err
	}
	return c.Zone == s.cfg.Zone, nil
}

// paces says whether the system's tracker spaces its writes (trackers.WritePacer).
func (s *Service) paces(system connector.System) bool {
	tr, ok := s.trackers.Lookup(system)
	if !ok {
		return false
	}
	p, ok := tr.(trackers.WritePacer)
	return ok && p.WriteGap() > 0
}

func resultFromProto(r *chv1.ResultReady) result {
	payload, _ := protojson.Marshal(r) // r was just decoded from protobuf JSON
	res := result{
		ID:              r.GetResultId(),
		ConnectorID:     r.GetConnectorId(),
		System:          systemFromProto(r.GetSystem()),
		TicketKey:       r.GetTicketKey(),
		TargetStatus:    r.GetTargetStatus(),
		CommentMarkdown: r.GetCommentMarkdown(),
		MentionReporter: r.GetMentionReporter(),
		Payload:         payload,
	}
	if ts := r.GetBaseTime(); ts != nil {
		res.BaseTime = ts.AsTime()
	}
	for _, st := range r.GetSubtasks() {
		res.Subtasks = append(res.Subtasks, subtaskSpec{Summary: st.GetSummary(), DescriptionMarkdown: st.GetDescriptionMarkdown()})
	}
	if pr := r.GetPullRequest(); pr != nil {
		res.PullRequest = &pullRequestSpec{HeadBranch: pr.GetHeadBranch(), BaseBranch: pr.GetBaseBranch(), Title: pr.GetTitle(), BodyMarkdown: pr.GetBodyMarkdown()}
	}
	return res
}

// systemFromProto is "" for an unspecified or unknown system.
func systemFromProto(s chv1.System) connector.System {
	sys, _ := connectorpb.SystemFromProto(s)
	return sys
}

// publishCompleted announces a result written back to conn's tracker.
func (s *Service) publishCompleted(ctx context.Context, res result, conn connector.Connector, links []trackers.Link, statusOutcome string, steps []stepOutcome) error {
	ev := &chv1.WritebackCompleted{ResultId: res.ID, ConnectorId: res.ConnectorID, System: connectorpb.SystemToProto(res.System),
		TicketKey: res.TicketKey, Links: linksToProto(links), StatusOutcome: statusOutcome, Steps: stepsToProto(steps)}
	subject, err := bus.WritebackSubject(bus.WritebackCompleted, string(conn.System), conn.ID)
	if err != nil {
		return err
	}
	_, err = bus.Publish(ctx, s.js, subject, ev, bus.WithID(bus.EventID("writeback.completed", res.ID)), bus.WithSource(Source(res.ConnectorID)), bus.WithSubject(res.TicketKey))
	return err
}

// publishFailed announces a dead-lettered result with the reason and the
// original event (for replay). system and connectorToken are subject tokens.
func (s *Service) publishFailed(ctx context.Context, res result, system, connectorToken, reason string, attempts, replays int, steps []stepOutcome) error {
	var original chv1.ResultReady
	if err := protojson.Unmarshal(res.Payload, &original); err != nil {
		return fmt.Errorf("writeback: result %s: %w", res.ID, err)
	}
	ev := &chv1.WritebackFailed{ResultId: res.ID, ConnectorId: res.ConnectorID, System: connectorpb.SystemToProto(res.System),
		TicketKey: res.TicketKey, Reason: reason, Attempts: int32(attempts), Result: &original, Steps: stepsToProto(steps)}
	subject, err := bus.WritebackSubject(bus.WritebackFailed, system, connectorToken)
	if err != nil {
		return err
	}
	id := bus.EventID("writeback.failed", res.ID, strconv.Itoa(replays))
	_, err = bus.Publish(ctx, s.js, subject, ev, bus.WithID(id), bus.WithSource(Source(res.ConnectorID)), bus.WithSubject(res.TicketKey))
	return err
}

func linksToProto(links []trackers.Link) []*chv1.Link {
	var out []*chv1.Link
	for _, l := range links {
		out = append(out, &chv1.Link{Kind: l.Kind, Url: l.URL, Key: l.Key})
	}
	return out
}
