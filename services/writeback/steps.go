package writeback

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Status outcomes reported in writeback.completed.
const (
	OutcomeNone             = "none"
	OutcomeApplied          = "applied"
	OutcomeSkippedTracker   = "skipped_tracker_wins"
	OutcomeAppliedAgentWins = "applied_agent_wins"
)

// work is one delivery's progress through the steps of a result.
type work struct {
	s    *Service
	r    *chv1.ResultReady
	e    ledger.Entry
	c    connector.Connector
	sess *trackers.Session
	tr   trackers.Tracker
	log  interface {
		Info(msg string, args ...any)
		Warn(msg string, args ...any)
	}
}

func (w *work) save(ctx context.Context) error {
	e, err := w.s.ledger.Put(ctx, w.e)
	if err != nil {
		return err
	}
	w.e = e
	return nil
}

// marker identifies a step's artefact at the tracker, stable across redeliveries.
func (w *work) marker(step string) string {
	return "connectorhub:" + ledger.Key(w.r.GetResultId()) + ":" + step
}

func (w *work) run(ctx context.Context) error {
	c, err := w.s.store.Get(ctx, w.r.GetConnectorId())
	if err != nil {
		return err
	}
	w.c = c
	w.e.System = string(c.System)
	if want := systemFromProto(w.r.GetSystem()); want != "" && want != c.System {
		return fmt.Errorf("%w: result names system %s but connector %s is %s", errInvalidResult, want, c.ID, c.System)
	}
	tr, ok := w.s.trackers.Lookup(c.System)
	if !ok {
		return fmt.Errorf("%w: no tracker for %s", errUnsupported, c.System)
	}
	w.tr = tr
	if w.sess, err = w.s.sessions.Get(ctx, c); err != nil {
		return err
	}
	if err := w.decide(ctx); err != nil {
		return err
	}
	if w.r.GetTargetStatus() != "" {
		if err := w.status(ctx); err != nil {
			return err
		}
	} else {
		w.e.StatusOutcome = OutcomeNone
	}
	if w.r.GetCommentMarkdown() != "" || w.r.GetMentionReporter() {
		if err := w.comment(ctx); err != nil {
			return err
		}
	}
	for i, st := range w.r.GetSubtasks() {
		if err := w.subtask(ctx, i, st); err != nil {
			return err
		}
	}
	if pr := w.r.GetPullRequest(); pr != nil {
		if err := w.pullRequest(ctx, pr); err != nil {
			return err
		}
	}
	return nil
}

// decide reads the ticket once per result: whether a person changed it after
// the agent's base time (the conflict), and who reported it (the mention).
// The decision is recorded, so a redelivery does not change its mind.
func (w *work) decide(ctx context.Context) error {
	if w.e.Decided || (w.r.GetTargetStatus() == "" && !w.r.GetMentionReporter()) {
		return nil
	}
	reader, ok := w.tr.(trackers.TicketReader)
	if !ok {
		return fmt.Errorf("%w: reading tickets on %s", errUnsupported, w.c.System)
	}
	tk, err := reader.GetTicket(ctx, w.sess, w.r.GetTicketKey())
	if err != nil {
		return fmt.Errorf("read ticket %s: %w", w.r.GetTicketKey(), err)
	}
	base := tsOrZero(w.r.GetBaseTime())
	w.e.Conflict = !base.IsZero() && tk.Updated.After(base)
	w.e.ReporterID, w.e.ReporterLogin, w.e.ReporterName = tk.Reporter.ID, tk.Reporter.Login, tk.Reporter.DisplayName
	w.e.Decided = true
	return w.save(ctx)
}

// step runs one idempotent step: done steps are skipped; a step that was
// started but not recorded as done (a crash in between) is first looked for
// at the tracker by its marker.
func (w *work) step(ctx context.Context, name, kind string, do func(context.Context) (trackers.Link, error), find func(context.Context) (trackers.Link, bool, error)) error {
	st := w.e.Steps[name]
	if st.State == ledger.Done || st.State == ledger.Skipped {
		return nil
	}
	if st.State == ledger.Started && find != nil {
		link, ok, err := find(ctx)
		if err != nil {
			return fmt.Errorf("%s: look for an earlier attempt: %w", name, err)
		}
		if ok {
			w.log.Info("step had already happened before a crash; recording it", "step", name)
			return w.record(ctx, name, kind, link)
		}
	}
	w.e.Steps[name] = ledger.Step{State: ledger.Started}
	if err := w.save(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, w.s.cfg.StepTimeout)
	link, err := do(sctx)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if crash, _ := w.s.crashAfter.Load().(string); crash == name {
		return errCrash
	}
	return w.record(ctx, name, kind, link)
}

func (w *work) record(ctx context.Context, name, kind string, link trackers.Link) error {
	w.e.Steps[name] = ledger.Step{State: ledger.Done, URL: link.URL, Key: link.Key, Kind: kind}
	return w.save(ctx)
}

func (w *work) status(ctx context.Context) error {
	if w.e.Conflict && w.c.ConflictPolicy != connector.AgentWins {
		if w.e.Steps["status"].State != ledger.Skipped {
			w.e.Steps["status"] = ledger.Step{State: ledger.Skipped, Note: "the ticket changed after the result's base time; tracker_wins"}
			w.e.StatusOutcome = OutcomeSkippedTracker
			w.log.Info("status step skipped: the ticket changed after the base time (tracker_wins)")
			return w.save(ctx)
		}
		return nil
	}
	sw, ok := w.tr.(trackers.StatusWriter)
	if !ok {
		return fmt.Errorf("%w: status on %s", errUnsupported, w.c.System)
	}
	w.e.StatusOutcome = OutcomeApplied
	if w.e.Conflict {
		w.e.StatusOutcome = OutcomeAppliedAgentWins
	}
	// Setting a status twice is harmless (already there: no-op), so no marker is needed.
	return w.step(ctx, "status", "status", func(ctx context.Context) (trackers.Link, error) {
		return sw.SetStatus(ctx, w.sess, w.r.GetTicketKey(), w.r.GetTargetStatus())
	}, nil)
}

func (w *work) comment(ctx context.Context) error {
	cm, ok := w.tr.(trackers.Commenter)
	if !ok {
		return fmt.Errorf("%w: comments on %s", errUnsupported, w.c.System)
	}
	marker := w.marker("comment")
	nc := trackers.NewComment{Markdown: w.r.GetCommentMarkdown(), Marker: marker}
	if w.r.GetMentionReporter() && (w.e.ReporterID != "" || w.e.ReporterLogin != "") {
		nc.Mention = &trackers.User{ID: w.e.ReporterID, Login: w.e.ReporterLogin, DisplayName: w.e.ReporterName}
	}
	return w.step(ctx, "comment", "comment",
		func(ctx context.Context) (trackers.Link, error) {
			return cm.AddComment(ctx, w.sess, w.r.GetTicketKey(), nc)
		},
		func(ctx context.Context) (trackers.Link, bool, error) {
			return cm.FindComment(ctx, w.sess, w.r.GetTicketKey(), marker)
		})
}

func (w *work) subtask(ctx context.Context, i int, st *chv1.SubTaskSpec) error {
	sc, ok := w.tr.(trackers.SubtaskCreator)
	if !ok {
		return fmt.Errorf("%w: sub-tasks on %s", errUnsupported, w.c.System)
	}
	name := fmt.Sprintf("subtask-%d", i)
	marker := w.marker(name)
	ns := trackers.NewSubtask{Summary: st.GetSummary(), DescriptionMarkdown: st.GetDescriptionMarkdown(), Marker: marker}
	return w.step(ctx, name, "subtask",
		func(ctx context.Context) (trackers.Link, error) {
			return sc.CreateSubtask(ctx, w.sess, w.r.GetTicketKey(), ns)
		},
		func(ctx context.Context) (trackers.Link, bool, error) {
			return sc.FindSubtask(ctx, w.sess, w.r.GetTicketKey(), marker)
		})
}

func (w *work) pullRequest(ctx context.Context, pr *chv1.PullRequestSpec) error {
	po, ok := w.tr.(trackers.PullRequestOpener)
	if !ok {
		return fmt.Errorf("%w: pull requests on %s", errUnsupported, w.c.System)
	}
	title := pr.GetTitle()
	if title == "" {
		title = "Work on " + w.r.GetTicketKey()
	}
	title = strings.NewReplacer("$ticket_key", ticketLabel(w.c, w.r.GetTicketKey()), "$title", title).Replace(w.s.cfg.PRTitleTemplate)
	np := trackers.NewPullRequest{Head: pr.GetHeadBranch(), Base: pr.GetBaseBranch(), Title: title, BodyMarkdown: pr.GetBodyMarkdown()}
	// Opening reuses an open pull request for the same head, so repeating it is safe.
	return w.step(ctx, "pull_request", "pull_request", func(ctx context.Context) (trackers.Link, error) {
		link, _, err := po.OpenPullRequest(ctx, w.sess, w.r.GetTicketKey(), np)
		return link, err
	}, nil)
}

// ticketLabel is how a ticket is named in a title: PROJ-12 on Jira, #12 elsewhere.
func ticketLabel(c connector.Connector, key string) string {
	if c.System == connector.Jira {
		return key
	}
	return "#" + key
}

// links lists what the steps created or changed, in step order.
func (w *work) links() []*chv1.Link {
	names := make([]string, 0, len(w.e.Steps))
	for n := range w.e.Steps {
		names = append(names, n)
	}
	order := func(n string) int {
		switch {
		case n == "status":
			return 0
		case n == "comment":
			return 1
		case strings.HasPrefix(n, "subtask-"):
			return 2
		}
		return 3
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := order(a) - order(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []*chv1.Link
	for _, n := range names {
		st := w.e.Steps[n]
		if st.State == ledger.Done {
			out = append(out, &chv1.Link{Kind: st.Kind, Url: st.URL, Key: st.Key})
		}
	}
	return out
}

// systemFromProto is "" for an unspecified or unknown system.
func systemFromProto(s chv1.System) connector.System {
	sys, _ := connectorpb.SystemFromProto(s)
	return sys
}
