package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contextfake"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// passTester passes every connection test (the registry's tracker checks
// are tested in their packages; here the prompts are).
type passTester struct{}

func (passTester) Test(context.Context, connector.Connector, connector.Secret) (trackers.TestResult, error) {
	return trackers.TestResult{OK: true, Identity: "bot", Checks: []trackers.Check{{Name: "identity", OK: true}}}, nil
}

// piped runs hubctl with stdin holding answers, one per line, and no
// terminal: the prompts are on only with --interactive.
func piped(t *testing.T, addr, token string, answers []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	vars := map[string]string{"HUB_SERVER": addr, "HUB_API_TOKEN": token, "HUB_STATE_FILE": t.TempDir() + "/none.json"}
	env := Env{
		Stdin: strings.NewReader(strings.Join(answers, "\n") + "\n"), Stdout: &out, Stderr: &errb,
		Terminal: noTerminal{}, Now: func() time.Time { return fakeNow }, Getenv: func(k string) string { return vars[k] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, env, args)
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

func TestInteractiveAddUpdateRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	prod := all.Registry()
	var ts []trackers.Tracker
	for _, sys := range prod.Systems() {
		if sys != connector.Jenkins {
			tr, _ := prod.Lookup(sys)
			ts = append(ts, tr)
		}
	}
	treg, err := trackers.NewRegistry(append(ts, contextfake.Tracker{System: connector.Jenkins})...)
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.WithTrackers(treg), registrytest.WithTester(passTester{}))
	hub := func(answers []string, args ...string) result {
		t.Helper()
		return piped(t, reg.Addr, reg.AdminToken, answers, args...)
	}
	get := func(id string) *pb.Connector {
		t.Helper()
		r := hub(nil, "connectors", "get", id, "-o", "json")
		if r.err != nil {
			t.Fatalf("get %s: %v\n%s", id, r.err, r.stderr)
		}
		var resp pb.GetConnectorResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatalf("get %s: %v in %s", id, err, r.stdout)
		}
		return resp.GetConnector()
	}

	// Add a context source: the system from the catalog, then its fields.
	r := hub([]string{"jenkins", "https://ci.acme.example", "checkout-main,checkout-release", "Checkout CI", "ci-checkout", "jenkins-token-0001"},
		"connectors", "add", "--interactive")
	if r.err != nil {
		t.Fatalf("interactive add: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"jenkins (context source)", "github", "needs these scopes or permissions: read", "to watch", "jenkins token (input hidden)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("prompts do not show %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.all(), "jenkins-token-0001") {
		t.Error("the token was echoed")
	}
	ci := get("ci-checkout")
	if ci.GetSystem() != pb.System_SYSTEM_JENKINS || ci.GetBaseUrl() != "https://ci.acme.example" || strings.Join(ci.GetWatch(), ",") != "checkout-main,checkout-release" ||
		ci.GetDisplayName() != "Checkout CI" || !ci.GetCredential().GetSet() {
		t.Fatalf("added context source = %v", ci)
	}

	// Add a ticket connector: required fields, then the optional ones with
	// the context connectors offered.
	r = hub([]string{"github", "acme/checkout", "", "agent", "ci-checkout", "", "gh-checkout", "ghp_interactive0000000000000000000001"},
		"connectors", "add", "--interactive", "--deployment", "cloud", "--auth", "bearer")
	if r.err != nil {
		t.Fatalf("interactive add of a ticket connector: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "ci-checkout (jenkins: checkout-main, checkout-release)") {
		t.Errorf("the context connectors were not offered:\n%s", r.stderr)
	}
	gh := get("gh-checkout")
	if gh.GetProject() != "acme/checkout" || strings.Join(gh.GetContextConnectors(), ",") != "ci-checkout" || strings.Join(gh.GetScope().GetLabels(), ",") != "agent" {
		t.Fatalf("added ticket connector = %v", gh)
	}

	// Update: pick from the list; Enter keeps, a new value changes, - clears.
	// Prompts: display name, project, assignee, labels, poll interval, enabled, context.
	r = hub([]string{"gh-checkout", "", "", "", "agent,backend", "", "", "-"}, "connectors", "update", "--interactive")
	if r.err != nil {
		t.Fatalf("interactive update: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"Labels (comma-separated) [agent]", "Project [acme/checkout]", "Context connectors (comma-separated ids, - for none) [ci-checkout]", "updated connector gh-checkout: scope.labels, context_connectors"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("update output lacks %q:\n%s", want, r.stderr)
		}
	}
	gh = get("gh-checkout")
	if strings.Join(gh.GetScope().GetLabels(), ",") != "agent,backend" || len(gh.GetContextConnectors()) != 0 || gh.GetProject() != "acme/checkout" {
		t.Fatalf("updated connector = %v", gh)
	}

	// Remove: pick, then confirm; "n" keeps it.
	if r = hub([]string{"2", "n"}, "connectors", "remove", "--interactive"); r.err != nil || !strings.Contains(r.stderr, "connector gh-checkout kept") {
		t.Fatalf("remove declined: %v\n%s", r.err, r.stderr)
	}
	if r = hub([]string{"gh-checkout", "y"}, "connectors", "remove", "--interactive"); r.err != nil || !strings.Contains(r.stderr, "deleted connector gh-checkout") {
		t.Fatalf("remove confirmed: %v\n%s", r.err, r.stderr)
	}
	if r = hub(nil, "connectors", "get", "gh-checkout"); r.err == nil {
		t.Fatal("gh-checkout still there after remove")
	}

	// Without --interactive and without a terminal: the id and --system are needed.
	for name, args := range map[string][]string{
		"add without system": {"connectors", "add", "--project", "acme/x"},
		"update without id":  {"connectors", "update", "--label", "x"},
		"remove without id":  {"connectors", "remove"},
	} {
		r := hub([]string{"github"}, args...)
		if r.err == nil || !(strings.Contains(r.err.Error(), "--system") || strings.Contains(r.err.Error(), "needs the connector id")) {
			t.Errorf("%s: %v, want a refusal naming --system or the id", name, r.err)
		}
	}
}

func TestEnrichedSummaryShowsTheContext(t *testing.T) {
	t.Parallel()
	got := contextSummary(&pb.TicketContext{Sources: []*pb.ContextSourceReport{
		{ConnectorId: "ci", Scope: "checkout-main", Builds: []*pb.ContextBuild{{Id: "42", Status: "failed", FailingSteps: []string{"checkout_test"}}}},
		{ConnectorId: "sonar", Scope: "acme_checkout", QualityGate: &pb.ContextQualityGate{Status: "error"}},
		{ConnectorId: "argo", Scope: "checkout", Deployment: &pb.ContextDeployment{Health: "Degraded", Sync: "Synced"}},
		{ConnectorId: "argo", Scope: "slow", UnavailableReason: "timed out after 2s"},
	}})
	want := "; context: ci/checkout-main build 42 failed (checkout_test); sonar/acme_checkout gate error; argo/checkout Degraded/Synced; argo/slow unavailable (timed out after 2s)"
	if got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	if contextSummary(nil) != "" {
		t.Error("no context, yet a summary")
	}
}
