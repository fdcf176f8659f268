package writeback

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// jiraEnv runs the writeback with the real Jira tracker against the fake
// Jira (Cloud or Data Center).
type jiraEnv struct {
	*env
	jira *jirafake.Server
	key  string // an open ticket assigned to the sandbox account
}

func newJiraEnv(t *testing.T, d connector.Deployment, policy connector.ConflictPolicy) *jiraEnv {
	t.Helper()
	jira := jirafake.NewSandbox(d)
	srv := httptest.NewServer(jira)
	t.Cleanup(srv.Close)
	_, js := testenv.NATS(t)
	ctx := context.Background()
	kv, _ := js.KeyValue(ctx, bus.BucketConnectors)
	store := connector.NewStore(kv)
	c := connector.Connector{ID: "jira-wb", System: connector.Jira, Deployment: d, BaseURL: srv.URL, Project: jirafake.SandboxProject,
		Enabled: true, ConflictPolicy: policy, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
	if d == connector.Cloud {
		c.AuthMode, c.Username = connector.AuthBasic, jirafake.SandboxEmail
	} else {
		c.AuthMode = connector.AuthBearer
	}
	c.ApplyDefaults(all.Registry())
	if _, err := store.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RetryBase, cfg.RetryMax, cfg.MaxDeliver = 20*time.Millisecond, 50*time.Millisecond, 3
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	crash := &crashSwitch{}
	svc, err := New(ctx, cfg, Deps{JS: js, Decrypter: plainDecrypter{}, Logger: log, Trackers: all.Registry(), AfterStep: crash.afterStep})
	if err != nil {
		t.Fatal(err)
	}
	return &jiraEnv{env: &env{js: js, svc: svc, store: store, crashSwitch: crash}, jira: jira, key: jirafake.SandboxProject + "-1"}
}

func (e *jiraEnv) result(id string, base time.Time) *chv1.ResultReady {
	return &chv1.ResultReady{ResultId: id, ConnectorId: "jira-wb", System: chv1.System_SYSTEM_JIRA, TicketKey: e.key,
		BaseTime: timestamppb.New(base), TargetStatus: "done", CommentMarkdown: "Fixed in `login.go`:\n\n- trims spaces\n- adds a test",
		MentionReporter: true, Subtasks: []*chv1.SubTaskSpec{{Summary: "Backport to 1.x"}}}
}

func TestJiraWritebackEveryStep(t *testing.T) {
	t.Parallel()
	for _, d := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newJiraEnv(t, d, connector.TrackerWins)
			e.run(t)
			e.publish(t, e.result("res-jira", time.Now()))
			done, failed := e.outcome(t, "res-jira")
			if failed != nil {
				t.Fatalf("failed: %s", failed.GetReason())
			}
			tk, _ := e.jira.Ticket(e.key)
			if !strings.EqualFold(tk.Status, "Done") || done.GetStatusOutcome() != OutcomeApplied {
				t.Errorf("status %q, outcome %q", tk.Status, done.GetStatusOutcome())
			}
			comments := e.jira.Comments(e.key)
			var ours []jirafake.Comment
			for _, c := range comments {
				if strings.Contains(c.Body, "login.go") {
					ours = append(ours, c)
				}
			}
			if len(ours) != 1 {
				t.Fatalf("comments with the result: %d (all: %+v)", len(ours), comments)
			}
			// The reporter is mentioned the deployment's way.
			want := "[~rita]"
			if d == connector.Cloud {
				want = `"type":"mention"`
			}
			if !strings.Contains(ours[0].Body, want) {
				t.Errorf("comment does not mention the reporter (%s): %s", want, ours[0].Body)
			}
			if subs := e.jira.Subtasks(e.key); len(subs) < 1 {
				t.Errorf("sub-tasks: %v", subs)
			}
		})
	}
}

func TestJiraConflictTrackerWinsKeepsThePersonsStatus(t *testing.T) {
	t.Parallel()
	e := newJiraEnv(t, connector.Cloud, connector.TrackerWins)
	e.run(t)
	base := time.Now().Add(-time.Minute)
	e.jira.Touch(e.key, time.Now()) // a person edits the ticket after the agent's base time
	before, _ := e.jira.Ticket(e.key)
	e.publish(t, e.result("res-conflict", base))
	done, failed := e.outcome(t, "res-conflict")
	if failed != nil {
		t.Fatalf("failed: %s", failed.GetReason())
	}
	after, _ := e.jira.Ticket(e.key)
	if done.GetStatusOutcome() != OutcomeSkippedTracker || after.Status != before.Status {
		t.Errorf("outcome %q, status %q → %q", done.GetStatusOutcome(), before.Status, after.Status)
	}
	if n := len(e.jira.Comments(e.key)); n < 1 {
		t.Error("the comment must be posted even when the status step is skipped")
	}
}

func TestJiraCrashAfterCommentThenRedeliveryPostsOnce(t *testing.T) {
	t.Parallel()
	e := newJiraEnv(t, connector.Cloud, connector.TrackerWins)
	e.crashAfterStep("comment")
	e.run(t)
	before := len(e.jira.Comments(e.key))
	e.publish(t, e.result("res-crash", time.Now()))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ent, err := e.svc.ledger.Get(context.Background(), "res-crash")
		if err == nil && ent.Steps["comment"].State == ledger.Started && len(e.jira.Comments(e.key)) == before+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the comment was never posted by the crashing delivery")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.crashAfterStep("")
	if _, failed := e.outcome(t, "res-crash"); failed != nil {
		t.Fatalf("failed: %s", failed.GetReason())
	}
	if n := len(e.jira.Comments(e.key)) - before; n != 1 {
		t.Fatalf("the redelivery posted the comment again: %d new comments", n)
	}
}

func TestJiraDeadLetterThenReplay(t *testing.T) {
	t.Parallel()
	e := newJiraEnv(t, connector.Cloud, connector.TrackerWins)
	// Jira answers 503 to every transition attempt of the first three deliveries.
	e.jira.Faults.Add(faults.Fault{Times: 3, Status: http.StatusServiceUnavailable, Body: `{"errorMessages":["down"]}`,
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions")
		}})
	e.run(t)
	e.publish(t, e.result("res-dlq", time.Now()))
	_, failed := e.outcome(t, "res-dlq")
	if failed == nil || failed.GetAttempts() != 3 {
		t.Fatalf("dead letter: %v", failed)
	}
	if _, _, err := ledger.Replay(context.Background(), e.js, e.svc.ledger, "res-dlq"); err != nil {
		t.Fatal(err)
	}
	done, _ := e.outcomeWhere(t, "res-dlq", true)
	if done.GetStatusOutcome() != OutcomeApplied {
		t.Fatalf("after replay: %v", done)
	}
	if tk, _ := e.jira.Ticket(e.key); !strings.EqualFold(tk.Status, "Done") {
		t.Errorf("status after replay: %q", tk.Status)
	}
}
