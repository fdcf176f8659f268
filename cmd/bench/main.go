// Command bench measures discovery against the fake trackers on an embedded
// NATS JetStream server and prints the README's figures:
//
//   - discovery throughput: tickets per second from a fake tracker to
//     persisted ticket.discovered events, beside the raw JetStream publish
//     rate of messages of the same size, measured in the same run;
//   - the cost of an idle poll cycle per system: requests, and rate-limit
//     points (GitHub counts them; a 304 costs none).
//
// Run it with `make bench` or `go run ./cmd/bench [-tickets N]`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/services/poller"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// handler is a fake tracker: an HTTP handler that counts requests.
type handler interface {
	http.Handler
	Requests() int
}

// fake is one tracker under test.
type fake struct {
	system    connector.System
	handler   handler
	points    func() int // rate-limit points used so far; nil when the tracker has none
	connector func(url string) connector.Connector
	seed      func(n int, now time.Time)
}

func fakes() []fake {
	jira := jirafake.NewSandbox(connector.Cloud)
	gh := githubfake.NewSandbox()
	gl := gitlabfake.NewSandbox()
	return []fake{
		{
			system: connector.Jira, handler: jira,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBasic,
					Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					jira.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Bench ticket %d", i), Description: benchDescription,
						Labels: []string{"bench"}, Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.GitHub, handler: gh, points: gh.RateLimitUsed,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: url + "/api/v3/", AuthMode: connector.AuthBearer,
					Project: githubfake.SandboxRepo, Credential: connector.Credential{Ciphertext: githubfake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					gh.AddIssue(githubfake.SandboxRepo, githubfake.Issue{Title: fmt.Sprintf("Bench issue %d", i), Body: benchDescription, Labels: []string{"bench"},
						Assignees: []string{githubfake.SandboxLogin}, Author: "rita", Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.GitLab, handler: gl,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
					Project: gitlabfake.SandboxProject, Credential: connector.Credential{Ciphertext: gitlabfake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					gl.AddIssue(gitlabfake.Issue{ProjectID: 42, Title: fmt.Sprintf("Bench issue %d", i), Description: benchDescription, Labels: []string{"bench"},
						Assignees: []string{gitlabfake.SandboxUser}, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
	}
}

const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

// plain holds the bench's credentials in clear: encryption is measured by
// pkg/secrets, not here.
type plain struct{}

func (plain) Decrypt(_ context.Context, _, ct string) ([]byte, error) { return []byte(ct), nil }

type row struct {
	system                 connector.System
	tickets                int
	discover               time.Duration
	raw                    time.Duration
	avgBytes               int
	incremental, reconcile cycleCost
	idleHasPoints          bool
}

// cycleCost sums what idle cycles of one kind cost.
type cycleCost struct {
	cycles, requests, points int
}

func (c cycleCost) String(points bool) string {
	if c.cycles == 0 {
		return "–"
	}
	s := fmt.Sprintf("%.1f req", float64(c.requests)/float64(c.cycles))
	if points {
		s += fmt.Sprintf(", %.1f pts", float64(c.points)/float64(c.cycles))
	}
	return s + fmt.Sprintf(" (%d cycles)", c.cycles)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("tickets", 1000, "tickets per tracker")
	idle := fs.Duration("idle", 4*time.Second, "how long to measure idle cycles")
	interval := fs.Duration("interval", 100*time.Millisecond, "poll interval during the idle measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: %d tickets per tracker, idle window %v at a %v interval\n", *n, *idle, *interval)
	var rows []row
	for _, f := range fakes() {
		r, err := measure(ctx, f, *n, *idle, *interval)
		if err != nil {
			return fmt.Errorf("%s: %w", f.system, err)
		}
		rows = append(rows, r)
		fmt.Fprintf(stderr, "bench: %s done\n", f.system)
	}
	fmt.Fprintln(stdout, "| system | tickets | discovery (tickets/s) | raw JetStream publish, same size (msgs/s) | discovery / raw | event size (bytes) | idle incremental cycle | idle reconcile cycle (every 10th) |")
	fmt.Fprintln(stdout, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		disc := float64(r.tickets) / r.discover.Seconds()
		raw := float64(r.tickets) / r.raw.Seconds()
		fmt.Fprintf(stdout, "| %s | %d | %.0f | %.0f | %.1f%% | %d | %s | %s |\n", r.system, r.tickets, disc, raw, 100*disc/raw, r.avgBytes,
			r.incremental.String(r.idleHasPoints), r.reconcile.String(r.idleHasPoints))
	}
	return nil
}

// measure runs one poller against one fake: first discovery of n tickets,
// then idle cycles; then publishes n raw messages of the same average size.
func measure(ctx context.Context, f fake, n int, idle, interval time.Duration) (row, error) {
	r := row{system: f.system, tickets: n}
	dir, err := os.MkdirTemp("", "connectorhub-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		return r, err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		return r, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return r, err
	}
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		return r, err
	}
	f.seed(n, time.Now())
	ts := httptest.NewServer(f.handler)
	defer ts.Close()

	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return r, err
	}
	store := connector.NewStore(kv)
	c := f.connector(ts.URL)
	c.ID, c.Enabled, c.PollInterval = "bench-"+string(f.system), true, time.Hour
	c.ApplyDefaults(all.Registry())
	if c, err = store.Create(ctx, c); err != nil {
		return r, err
	}
	skv, err := js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		return r, err
	}
	states := connector.NewStateStore(skv)

	cfg := poller.DefaultConfig()
	cfg.ReplicaID, cfg.Tick, cfg.ReconcileEvery = "bench", 10*time.Millisecond, 10
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- poller.Run(pctx, cfg, poller.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry()})
	}()
	defer func() { cancel(); <-done }()

	// 1. First discovery: until the first cycle has published every ticket.
	st, err := waitState(ctx, states, c.ID, func(st connector.PollState) bool { return st.Cycles >= 1 })
	if err != nil {
		return r, err
	}
	r.discover = time.Since(start)
	if st.KnownCount < n {
		return r, fmt.Errorf("first cycle knows %d tickets, want at least %d (last error %q)", st.KnownCount, n, st.LastError)
	}
	stream, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		return r, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return r, err
	}
	if info.State.Msgs == 0 {
		return r, errors.New("no events were persisted")
	}
	r.avgBytes = int(info.State.Bytes / info.State.Msgs)

	// 2. Idle cycles: nothing changes at the tracker.
	c.PollInterval = interval
	if _, err := store.Update(ctx, c); err != nil {
		return r, err
	}
	// Start counting after the first reconcile listing, which fills the ETag
	// cache of whole-set pages: from then on every cycle is steady state.
	before, err := waitState(ctx, states, c.ID, func(st connector.PollState) bool { return st.Cycles > int64(cfg.ReconcileEvery) })
	if err != nil {
		return r, err
	}
	// Sample the state to attribute requests to each cycle, split into
	// incremental cycles and whole-set reconcile cycles.
	points := func() int {
		if f.points == nil {
			return 0
		}
		return f.points()
	}
	r.idleHasPoints = f.points != nil
	lastCycles, lastReqs, lastPts := before.Cycles, f.handler.Requests(), points()
	end := time.Now().Add(idle)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		st, err := states.Head(ctx, c.ID)
		if err != nil || st.Cycles == lastCycles {
			continue
		}
		reqs, pts := f.handler.Requests(), points()
		if st.Cycles == lastCycles+1 { // one cycle completed since the last sample
			idx := st.Cycles - 1
			k := &r.incremental
			if idx%int64(cfg.ReconcileEvery) == int64(cfg.ReconcileEvery-1) {
				k = &r.reconcile
			}
			k.cycles++
			k.requests += reqs - lastReqs
			k.points += pts - lastPts
		}
		lastCycles, lastReqs, lastPts = st.Cycles, reqs, pts
	}
	if r.incremental.cycles == 0 {
		return r, errors.New("no idle cycle was observed")
	}
	if info2, err := stream.Info(ctx); err == nil && info2.State.Msgs != info.State.Msgs {
		return r, fmt.Errorf("idle cycles published %d events", info2.State.Msgs-info.State.Msgs)
	}

	// 3. Raw JetStream publish of n messages of the same size, same server.
	r.raw, err = rawPublish(ctx, js, n, r.avgBytes)
	return r, err
}

func waitState(ctx context.Context, states *connector.StateStore, id string, ok func(connector.PollState) bool) (connector.PollState, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st, err := states.Head(ctx, id) // one read, not the known tickets
		if err == nil && ok(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("timed out (last error %q)", st.LastError)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// rawPublish publishes n messages of size bytes to a scratch stream with the
// same storage as TICKETS, asynchronously with all acks awaited — the
// ceiling discovery is compared with.
func rawPublish(ctx context.Context, js jetstream.JetStream, n, size int) (time.Duration, error) {
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, err
	}
	payload := []byte(strings.Repeat("x", size))
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		msg := &nats.Msg{Subject: "bench.raw", Data: payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprint("raw-", i))
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return time.Since(start), nil
}
