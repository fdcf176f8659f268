package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// fakeRegistry is an in-memory RegistryService on a loopback listener that
// records what hubctl sent.
type fakeRegistry struct {
	pb.UnimplementedRegistryServiceServer

	mu         sync.Mutex
	auth       []string
	creates    []*pb.CreateConnectorRequest
	tests      []*pb.TestConnectionRequest
	updates    []*pb.UpdateConnectorRequest
	deletes    []*pb.DeleteConnectorRequest
	rotates    []*pb.RotateCredentialRequest
	listCalls  int
	connectors []*pb.Connector
	testResult *pb.TestConnectionResponse
	// failWith, when set, is returned by every mutation.
	failWith error
	// keys answers NormalizeTicketKey (ticket as typed → key; "" refuses it);
	// nil: the call is unimplemented, as on an older registry.
	keys map[string]string
}

func (f *fakeRegistry) NormalizeTicketKey(_ context.Context, r *pb.NormalizeTicketKeyRequest) (*pb.NormalizeTicketKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		return nil, status.Error(codes.Unimplemented, "unknown method NormalizeTicketKey")
	}
	c := f.find(r.GetConnectorId())
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "connector %s not found", r.GetConnectorId())
	}
	key, ok := f.keys[r.GetTicket()]
	if !ok || key == "" {
		return nil, status.Errorf(codes.InvalidArgument, "invalid ticket key: %q is an issue of repository acme/other, but the connector's repository is acme/api", r.GetTicket())
	}
	return &pb.NormalizeTicketKeyResponse{Key: key, System: c.GetSystem()}, nil
}

var fakeNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func startFake(t *testing.T) (*fakeRegistry, string) {
	t.Helper()
	f := &fakeRegistry{testResult: &pb.TestConnectionResponse{Ok: true, Identity: "octocat",
		Checks: []*pb.CheckResult{{Name: "identity", Ok: true}, {Name: "project", Ok: true}}}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		f.mu.Lock()
		f.auth = append(f.auth, strings.Join(md.Get("authorization"), ","))
		f.mu.Unlock()
		return h(ctx, req)
	}))
	pb.RegisterRegistryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

func (f *fakeRegistry) CreateConnector(_ context.Context, r *pb.CreateConnectorRequest) (*pb.CreateConnectorResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates = append(f.creates, r)
	if f.failWith != nil {
		return nil, f.failWith
	}
	c := proto.Clone(r.GetConnector()).(*pb.Connector)
	c.Id = r.GetConnectorId()
	if c.Id == "" {
		c.Id = systemName(c.GetSystem()) + "-" + strconv.Itoa(len(f.connectors)+1)
	}
	c.Credential = &pb.CredentialInfo{Set: r.GetCredential() != "", SetTime: timestamppb.New(fakeNow.Add(-time.Hour)), Fingerprint: "fp-" + strconv.Itoa(len(r.GetCredential()))}
	f.connectors = append(f.connectors, c)
	return &pb.CreateConnectorResponse{Connector: c}, nil
}

func (f *fakeRegistry) find(id string) *pb.Connector {
	for _, c := range f.connectors {
		if c.GetId() == id {
			return c
		}
	}
	return nil
}

func (f *fakeRegistry) GetConnector(_ context.Context, r *pb.GetConnectorRequest) (*pb.GetConnectorResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(r.GetId()); c != nil {
		return &pb.GetConnectorResponse{Connector: c}, nil
	}
	return nil, status.Errorf(codes.NotFound, "connector %s not found", r.GetId())
}

// ListConnectors pages two at a time whatever the page size, so paging is exercised.
func (f *fakeRegistry) ListConnectors(_ context.Context, r *pb.ListConnectorsRequest) (*pb.ListConnectorsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	var match []*pb.Connector
	for _, c := range f.connectors {
		if r.GetSystem() == pb.System_SYSTEM_UNSPECIFIED || c.GetSystem() == r.GetSystem() {
			match = append(match, c)
		}
	}
	start, _ := strconv.Atoi(r.GetPageToken())
	end := min(start+2, len(match))
	resp := &pb.ListConnectorsResponse{Connectors: match[start:end]}
	if end < len(match) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeRegistry) UpdateConnector(_ context.Context, r *pb.UpdateConnectorRequest) (*pb.UpdateConnectorResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, r)
	if f.failWith != nil {
		return nil, f.failWith
	}
	return &pb.UpdateConnectorResponse{Connector: r.GetConnector()}, nil
}

func (f *fakeRegistry) DeleteConnector(_ context.Context, r *pb.DeleteConnectorRequest) (*pb.DeleteConnectorResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, r)
	return &pb.DeleteConnectorResponse{}, f.failWith
}

func (f *fakeRegistry) TestConnection(_ context.Context, r *pb.TestConnectionRequest) (*pb.TestConnectionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tests = append(f.tests, r)
	return f.testResult, nil
}

func (f *fakeRegistry) GetCapabilities(_ context.Context, r *pb.GetCapabilitiesRequest) (*pb.GetCapabilitiesResponse, error) {
	all := []*pb.SystemCapabilities{
		{System: pb.System_SYSTEM_JIRA, Deployments: []pb.Deployment{pb.Deployment_DEPLOYMENT_CLOUD, pb.Deployment_DEPLOYMENT_SELF_HOSTED},
			AuthModes: []pb.AuthMode{pb.AuthMode_AUTH_MODE_BASIC, pb.AuthMode_AUTH_MODE_BEARER},
			Features:  []*pb.Feature{{Name: "discovery", Supported: true}, {Name: "subtasks", Supported: true}, {Name: "pull_request"}}},
		{System: pb.System_SYSTEM_GITHUB, Deployments: []pb.Deployment{pb.Deployment_DEPLOYMENT_CLOUD},
			AuthModes: []pb.AuthMode{pb.AuthMode_AUTH_MODE_BEARER}, RequiredScopes: []string{"repo", "read:org"},
			Features: []*pb.Feature{{Name: "discovery", Supported: true}, {Name: "subtasks"}, {Name: "pull_request", Supported: true}}},
	}
	resp := &pb.GetCapabilitiesResponse{}
	for _, s := range all {
		if r.GetSystem() == pb.System_SYSTEM_UNSPECIFIED || r.GetSystem() == s.GetSystem() {
			resp.Systems = append(resp.Systems, s)
		}
	}
	return resp, nil
}

func (f *fakeRegistry) RotateCredential(_ context.Context, r *pb.RotateCredentialRequest) (*pb.RotateCredentialResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotates = append(f.rotates, r)
	c := f.find(r.GetId())
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "connector %s not found", r.GetId())
	}
	return &pb.RotateCredentialResponse{Connector: c, Test: f.testResult}, nil
}

func (f *fakeRegistry) CheckCredentials(_ context.Context, r *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &pb.CheckCredentialsResponse{}
	for _, c := range f.connectors {
		age := fakeNow.Sub(c.GetCredential().GetSetTime().AsTime())
		resp.Credentials = append(resp.Credentials, &pb.CredentialAge{ConnectorId: c.GetId(), System: c.GetSystem(),
			Credential: c.GetCredential(), Age: durationpb.New(age), Stale: age > r.GetStaleAfter().AsDuration()})
	}
	return resp, nil
}

func (f *fakeRegistry) add(c *pb.Connector, setAgo time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Credential = &pb.CredentialInfo{Set: true, SetTime: timestamppb.New(fakeNow.Add(-setAgo)), Fingerprint: "fp-" + c.GetId()}
	f.connectors = append(f.connectors, c)
}

func (f *fakeRegistry) snapshot() fakeRegistry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeRegistry{auth: slices.Clone(f.auth), creates: slices.Clone(f.creates), tests: slices.Clone(f.tests),
		updates: slices.Clone(f.updates), deletes: slices.Clone(f.deletes), rotates: slices.Clone(f.rotates), listCalls: f.listCalls}
}

// fakeTerminal simulates stdin: a terminal or not, with queued answers.
type fakeTerminal struct {
	tty       bool
	lines     []string
	passwords []string
	lineReads int
	pwReads   int
}

var _ Terminal = (*fakeTerminal)(nil)

func (t *fakeTerminal) IsTerminal() bool { return t.tty }

func (t *fakeTerminal) ReadLine() (string, error) {
	t.lineReads++
	if len(t.lines) == 0 {
		return "", io.EOF
	}
	l := t.lines[0]
	t.lines = t.lines[1:]
	return l, nil
}

func (t *fakeTerminal) ReadPassword() (string, error) {
	t.pwReads++
	if len(t.passwords) == 0 {
		return "", io.EOF
	}
	p := t.passwords[0]
	t.passwords = t.passwords[1:]
	return p, nil
}

// cli runs hubctl in-process.
type cli struct {
	t    *testing.T
	vars map[string]string
	term Terminal
}

func newCLI(t *testing.T, addr string) *cli {
	vars := map[string]string{
		"HUB_STATE_FILE": filepath.Join(t.TempDir(), "no-hub.json"),
		"HUB_API_TOKEN":  "api-token-for-tests",
	}
	if addr != "" {
		vars["HUB_SERVER"] = addr
	}
	return &cli{t: t, vars: vars, term: &fakeTerminal{}}
}

type result struct {
	stdout, stderr string
	err            error
}

func (r result) all() string { return r.stdout + r.stderr + fmt.Sprint(r.err) }

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runWith(nil, args...)
}

// runWith is run with a change to the Env (e.g. OpenURL).
func (c *cli) runWith(edit func(*Env), args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := Env{
		Stdout: &out, Stderr: &errb, Terminal: c.term, Now: func() time.Time { return fakeNow },
		Getenv: func(k string) string { return c.vars[k] },
	}
	if edit != nil {
		edit(&env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, env, args)
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}
