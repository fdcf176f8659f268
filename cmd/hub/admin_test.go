package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestAdminListenerAfterASandboxCycle runs hub --sandbox with JSON logs and
// checks what an operator sees on the admin listener: alive at once, ready
// once every service serves, the named metric series with the values of a
// sandbox cycle, a written-back and a dead-lettered result; no tracker token
// in a metric or a log line; and, after SIGTERM, /readyz answering 503
// while the process drains (HUB_SHUTDOWN_DELAY) though /healthz is still up.
func TestAdminListenerAfterASandboxCycle(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "hub.json")
	environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": filepath.Join(dir, "data"), "HUB_STATE_FILE": stateFile,
		"HOME": dir, "HUB_LOG_FORMAT": "json", "HUB_SHUTDOWN_DELAY": "10s"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testenv.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--sandbox", "--sandbox-listen", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--knowledge-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, environ, logs)
	}()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("hub did not stop")
		}
	})

	var admin string
	waitFor(t, 20*time.Second, "the admin listener's address in the log", logs, func() bool {
		admin = logField(logs.String(), "admin listening", "addr")
		return admin != ""
	})
	base := "http://" + admin
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	var body string
	waitFor(t, 30*time.Second, "/readyz 200", logs, func() bool {
		var code int
		code, body = get(t, base+"/readyz")
		return code == http.StatusOK
	})
	for _, check := range []string{"ok bus", "ok registry", "ok poller", "ok writeback", "ok knowledge", "ok nats.poller", "ok nats.registry"} {
		if !strings.Contains(body, check+"\n") {
			t.Errorf("/readyz lacks %q:\n%s", check, body)
		}
	}

	// A sandbox cycle: every system polled, Jira's seeded tickets published,
	// Confluence searched for them.
	var metrics string
	scrape := func() string { _, b := get(t, base+"/metrics"); metrics = b; return b }
	wants := []struct {
		name   string
		labels []string
		min    float64
	}{
		{telemetry.MetricPollCycleDuration + "_count", []string{"system", "jira"}, 1},
		{telemetry.MetricTrackerRequests, []string{"system", "jira", "class", "2xx"}, 1},
		{telemetry.MetricTrackerRequests, []string{"system", "confluence", "class", "2xx"}, 1},
		{telemetry.MetricKnowledgeCacheLookups, []string{"result", "miss"}, 1},
		{telemetry.MetricPollLag, []string{"system", "jira"}, 0},
		{telemetry.MetricConnectorsLate, []string{"system", "jira"}, 0},
		{telemetry.MetricConnectorsFailing, []string{"system", "jira"}, 0},
		{telemetry.MetricConnectorFailuresMax, []string{"system", "gitlab"}, 0},
		{telemetry.MetricConsumerPending, []string{"consumer", "writeback"}, 0},
		{telemetry.MetricConsumerAckPending, []string{"consumer", "knowledge"}, 0},
		{telemetry.MetricCredentialAge, []string{"system", "jira"}, 0},
	}
	waitFor(t, 45*time.Second, "poll cycles of every system, published tickets and knowledge searches in /metrics", logs, func() bool {
		m := scrape()
		for _, s := range []string{"jira", "github", "gitlab"} {
			if value(m, telemetry.MetricPollCycles, "system", s, "outcome", "ok") < 1 {
				return false
			}
		}
		// The gauges are read from the poll statuses and consumers a moment
		// after the cycles that fill them.
		for _, want := range wants {
			if value(m, want.name, want.labels...) < want.min {
				return false
			}
		}
		// Credentials are listed at most every 15 s: the first scrape may
		// predate the sandbox's registrations.
		return value(m, telemetry.MetricTicketsPublished, "system", "jira", "type", "discovered") >= 3 &&
			value(m, telemetry.MetricKnowledgeSearches, "outcome", "ok") >= 1 &&
			value(m, telemetry.MetricCredentialAge, "system", "jira") >= 0
	})
	for _, want := range wants {
		if v := value(metrics, want.name, want.labels...); v < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, v, want.min)
		}
	}
	if v := value(metrics, telemetry.MetricConnectorsFailing, "system", "jira"); v != 0 {
		t.Errorf("jira connectors failing = %v, want 0", v)
	}
	if v := value(metrics, telemetry.MetricCredentialAge, "system", "jira"); v > 3600 {
		t.Errorf("a credential set seconds ago is %v s old", v)
	}

	// Writeback: one result written back, one refused (another project's
	// key) and dead-lettered.
	st, err := hubstate.Read(stateFile)
	if err != nil {
		t.Fatal(err)
	}
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
	subject, _ := bus.ResultSubject("jira", "sandbox-jira")
	for _, r := range []*chv1.ResultReady{
		{ResultId: "metrics-ok", ConnectorId: "sandbox-jira", System: chv1.System_SYSTEM_JIRA, TicketKey: "DEMO-1",
			BaseTime: timestamppb.New(time.Now()), CommentMarkdown: "Seen by the metrics test."},
		{ResultId: "metrics-refused", ConnectorId: "sandbox-jira", System: chv1.System_SYSTEM_JIRA, TicketKey: "ELSEWHERE-1",
			BaseTime: timestamppb.New(time.Now()), CommentMarkdown: "Never posted."},
	} {
		if _, err := bus.Publish(context.Background(), js, subject, r, bus.WithID(r.GetResultId())); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 45*time.Second, "a comment step applied, a dead-letter and the backlog in /metrics", logs, func() bool {
		m := scrape()
		return value(m, telemetry.MetricWritebackSteps, "system", "jira", "step", "comment", "outcome", "applied") >= 1 &&
			value(m, telemetry.MetricWritebackDeadLetters, "system", "jira") >= 1 &&
			value(m, telemetry.MetricWritebackDeadBacklog) >= 1
	})

	// The scrapes read consumers, the ledger and the connectors under each
	// service's own role: the server refused nothing.
	if strings.Contains(logs.String(), "Violation") {
		t.Errorf("a service was refused on the bus:\n%s", logs.String())
	}
	// No tracker token in a metric or a log line.
	for name, token := range map[string]string{"jira": jirafake.SandboxToken, "github": githubfake.SandboxToken,
		"gitlab": gitlabfake.SandboxToken, "confluence": confluencefake.SandboxToken} {
		if token == "" {
			t.Fatalf("%s sandbox token is empty", name)
		}
		if strings.Contains(metrics, token) {
			t.Errorf("the %s token is in /metrics", name)
		}
		if n := strings.Count(logs.String(), token); n != 0 {
			t.Errorf("the %s token is in the log %d times", name, n)
		}
	}

	// SIGTERM: not ready at once, still alive, until the process is gone.
	cancel()
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("/readyz while draining = %d %q, want 503 draining", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200", code)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("hub: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("hub did not stop within 60s of SIGTERM")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the admin listener outlived the process's run")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logField finds the first JSON log line with msg and returns its field.
func logField(logs, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			s, _ := rec[field].(string)
			return s
		}
	}
	return ""
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// value is the sample of name whose labels include the given name/value
// pairs, -1 when there is none.
func value(metrics, name string, labels ...string) float64 {
	for line := range strings.SplitSeq(metrics, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(m[2], fmt.Sprintf("%s=%q", labels[i], labels[i+1])) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err == nil {
			return v
		}
	}
	return -1
}

// TestEveryTargetServesTheAdminListener: a process running one worker
// service against a shared NATS serves /healthz, /readyz (its service and
// its NATS connection) and /metrics like the all-in-one.
func TestEveryTargetServesTheAdminListener(t *testing.T) {
	t.Parallel()
	natsSrv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(natsSrv.Shutdown)
	for _, target := range []string{"writeback", "poller", "knowledge"} {
		t.Run(target, func(t *testing.T) {
			logs := &testenv.LogBuffer{}
			environ := map[string]string{"HUB_ADMIN_ADDR": "127.0.0.1:0", "HUB_WEBHOOK_ADDR": "127.0.0.1:0", "HUB_DATA_DIR": t.TempDir(), "HUB_NATS_URL": natsSrv.ClientURL(),
				"HUB_LOG_FORMAT": "json", "KNOWLEDGE_LISTEN_ADDR": "127.0.0.1:0", "HUB_API_TOKENS": "ops:admin:0123456789abcdef0123", "HUB_STATE_FILE": filepath.Join(t.TempDir(), "hub.json")}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"--target", target}, environ, logs) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("hub stopped with %v\n%s", err, logs.String())
				}
			}()
			var admin string
			waitFor(t, 20*time.Second, "the admin listener's address in the log", logs, func() bool {
				admin = logField(logs.String(), "admin listening", "addr")
				return admin != ""
			})
			var body string
			waitFor(t, 30*time.Second, "/readyz 200", logs, func() bool {
				var code int
				code, body = get(t, "http://"+admin+"/readyz")
				return code == http.StatusOK
			})
			for _, check := range []string{"ok bus", "ok " + target, "ok nats." + target} {
				if !strings.Contains(body, check+"\n") {
					t.Errorf("/readyz lacks %q:\n%s", check, body)
				}
			}
			if strings.Contains(body, "registry") {
				t.Errorf("/readyz of --target %s checks the registry:\n%s", target, body)
			}
			if code, _ := get(t, "http://"+admin+"/metrics"); code != http.StatusOK {
				t.Errorf("/metrics = %d", code)
			}
		})
	}
}
