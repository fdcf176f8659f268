package writeback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// tracerName names the writeback's spans (one per step).
const tracerName = "github.com/connectorhub/connectorhub/services/writeback"

// Status outcomes reported in writeback.completed.
const (
	OutcomeNone             = "none"
	OutcomeApplied          = "applied"
	OutcomeSkippedTracker   = "skipped_tracker_wins"
	OutcomeAppliedAgentWins = "applied_agent_wins"
)

// permanent errors cannot be fixed by retrying: the result is dead-lettered
// at once. Tracker errors follow the one retry rule (trackers.RetryOf); a
// cancelled context is a shutdown, which the redelivery finishes.
func permanent(err error) bool {
	var steps stepFailures
	if errors.As(err, &steps) {
		return steps.allPermanent()
	}
	switch {
	case errors.Is(err, connector.ErrNotFound), errors.Is(err, errUnsupported), errors.Is(err, errInvalidResult):
		return true
	case errors.Is(err, secrets.ErrInvalidCiphertext):
		// The record was changed outside the registry (the credential is
		// bound to it) or its key is gone: nothing is sent, and retrying
		// cannot help until the credential is entered again.
		return true
	case errors.Is(err, context.Canceled):
		return false
	}
	r, _ := trackers.RetryOf(err)
	return r == trackers.RetryNever
}

var (
	errUnsupported   = errors.New("not supported by this tracker")
	errInvalidResult = errors.New("invalid result")
	// errAbandoned: Deps.AfterStep stopped the delivery, as a crash would.
	errAbandoned = errors.New("delivery abandoned after a step")
	// errLedger: the steps could not be recorded; nothing more is attempted.
	errLedger = errors.New("writeback ledger")
)

// process runs one delivery (the delivered-th) of a result through its
// steps, then completes it, leaves it for a redelivery, or dead-letters it.
func (s *Service) process(ctx context.Context, res result, delivered uint64) error {
	if err := res.validate(); err != nil {
		return s.deadLetter(ctx, res, nil, fmt.Errorf("%w: %v", errInvalidResult, err), int(delivered))
	}
	log := telemetry.SpanLogger(ctx, s.log.With("result", res.ID, "connector", res.ConnectorID, "ticket", res.TicketKey))
	entry, err := s.ledger.Get(ctx, res.ID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		// Created by the first save (revision 0: a concurrent delivery
		// that created it first makes that save fail with ErrConflict).
		entry = ledger.Entry{ResultID: res.ID, ConnectorID: res.ConnectorID, System: string(res.System), Result: res.Payload, Steps: map[string]ledger.Step{}}
	case err != nil:
		return err
	}
	if entry.Completed {
		log.Info("result already written back; acknowledging the redelivery")
		return nil
	}
	if entry.Failed {
		log.Info("result is dead-lettered; replay it to try again")
		return nil
	}
	entry.Attempts++
	if entry.Steps == nil {
		entry.Steps = map[string]ledger.Step{}
	}
	w := &work{svc: s, result: res, entry: entry, log: log}
	err = w.run(ctx)
	w.markSelf(ctx)
	if errors.Is(err, errAbandoned) {
		return err
	}
	if err == nil {
		return s.complete(ctx, w)
	}
	last := delivered >= uint64(s.cfg.MaxDeliver)
	if permanent(err) || last {
		return s.deadLetter(ctx, res, w, err, int(delivered))
	}
	log.Warn("writeback step failed; will retry", "attempt", delivered, "error", err)
	if _, perr := s.ledger.Put(ctx, w.entry); perr != nil && !errors.Is(perr, ledger.ErrConflict) {
		log.Warn("ledger", "error", perr)
	}
	return err
}

// complete records a written-back result and announces it.
//
// The event goes out before the ledger says Completed: a delivery that finds
// Completed acknowledges without announcing, so marking first lost the event
// whenever the publish failed (a NATS node killed mid-run, in the e2e test).
// Announcing first, a failed publish leaves the result to its redelivery,
// which finds every step done and announces again; an announcement that did
// land is not repeated, since the event id is the duplicate key.
func (s *Service) complete(ctx context.Context, w *work) error {
	links := w.links()
	if err := s.publishCompleted(ctx, w.result, w.connector, links, w.entry.StatusOutcome, stepOutcomes(w.result, w.entry)); err != nil {
		return err // each step done is already in the ledger
	}
	w.entry.Completed = true
	if err := w.save(ctx); err != nil {
		return err
	}
	w.log.Info("written back", "links", len(links), "status", w.entry.StatusOutcome)
	return nil
}

// deadLetter records the failure, publishes writeback.failed with the reason
// and the original result (for replay) and terminates the message. w is nil
// when the result was refused before any work.
func (s *Service) deadLetter(ctx context.Context, res result, w *work, cause error, attempts int) error {
	system := string(res.System)
	if w != nil && w.connector.System != "" {
		system = string(w.connector.System)
	}
	replays := 0
	entry := ledger.Entry{}
	if w != nil {
		res.TicketKey = w.result.TicketKey // normalised, once the connector was read
		w.entry.Failed = true
		w.entry.Reason = cause.Error()
		if _, err := s.ledger.Put(ctx, w.entry); err != nil {
			return err
		}
		replays = w.entry.Replays
		entry = w.entry
	}
	connectorToken := res.ConnectorID
	if bus.ValidateToken(connectorToken) != nil {
		connectorToken = "invalid"
	}
	if bus.ValidateToken(system) != nil {
		system = "unknown"
	}
	if err := s.publishFailed(ctx, res, system, connectorToken, cause.Error(), attempts, replays, stepOutcomes(res, entry)); err != nil {
		return err
	}
	s.metrics.DeadLettered(ctx, system)
	s.log.Warn("result dead-lettered", "result", res.ID, "reason", cause, "attempts", attempts)
	return bus.Permanent(cause)
}

// work is one delivery's progress through the steps of a result.
//
// Ledger writes: the entry is saved only where a crash right after would
// otherwise lead to a wrong repeat, not after every change:
//   - before a step that has a marker (comment, sub-task) is tried, so a
//     redelivery looks for the marker before trying it again;
//   - before any step is tried once the conflict decision is new, so a
//     redelivery does not change its mind (the status write it guards would
//     itself move the ticket's updated time);
//   - when a step fails, and when the result completes or is dead-lettered.
//
// A step without a marker (status, pull request) recorded done but not yet
// saved is repeated after a crash; both are idempotent (see status and
// pullRequest). A result with a status and a comment thus costs three KV
// writes instead of seven.
type work struct {
	svc    *Service
	result result
	entry  ledger.Entry
	// decisionUnsaved: decide read the ticket and the ledger does not have it yet.
	decisionUnsaved bool
	// changed are the Ticket fields (proto names) this delivery's steps
	// changed on the ticket, for markSelf.
	changed   []string
	connector connector.Connector
	session   *trackers.Session
	tracker   trackers.Tracker
	log       interface {
		Info(msg string, args ...any)
		Warn(msg string, args ...any)
	}
}

func (w *work) save(ctx context.Context) error {
	entry, err := w.svc.ledger.Put(ctx, w.entry)
	if err != nil {
		return err
	}
	w.entry = entry
	w.decisionUnsaved = false
	return nil
}

// marker identifies a step's artefact at the tracker, stable across redeliveries.
func (w *work) marker(step string) string {
	return "connectorhub:" + ledger.Key(w.result.ID) + ":" + step
}

// The steps of a result and what each needs. Every step needs the
// preparation: the connector record, its tracker, a session (the credential)
// and, when the status or a mention is asked for, the ticket read once for
// the conflict decision and the reporter. When the preparation fails no step
// is attempted. The steps themselves need nothing from each other (the
// comment does not wait for the status, nor a sub-task or the pull request
// for the comment), so a failed step never keeps the later ones from
// running: a refused status transition still posts the comment, the
// sub-tasks and the pull request, and the result is then dead-lettered with
// each step's outcome, so a replay retries only what did not apply.
//
// A delivery stops before the remaining steps only when going on cannot
// help: a rate limit (the tracker asked to wait; the redelivery goes on), a
// shutdown, or a ledger that cannot record the steps.
func (w *work) run(ctx context.Context) error {
	if err := w.prepare(ctx); err != nil {
		return err
	}
	if w.result.TargetStatus == "" {
		w.entry.StatusOutcome = OutcomeNone
	}
	w.markPending(ctx)
	var failed stepFailures
	for _, name := range w.result.stepNames() {
		if st := w.entry.Steps[name]; st.State == ledger.Done || st.State == ledger.Skipped || st.State == ledger.Failed {
			continue
		}
		err := w.runStep(ctx, name)
		w.svc.countStep(ctx, w.connector.System, name, w.entry.Steps[name].State, err)
		if err == nil {
			continue
		}
		if errors.Is(err, errAbandoned) || errors.Is(err, errLedger) || ctx.Err() != nil {
			return err
		}
		if err := w.fail(ctx, name, err); err != nil {
			return err
		}
		failed = append(failed, stepFailure{name: name, err: err, permanent: permanent(err)})
		if r, _ := trackers.RetryOf(err); r == trackers.RetryAfterWait {
			return failed // the tracker asked to wait: the redelivery runs the rest
		}
	}
	// Steps refused in an earlier delivery keep the result from completing.
	for _, name := range w.result.stepNames() {
		if st := w.entry.Steps[name]; st.State == ledger.Failed && !failed.has(name) {
			failed = append(failed, stepFailure{name: name, err: errors.New(st.Note), permanent: true})
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return failed
}

// prepare looks up what every step needs (see run).
func (w *work) prepare(ctx context.Context) error {
	c, err := w.svc.store.Get(ctx, w.result.ConnectorID)
	if err != nil {
		return err
	}
	w.connector = c
	w.entry.System = string(c.System)
	if want := w.result.System; want != "" && want != c.System {
		return fmt.Errorf("%w: result names system %s but connector %s is %s", errInvalidResult, want, c.ID, c.System)
	}
	tr, ok := w.svc.trackers.Lookup(c.System)
	if !ok {
		return fmt.Errorf("%w: no tracker for %s", errUnsupported, c.System)
	}
	w.tracker = tr
	// Whatever form the agent sent (the full key, the number, the web URL),
	// the tracker calls and the writeback.* events use the key the ticket
	// events carry (the ledger and its markers go by result id).
	key, err := trackers.NormalizeKey(tr, c, w.result.TicketKey)
	if err != nil {
		return fmt.Errorf("%w: ticket_key: %w", errInvalidResult, err)
	}
	w.result.TicketKey = key
	if w.session, err = w.svc.sessions.Get(ctx, c); err != nil {
		return err
	}
	return w.decide(ctx)
}

// runStep runs the step called name (one of result.stepNames).
func (w *work) runStep(ctx context.Context, name string) (err error) {
	kind := name
	if strings.HasPrefix(name, stepSubtask) {
		kind = "subtask"
	}
	ctx, span := telemetry.Tracer(tracerName).Start(ctx, "writeback "+kind, trace.WithAttributes(
		attribute.String("connectorhub.writeback.step", name),
		attribute.String("connectorhub.result.id", w.result.ID),
		attribute.String("connectorhub.connector.id", w.result.ConnectorID)))
	defer func() { telemetry.End(span, err) }()
	switch {
	case name == stepStatus:
		return w.status(ctx)
	case name == stepComment:
		return w.comment(ctx)
	case name == stepPullRequest:
		return w.pullRequest(ctx, w.result.PullRequest)
	}
	var i int
	if _, err := fmt.Sscanf(name, stepSubtask+"%d", &i); err != nil || i < 0 || i >= len(w.result.Subtasks) {
		return fmt.Errorf("%w: no step %q", errInvalidResult, name)
	}
	return w.subtask(ctx, i, w.result.Subtasks[i])
}

// fail records why a step failed. A refused step is failed for good (until
// a replay); any other failure leaves the step as it was (started, if the
// tracker call was made: it may have happened, so the next attempt looks
// for it first), with the reason.
func (w *work) fail(ctx context.Context, name string, cause error) error {
	st := w.entry.Steps[name]
	if permanent(cause) {
		st = ledger.Step{State: ledger.Failed}
	}
	st.Note = cause.Error()
	w.entry.Steps[name] = st
	if err := w.save(ctx); err != nil {
		return fmt.Errorf("%w: %w", errLedger, err)
	}
	return nil
}

// stepFailures are the steps of a result that did not apply. The result
// may be retried unless every failure is permanent.
type stepFailures []stepFailure

type stepFailure struct {
	name      string
	err       error
	permanent bool
}

func (f stepFailures) Error() string {
	parts := make([]string, len(f))
	for i, sf := range f {
		parts[i] = sf.name + ": " + sf.err.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.Is and trackers.RetryOf see the steps' errors.
func (f stepFailures) Unwrap() []error {
	errs := make([]error, len(f))
	for i, sf := range f {
		errs[i] = sf.err
	}
	return errs
}

func (f stepFailures) has(name string) bool {
	return slices.ContainsFunc(f, func(sf stepFailure) bool { return sf.name == name })
}

func (f stepFailures) allPermanent() bool {
	return !slices.ContainsFunc(f, func(sf stepFailure) bool { return !sf.permanent })
}

// ticketHeadReader is a tracker that can read just what decide needs (the
// update time, the reporter), cheaper than the whole ticket (Jira).
type ticketHeadReader interface {
	GetTicketHead(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error)
}

// decide reads the ticket once per result: whether a person changed it after
// the agent's base time (the conflict), and who reported it (the mention).
// The decision is recorded, so a redelivery does not change its mind.
func (w *work) decide(ctx context.Context) error {
	if w.entry.Decided || (w.result.TargetStatus == "" && !w.result.MentionReporter) {
		return nil
	}
	get := func(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
		return trackers.Ticket{}, fmt.Errorf("%w: reading tickets on %s", errUnsupported, w.connector.System)
	}
	if reader, ok := w.tracker.(trackers.TicketReader); ok {
		get = reader.GetTicket
	}
	if head, ok := w.tracker.(ticketHeadReader); ok {
		get = head.GetTicketHead
	}
	tk, err := get(ctx, w.session, w.result.TicketKey)
	if err != nil {
		return fmt.Errorf("read ticket %s: %w", w.result.TicketKey, err)
	}
	base := w.result.BaseTime
	w.entry.Conflict = !base.IsZero() && tk.Updated.After(base)
	w.entry.ReporterID, w.entry.ReporterLogin, w.entry.ReporterName = tk.Reporter.ID, tk.Reporter.Login, tk.Reporter.DisplayName
	w.entry.Decided = true
	w.decisionUnsaved = true // saved before the first step is tried
	return nil
}

// step runs one idempotent step: done steps are skipped; a step that was
// started but not recorded as done (a crash in between) is first looked for
// at the tracker by its marker.
func (w *work) step(ctx context.Context, name, kind string, do func(context.Context) (trackers.Link, error), find func(context.Context) (trackers.Link, bool, error)) error {
	st := w.entry.Steps[name]
	if st.State == ledger.Done || st.State == ledger.Skipped {
		return nil
	}
	if st.State == ledger.Started && find != nil {
		link, ok, err := find(ctx)
		if err != nil {
			return fmt.Errorf("look for an earlier attempt: %w", err)
		}
		if ok {
			w.log.Info("step had already happened before a crash; recording it", "step", name)
			return w.record(ctx, name, kind, link)
		}
	}
	w.entry.Steps[name] = ledger.Step{State: ledger.Started}
	if find != nil || w.decisionUnsaved {
		if err := w.save(ctx); err != nil {
			return fmt.Errorf("%w: %w", errLedger, err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, w.svc.cfg.StepTimeout)
	link, err := do(sctx)
	cancel()
	if err != nil {
		return err // the caller names the step
	}
	if w.svc.afterStep != nil {
		if err := w.svc.afterStep(name); err != nil {
			return fmt.Errorf("%w: %s: %w", errAbandoned, name, err)
		}
	}
	return w.record(ctx, name, kind, link)
}

// record notes a step as done. The next save (before the next step with a
// marker, or at completion) writes it: until then a crash leaves a marker
// step "started", which the redelivery finds at the tracker, and a step
// without a marker unrecorded, which it repeats harmlessly.
func (w *work) record(_ context.Context, name, kind string, link trackers.Link) error {
	w.entry.Steps[name] = ledger.Step{State: ledger.Done, URL: link.URL, Key: link.Key, Kind: kind}
	w.changed = append(w.changed, changedFields[kind]...)
	return nil
}

// changedFields are the Ticket fields (proto names) a step of a kind
// changes on the result's ticket: a status is a Jira transition or a status
// label (and closing on done); a comment and a sub-task show in the
// ticket's comments and sub-tasks. A pull request changes the repository,
// not the issue.
var changedFields = map[string][]string{
	"status":  {"status", "labels"},
	"comment": {"comments"},
	"subtask": {"subtasks"},
}

// markSelf records what this delivery changed on the ticket, with the
// ticket's update time read back after the changes (one request), so the
// poller marks their echo actor "self" (ticketver.IsEcho). It never fails
// the delivery: without the record the echo is published unmarked, as
// before.
func (w *work) markSelf(ctx context.Context) {
	if len(w.changed) == 0 || w.tracker == nil || w.session == nil {
		return
	}
	var get func(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error)
	if reader, ok := w.tracker.(trackers.TicketReader); ok {
		get = reader.GetTicket
	}
	if head, ok := w.tracker.(ticketHeadReader); ok {
		get = head.GetTicketHead
	}
	if get == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, w.svc.cfg.StepTimeout)
	defer cancel()
	tk, err := get(rctx, w.session, w.result.TicketKey)
	if err == nil {
		err = w.svc.versions.MarkSelf(rctx, w.connector.ID, w.result.TicketKey, ticketver.Self{Updated: tk.Updated, Fields: w.changed})
	}
	if err != nil {
		w.log.Warn("the writeback's own changes not recorded; the poller will publish their echo unmarked", "error", err)
	}
}

// markPending records, before the steps, the fields they may change and
// until when (ticketver.Self.Until): a webhook makes the poller read the
// ticket right after each change, before markSelf can read its update
// time back, and those intermediate versions are the echo too. Like
// markSelf it never fails the delivery.
func (w *work) markPending(ctx context.Context) {
	var fields []string
	steps := w.result.stepNames()
	for _, name := range steps {
		kind := strings.TrimRight(name, "-0123456789")
		for _, f := range changedFields[kind] {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	if len(fields) == 0 || w.connector.ID == "" {
		return
	}
	until := time.Now().Add(time.Duration(len(steps)+1) * w.svc.cfg.StepTimeout)
	rctx, cancel := context.WithTimeout(ctx, w.svc.cfg.StepTimeout)
	defer cancel()
	if err := w.svc.versions.MarkSelf(rctx, w.connector.ID, w.result.TicketKey, ticketver.Self{Until: until, Fields: fields}); err != nil {
		w.log.Warn("the writeback's coming changes not recorded; a webhook-triggered poll may publish them unmarked", "error", err)
	}
}

func (w *work) status(ctx context.Context) error {
	if w.entry.Conflict && w.connector.ConflictPolicy != connector.AgentWins {
		if w.entry.Steps["status"].State != ledger.Skipped {
			w.entry.Steps["status"] = ledger.Step{State: ledger.Skipped, Note: "the ticket changed after the result's base time; tracker_wins"}
			w.entry.StatusOutcome = OutcomeSkippedTracker
			w.log.Info("status step skipped: the ticket changed after the base time (tracker_wins)")
		}
		return nil
	}
	sw, ok := w.tracker.(trackers.StatusWriter)
	if !ok {
		return fmt.Errorf("%w: status on %s", errUnsupported, w.connector.System)
	}
	w.entry.StatusOutcome = OutcomeApplied
	if w.entry.Conflict {
		w.entry.StatusOutcome = OutcomeAppliedAgentWins
	}
	// Setting a status twice is harmless (already there: no-op), so no marker is needed.
	return w.step(ctx, stepStatus, "status", func(ctx context.Context) (trackers.Link, error) {
		return sw.SetStatus(ctx, w.session, w.result.TicketKey, w.result.TargetStatus)
	}, nil)
}

func (w *work) comment(ctx context.Context) error {
	cm, ok := w.tracker.(trackers.Commenter)
	if !ok {
		return fmt.Errorf("%w: comments on %s", errUnsupported, w.connector.System)
	}
	marker := w.marker(stepComment)
	nc := trackers.NewComment{Markdown: w.result.CommentMarkdown, Marker: marker}
	if w.result.MentionReporter && (w.entry.ReporterID != "" || w.entry.ReporterLogin != "") {
		nc.Mention = &trackers.User{ID: w.entry.ReporterID, Login: w.entry.ReporterLogin, DisplayName: w.entry.ReporterName}
	}
	return w.step(ctx, stepComment, "comment",
		func(ctx context.Context) (trackers.Link, error) {
			return cm.AddComment(ctx, w.session, w.result.TicketKey, nc)
		},
		func(ctx context.Context) (trackers.Link, bool, error) {
			return cm.FindComment(ctx, w.session, w.result.TicketKey, marker)
		})
}

func (w *work) subtask(ctx context.Context, i int, st subtaskSpec) error {
	sc, ok := w.tracker.(trackers.SubtaskCreator)
	if !ok {
		return fmt.Errorf("%w: sub-tasks on %s", errUnsupported, w.connector.System)
	}
	name := subtaskStep(i)
	marker := w.marker(name)
	ns := trackers.NewSubtask{Summary: st.Summary, DescriptionMarkdown: st.DescriptionMarkdown, Marker: marker, AssignToConnector: w.svc.cfg.AssignSubtasks}
	return w.step(ctx, name, "subtask",
		func(ctx context.Context) (trackers.Link, error) {
			return sc.CreateSubtask(ctx, w.session, w.result.TicketKey, ns)
		},
		func(ctx context.Context) (trackers.Link, bool, error) {
			return sc.FindSubtask(ctx, w.session, w.result.TicketKey, marker)
		})
}

func (w *work) pullRequest(ctx context.Context, pr *pullRequestSpec) error {
	po, ok := w.tracker.(trackers.PullRequestOpener)
	if !ok {
		return fmt.Errorf("%w: pull requests on %s", errUnsupported, w.connector.System)
	}
	title := pr.Title
	if title == "" {
		title = "Work on " + w.result.TicketKey
	}
	title = strings.NewReplacer("$ticket_key", ticketLabel(w.result.TicketKey), "$title", title).Replace(w.svc.cfg.PRTitleTemplate)
	np := trackers.NewPullRequest{Head: pr.HeadBranch, Base: pr.BaseBranch, Title: title, BodyMarkdown: pr.BodyMarkdown}
	// Opening reuses an open pull request for the same head, so repeating it is safe.
	return w.step(ctx, stepPullRequest, "pull_request", func(ctx context.Context) (trackers.Link, error) {
		link, _, err := po.OpenPullRequest(ctx, w.session, w.result.TicketKey, np)
		return link, err
	}, nil)
}

// ticketLabel is how a ticket is named in a title: PROJ-12 on Jira, #12 on
// GitHub and GitLab (whose keys are owner/repo#12, linked from a title in
// the same repository by "#12").
func ticketLabel(key string) string {
	if _, n, ok := trackers.SplitNumberedKey(key); ok {
		return "#" + strconv.FormatInt(n, 10)
	}
	return key
}

// links lists what the steps created or changed, in step order.
func (w *work) links() []trackers.Link {
	var out []trackers.Link
	for _, o := range stepOutcomes(w.result, w.entry) {
		if o.Outcome == StepApplied {
			out = append(out, o.Link)
		}
	}
	return out
}

// Step outcomes listed in writeback.completed and writeback.failed.
const (
	StepApplied      = "applied"
	StepSkipped      = "skipped"
	StepFailed       = "failed"
	StepNotAttempted = "not_attempted"
)

// stepOutcome is what became of one step of a result.
type stepOutcome struct {
	Name    string
	Outcome string
	// Reason: why the step failed (the tracker's words) or was skipped.
	Reason string
	// Link: what an applied step created or changed.
	Link trackers.Link
}

// stepOutcomes lists every step of res, in step order, as its ledger entry
// records it.
func stepOutcomes(res result, entry ledger.Entry) []stepOutcome {
	names := res.stepNames()
	out := make([]stepOutcome, 0, len(names))
	for _, name := range names {
		st := entry.Steps[name]
		o := stepOutcome{Name: name, Reason: st.Note}
		switch st.State {
		case ledger.Done:
			o.Outcome, o.Reason = StepApplied, ""
			o.Link = trackers.Link{Kind: st.Kind, URL: st.URL, Key: st.Key}
		case ledger.Skipped:
			o.Outcome = StepSkipped
		case ledger.Failed:
			o.Outcome = StepFailed
		case ledger.Started:
			// Tried and failed (the reason is recorded), or cut off before
			// the tracker answered.
			o.Outcome = StepFailed
			if o.Reason == "" {
				o.Reason = "interrupted before the tracker confirmed it"
			}
		default:
			o.Outcome = StepNotAttempted
		}
		out = append(out, o)
	}
	return out
}

// countStep counts a step run by its kind (sub-tasks as one) and outcome:
// applied, skipped, failed (refused: the result dead-letters) or retry.
func (s *Service) countStep(ctx context.Context, system connector.System, name, state string, err error) {
	if s.metrics == nil {
		return
	}
	kind := name
	if strings.HasPrefix(name, stepSubtask) {
		kind = "subtask"
	}
	outcome := StepApplied
	switch {
	case err != nil && permanent(err):
		outcome = StepFailed
	case err != nil:
		outcome = "retry"
	case state == ledger.Skipped:
		outcome = StepSkipped
	}
	s.metrics.WritebackStep(ctx, system, kind, outcome)
}
