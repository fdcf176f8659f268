package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestSlotsServeAConnectorInArrivalOrder(t *testing.T) {
	t.Parallel()
	s := newSlots(8, 1)
	ctx := context.Background()
	first, err := s.acquire(ctx, nil, "c", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			release, err := s.acquire(ctx, nil, "c", 0, false)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			release()
		}()
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("waiter %d queued", i), func() bool { return s.waiting() == i+1 })
	}
	// Another connector is not held up by c.
	other, err := s.acquire(ctx, nil, "d", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	other()
	first()
	for want := range 3 {
		select {
		case got := <-order:
			if got != want {
				t.Fatalf("turn %d went to waiter %d", want, got)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("turn %d never came", want)
		}
	}
}

func TestSlotsAWaiterThatGivesUpHoldsNothing(t *testing.T) {
	t.Parallel()
	s := newSlots(1, 1)
	held, err := s.acquire(context.Background(), nil, "c", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := s.acquire(ctx, nil, "c", 0, false)
		gaveUp <- err
	}()
	testenv.Eventually(t, 10*time.Second, "a waiter", func() bool { return s.waiting() == 1 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("gave up with %v", err)
	}
	stopping := make(chan struct{})
	go func() {
		_, err := s.acquire(context.Background(), stopping, "c", 0, false)
		gaveUp <- err
	}()
	testenv.Eventually(t, 10*time.Second, "a waiter", func() bool { return s.waiting() == 1 })
	close(stopping)
	if err := <-gaveUp; !errors.Is(err, errStopping) {
		t.Fatalf("gave up with %v", err)
	}
	held()
	// Nothing was left taken: the connector's place and the writer are free.
	again, err := s.acquire(context.Background(), nil, "c", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	again()
	if len(s.conns) != 0 || len(s.writers) != 0 {
		t.Errorf("left behind: %d connectors, %d writers", len(s.conns), len(s.writers))
	}
}

// A GitHub connector with a backlog of comments (one mutation a second per
// token) must not delay a Jira connector's result published after them:
// with 4 writers shared by every connector, the GitHub results waiting for
// their pace used to hold all of them.
func TestResultsWaitingOnGitHubPacingDoNotDelayOtherConnectors(t *testing.T) {
	t.Parallel()
	const token, repo = "ghp_pacing5ecret", "acme/widgets"
	fake := githubfake.New(githubfake.Options{
		Users:  []githubfake.User{{ID: 1, Login: "octocat"}},
		Tokens: []githubfake.Token{{Value: token, Login: "octocat", Scopes: []string{"repo"}}},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", DefaultBranch: "main",
			Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}}},
	})
	fake.AddIssue(repo, githubfake.Issue{Title: "t"})
	url := fake.Start(t)

	_, js := testenv.NATS(t)
	ctx := context.Background()
	kv, _ := js.KeyValue(ctx, bus.BucketConnectors)
	store := connector.NewStore(kv)
	reg, err := trackers.NewRegistry(newMem(), github.New())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []connector.Connector{
		{ID: "gh-paced", System: connector.GitHub, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer,
			Project: repo, Enabled: true, Credential: connector.Credential{Ciphertext: token}},
		{ID: "jira-wb", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://jira.test", AuthMode: connector.AuthBasic,
			Username: "bot@example.com", Enabled: true, Credential: connector.Credential{Ciphertext: "token"}},
	} {
		c.ApplyDefaults(all.Registry())
		if _, err := store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.Concurrency = 4
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := New(ctx, cfg, Deps{JS: js, Decrypter: plainDecrypter{}, Logger: log, Trackers: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{js: js, svc: svc, store: store}
	e.run(t)

	const backlog = 8
	ghSubject, _ := bus.ResultSubject("github", "gh-paced")
	for i := range backlog {
		r := &chv1.ResultReady{ResultId: fmt.Sprintf("gh-%d", i), ConnectorId: "gh-paced", System: chv1.System_SYSTEM_GITHUB, TicketKey: "1", CommentMarkdown: "progress"}
		if _, err := bus.Publish(ctx, js, ghSubject, r, bus.WithID(r.GetResultId())); err != nil {
			t.Fatal(err)
		}
	}
	e.publish(t, &chv1.ResultReady{ResultId: "jira-after", ConnectorId: "jira-wb", System: chv1.System_SYSTEM_JIRA, TicketKey: "WB-1", CommentMarkdown: "done"})

	// Completions are published in the order they happen: count the GitHub
	// ones before Jira's. Each GitHub result waits a second for the previous
	// one's mutation, so Jira's must come within the first few, not after
	// the writers freed up (the fifth, on the old dispatch).
	var ghBefore int
	testenv.Eventually(t, 60*time.Second, "the Jira result written back", func() bool {
		ghBefore = 0
		st, _ := js.Stream(ctx, bus.StreamWriteback)
		info, err := st.Info(ctx)
		if err != nil {
			return false
		}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil || !strings.HasPrefix(m.Subject, "writeback.completed.") {
				continue
			}
			var c chv1.WritebackCompleted
			if err := protojson.Unmarshal(m.Data, &c); err != nil {
				continue
			}
			if c.GetResultId() == "jira-after" {
				return true
			}
			ghBefore++
		}
		return false
	})
	if ghBefore > 2 {
		t.Errorf("the Jira result was written back after %d of the GitHub connector's paced results, want at most 2", ghBefore)
	}
	// And the GitHub results still went one mutation a second, all of them.
	testenv.Eventually(t, 60*time.Second, "every GitHub comment posted", func() bool { return len(fake.MutationTimes()) == backlog })
}
