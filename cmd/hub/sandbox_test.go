package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestSandboxWalkThrough is the README's walk-through as a test: hub
// --sandbox discovers the seeded Jira tickets, a result posted on
// result.ready moves the fake ticket to Done with a comment and a sub-task,
// and writeback.completed reports the links.
func TestSandboxWalkThrough(t *testing.T) {
	st, logs := startSandboxHub(t)
	// The walk-through's client is hubctl's: the credential the state file names.
	if nc, err := nats.Connect(st.NATSURL); err == nil {
		nc.Close()
		t.Fatal("the hub's NATS accepted a client without a credential")
	}
	auth, err := bus.ClientAuth{CredsFile: st.NATSCredsFile}.Options()
	if err != nil {
		t.Fatalf("state file's NATS credential %q: %v", st.NATSCredsFile, err)
	}
	nc, err := nats.Connect(st.NATSURL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// At the end: every service did all of the walk-through under its own
	// NATS role, the server refused nothing, and no seed reached the log.
	t.Cleanup(func() {
		if strings.Contains(logs.String(), "Violation") {
			t.Errorf("a service was refused on the bus:\n%s", logs.String())
		}
		seeds, _ := filepath.Glob(filepath.Join(filepath.Dir(st.NATSCredsFile), "*.nk"))
		if len(seeds) != len(bus.Roles()) {
			t.Errorf("seed files %v, want one per role", seeds)
		}
		for _, f := range seeds {
			if seed, _ := os.ReadFile(f); len(strings.TrimSpace(string(seed))) == 0 || strings.Contains(logs.String(), strings.TrimSpace(string(seed))) {
				t.Errorf("seed %s empty or logged", f)
			}
		}
	})

	// 1. Discovery: the seeded Jira tickets arrive as ticket.discovered.
	var tickets []*chv1.Ticket
	waitFor(t, 30*time.Second, "discovered Jira tickets", logs, func() bool {
		tickets = nil
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.jira.sandbox-jira") {
			var ev chv1.TicketDiscovered
			if err := protojson.Unmarshal(m.Data, &ev); err == nil {
				tickets = append(tickets, ev.GetTicket())
			}
		}
		return len(tickets) >= 3
	})
	var withComponents, withSiblings bool
	for _, tk := range tickets {
		withComponents = withComponents || slices.Contains(tk.GetComponents(), "authentication")
		withSiblings = withSiblings || (tk.GetParent() != nil && len(tk.GetSiblings()) > 0)
	}
	if !withComponents || !withSiblings {
		t.Errorf("discovered tickets lack components (%v) or a sub-task's siblings (%v)", withComponents, withSiblings)
	}
	var target *chv1.Ticket
	for _, tk := range tickets {
		if tk.GetParent() == nil && tk.GetReporter() != nil {
			target = tk
			break
		}
	}
	if target == nil || target.GetDescriptionMarkdown() == "" || target.GetUrl() == "" {
		t.Fatalf("no usable discovered ticket among %v", tickets)
	}

	// Enrichment: the sandbox Confluence has a page about the login ticket.
	waitFor(t, 30*time.Second, "ticket.enriched with hits for the login ticket", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.enriched.jira.sandbox-jira") {
			var ev chv1.TicketEnriched
			if protojson.Unmarshal(m.Data, &ev) == nil && len(ev.GetHits()) > 0 && strings.Contains(ev.GetHits()[0].GetTitle(), "Login") {
				return true
			}
		}
		return false
	})

	// Context: the GitHub connector (sandbox/widgets) names the four context
	// sources, which seed a failing build, a red gate and a degraded app.
	// (Each GitHub ticket's enrichment reads them; one read under the
	// deadline by all four is enough on a busy machine.)
	var ghCtx *chv1.TicketContext
	waitFor(t, 60*time.Second, "ticket.enriched with the context of sandbox/widgets", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.enriched.github.sandbox-github") {
			var ev chv1.TicketEnriched
			if protojson.Unmarshal(m.Data, &ev) != nil || len(ev.GetContext().GetSources()) != 4 {
				continue
			}
			ghCtx = ev.GetContext()
			if !slices.ContainsFunc(ghCtx.GetSources(), func(s *chv1.ContextSourceReport) bool { return s.GetUnavailableReason() != "" }) {
				return true
			}
		}
		return false
	})
	bySystem := map[chv1.System]*chv1.ContextSourceReport{}
	for _, src := range ghCtx.GetSources() {
		if src.GetUnavailableReason() != "" {
			t.Errorf("context source %s/%s unavailable: %s", src.GetConnectorId(), src.GetScope(), src.GetUnavailableReason())
		}
		bySystem[src.GetSystem()] = src
	}
	if b := bySystem[chv1.System_SYSTEM_JENKINS].GetBuilds(); len(b) == 0 || b[0].GetStatus() != "failed" {
		t.Errorf("Jenkins builds = %v, want the newest failed", b)
	}
	if b := bySystem[chv1.System_SYSTEM_CIRCLECI].GetBuilds(); len(b) == 0 {
		t.Errorf("CircleCI builds = %v, want some", b)
	}
	if g := bySystem[chv1.System_SYSTEM_SONARQUBE].GetQualityGate(); g.GetStatus() != "error" || g.GetNewIssues()["blocker"] < 1 || len(g.GetTopIssues()) == 0 {
		t.Errorf("SonarQube gate = %v, want red with new issues", g)
	}
	if d := bySystem[chv1.System_SYSTEM_ARGOCD].GetDeployment(); d.GetHealth() != "Degraded" || d.GetRevision() == "" {
		t.Errorf("Argo CD deployment = %v, want Degraded with a revision", d)
	}

	// 2. Writeback: post a result, as an agent would.
	result := &chv1.ResultReady{
		ResultId: "walkthrough-1", ConnectorId: "sandbox-jira", System: chv1.System_SYSTEM_JIRA, TicketKey: target.GetKey(),
		BaseTime: timestamppb.New(time.Now()), TargetStatus: "Done", CommentMarkdown: "Fixed: see **the PR**.", MentionReporter: true,
		Subtasks: []*chv1.SubTaskSpec{{Summary: "Add a regression test"}},
	}
	subject, _ := bus.ResultSubject("jira", "sandbox-jira")
	if _, err := bus.Publish(context.Background(), js, subject, result, bus.WithID(result.GetResultId())); err != nil {
		t.Fatal(err)
	}
	var completed chv1.WritebackCompleted
	waitFor(t, 30*time.Second, "writeback.completed", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
			if strings.HasPrefix(m.Subject, "writeback.failed") {
				t.Fatalf("writeback failed: %s", m.Data)
			}
			if err := protojson.Unmarshal(m.Data, &completed); err == nil && completed.GetResultId() == "walkthrough-1" {
				return true
			}
		}
		return false
	})
	if completed.GetStatusOutcome() != "applied" || len(completed.GetLinks()) != 3 {
		t.Fatalf("completed = %v", &completed)
	}
	// The sub-task is assigned to the connector's account
	// (WRITEBACK_ASSIGN_SUBTASKS), so the poll discovers it.
	subtaskKey := ""
	for _, l := range completed.GetLinks() {
		if l.GetKind() == "subtask" {
			subtaskKey = l.GetKey()
		}
	}
	waitFor(t, 60*time.Second, "the created sub-task "+subtaskKey+" discovered", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.jira.sandbox-jira") {
			var ev chv1.TicketDiscovered
			if protojson.Unmarshal(m.Data, &ev) == nil && subtaskKey != "" && ev.GetTicket().GetKey() == subtaskKey {
				return true
			}
		}
		return false
	})

	// 3. The fake ticket changed.
	m := regexp.MustCompile(`tracker=jira url=(http://[0-9.:]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatal("sandbox Jira URL not logged")
	}
	req, _ := http.NewRequest(http.MethodGet, m[1]+"/rest/api/3/issue/"+target.GetKey()+"?fields=status,comment,subtasks", nil)
	req.SetBasicAuth(jirafake.SandboxEmail, jirafake.SandboxToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var issue struct {
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
			Comment struct {
				Total int `json:"total"`
			} `json:"comment"`
			Subtasks []json.RawMessage `json:"subtasks"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&issue); err != nil {
		t.Fatal(err)
	}
	if issue.Fields.Status.Name != "Done" || issue.Fields.Comment.Total < 1 {
		t.Errorf("fake ticket after writeback: %+v", issue.Fields)
	}

	// 4. GitHub: tickets carry owner/repo#N, and a result may name its
	// ticket by that key or by the issue's URL.
	var ghTickets []*chv1.Ticket
	waitFor(t, 30*time.Second, "discovered GitHub tickets", logs, func() bool {
		ghTickets = nil
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.github.sandbox-github") {
			var ev chv1.TicketDiscovered
			if err := protojson.Unmarshal(m.Data, &ev); err == nil {
				ghTickets = append(ghTickets, ev.GetTicket())
			}
		}
		return len(ghTickets) >= 2
	})
	for _, tk := range ghTickets {
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(githubfake.SandboxRepo) + `#[1-9][0-9]*$`).MatchString(tk.GetKey()) {
			t.Errorf("GitHub ticket key %q, want %s#N", tk.GetKey(), githubfake.SandboxRepo)
		}
	}
	ghSubject, _ := bus.ResultSubject("github", "sandbox-github")
	for i, ticket := range []string{ghTickets[0].GetKey(), ghTickets[1].GetUrl()} {
		r := &chv1.ResultReady{ResultId: fmt.Sprintf("walkthrough-gh-%d", i), ConnectorId: "sandbox-github", System: chv1.System_SYSTEM_GITHUB,
			TicketKey: ticket, TargetStatus: "In Review", CommentMarkdown: "Ready for review."}
		if _, err := bus.Publish(context.Background(), js, ghSubject, r, bus.WithID(r.GetResultId())); err != nil {
			t.Fatal(err)
		}
		var done chv1.WritebackCompleted
		waitFor(t, 30*time.Second, "writeback.completed for a GitHub result naming "+ticket, logs, func() bool {
			for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
				if strings.HasPrefix(m.Subject, "writeback.failed") {
					t.Fatalf("writeback failed: %s", m.Data)
				}
				if err := protojson.Unmarshal(m.Data, &done); err == nil && done.GetResultId() == r.GetResultId() {
					return true
				}
			}
			return false
		})
		if done.GetTicketKey() != ghTickets[i].GetKey() || done.GetStatusOutcome() != "applied" || len(done.GetLinks()) != 2 {
			t.Errorf("completed for %q = %v, want ticket_key %s, status applied, 2 links", ticket, &done, ghTickets[i].GetKey())
		}
	}

	// 5. Azure DevOps: work items carry organization/project#id, and the
	// pull request under review (review_pull_requests) organization/project!id
	// with the label review; a result sets the state through the type's
	// states, comments with a mention of the creator and adds a child Task.
	var azTickets, azReviews []*chv1.Ticket
	waitFor(t, 30*time.Second, "discovered Azure DevOps work items and pull requests under review", logs, func() bool {
		azTickets, azReviews = nil, nil
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.azure-devops.sandbox-azure-devops") {
			var ev chv1.TicketDiscovered
			if err := protojson.Unmarshal(m.Data, &ev); err == nil {
				if strings.Contains(ev.GetTicket().GetKey(), "!") {
					azReviews = append(azReviews, ev.GetTicket())
				} else {
					azTickets = append(azTickets, ev.GetTicket())
				}
			}
		}
		return len(azTickets) >= 3 && len(azReviews) >= 1
	})
	azKey := regexp.MustCompile(`^` + regexp.QuoteMeta(azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject) + `#([1-9][0-9]*)$`)
	for _, tk := range azTickets {
		if !azKey.MatchString(tk.GetKey()) || tk.GetReporter() == nil {
			t.Errorf("Azure DevOps ticket %q (reporter %v), want organization/project#id with a reporter", tk.GetKey(), tk.GetReporter())
		}
	}
	if len(azTickets) != 3 {
		t.Errorf("discovered %d Azure DevOps work items, want the 3 open ones assigned to the agent", len(azTickets))
	}
	if len(azReviews) != 1 || azReviews[0].GetKey() != azuredevopsfake.SandboxOrganization+"/"+azuredevopsfake.SandboxProject+"!1" || !slices.Contains(azReviews[0].GetLabels(), "review") {
		t.Errorf("Azure DevOps review tickets %v, want acme/Widgets!1 labelled review", azReviews)
	}
	azResult := &chv1.ResultReady{ResultId: "walkthrough-azdo", ConnectorId: "sandbox-azure-devops", System: chv1.System_SYSTEM_AZURE_DEVOPS,
		TicketKey: azTickets[0].GetKey(), TargetStatus: "Resolved", CommentMarkdown: "Fixed: see **the PR**.", MentionReporter: true,
		Subtasks: []*chv1.SubTaskSpec{{Summary: "Add a regression test"}}}
	azSubject, _ := bus.ResultSubject("azure-devops", "sandbox-azure-devops")
	if _, err := bus.Publish(context.Background(), js, azSubject, azResult, bus.WithID(azResult.GetResultId())); err != nil {
		t.Fatal(err)
	}
	var azDone chv1.WritebackCompleted
	waitFor(t, 30*time.Second, "writeback.completed for the Azure DevOps result", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
			if strings.HasPrefix(m.Subject, "writeback.failed") {
				t.Fatalf("writeback failed: %s", m.Data)
			}
			if err := protojson.Unmarshal(m.Data, &azDone); err == nil && azDone.GetResultId() == azResult.GetResultId() {
				return true
			}
		}
		return false
	})
	if azDone.GetStatusOutcome() != "applied" || len(azDone.GetLinks()) != 3 {
		t.Fatalf("Azure DevOps completed = %v, want status applied and 3 links", &azDone)
	}
	azURL := regexp.MustCompile(`tracker=azure-devops url=(http://[0-9.:]+)`).FindStringSubmatch(logs.String())
	if azURL == nil {
		t.Fatal("sandbox Azure DevOps URL not logged")
	}
	id := azKey.FindStringSubmatch(azTickets[0].GetKey())[1]
	azReq, _ := http.NewRequest(http.MethodGet, azURL[1]+"/acme/Widgets/_apis/wit/workitems/"+id+"?api-version=7.1&$expand=relations", nil)
	azReq.SetBasicAuth("", azuredevopsfake.SandboxPAT)
	azResp, err := http.DefaultClient.Do(azReq)
	if err != nil {
		t.Fatal(err)
	}
	defer azResp.Body.Close()
	var wi struct {
		Fields    map[string]any    `json:"fields"`
		Relations []json.RawMessage `json:"relations"`
	}
	if err := json.NewDecoder(azResp.Body).Decode(&wi); err != nil {
		t.Fatal(err)
	}
	if wi.Fields["System.State"] != "Resolved" || len(wi.Relations) != 1 {
		t.Errorf("fake work item after writeback: state %v, %d relations (want Resolved and one child)", wi.Fields["System.State"], len(wi.Relations))
	}

	// 6. PagerDuty: the agent's two open incidents are discovered; a result
	// resolves one and adds a note.
	writeBackOne(t, js, logs, "pagerduty", chv1.System_SYSTEM_PAGERDUTY, 2, "Resolved", "Rolled back the 14:00 deploy.")

	// 7. Bitbucket Cloud: two assigned issues and the pull request under
	// review are discovered; a result moves the oldest issue to resolved
	// and comments in Markdown.
	writeBackOne(t, js, logs, "bitbucket", chv1.System_SYSTEM_BITBUCKET, 3, "Done", "Fixed: accents are *folded* now.")
}

// writeBackOne waits for at least n tickets discovered on the sandbox
// connector of system, publishes a result for the first one and waits for
// its writeback.completed with the status applied and two links (status and
// comment).
func writeBackOne(t *testing.T, js jetstream.JetStream, logs *testenv.LogBuffer, system string, sys chv1.System, n int, status, comment string) *chv1.Ticket {
	t.Helper()
	id := "sandbox-" + system
	var tickets []*chv1.Ticket
	waitFor(t, 30*time.Second, "discovered "+system+" tickets", logs, func() bool {
		tickets = nil
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered."+system+"."+id) {
			var ev chv1.TicketDiscovered
			if err := protojson.Unmarshal(m.Data, &ev); err == nil {
				tickets = append(tickets, ev.GetTicket())
			}
		}
		return len(tickets) >= n
	})
	// A pull request under review (Bitbucket's owner/repo!N) takes no
	// status: write back to the first issue.
	slices.SortStableFunc(tickets, func(a, b *chv1.Ticket) int {
		return cmp.Compare(strings.Count(a.GetKey(), "!"), strings.Count(b.GetKey(), "!"))
	})
	subject, _ := bus.ResultSubject(system, id)
	r := &chv1.ResultReady{ResultId: "walkthrough-" + system, ConnectorId: id, System: sys,
		TicketKey: tickets[0].GetKey(), TargetStatus: status, CommentMarkdown: comment}
	if _, err := bus.Publish(context.Background(), js, subject, r, bus.WithID(r.GetResultId())); err != nil {
		t.Fatal(err)
	}
	var done chv1.WritebackCompleted
	waitFor(t, 30*time.Second, "writeback.completed for "+system, logs, func() bool {
		for _, m := range messages(t, js, bus.StreamWriteback, "writeback.>") {
			if strings.HasPrefix(m.Subject, "writeback.failed") && strings.Contains(string(m.Data), r.GetResultId()) {
				t.Fatalf("writeback failed: %s", m.Data)
			}
			if err := protojson.Unmarshal(m.Data, &done); err == nil && done.GetResultId() == r.GetResultId() {
				return true
			}
		}
		return false
	})
	if done.GetTicketKey() != tickets[0].GetKey() || done.GetStatusOutcome() != "applied" || len(done.GetLinks()) != 2 {
		t.Errorf("%s completed = %v, want ticket_key %s, status applied, 2 links", system, &done, tickets[0].GetKey())
	}
	return tickets[0]
}

func TestSandboxRegistersKnowledgeSourcesFirst(t *testing.T) {
	s := newSandbox(slog.New(slog.DiscardHandler))
	var order, ports []string
	for _, tr := range s.registrationOrder() {
		order = append(order, tr.name)
	}
	for _, tr := range s.trackers {
		ports = append(ports, tr.name)
	}
	if want := []string{"confluence", "jenkins", "circleci", "sonarqube", "argocd", "jira", "github", "gitlab", "azure-devops", "bitbucket", "pagerduty", "jira-oauth"}; !slices.Equal(order, want) {
		t.Errorf("registration order %v, want %v", order, want)
	}
	// The README's ports (7411-7423, without 7420) follow this order.
	if want := []string{"jira", "github", "confluence", "gitlab", "azure-devops", "bitbucket", "pagerduty", "jenkins", "circleci", "sonarqube", "argocd", "jira-oauth"}; !slices.Equal(ports, want) {
		t.Errorf("port order %v, want %v", ports, want)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, logs *testenv.LogBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// messages reads the messages of a stream on a subject filter.
func messages(t *testing.T, js jetstream.JetStream, stream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		if subjectMatches(filter, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return true
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// startSandboxHub runs `hub --sandbox` on free loopback ports in a temporary
// home until the test ends, and returns the state file it wrote (once NATS
// is up) and its logs.
func startSandboxHub(t *testing.T) (hubstate.State, *testenv.LogBuffer) {
	t.Helper()
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "hub.json")
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HUB_STATE_FILE": stateFile, "HOME": dir}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--sandbox", "--sandbox-listen", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--knowledge-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, environ, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("hub did not stop")
		}
	})
	var st hubstate.State
	waitFor(t, 20*time.Second, "the state file", logs, func() bool {
		var err error
		st, err = hubstate.Read(stateFile)
		return err == nil && st.NATSURL != ""
	})
	return st, logs
}

// TestFakesTargetServesAndRegisters: hub --target fakes serves the sandbox
// trackers alone and registers their connectors, under the advertised host,
// with a registry started apart (as compose's sandbox profile does).
func TestFakesTargetServesAndRegisters(t *testing.T) {
	st, _ := startSandboxHub(t)
	token, err := os.ReadFile(st.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, token, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fakeLogs := &testenv.LogBuffer{}
	done := make(chan error, 1)
	environ := map[string]string{"HUB_ADMIN_ADDR": "", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HOME": dir,
		"HUB_SANDBOX_REGISTRY": st.RegistryAddr, "HUB_SANDBOX_TOKEN_FILE": tokenFile, "HUB_SANDBOX_ADVERTISE": "localhost"}
	go func() {
		done <- run(ctx, []string{"--target", "fakes", "--sandbox-listen", "127.0.0.1:0"}, environ, fakeLogs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub --target fakes: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("hub --target fakes did not stop")
		}
	})
	// One connector per fake but the OAuth one: the registry's workers (the
	// sandbox hub's) mint tokens at their own HUB_ATLASSIAN_* endpoints,
	// which are not this process's fake.
	want := len(newSandbox(slog.New(slog.DiscardHandler)).trackers) - 1
	waitFor(t, 30*time.Second, "the fakes' connectors registered", fakeLogs, func() bool {
		return strings.Count(fakeLogs.String(), "sandbox connector ready") == want
	})
	conn, err := grpc.NewClient(st.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(token)))
	got, err := chv1.NewRegistryServiceClient(conn).GetConnector(rctx, &chv1.GetConnectorRequest{Id: "sandbox-jira"})
	if err != nil {
		t.Fatal(err)
	}
	if u := got.GetConnector().GetBaseUrl(); !strings.HasPrefix(u, "http://localhost:") {
		t.Errorf("sandbox-jira base URL %q, want the advertised host localhost", u)
	}
}

func TestSandboxMapsContextSourcesToTheTargetRepository(t *testing.T) {
	s := newSandbox(slog.New(slog.DiscardHandler))
	want := []string{"sandbox-jenkins", "sandbox-circleci", "sandbox-sonarqube", "sandbox-argocd"}
	for _, tr := range s.trackers {
		got := s.connectorOf(tr).GetContextConnectors()
		switch {
		case tr.name == contextTarget && !slices.Equal(got, want):
			t.Errorf("%s names context connectors %v, want %v", tr.name, got, want)
		case tr.name != contextTarget && len(got) > 0:
			t.Errorf("%s names context connectors %v, want none", tr.name, got)
		}
	}
}

// TestSandboxOAuthConnectorDiscoversTickets: hub --sandbox registers a Jira
// Cloud oauth2 connector against its Atlassian OAuth fake, stores a refresh
// token the fake issued (the automated consent step), and the poller
// discovers the seeded tickets through the gateway, rotating the refresh
// token in the oauth_grants bucket as it goes.
func TestSandboxOAuthConnectorDiscoversTickets(t *testing.T) {
	st, logs := startSandboxHub(t)
	auth, err := bus.ClientAuth{CredsFile: st.NATSCredsFile}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(st.NATSURL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, 60*time.Second, "tickets discovered by sandbox-jira-oauth", logs, func() bool {
		n := 0
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.jira.sandbox-jira-oauth") {
			var ev chv1.TicketDiscovered
			if protojson.Unmarshal(m.Data, &ev) == nil && strings.HasPrefix(ev.GetTicket().GetKey(), jirafake.SandboxProject+"-") {
				n++
			}
		}
		return n >= 3
	})
	token, err := os.ReadFile(st.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(st.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(token)))
	got, err := chv1.NewRegistryServiceClient(conn).GetConnector(ctx, &chv1.GetConnectorRequest{Id: "sandbox-jira-oauth"})
	if err != nil {
		t.Fatal(err)
	}
	c := got.GetConnector()
	cr := c.GetCredential()
	if c.GetAuthMode() != chv1.AuthMode_AUTH_MODE_OAUTH2 || !cr.GetOauthRefreshTokenSet() || !cr.GetOauthRefreshTokenSetTime().AsTime().After(cr.GetOauthGrantTime().AsTime()) {
		t.Fatalf("sandbox-jira-oauth: auth %s, credential %v; want oauth2 with a refresh token rotated since the grant", c.GetAuthMode(), cr)
	}
	if e := c.GetStatus().GetAuthError(); e != "" {
		t.Fatalf("auth error on the status: %s", e)
	}
	// Nothing of the grant in the log: the client secret and the sandbox
	// grant's tokens are the fake's; the log names none of them.
	if strings.Contains(logs.String(), atlassianfake.SandboxClientSecret) {
		t.Fatal("the sandbox OAuth client secret is in the log")
	}
}
