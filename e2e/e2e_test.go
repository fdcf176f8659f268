// Package e2e runs connectorhub on real containers (testcontainers-go over
// a Docker-compatible socket; podman's here): a 3-node NATS cluster built
// FROM scratch from the nats-server Go module, the registry, two pollers,
// a writeback and the sandbox fake trackers, each the one connectorhub
// image. Mid-run it kills a NATS node and the poller holding the
// connector, restarts both, and checks that nothing was lost or doubled.
//
// make e2e builds the images and runs it; it needs DOCKER_HOST (or a
// Docker socket), TESTCONTAINERS_RYUK_DISABLED=true where the reaper image
// cannot be pulled, and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

var (
	hubImage  = envOr("E2E_HUB_IMAGE", "localhost/connectorhub:dev")
	natsImage = envOr("E2E_NATS_IMAGE", "localhost/connectorhub-nats:e2e")
)

const (
	adminToken = "e2e-admin-token-0123456789"
	leaseTTL   = 6 * time.Second
	connID     = "gh-e2e"
	// The fakes container serves the sandbox trackers from 7411 on, in
	// cmd/hub/sandbox.go's order: jira, github, confluence, gitlab.
	githubPort = "7412"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type site struct {
	t       *testing.T
	net     string
	dir     string // shared /data of the hub containers (one keyring)
	creds   string
	nodes   []testcontainers.Container
	pollers map[string]testcontainers.Container
	docker  *testcontainers.DockerClient
}

func TestKillANATSNodeAndAPollerMidRun(t *testing.T) {
	// Deadlines are for a loaded machine (other builds and tests beside
	// this one; a quiet run takes about a minute): every wait below is on a
	// condition, and this bounds them all (make e2e: go test -timeout 20m).
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	s := &site{t: t, dir: t.TempDir(), pollers: map[string]testcontainers.Container{}}
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("container engine: %v (set DOCKER_HOST, see make e2e)", err)
	}
	s.docker = docker
	nw, err := tcnetwork.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })
	s.net = nw.Name
	s.provisionCreds(ctx)

	for i := range 3 {
		s.nodes = append(s.nodes, s.startNATS(ctx, i))
	}
	// The operator provisions at replicas 3; the services hold their
	// roles' seeds only, so none of them provisions (nor scales it down).
	natsURL := s.hostURL(ctx, s.nodes[0], "4222/tcp")
	op := s.connect(natsURL, bus.RoleOperator)
	opJS, _ := jetstream.New(op)
	// A request made before the cluster has elected its meta leader goes
	// unanswered, so each attempt has its own deadline.
	eventually(t, 4*time.Minute, "streams and buckets provisioned at replicas 3", func() bool {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := bus.Provision(pctx, opJS, bus.ProvisionOptions{Replicas: 3, LeaseTTL: leaseTTL})
		if err != nil {
			t.Logf("provision: %v", err)
		}
		return err == nil
	})
	agentURLs := s.hostURL(ctx, s.nodes[0], "4222/tcp") + "," + s.hostURL(ctx, s.nodes[2], "4222/tcp")
	agent := s.connect(agentURLs, bus.RoleAgent)
	js, _ := jetstream.New(agent)

	fakes := s.startHub(ctx, "fakes", "fakes", nil, "")
	registry := s.startHub(ctx, "registry", "registry", map[string]string{"HUB_API_TOKENS": "e2e:admin:" + adminToken}, "registry")
	s.pollers["poller-1"] = s.startHub(ctx, "poller-1", "poller", map[string]string{"POLLER_REPLICA_ID": "poller-1"}, "poller")
	s.pollers["poller-2"] = s.startHub(ctx, "poller-2", "poller", map[string]string{"POLLER_REPLICA_ID": "poller-2"}, "poller")
	s.startHub(ctx, "writeback", "writeback", nil, "writeback")

	// Connectors are added over gRPC, as an operator would.
	regAddr := s.hostAddr(ctx, registry, "7400/tcp")
	conn, err := grpc.NewClient(regAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := chv1.NewRegistryServiceClient(conn)
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
	_, err = admin.CreateConnector(actx, &chv1.CreateConnectorRequest{ConnectorId: connID, Credential: githubfake.SandboxToken, Connector: &chv1.Connector{
		System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: "http://fakes:" + githubPort + "/api/v3/",
		Project: githubfake.SandboxRepo, Enabled: true, PollInterval: durationpb.New(10 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	fakeURL := "http://" + s.hostAddr(ctx, fakes, githubPort+"/tcp")
	want := s.assignedIssues(ctx, fakeURL)
	if len(want) == 0 {
		t.Fatal("the sandbox GitHub has no assigned issues")
	}

	eventually(t, 4*time.Minute, "every seeded ticket discovered", func() bool {
		got, err := discovered(ctx, js)
		if err != nil {
			t.Logf("read: %v", err)
		}
		return err == nil && len(got) >= len(want)
	})

	// Kill the poller holding the connector (SIGKILL: its lease is not
	// given back) and a NATS node, mid-run; results are published meanwhile.
	leases, err := opJS.KeyValue(ctx, bus.BucketPollLeases) // the agent role may not read poll_leases
	if err != nil {
		t.Fatal(err)
	}
	var holder string
	eventually(t, 2*time.Minute, "the connector's lease read", func() bool {
		holder = leaseHolder(ctx, leases)
		return holder != ""
	})
	if s.pollers[holder] == nil {
		t.Fatalf("lease of %s held by %q", connID, holder)
	}
	killed := time.Now()
	s.kill(ctx, s.pollers[holder])
	s.kill(ctx, s.nodes[1])
	for _, key := range want {
		s.publishResult(ctx, js, key)
	}
	var takeover time.Duration
	eventually(t, 4*time.Minute, "another poller takes the connector over", func() bool {
		h := leaseHolder(ctx, leases)
		if h != "" && h != holder {
			takeover = time.Since(killed)
			return true
		}
		return false
	})
	s.restart(ctx, s.nodes[1])
	s.restart(ctx, s.pollers[holder])

	eventually(t, 5*time.Minute, "every result written back", func() bool {
		c, _, err := writebacks(ctx, js)
		if err != nil {
			t.Logf("read: %v", err)
		}
		return err == nil && len(c) >= len(want)
	})
	// Two more poll intervals after the restarts: a doubled discovery or
	// writeback would show now.
	time.Sleep(25 * time.Second)

	// The final counts come from complete reads only: a message get that
	// timed out on a busy machine is retried, never counted as lost.
	var got, completed, failed map[string]int
	eventually(t, 3*time.Minute, "the streams read for the final counts", func() bool {
		var err1, err2 error
		got, err1 = discovered(ctx, js)
		completed, failed, err2 = writebacks(ctx, js)
		if err := errors.Join(err1, err2); err != nil {
			t.Logf("read: %v", err)
			return false
		}
		return true
	})
	lost, dup := 0, 0
	for _, k := range want {
		switch n := got[k]; {
		case n == 0:
			lost++
			t.Errorf("%s never discovered", k)
		case n > 1:
			dup += n - 1
			t.Errorf("%s discovered %d times", k, n)
		}
		id := resultID(k)
		switch n := completed[id]; {
		case n == 0:
			lost++
			t.Errorf("result %s never written back (failed: %d)", id, failed[id])
		case n > 1:
			dup += n - 1
			t.Errorf("result %s written back %d times", id, n)
		}
		if n := s.comments(ctx, fakeURL, k, id); n != 1 {
			t.Errorf("%s: %d comments of result %s on the tracker, want 1", k, n, id)
		}
	}
	fmt.Printf("e2e: %d tickets, %d results; lost %d, duplicated %d; poller takeover %.1f s (lease TTL %s)\n",
		len(want), len(want), lost, dup, takeover.Seconds(), leaseTTL)
}

// provisionCreds writes every role's nkey seed and auth.conf with the hub
// binary built from this checkout (hub --provision-nats).
func (s *site) provisionCreds(ctx context.Context) {
	s.creds = filepath.Join(s.dir, "creds")
	bin := filepath.Join(s.t.TempDir(), "hub")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hub")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOWORK=") // this module runs with GOWORK=off; cmd/hub builds in the workspace
	if out, err := build.CombinedOutput(); err != nil {
		s.t.Fatalf("build hub: %v\n%s", err, out)
	}
	prov := exec.CommandContext(ctx, bin, "--provision-nats", s.creds)
	prov.Env = append(os.Environ(), "HUB_DATA_DIR="+filepath.Join(s.t.TempDir(), "unused"))
	if out, err := prov.CombinedOutput(); err != nil {
		s.t.Fatalf("hub --provision-nats: %v\n%s", err, out)
	}
	// The containers run as UID 65532 and share /data (one keyring, the
	// seeds under /data/creds): the engine here is rootful podman, so the
	// test (root) hands the directory to that user.
	err := filepath.WalkDir(s.dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65532, 65532)
	})
	if err != nil {
		s.t.Fatalf("hand /data to UID 65532: %v", err)
	}
}

func (s *site) startNATS(ctx context.Context, i int) testcontainers.Container {
	name := fmt.Sprintf("n%d", i)
	conf := fmt.Sprintf(`server_name: %s
listen: 0.0.0.0:4222
jetstream { store_dir: /data/js }
cluster {
  name: hub
  listen: 0.0.0.0:6222
  routes: [nats-route://n0:6222, nats-route://n1:6222, nats-route://n2:6222]
}
include auth.conf
`, name)
	path := filepath.Join(s.t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return s.start(ctx, testcontainers.ContainerRequest{
		Image: natsImage, Name: s.name(name), Networks: []string{s.net}, NetworkAliases: map[string][]string{s.net: {name}},
		Cmd: []string{"-c", "/etc/nats/nats.conf"}, ExposedPorts: []string{"4222/tcp"},
		Files: []testcontainers.ContainerFile{
			{HostFilePath: path, ContainerFilePath: "/etc/nats/nats.conf", FileMode: 0o644},
			{HostFilePath: filepath.Join(s.creds, bus.AuthConfigFile), ContainerFilePath: "/etc/nats/auth.conf", FileMode: 0o644},
		},
		WaitingFor: wait.ForLog("Server is ready").WithStartupTimeout(3 * time.Minute),
	})
}

// startHub runs the one image with a target; role names the NATS seed it
// gets (none for the fakes).
func (s *site) startHub(ctx context.Context, name, target string, env map[string]string, role bus.Role) testcontainers.Container {
	e := map[string]string{"HUB_TARGET": target, "HUB_LOG_LEVEL": "info"}
	for k, v := range env {
		e[k] = v
	}
	req := testcontainers.ContainerRequest{
		Image: hubImage, Name: s.name(name), Networks: []string{s.net}, NetworkAliases: map[string][]string{s.net: {name}},
		Env: e, ExposedPorts: []string{"7401/tcp"},
		HostConfigModifier: func(hc *container.HostConfig) { hc.Binds = append(hc.Binds, s.dir+":/data") },
		WaitingFor:         wait.ForHTTP("/readyz").WithPort("7401/tcp").WithStartupTimeout(4 * time.Minute),
	}
	if target == "fakes" {
		req.ExposedPorts = append(req.ExposedPorts, githubPort+"/tcp")
	}
	if target == "registry" {
		req.ExposedPorts = append(req.ExposedPorts, "7400/tcp")
	}
	if role != "" {
		e["HUB_NATS_URL"] = "nats://n0:4222,nats://n1:4222,nats://n2:4222"
		e["HUB_NATS_CREDS"] = "/data/creds/" + bus.CredentialFile(role)
		e["POLLER_LEASE_TTL"] = leaseTTL.String()
	}
	return s.start(ctx, req)
}

func (s *site) name(n string) string {
	return "e2e-" + strings.ToLower(strings.ReplaceAll(s.net, "_", "-"))[:min(12, len(s.net))] + "-" + n
}

func (s *site) start(ctx context.Context, req testcontainers.ContainerRequest) testcontainers.Container {
	s.t.Helper()
	var c testcontainers.Container
	var err error
	// The engine itself may fail to start a container on a loaded machine
	// (podman: "write child: broken pipe" from the OCI runtime, seen in a CI
	// run): such an attempt is removed and made again, at most three times.
	// A container that starts and then fails its wait is not retried.
	for attempt := 1; ; attempt++ {
		c, err = testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
		if err == nil || attempt == 3 || !engineStartFailed(err) {
			break
		}
		s.t.Logf("start %s, attempt %d: %v; again", req.Name, attempt, err)
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		time.Sleep(time.Duration(attempt) * 2 * time.Second)
	}
	if c != nil {
		s.t.Cleanup(func() {
			if s.t.Failed() {
				if logs, err := c.Logs(context.Background()); err == nil {
					b, _ := io.ReadAll(logs)
					s.t.Logf("--- %s logs (tail):\n%s", req.Name, tail(string(b), 3000))
				}
			}
			_ = testcontainers.TerminateContainer(c)
		})
	}
	if err != nil {
		s.t.Fatalf("start %s: %v", req.Name, err)
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill stops a container with SIGKILL: no drain, no lease given back.
func (s *site) kill(ctx context.Context, c testcontainers.Container) {
	s.t.Helper()
	if _, err := s.docker.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		s.t.Fatalf("kill: %v", err)
	}
}

func (s *site) restart(ctx context.Context, c testcontainers.Container) {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		err := c.Start(ctx)
		if err == nil {
			return
		}
		if attempt == 3 || !engineStartFailed(err) {
			s.t.Fatalf("restart: %v", err)
		}
		s.t.Logf("restart, attempt %d: %v; again", attempt, err)
		time.Sleep(time.Duration(attempt) * 2 * time.Second)
	}
}

// engineStartFailed reports whether err is the container engine refusing
// to start a container (its daemon's error response), as opposed to a
// started container failing its wait strategy.
func engineStartFailed(err error) bool {
	return strings.Contains(err.Error(), "Error response from daemon")
}

func (s *site) hostAddr(ctx context.Context, c testcontainers.Container, port string) string {
	s.t.Helper()
	ep, err := c.PortEndpoint(ctx, port, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return ep
}

func (s *site) hostURL(ctx context.Context, c testcontainers.Container, port string) string {
	return "nats://" + s.hostAddr(ctx, c, port)
}

func (s *site) connect(urls string, role bus.Role) *nats.Conn {
	s.t.Helper()
	opt, err := nats.NkeyOptionFromSeed(filepath.Join(s.creds, bus.CredentialFile(role)))
	if err != nil {
		s.t.Fatal(err)
	}
	// A role may read replies only on its own inbox prefix (pkg/bus/roles.go):
	// without it every request (JetStream API calls included) times out.
	nc, err := nats.Connect(urls, opt, nats.CustomInboxPrefix(role.InboxPrefix()), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		s.t.Fatalf("connect as %s: %v", role, err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// assignedIssues lists the sandbox GitHub's open issues assigned to the
// sandbox account: what the connector must discover.
func (s *site) assignedIssues(ctx context.Context, base string) []string {
	s.t.Helper()
	var issues []struct {
		Number      int             `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	}
	s.getJSON(ctx, base+"/api/v3/repos/"+githubfake.SandboxRepo+"/issues?state=open&per_page=100&assignee="+githubfake.SandboxLogin, &issues)
	var keys []string
	for _, is := range issues {
		if len(is.PullRequest) == 0 {
			keys = append(keys, fmt.Sprintf("%s#%d", githubfake.SandboxRepo, is.Number))
		}
	}
	return keys
}

func (s *site) comments(ctx context.Context, base, key, marker string) int {
	_, num, _ := strings.Cut(key, "#")
	var cs []struct {
		Body string `json:"body"`
	}
	s.getJSON(ctx, base+"/api/v3/repos/"+githubfake.SandboxRepo+"/issues/"+num+"/comments?per_page=100", &cs)
	n := 0
	for _, c := range cs {
		if strings.Contains(c.Body, marker) {
			n++
		}
	}
	return n
}

func (s *site) getJSON(ctx context.Context, u string, into any) {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+githubfake.SandboxToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		s.t.Fatal(err)
	}
}

func resultID(key string) string {
	return "e2e-" + strings.NewReplacer("/", "-", "#", "-").Replace(key)
}

// publishResult publishes an agent's result for a ticket, retrying while
// the cluster elects new leaders after the node was killed (the result id
// is the message id, so a retry is never a second result).
func (s *site) publishResult(ctx context.Context, js jetstream.JetStream, key string) {
	s.t.Helper()
	subject, _ := bus.ResultSubject("github", connID)
	r := &chv1.ResultReady{ResultId: resultID(key), ConnectorId: connID, System: chv1.System_SYSTEM_GITHUB, TicketKey: key,
		BaseTime: timestamppb.Now(), CommentMarkdown: "e2e result " + resultID(key)}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := bus.Publish(pctx, js, subject, r, bus.WithID(r.GetResultId()))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("publish %s: %v", r.GetResultId(), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func leaseHolder(ctx context.Context, kv jetstream.KeyValue) string {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	e, err := kv.Get(cctx, "lease."+connID)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// discovered counts ticket.discovered events of the connector by ticket key.
func discovered(ctx context.Context, js jetstream.JetStream) (map[string]int, error) {
	subject, _ := bus.TicketSubject("discovered", "github", connID)
	msgs, err := readAll(ctx, js, bus.StreamTickets, subject)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range msgs {
		out[m.Header.Get(bus.HeaderSubject)]++
	}
	return out, nil
}

// writebacks counts writeback.completed and writeback.failed by result id.
func writebacks(ctx context.Context, js jetstream.JetStream) (completed, failed map[string]int, err error) {
	msgs, err := readAll(ctx, js, bus.StreamWriteback, "writeback.>")
	if err != nil {
		return nil, nil, err
	}
	completed, failed = map[string]int{}, map[string]int{}
	for _, m := range msgs {
		var ev struct {
			ResultID string `json:"resultId"`
		}
		_ = json.Unmarshal(m.Data, &ev)
		if strings.HasPrefix(m.Subject, "writeback.completed.") {
			completed[ev.ResultID]++
		} else {
			failed[ev.ResultID]++
		}
	}
	return completed, failed, nil
}

// readAll reads a stream's messages on a filter, one message get per
// sequence (the agent role may read TICKETS and WRITEBACK this way). It
// fails unless every sequence was read or is gone (ErrMsgNotFound), so a
// get that timed out is never taken for a message that does not exist.
func readAll(ctx context.Context, js jetstream.JetStream, stream, filter string) ([]*jetstream.RawStreamMsg, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := js.Stream(cctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := st.Info(cctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	prefix, wild := strings.CutSuffix(filter, ">")
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(cctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s seq %d: %w", stream, seq, err)
		}
		if (wild && strings.HasPrefix(m.Subject, prefix)) || m.Subject == filter {
			out = append(out, m)
		}
	}
	return out, nil
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(time.Second)
	}
}
