package writeback

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// memTracker records writes in memory, for the framework's own tests; the
// real trackers run the shared suite against their fakes, and the Jira end
// to end test runs this service against the fake Jira.
type memTracker struct {
	trackers.Tracker
	mu       sync.Mutex
	updated  time.Time
	status   string
	comments []trackers.NewComment
	subtasks []trackers.NewSubtask
	prs      []trackers.NewPullRequest
	failSet  []error // errors for the next SetStatus calls
}

func newMem() *memTracker {
	return &memTracker{Tracker: jira.New(), status: "To Do", updated: time.Now().Add(-time.Hour)}
}

// NormalizeKey is Jira's: the framework normalises what an agent sends.
func (m *memTracker) NormalizeKey(c connector.Connector, in string) (string, error) {
	return jira.New().NormalizeKey(c, in)
}

func (m *memTracker) GetTicket(_ context.Context, _ *trackers.Session, key string) (trackers.Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key == "NOPE-1" {
		return trackers.Ticket{}, trackers.ErrTicketNotFound
	}
	return trackers.Ticket{Key: key, Updated: m.updated, Status: m.status, Reporter: trackers.User{ID: "acc-rita", Login: "rita", DisplayName: "Rita"}}, nil
}

func (m *memTracker) SetStatus(_ context.Context, _ *trackers.Session, key, status string) (trackers.Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failSet) > 0 {
		err := m.failSet[0]
		m.failSet = m.failSet[1:]
		return trackers.Link{}, err
	}
	if !strings.EqualFold(status, "done") && !strings.EqualFold(status, "in progress") {
		return trackers.Link{}, fmt.Errorf("%w: %q (possible: In Progress, Done)", trackers.ErrUnknownStatus, status)
	}
	m.status = status
	return trackers.Link{Kind: "status", Key: key, URL: "https://jira.test/browse/" + key}, nil
}

func (m *memTracker) AddComment(_ context.Context, _ *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.comments = append(m.comments, c)
	return trackers.Link{Kind: "comment", Key: fmt.Sprint(len(m.comments)), URL: fmt.Sprintf("https://jira.test/browse/%s?c=%d", key, len(m.comments))}, nil
}

func (m *memTracker) FindComment(_ context.Context, _ *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range m.comments {
		if c.Marker == marker {
			return trackers.Link{Kind: "comment", Key: fmt.Sprint(i + 1), URL: fmt.Sprintf("https://jira.test/browse/%s?c=%d", key, i+1)}, true, nil
		}
	}
	return trackers.Link{}, false, nil
}

func (m *memTracker) CreateSubtask(_ context.Context, _ *trackers.Session, parent string, st trackers.NewSubtask) (trackers.Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subtasks = append(m.subtasks, st)
	key := fmt.Sprintf("%s-S%d", parent, len(m.subtasks))
	return trackers.Link{Kind: "subtask", Key: key, URL: "https://jira.test/browse/" + key}, nil
}

func (m *memTracker) FindSubtask(_ context.Context, _ *trackers.Session, parent, marker string) (trackers.Link, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, st := range m.subtasks {
		if st.Marker == marker {
			key := fmt.Sprintf("%s-S%d", parent, i+1)
			return trackers.Link{Kind: "subtask", Key: key, URL: "https://jira.test/browse/" + key}, true, nil
		}
	}
	return trackers.Link{}, false, nil
}

type plainDecrypter struct{}

func (plainDecrypter) Decrypt(_ context.Context, _, ct string) ([]byte, error) {
	return []byte(ct), nil
}

type env struct {
	js    jetstream.JetStream
	mem   *memTracker
	svc   *Service
	store *connector.Store
	*crashSwitch
}

func newEnv(t *testing.T, policy connector.ConflictPolicy, mutate func(*Config)) *env {
	t.Helper()
	_, js := testenv.NATS(t)
	ctx := context.Background()
	kv, _ := js.KeyValue(ctx, bus.BucketConnectors)
	store := connector.NewStore(kv)
	c := connector.Connector{ID: "jira-wb", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://jira.test",
		AuthMode: connector.AuthBasic, Username: "bot@example.com", Enabled: true, ConflictPolicy: policy,
		Credential: connector.Credential{Ciphertext: "token"}}
	c.ApplyDefaults(all.Registry())
	if _, err := store.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	mem := newMem()
	cfg := DefaultConfig()
	cfg.RetryBase, cfg.RetryMax, cfg.MaxDeliver = 20*time.Millisecond, 50*time.Millisecond, 3
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg, err := trackers.NewRegistry(mem)
	if err != nil {
		t.Fatal(err)
	}
	crash := &crashSwitch{}
	svc, err := New(ctx, cfg, Deps{JS: js, Decrypter: plainDecrypter{}, Logger: log, Trackers: reg, AfterStep: crash.afterStep})
	if err != nil {
		t.Fatal(err)
	}
	return &env{js: js, mem: mem, svc: svc, store: store, crashSwitch: crash}
}

func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) publish(t *testing.T, r *chv1.ResultReady) {
	t.Helper()
	subject, _ := bus.ResultSubject("jira", "jira-wb")
	if _, err := bus.Publish(context.Background(), e.js, subject, r, bus.WithID(r.GetResultId())); err != nil {
		t.Fatal(err)
	}
}

// outcome waits for the first writeback event of a result.
func (e *env) outcome(t *testing.T, resultID string) (*chv1.WritebackCompleted, *chv1.WritebackFailed) {
	t.Helper()
	return e.outcomeWhere(t, resultID, false)
}

// outcomeWhere waits (up to a minute: redeliveries wait out AckWait, and a
// loaded CI machine is slow) for a writeback event of a result; with completedOnly,
// for its writeback.completed.
func (e *env) outcomeWhere(t *testing.T, resultID string, completedOnly bool) (*chv1.WritebackCompleted, *chv1.WritebackFailed) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, _ := e.js.Stream(context.Background(), bus.StreamWriteback)
		info, _ := st.Info(context.Background())
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(context.Background(), seq)
			if err != nil {
				continue
			}
			if strings.HasPrefix(m.Subject, "writeback.completed.") {
				var c chv1.WritebackCompleted
				if err := protojson.Unmarshal(m.Data, &c); err == nil && c.GetResultId() == resultID {
					return &c, nil
				}
			} else if !completedOnly {
				var f chv1.WritebackFailed
				if err := protojson.Unmarshal(m.Data, &f); err == nil && f.GetResultId() == resultID {
					return nil, &f
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no writeback event for %s", resultID)
	return nil, nil
}

func fullResult(id string, base time.Time) *chv1.ResultReady {
	return &chv1.ResultReady{
		ResultId: id, ConnectorId: "jira-wb", System: chv1.System_SYSTEM_JIRA, TicketKey: "WB-1",
		BaseTime: timestamppb.New(base), TargetStatus: "Done", CommentMarkdown: "All **done**.", MentionReporter: true,
		Subtasks: []*chv1.SubTaskSpec{{Summary: "follow-up A"}, {Summary: "follow-up B", DescriptionMarkdown: "details"}},
	}
}

func TestEveryStepRunsInOrderAndCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	e.run(t)
	e.publish(t, fullResult("res-all", time.Now()))
	done, failed := e.outcome(t, "res-all")
	if failed != nil {
		t.Fatalf("failed: %v", failed.GetReason())
	}
	if done.GetStatusOutcome() != OutcomeApplied || len(done.GetLinks()) != 4 {
		t.Fatalf("completed = %v", done)
	}
	kinds := []string{}
	for _, l := range done.GetLinks() {
		kinds = append(kinds, l.GetKind())
	}
	if strings.Join(kinds, ",") != "status,comment,subtask,subtask" {
		t.Errorf("links in order %v", kinds)
	}
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if e.mem.status != "Done" || len(e.mem.comments) != 1 || len(e.mem.subtasks) != 2 {
		t.Fatalf("tracker: status %q, %d comments, %d subtasks", e.mem.status, len(e.mem.comments), len(e.mem.subtasks))
	}
	if m := e.mem.comments[0].Mention; m == nil || m.ID != "acc-rita" {
		t.Errorf("reporter not mentioned: %+v", e.mem.comments[0])
	}
}

func TestConflictPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy  connector.ConflictPolicy
		outcome string
		status  string
	}{
		{connector.TrackerWins, OutcomeSkippedTracker, "To Do"},
		{connector.AgentWins, OutcomeAppliedAgentWins, "Done"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.policy, nil)
			e.run(t)
			// The person moved the ticket after the agent's base time.
			base := time.Now().Add(-2 * time.Hour)
			e.publish(t, fullResult("res-conflict", base))
			done, failed := e.outcome(t, "res-conflict")
			if failed != nil {
				t.Fatalf("failed: %v", failed.GetReason())
			}
			if done.GetStatusOutcome() != tc.outcome {
				t.Errorf("outcome %q, want %q", done.GetStatusOutcome(), tc.outcome)
			}
			e.mem.mu.Lock()
			defer e.mem.mu.Unlock()
			if e.mem.status != tc.status || len(e.mem.comments) != 1 {
				t.Errorf("status %q (want %q), %d comments (the comment is posted either way)", e.mem.status, tc.status, len(e.mem.comments))
			}
		})
	}
}

func TestCrashAfterACommentDoesNotPostItTwice(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"comment", "subtask-0"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, connector.TrackerWins, nil)
			e.crashAfterStep(step)
			e.run(t)
			e.publish(t, fullResult("res-crash", time.Now()))
			// The first delivery dies after the tracker call; let the redelivery run normally.
			deadline := time.Now().Add(60 * time.Second)
			for {
				ent, err := e.svc.ledger.Get(context.Background(), "res-crash")
				if err == nil && ent.Steps[step].State == ledger.Started {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the crash step never started")
				}
				time.Sleep(10 * time.Millisecond)
			}
			e.crashAfterStep("")
			done, failed := e.outcome(t, "res-crash")
			if failed != nil {
				t.Fatalf("failed: %v", failed.GetReason())
			}
			e.mem.mu.Lock()
			defer e.mem.mu.Unlock()
			if len(e.mem.comments) != 1 || len(e.mem.subtasks) != 2 {
				t.Fatalf("after a crash and redelivery: %d comments, %d sub-tasks; want 1 and 2", len(e.mem.comments), len(e.mem.subtasks))
			}
			if len(done.GetLinks()) != 4 {
				t.Errorf("links %v", done.GetLinks())
			}
		})
	}
}

func TestDeadLetterAfterMaxDeliveriesAndReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	e.mem.failSet = []error{trackers.ErrTransient, trackers.ErrTransient, trackers.ErrTransient}
	e.run(t)
	e.publish(t, fullResult("res-dlq", time.Now()))
	_, failed := e.outcome(t, "res-dlq")
	if failed == nil || failed.GetAttempts() != 3 || !strings.Contains(failed.GetReason(), "transient") || failed.GetResult().GetResultId() != "res-dlq" {
		t.Fatalf("dead letter = %v", failed)
	}
	ent, _ := e.svc.ledger.Get(context.Background(), "res-dlq")
	if !ent.Failed {
		t.Fatal("ledger does not record the failure")
	}
	// The tracker recovers; replay the result.
	if _, n, err := ledger.Replay(context.Background(), e.js, e.svc.ledger, "res-dlq"); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	done, _ := e.outcomeWhere(t, "res-dlq", true)
	if done == nil || done.GetStatusOutcome() != OutcomeApplied {
		t.Fatalf("after replay: %v", done)
	}
	if _, _, err := ledger.Replay(context.Background(), e.js, e.svc.ledger, "res-dlq"); err == nil {
		t.Error("replaying a completed result was allowed")
	}
}

func TestPermanentFailuresDeadLetterAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	e.run(t)
	r := fullResult("res-unknown-status", time.Now())
	r.TargetStatus = "Shipped"
	e.publish(t, r)
	_, failed := e.outcome(t, "res-unknown-status")
	if failed == nil || failed.GetAttempts() != 1 || !strings.Contains(failed.GetReason(), "possible: In Progress, Done") {
		t.Fatalf("unknown status: %v", failed)
	}
	e.publish(t, &chv1.ResultReady{ResultId: "res-empty", ConnectorId: "jira-wb", TicketKey: "WB-2"})
	if _, failed := e.outcome(t, "res-empty"); failed == nil || !strings.Contains(failed.GetReason(), "nothing to write back") {
		t.Fatalf("empty result: %v", failed)
	}
	r = fullResult("res-missing-ticket", time.Now())
	r.TicketKey = "NOPE-1"
	e.publish(t, r)
	if _, failed := e.outcome(t, "res-missing-ticket"); failed == nil || failed.GetAttempts() != 1 {
		t.Fatalf("missing ticket: %v", failed)
	}
}

func TestTicketKeyIsNormalisedOrRefusedAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	e.run(t)
	r := fullResult("res-url", time.Now())
	r.TicketKey = "https://jira.test/browse/wb-1?focusedCommentId=3"
	e.publish(t, r)
	done, failed := e.outcome(t, "res-url")
	if failed != nil {
		t.Fatalf("a browse URL as ticket_key: failed: %v", failed.GetReason())
	}
	if done.GetTicketKey() != "WB-1" {
		t.Errorf("writeback.completed ticket_key = %q, want WB-1", done.GetTicketKey())
	}
	r = fullResult("res-other-system", time.Now())
	r.TicketKey = "acme/widgets#1"
	e.publish(t, r)
	if _, failed := e.outcome(t, "res-other-system"); failed == nil || failed.GetAttempts() != 1 || !strings.Contains(failed.GetReason(), `"acme/widgets#1" is not a Jira issue key`) {
		t.Fatalf("a GitHub key on a Jira connector: %v", failed)
	}
}

func TestTicketLabelNamesTheNumberWithinTheRepository(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{"PROJ-12": "PROJ-12", "acme/widgets#12": "#12", "grp/sub/proj#7": "#7", "4711#7": "#7"} {
		if got := ticketLabel(key); got != want {
			t.Errorf("ticketLabel(%q) = %q, want %q", key, got, want)
		}
	}
}

// The ledger is written only where a crash needs it (see work): for a
// status, a comment and two sub-tasks, once for the decision before the
// status, once before each marker step and once at completion.
func TestLedgerWritesOnlyWhereACrashNeedsThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	e.run(t)
	e.publish(t, fullResult("res-writes", time.Now()))
	if _, failed := e.outcome(t, "res-writes"); failed != nil {
		t.Fatalf("failed: %v", failed.GetReason())
	}
	st, err := e.js.Stream(context.Background(), "KV_"+bus.BucketWritebackLedger)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// One result in this bucket: its last sequence counts its writes.
	if got := info.State.LastSeq; got != 5 {
		t.Errorf("%d ledger writes for one result, want 5 (decision, comment, 2 sub-tasks, completion)", got)
	}
}

var _ ticketHeadReader = jira.Tracker{}

// failingCompletions refuses the first publish of a writeback.completed, as
// a NATS node killed at that moment does (seen in the e2e test).
type failingCompletions struct {
	jetstream.JetStream
	refused atomic.Int32
}

func (f *failingCompletions) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if strings.HasPrefix(m.Subject, "writeback.completed.") && f.refused.CompareAndSwap(0, 1) {
		return nil, nats.ErrNoResponders
	}
	return f.JetStream.PublishMsg(ctx, m, opts...)
}

func TestACompletionThatFailedToPublishIsAnnouncedByTheRedelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, connector.TrackerWins, nil)
	flaky := &failingCompletions{JetStream: e.js}
	svc, err := New(context.Background(), e.svc.cfg, Deps{JS: flaky, Decrypter: plainDecrypter{}, Logger: e.svc.log, Trackers: e.svc.trackers})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.run(t)
	e.publish(t, fullResult("res-announce", time.Now()))
	done, failed := e.outcome(t, "res-announce")
	if failed != nil {
		t.Fatalf("failed: %v", failed.GetReason())
	}
	if flaky.refused.Load() != 1 {
		t.Fatal("the first announcement was not refused: the test shows nothing")
	}
	if len(done.GetLinks()) != 4 {
		t.Errorf("links %v", done.GetLinks())
	}
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if len(e.mem.comments) != 1 || len(e.mem.subtasks) != 2 {
		t.Fatalf("%d comments, %d sub-tasks after the redelivery; want 1 and 2", len(e.mem.comments), len(e.mem.subtasks))
	}
}
