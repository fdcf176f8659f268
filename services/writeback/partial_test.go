package writeback

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// stepTracker is the in-memory tracker with pull requests, a log of the
// write calls in order, and failures per step for the next calls.
type stepTracker struct {
	*memTracker
	mu       sync.Mutex
	calls    []string           // "status", "comment", "subtask:<summary>", "pull_request"
	failNext map[string][]error // by call name
	accept   []string           // statuses accepted beyond the memTracker's
}

func newStepTracker(mem *memTracker) *stepTracker {
	return &stepTracker{memTracker: mem, failNext: map[string][]error{}}
}

// call logs a write and says whether it is to fail.
func (s *stepTracker) call(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, name)
	if errs := s.failNext[name]; len(errs) > 0 {
		s.failNext[name] = errs[1:]
		return errs[0]
	}
	return nil
}

func (s *stepTracker) failOnce(name string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[name] = append(s.failNext[name], errs...)
}

func (s *stepTracker) callsTo(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (s *stepTracker) callLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *stepTracker) acceptStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accept = append(s.accept, status)
}

func (s *stepTracker) SetStatus(ctx context.Context, sess *trackers.Session, key, status string) (trackers.Link, error) {
	if err := s.call("status"); err != nil {
		return trackers.Link{}, err
	}
	s.mu.Lock()
	accepted := false
	for _, a := range s.accept {
		accepted = accepted || strings.EqualFold(a, status)
	}
	s.mu.Unlock()
	if accepted {
		s.memTracker.mu.Lock()
		defer s.memTracker.mu.Unlock()
		s.memTracker.status = status
		return trackers.Link{Kind: "status", Key: key, URL: "https://jira.test/browse/" + key}, nil
	}
	return s.memTracker.SetStatus(ctx, sess, key, status)
}

func (s *stepTracker) AddComment(ctx context.Context, sess *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	if err := s.call("comment"); err != nil {
		return trackers.Link{}, err
	}
	return s.memTracker.AddComment(ctx, sess, key, c)
}

func (s *stepTracker) CreateSubtask(ctx context.Context, sess *trackers.Session, parent string, st trackers.NewSubtask) (trackers.Link, error) {
	if err := s.call("subtask:" + st.Summary); err != nil {
		return trackers.Link{}, err
	}
	return s.memTracker.CreateSubtask(ctx, sess, parent, st)
}

func (s *stepTracker) OpenPullRequest(_ context.Context, _ *trackers.Session, key string, pr trackers.NewPullRequest) (trackers.Link, bool, error) {
	if err := s.call("pull_request"); err != nil {
		return trackers.Link{}, false, err
	}
	s.memTracker.mu.Lock()
	defer s.memTracker.mu.Unlock()
	s.memTracker.prs = append(s.memTracker.prs, pr)
	n := len(s.memTracker.prs)
	return trackers.Link{Kind: "pull_request", Key: fmt.Sprint(n), URL: fmt.Sprintf("https://git.test/pulls/%d", n)}, false, nil
}

var _ trackers.PullRequestOpener = (*stepTracker)(nil)

// newStepEnv is an env whose tracker is a stepTracker, not yet running.
func newStepEnv(t *testing.T, policy connector.ConflictPolicy) (*env, *stepTracker) {
	t.Helper()
	e := newEnv(t, policy, nil)
	st := newStepTracker(e.mem)
	e.svc.trackers = registryOf(t, st)
	return e, st
}

func stepResult(id, status string) *chv1.ResultReady {
	r := fullResult(id, time.Now())
	r.TargetStatus = status
	r.PullRequest = &chv1.PullRequestSpec{HeadBranch: "agent/wb-1", Title: "Fix it"}
	return r
}

// stepsOf renders an event's steps as "name=outcome" in order.
func stepsOf(steps []*chv1.WritebackStep) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.GetName() + "=" + s.GetOutcome()
	}
	return strings.Join(parts, " ")
}

func stepNamed(steps []*chv1.WritebackStep, name string) *chv1.WritebackStep {
	for _, s := range steps {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

func TestARefusedTransitionStillWritesTheIndependentSteps(t *testing.T) {
	t.Parallel()
	e, _ := newStepEnv(t, connector.TrackerWins)
	e.run(t)
	e.publish(t, stepResult("res-refused", "Shipped")) // not a status of the workflow: refused
	done, failed := e.outcome(t, "res-refused")
	if done != nil || failed == nil {
		t.Fatalf("a refused step must dead-letter the result; completed = %v", done)
	}
	if failed.GetAttempts() != 1 {
		t.Errorf("a refusal is permanent: %d attempts, want 1", failed.GetAttempts())
	}
	want := "status=failed comment=applied subtask-0=applied subtask-1=applied pull_request=applied"
	if got := stepsOf(failed.GetSteps()); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	if st := stepNamed(failed.GetSteps(), "status"); !strings.Contains(st.GetReason(), "possible: In Progress, Done") {
		t.Errorf("the failed step does not carry the tracker's reason: %q", st.GetReason())
	}
	if pr := stepNamed(failed.GetSteps(), "pull_request"); pr.GetLink().GetUrl() != "https://git.test/pulls/1" {
		t.Errorf("the applied pull request has no link: %v", pr)
	}
	if !strings.Contains(failed.GetReason(), "status: ") {
		t.Errorf("reason %q does not name the step", failed.GetReason())
	}
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if e.mem.status != "To Do" || len(e.mem.comments) != 1 || len(e.mem.subtasks) != 2 || len(e.mem.prs) != 1 {
		t.Fatalf("tracker: status %q, %d comments, %d sub-tasks, %d pull requests; want To Do, 1, 2, 1",
			e.mem.status, len(e.mem.comments), len(e.mem.subtasks), len(e.mem.prs))
	}
}

func TestReplayRetriesOnlyTheStepsThatFailed(t *testing.T) {
	t.Parallel()
	e, tr := newStepEnv(t, connector.TrackerWins)
	e.run(t)
	e.publish(t, stepResult("res-replay", "Shipped"))
	if _, failed := e.outcome(t, "res-replay"); failed == nil {
		t.Fatal("want the result dead-lettered first")
	}
	// The workflow gains the status; the operator replays the result.
	tr.acceptStatus("Shipped")
	if _, _, err := ledger.Replay(context.Background(), e.js, e.svc.ledger, "res-replay"); err != nil {
		t.Fatal(err)
	}
	done, _ := e.outcomeWhere(t, "res-replay", true)
	want := "status=applied comment=applied subtask-0=applied subtask-1=applied pull_request=applied"
	if got := stepsOf(done.GetSteps()); got != want {
		t.Fatalf("steps after the replay %q, want %q", got, want)
	}
	if len(done.GetLinks()) != 5 {
		t.Errorf("links %v", done.GetLinks())
	}
	for name, n := range map[string]int{"status": 2, "comment": 1, "subtask:follow-up A": 1, "subtask:follow-up B": 1, "pull_request": 1} {
		if got := tr.callsTo(name); got != n {
			t.Errorf("%s called %d times over the delivery and the replay, want %d (calls: %v)", name, got, n, tr.callLog())
		}
	}
}

func TestTransientAndPermanentStepFailuresInOneResult(t *testing.T) {
	t.Parallel()
	e, tr := newStepEnv(t, connector.TrackerWins)
	// The comment fails once with a 503-like error; Jira refuses the first
	// sub-task for good.
	tr.failOnce("comment", fmt.Errorf("%w: 503", trackers.ErrTransient))
	tr.failOnce("subtask:follow-up A", fmt.Errorf("%w: 400 summary too long", trackers.ErrRejected))
	e.run(t)
	e.publish(t, stepResult("res-mixed", "Done"))
	_, failed := e.outcome(t, "res-mixed")
	if failed == nil {
		t.Fatal("want the refused sub-task to dead-letter the result")
	}
	// The second delivery retried the comment and left the refused sub-task alone.
	if failed.GetAttempts() != 2 {
		t.Errorf("attempts %d, want 2 (one retry for the transient comment failure)", failed.GetAttempts())
	}
	want := "status=applied comment=applied subtask-0=failed subtask-1=applied pull_request=applied"
	if got := stepsOf(failed.GetSteps()); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	if r := stepNamed(failed.GetSteps(), "subtask-0").GetReason(); !strings.Contains(r, "summary too long") {
		t.Errorf("sub-task reason %q", r)
	}
	for name, n := range map[string]int{"status": 1, "comment": 2, "subtask:follow-up A": 1, "subtask:follow-up B": 1, "pull_request": 1} {
		if got := tr.callsTo(name); got != n {
			t.Errorf("%s called %d times, want %d (calls: %v)", name, got, n, tr.callLog())
		}
	}
}

func TestTransientStepFailuresRetryThenDeadLetterListingEachStep(t *testing.T) {
	t.Parallel()
	e, tr := newStepEnv(t, connector.TrackerWins) // MaxDeliver 3
	for range 3 {
		tr.failOnce("pull_request", fmt.Errorf("%w: 502 bad gateway", trackers.ErrTransient))
	}
	e.run(t)
	e.publish(t, stepResult("res-transient", "Done"))
	_, failed := e.outcome(t, "res-transient")
	if failed == nil || failed.GetAttempts() != 3 {
		t.Fatalf("want a dead letter after 3 deliveries: %v", failed)
	}
	want := "status=applied comment=applied subtask-0=applied subtask-1=applied pull_request=failed"
	if got := stepsOf(failed.GetSteps()); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	if r := stepNamed(failed.GetSteps(), "pull_request").GetReason(); !strings.Contains(r, "502 bad gateway") {
		t.Errorf("pull request reason %q", r)
	}
	if n := tr.callsTo("comment"); n != 1 {
		t.Errorf("the comment was posted %d times over the retries", n)
	}
}

func TestARateLimitedStepLeavesTheRestToTheRedelivery(t *testing.T) {
	t.Parallel()
	e, tr := newStepEnv(t, connector.TrackerWins)
	tr.failOnce("status", &trackers.RateLimitError{RetryAfter: 10 * time.Millisecond})
	e.run(t)
	e.publish(t, stepResult("res-429", "Done"))
	done, failed := e.outcome(t, "res-429")
	if failed != nil {
		t.Fatalf("failed: %s", failed.GetReason())
	}
	if got := stepsOf(done.GetSteps()); got != "status=applied comment=applied subtask-0=applied subtask-1=applied pull_request=applied" {
		t.Fatalf("steps %q", got)
	}
	// The tracker asked to wait: nothing more was sent in that delivery.
	calls := tr.callLog()
	if len(calls) < 2 || calls[0] != "status" || calls[1] != "status" {
		t.Errorf("calls %v: want the status retried before any other write", calls)
	}
}

func TestCompletedListsEveryStepWithItsOutcome(t *testing.T) {
	t.Parallel()
	e, _ := newStepEnv(t, connector.TrackerWins)
	e.run(t)
	// A person moved the ticket after the agent's base time: the status is skipped.
	r := stepResult("res-skip", "Done")
	r.BaseTime = fullResult("", time.Now().Add(-2*time.Hour)).GetBaseTime()
	e.publish(t, r)
	done, failed := e.outcome(t, "res-skip")
	if failed != nil {
		t.Fatalf("failed: %s", failed.GetReason())
	}
	want := "status=skipped comment=applied subtask-0=applied subtask-1=applied pull_request=applied"
	if got := stepsOf(done.GetSteps()); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	if r := stepNamed(done.GetSteps(), "status").GetReason(); !strings.Contains(r, "tracker_wins") {
		t.Errorf("skipped status reason %q", r)
	}
	if l := stepNamed(done.GetSteps(), "comment").GetLink(); l.GetKind() != "comment" || l.GetUrl() == "" {
		t.Errorf("comment link %v", l)
	}
}

func TestAFailedPreparationAttemptsNoStep(t *testing.T) {
	t.Parallel()
	e, tr := newStepEnv(t, connector.TrackerWins)
	e.run(t)
	r := stepResult("res-noticket", "Done")
	r.TicketKey = "NOPE-1" // the ticket is gone: every step needs it
	e.publish(t, r)
	_, failed := e.outcome(t, "res-noticket")
	if failed == nil || failed.GetAttempts() != 1 {
		t.Fatalf("dead letter: %v", failed)
	}
	want := "status=not_attempted comment=not_attempted subtask-0=not_attempted subtask-1=not_attempted pull_request=not_attempted"
	if got := stepsOf(failed.GetSteps()); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	if calls := tr.callLog(); len(calls) != 0 {
		t.Errorf("writes sent for a missing ticket: %v", calls)
	}
}

func TestJiraRefusedTransitionStillPostsTheComment(t *testing.T) {
	t.Parallel()
	e := newJiraEnv(t, connector.Cloud, connector.TrackerWins)
	// A workflow validator refuses the transition (Jira answers 400).
	e.jira.Faults.Add(faults.Fault{Times: 1, Status: http.StatusBadRequest,
		Body: `{"errorMessages":["A resolution is required to close this issue"],"errors":{}}`,
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions")
		}})
	e.run(t)
	before := len(e.jira.Comments(e.key))
	subsBefore := len(e.jira.Subtasks(e.key))
	e.publish(t, e.result("res-validator", time.Now()))
	_, failed := e.outcome(t, "res-validator")
	if failed == nil || failed.GetAttempts() != 1 {
		t.Fatalf("want the refusal dead-lettered at once: %v", failed)
	}
	if got := stepsOf(failed.GetSteps()); got != "status=failed comment=applied subtask-0=applied" {
		t.Fatalf("steps %q", got)
	}
	if r := stepNamed(failed.GetSteps(), "status").GetReason(); !strings.Contains(r, "A resolution is required") {
		t.Errorf("status reason %q does not carry Jira's message", r)
	}
	if n := len(e.jira.Comments(e.key)) - before; n != 1 {
		t.Errorf("%d comments posted, want 1", n)
	}
	if n := len(e.jira.Subtasks(e.key)) - subsBefore; n != 1 {
		t.Errorf("%d sub-tasks created, want 1", n)
	}
}
