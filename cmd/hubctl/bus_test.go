package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// startNATS runs an embedded, provisioned NATS JetStream listening on a
// loopback port, as the all-in-one hub does; it returns the URL for hubctl and
// an in-process JetStream client for the test.
func startNATS(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), js
}

// busCLI is a hubctl whose NATS is natsURL (from HUB_NATS_URL) and whose
// registry, if any, is addr.
func busCLI(t *testing.T, natsURL, addr string) *cli {
	c := newCLI(t, addr)
	c.vars["HUB_NATS_URL"] = natsURL
	return c
}

// lastResult reads the last message on subject from RESULTS as a JetStream
// message, so bus.Decode checks it like a consumer would.
func lastResult(t *testing.T, js jetstream.JetStream, subject string) (jetstream.Msg, *pb.ResultReady, bus.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, bus.StreamResults, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no message on %s: %v", subject, err)
	}
	var r pb.ResultReady
	env, err := bus.Decode(m, &r)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m, &r, env
}

func TestPublishPutsADecodableResultOnRESULTS(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	commentFile := writeFile(t, filepath.Join(t.TempDir(), "c.md"), "Fixed in **main**.\n")
	c := busCLI(t, url, "")
	r := c.run("results", "publish", "--connector", "gh-1", "--ticket", "acme/api#12", "--system", "github",
		"--status", "In Review", "--comment-file", commentFile, "--mention-reporter",
		"--subtask", "Write docs", "--subtask", "Add test",
		"--pr-head", "fix-12", "--pr-title", "Fix #12", "--pr-body", "Closes #12", "--pr-base", "main",
		"--base-time", "2026-02-28T09:30:00+01:00", "--id", "res-42")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "published result res-42 for acme/api#12 on result.ready.github.gh-1 (RESULTS seq 1)") {
		t.Errorf("stdout = %q", r.stdout)
	}
	m, got, env := lastResult(t, js, "result.ready.github.gh-1")
	want := &pb.ResultReady{
		ResultId: "res-42", ConnectorId: "gh-1", System: pb.System_SYSTEM_GITHUB, TicketKey: "acme/api#12",
		BaseTime: got.GetBaseTime(), TargetStatus: "In Review", CommentMarkdown: "Fixed in **main**.\n", MentionReporter: true,
		Subtasks:    []*pb.SubTaskSpec{{Summary: "Write docs"}, {Summary: "Add test"}},
		PullRequest: &pb.PullRequestSpec{HeadBranch: "fix-12", BaseBranch: "main", Title: "Fix #12", BodyMarkdown: "Closes #12"},
	}
	if !proto.Equal(got, want) {
		t.Errorf("result = %v\nwant %v", got, want)
	}
	if bt := got.GetBaseTime().AsTime(); !bt.Equal(time.Date(2026, 2, 28, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("base time = %v", bt)
	}
	h := m.Headers()
	if env.ID != "res-42" || h.Get(jetstream.MsgIDHeader) != "res-42" || env.Type != "connectorhub.v1.ResultReady" ||
		env.Source != "connectorhub://hubctl/gh-1" || env.Subject != "acme/api#12" || h.Get(bus.HeaderContentType) != bus.ContentTypeJSON ||
		env.Time.IsZero() {
		t.Errorf("headers = %v", h)
	}

	// The same id again is dropped by JetStream and said so.
	r = c.run("results", "publish", "--connector", "gh-1", "--ticket", "acme/api#12", "--system", "github", "--status", "Done", "--id", "res-42")
	if r.err != nil || !strings.Contains(r.stdout, "already published") || !strings.Contains(r.stderr, "duplicate window") {
		t.Errorf("duplicate publish: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if _, again, _ := lastResult(t, js, "result.ready.github.gh-1"); again.GetTargetStatus() != "In Review" {
		t.Errorf("the duplicate replaced the result: %v", again)
	}
}

func TestPublishRandomIDIsPrintedAndIsTheEventID(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	r := busCLI(t, url, "").run("results", "publish", "--connector", "jira-1", "--ticket", "SAND-1", "--system", "jira",
		"--comment", "done", "--base-time", "now", "-o", "json")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	var receipt publishReceipt
	if err := json.Unmarshal([]byte(r.stdout), &receipt); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if len(receipt.ResultID) != 32 || receipt.Subject != "result.ready.jira.jira-1" || receipt.Stream != bus.StreamResults || receipt.Duplicate {
		t.Errorf("receipt = %+v", receipt)
	}
	m, got, env := lastResult(t, js, receipt.Subject)
	if env.ID != receipt.ResultID || m.Headers().Get(jetstream.MsgIDHeader) != receipt.ResultID || got.GetResultId() != receipt.ResultID {
		t.Errorf("ids: receipt %s, ce-id %s, result %s", receipt.ResultID, env.ID, got.GetResultId())
	}
	if !got.GetBaseTime().AsTime().Equal(fakeNow) {
		t.Errorf("--base-time now = %v, want the clock's %v", got.GetBaseTime().AsTime(), fakeNow)
	}
}

func TestPublishAsksTheRegistryForTheConnectorsSystem(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	fake, addr := startFake(t)
	fake.add(&pb.Connector{Id: "gl-1", System: pb.System_SYSTEM_GITLAB}, time.Hour)
	fake.add(&pb.Connector{Id: "wiki", System: pb.System_SYSTEM_CONFLUENCE}, time.Hour)
	c := busCLI(t, url, addr)
	r := c.run("results", "publish", "--connector", "gl-1", "--ticket", "grp/proj#3", "--pr-head", "fix-3")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	if _, got, _ := lastResult(t, js, "result.ready.gitlab.gl-1"); got.GetSystem() != pb.System_SYSTEM_GITLAB {
		t.Errorf("system = %v", got.GetSystem())
	}
	r = c.run("results", "publish", "--connector", "nope", "--ticket", "X-1", "--status", "Done")
	if status.Code(r.err) != codes.NotFound || !strings.Contains(r.err.Error(), "pass --system") {
		t.Errorf("unknown connector: %v", r.err)
	}
	r = c.run("results", "publish", "--connector", "wiki", "--ticket", "X-1", "--status", "Done")
	if r.err == nil || !strings.Contains(r.err.Error(), "confluence connector") {
		t.Errorf("confluence connector: %v", r.err)
	}
}

func TestPublishSendsTheKeyTheRegistryNormalized(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	fake, addr := startFake(t)
	fake.add(&pb.Connector{Id: "gh-1", System: pb.System_SYSTEM_GITHUB, Project: "acme/api"}, time.Hour)
	fake.keys = map[string]string{"https://github.com/acme/api/issues/12": "acme/api#12", "acme/other#1": ""}
	c := busCLI(t, url, addr)
	r := c.run("results", "publish", "--connector", "gh-1", "--ticket", "https://github.com/acme/api/issues/12", "--status", "Done")
	if r.err != nil {
		t.Fatalf("publish: %v\n%s", r.err, r.stderr)
	}
	if _, got, env := lastResult(t, js, "result.ready.github.gh-1"); got.GetTicketKey() != "acme/api#12" || got.GetSystem() != pb.System_SYSTEM_GITHUB || env.Subject != "acme/api#12" {
		t.Errorf("published ticket_key %q (ce-subject %q), system %v; want acme/api#12 on github", got.GetTicketKey(), env.Subject, got.GetSystem())
	}
	r = c.run("results", "publish", "--connector", "gh-1", "--ticket", "acme/other#1", "--status", "Done")
	if r.err == nil || !strings.HasPrefix(r.err.Error(), "--ticket: ") || !strings.Contains(r.err.Error(), "acme/other") {
		t.Errorf("another repository's key: %v, want a --ticket error naming it", r.err)
	}
}

func TestPublishRefusesIncompleteResultsBeforeConnecting(t *testing.T) {
	t.Parallel()
	base := []string{"results", "publish", "--connector", "j-1", "--ticket", "X-1", "--system", "jira"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to do", nil, "nothing to write back"},
		{"pr fields without a branch", []string{"--pr-title", "T"}, "need --pr-head"},
		{"pull request on jira", []string{"--pr-head", "b"}, "jira connectors cannot open pull requests"},
		{"bad base time", []string{"--status", "Done", "--base-time", "yesterday"}, "RFC 3339"},
		{"empty id", []string{"--status", "Done", "--id", ""}, "--id must not be empty"},
		{"empty sub-task", []string{"--subtask", " "}, "--subtask needs a summary"},
		{"comment and comment file", []string{"--comment", "a", "--comment-file", "b"}, "none of the others can be"},
		{"unknown system", []string{"--status", "Done", "--system", "trello"}, "unknown system"},
		{"connector unusable in a subject", []string{"--status", "Done", "--connector", "a.b"}, "cannot be used in a subject"},
		{"missing ticket", []string{"--status", "Done", "--ticket", ""}, "--ticket must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No NATS at this URL: each refusal must come before connecting.
			r := busCLI(t, "nats://127.0.0.1:1", "").run(append(slices.Clone(base), tt.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", r.err, tt.want)
			}
		})
	}
}

func TestResolveNATSOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "hub.json")
	if err := hubstate.Write(statePath, hubstate.State{RegistryAddr: "127.0.0.1:7400", NATSURL: "nats://127.0.0.1:4999"}); err != nil {
		t.Fatal(err)
	}
	noURLState := filepath.Join(dir, "in-process.json")
	if err := hubstate.Write(noURLState, hubstate.State{RegistryAddr: "127.0.0.1:7400"}); err != nil {
		t.Fatal(err)
	}
	broken := writeFile(t, filepath.Join(dir, "broken.json"), "{not json")
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name, flag      string
		getenv          func(string) string
		url, src, errIs string
	}{
		{"flag beats env and state", "nats://10.0.0.1:4222", env("HUB_NATS_URL", "nats://10.0.0.2:4222", "HUB_STATE_FILE", statePath),
			"nats://10.0.0.1:4222", "--nats flag", ""},
		{"env beats state", "", env("HUB_NATS_URL", "nats://10.0.0.2:4222", "HUB_STATE_FILE", statePath),
			"nats://10.0.0.2:4222", "HUB_NATS_URL", ""},
		{"state file", "", env("HUB_STATE_FILE", statePath), "nats://127.0.0.1:4999", "state file " + statePath, ""},
		{"state file without a URL gives the default", "", env("HUB_STATE_FILE", noURLState), DefaultNATSURL, "the default URL", ""},
		{"no state file gives the default", "", env("HUB_STATE_FILE", filepath.Join(dir, "missing.json")), DefaultNATSURL, "the default URL", ""},
		{"broken state file is an error", "", env("HUB_STATE_FILE", broken), "", "", "pass --nats or set HUB_NATS_URL"},
		{"broken state file does not matter with the env", "", env("HUB_STATE_FILE", broken, "HUB_NATS_URL", "nats://e:1"), "nats://e:1", "HUB_NATS_URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveNATS(tt.flag, tt.getenv)
			if tt.errIs != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errIs) {
					t.Fatalf("err = %v, want %q", err, tt.errIs)
				}
				return
			}
			if err != nil || got.URL != tt.url || got.Source != tt.src {
				t.Errorf("got %+v, %v; want %s from %s", got, err, tt.url, tt.src)
			}
		})
	}
}

func TestUnreachableNATSNamesURLAndSource(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + lis.Addr().String()
	lis.Close()
	statePath := filepath.Join(t.TempDir(), "hub.json")
	if err := hubstate.Write(statePath, hubstate.State{RegistryAddr: "127.0.0.1:7400", NATSURL: url}); err != nil {
		t.Fatal(err)
	}
	publish := []string{"results", "publish", "--connector", "j-1", "--ticket", "X-1", "--system", "jira", "--status", "Done"}
	tail := []string{"events", "tail", "--count", "1"}
	tests := []struct {
		name   string
		setup  func(c *cli) []string
		source string
	}{
		{"env", func(c *cli) []string { c.vars["HUB_NATS_URL"] = url; return nil }, "HUB_NATS_URL"},
		{"flag", func(c *cli) []string { return []string{"--nats", url} }, "--nats flag"},
		{"state file", func(c *cli) []string { c.vars["HUB_STATE_FILE"] = statePath; return nil }, "state file " + statePath},
	}
	for _, tt := range tests {
		for _, args := range [][]string{publish, tail} {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				t.Parallel()
				c := newCLI(t, "")
				extra := tt.setup(c)
				r := c.run(append(slices.Clone(args), extra...)...)
				want := "NATS " + url + " (from " + tt.source + ") is unreachable"
				if r.err == nil || !strings.Contains(r.err.Error(), want) {
					t.Errorf("err = %v, want %q", r.err, want)
				}
			})
		}
	}
}

func TestNATSURLPasswordsAreRedacted(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://user:s3cret@h:4222":       "nats://user:xxxxx@h:4222",
		"nats://t0ken@h:4222,nats://h2:1": "nats://xxxxx@h:4222,nats://h2:1",
		"nats://127.0.0.1:4222":           "nats://127.0.0.1:4222",
	} {
		if got := redactNATSURL(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

var eventTime0 = time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

// seedEvents publishes two ticket events, a writeback and an audit event. The
// i-th event's ce-time is eventTime0 + i minutes; as the pollers do, a ticket
// event's ce-time is the ticket's update time, long before it is published.
func seedEvents(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := []struct {
		subject string
		msg     proto.Message
	}{
		{"ticket.discovered.jira.j1", &pb.TicketDiscovered{Ticket: &pb.Ticket{ConnectorId: "j1", Key: "SAND-1", Summary: "Fix login", Status: "To Do",
			UpdateTime: timestamppb.New(eventTime0)}}},
		{"writeback.completed.jira.j1", &pb.WritebackCompleted{ResultId: "res-1", TicketKey: "SAND-1", StatusOutcome: "applied",
			Links: []*pb.Link{{Kind: "comment", Url: "https://jira/SAND-1#c1"}, {Kind: "subtask", Key: "SAND-9"}}}},
		{"audit.connector.create", &pb.AuditEvent{Action: "connector.create", Actor: "alice", Role: "admin", ConnectorId: "j1", Outcome: "ok"}},
		{"ticket.updated.jira.j1", &pb.TicketUpdated{Ticket: &pb.Ticket{Key: "SAND-2", Summary: "Slow search", Status: "In Progress",
			UpdateTime: timestamppb.New(eventTime0.Add(3 * time.Minute))}, ChangedFields: []string{"status"}}},
	}
	for i, e := range events {
		if _, err := bus.Publish(ctx, js, e.subject, e.msg, bus.WithID(e.subject), bus.WithTime(eventTime0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
}

// storedTime is when stream stored its message seq: the publish time.
func storedTime(t *testing.T, js jetstream.JetStream, stream string, seq uint64) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		t.Fatalf("%s seq %d: %v", stream, seq, err)
	}
	return m.Time
}

func TestTailPrintsPublishTimeFirstAndTicketUpdateTimeAsField(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	seedEvents(t, js)
	r := busCLI(t, url, "").run("events", "tail", "ticket.>", "--all", "--count", "2")
	if r.err != nil {
		t.Fatalf("tail: %v\n%s", r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", r.stdout)
	}
	for i, want := range []struct {
		seq    uint64
		ceTime string
		parts  []string
	}{
		{1, "2026-02-01T10:00:00Z", []string{"TicketDiscovered", "ticket.discovered.jira.j1", `SAND-1 "Fix login" [To Do] (ticket updated 2026-02-01T10:00:00Z)`}},
		{2, "2026-02-01T10:03:00Z", []string{"TicketUpdated", "ticket.updated.jira.j1", `SAND-2 "Slow search" [In Progress] changed: status (ticket updated 2026-02-01T10:03:00Z)`}},
	} {
		published := storedTime(t, js, bus.StreamTickets, want.seq).UTC().Format(time.RFC3339)
		if published == want.ceTime {
			t.Fatalf("the stream stored event %d at its ce-time %s; the test cannot tell them apart", want.seq, published)
		}
		if first, _, _ := strings.Cut(lines[i], " "); first != published {
			t.Errorf("line %d %q starts with %q, want the publish time %s (not the ticket's update time %s)", i, lines[i], first, published, want.ceTime)
		}
		for _, w := range want.parts {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}

func TestTailFollowsEveryStreamWithSummaries(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	seedEvents(t, js)
	r := busCLI(t, url, "").run("events", "tail", "--all", "--count", "4")
	if r.err != nil {
		t.Fatalf("tail: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{
		`SAND-1 "Fix login"`,
		"result res-1 for SAND-1: status applied; comment https://jira/SAND-1#c1, subtask SAND-9",
		"connector.create by alice (admin) on j1: ok",
		`SAND-2 "Slow search"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// --stream picks one stream; a filter outside it is refused.
	r = busCLI(t, url, "").run("events", "tail", "--stream", "audit", "--all", "--count", "1")
	if r.err != nil || !strings.Contains(r.stdout, "audit.connector.create") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--stream audit: %v %q", r.err, r.stdout)
	}
	r = busCLI(t, url, "").run("events", "tail", "--stream", "audit", "ticket.>", "--count", "1")
	if r.err == nil || !strings.Contains(r.err.Error(), "match no subject of stream AUDIT") {
		t.Errorf("filter outside the stream: %v", r.err)
	}
}

func TestTailJSONIsOneCloudEventPerLine(t *testing.T) {
	t.Parallel()
	url, js := startNATS(t)
	seedEvents(t, js)
	r := busCLI(t, url, "").run("events", "tail", "ticket.*.jira.j1", "--all", "--count", "2", "-o", "json")
	if r.err != nil {
		t.Fatalf("tail: %v\n%s", r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", r.stdout)
	}
	var ev struct {
		SpecVersion string          `json:"specversion"`
		ID          string          `json:"id"`
		Type        string          `json:"type"`
		Source      string          `json:"source"`
		Time        string          `json:"time"`
		PublishTime string          `json:"publishtime"`
		NATSSubject string          `json:"natssubject"`
		Stream      string          `json:"stream"`
		Sequence    uint64          `json:"sequence"`
		Data        json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if ev.SpecVersion != "1.0" || ev.ID != "ticket.discovered.jira.j1" || ev.Type != "connectorhub.v1.TicketDiscovered" ||
		ev.Source != bus.DefaultSource || ev.NATSSubject != "ticket.discovered.jira.j1" || ev.Stream != bus.StreamTickets ||
		ev.Sequence != 1 || !strings.HasPrefix(ev.Time, "2026-02-01T10:00:00") {
		t.Errorf("attributes = %+v", ev)
	}
	if pt, err := time.Parse(time.RFC3339Nano, ev.PublishTime); err != nil || !pt.Equal(storedTime(t, js, bus.StreamTickets, 1)) {
		t.Errorf("publishtime = %q (%v), want the time TICKETS stored the event", ev.PublishTime, err)
	}
	var td pb.TicketDiscovered
	if err := protojson.Unmarshal(ev.Data, &td); err != nil || td.GetTicket().GetKey() != "SAND-1" {
		t.Errorf("data %s: %v", ev.Data, err)
	}
}

func TestTailStopsWhenInterrupted(t *testing.T) {
	t.Parallel()
	url, _ := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	env := Env{Getenv: func(k string) string {
		return map[string]string{"HUB_NATS_URL": url, "HUB_STATE_FILE": filepath.Join(t.TempDir(), "none.json")}[k]
	}}
	start := time.Now()
	if err := run(ctx, env, []string{"events", "tail", "--new"}); err != nil {
		t.Errorf("interrupted tail: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("tail took %s to stop", d)
	}
}

func TestTailPlanNarrowsFiltersToStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stream string
		filters      []string
		want         map[string][]string // stream → filters; nil filters: everything
		err          string
	}{
		{"no filter follows all", "all", nil, map[string][]string{"TICKETS": nil, "RESULTS": nil, "WRITEBACK": nil, "AUDIT": nil}, ""},
		{"stream names are case-insensitive", "writeback", nil, map[string][]string{"WRITEBACK": nil}, ""},
		{"a filter picks its stream", "all", []string{"ticket.discovered.>"}, map[string][]string{"TICKETS": {"ticket.discovered.>"}}, ""},
		{"wildcard first token spans streams", "all", []string{"*.*.jira.j1"},
			map[string][]string{"TICKETS": {"ticket.*.jira.j1"}, "RESULTS": {"result.*.jira.j1"}, "WRITEBACK": {"writeback.*.jira.j1"}, "AUDIT": {"audit.*.jira.j1"}}, ""},
		{"full wildcard", "tickets", []string{">"}, map[string][]string{"TICKETS": {"ticket.>"}}, ""},
		{"covered filters are dropped", "all", []string{"ticket.discovered.jira.j1", "ticket.>", "ticket.>"}, map[string][]string{"TICKETS": {"ticket.>"}}, ""},
		{"unknown stream", "jobs", nil, nil, "want TICKETS"},
		{"filter matching nothing", "all", []string{"orders.>"}, nil, "match no subject of any stream"},
		{"bad filter", "all", []string{"ticket..x"}, nil, "empty token"},
		{"> not last", "all", []string{"ticket.>.x"}, nil, "must be the last token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := tailPlan(tt.stream, tt.filters)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			got := map[string][]string{}
			for _, p := range plan {
				got[p.stream] = p.filters
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("plan = %v, %v; want %v", got, err, tt.want)
			}
			for s, f := range tt.want {
				if g, ok := got[s]; !ok || !slices.Equal(g, f) {
					t.Errorf("%s: filters %v, want %v", s, g, f)
				}
			}
		})
	}
}
