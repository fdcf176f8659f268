package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/connectorhub/connectorhub/pkg/hubstate"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// DefaultServer is the registry's documented local port.
const DefaultServer = "127.0.0.1:7400"

// defaultAddrSource is the AddrSource of DefaultServer.
const defaultAddrSource = "the default address"

// target is the registry hubctl talks to and where each setting came from, so
// an error can say which address it used and why.
type target struct {
	Addr       string
	AddrSource string // e.g. "--server flag", "HUB_SERVER", "state file /x/hub.json", "the default address"
	// Token is the registry API token; never printed.
	Token       string
	TokenSource string // "" when no token was found
	// StateNote says which hub state file was tried and why it gave no
	// address or no token, for errors when the address is the default or
	// there is no token; "" when the state file gave both.
	StateNote string
}

// resolveTarget finds the registry address: --server → HUB_SERVER → the hub
// state file → DefaultServer; and the API token: --api-token → HUB_API_TOKEN →
// the token file named in the state file. The state file's token is only used
// for the registry the state file describes, so the local admin token is never
// sent to some other server named by --server.
func resolveTarget(server, apiToken string, getenv func(string) string) (target, error) {
	var t target
	statePath := hubstate.PathFromEnv(getenv)
	state, stateErr := hubstate.Read(statePath)
	// A broken state file only matters when the address would come from it.
	haveState := stateErr == nil && state.RegistryAddr != ""

	switch {
	case server != "":
		t.Addr, t.AddrSource = server, "--server flag"
	case getenv("HUB_SERVER") != "":
		t.Addr, t.AddrSource = getenv("HUB_SERVER"), "HUB_SERVER"
	case haveState:
		t.Addr, t.AddrSource = state.RegistryAddr, "state file "+statePath
	case stateErr != nil && !errors.Is(stateErr, fs.ErrNotExist):
		return target{}, fmt.Errorf("cannot use %v; pass --server or set HUB_SERVER", stateErr)
	default:
		t.Addr, t.AddrSource = DefaultServer, defaultAddrSource
	}

	switch {
	case apiToken != "":
		t.Token, t.TokenSource = apiToken, "--api-token flag"
	case getenv("HUB_API_TOKEN") != "":
		t.Token, t.TokenSource = getenv("HUB_API_TOKEN"), "HUB_API_TOKEN"
	case haveState && state.AdminTokenFile != "" && state.RegistryAddr == t.Addr:
		b, err := os.ReadFile(state.AdminTokenFile)
		if err != nil {
			return target{}, fmt.Errorf("reading the API token file named in state file %s: %w", statePath, err)
		}
		t.Token = strings.TrimSpace(string(b))
		t.TokenSource = "token file " + state.AdminTokenFile
	}
	if t.Token == "" || t.AddrSource == defaultAddrSource {
		t.StateNote = stateNote(statePath, getenv(hubstate.EnvPath) != "", state, stateErr, t.Addr)
	}
	return t, nil
}

// stateNote says which hub state file hubctl tried, whether it existed, and
// why it gave no registry address or API token for addr.
func stateNote(path string, fromEnv bool, state hubstate.State, err error, addr string) string {
	if path == "" {
		return "no hub state file was read: " + hubstate.EnvPath + ", XDG_STATE_HOME and HOME are all unset"
	}
	file := "hub state file " + path + " (the default path)"
	if fromEnv {
		file = "hub state file " + path + " (from " + hubstate.EnvPath + ")"
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return file + " does not exist; a hub started with another " + hubstate.EnvPath + " writes it elsewhere: set the same " + hubstate.EnvPath + " here"
	case err != nil:
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // hubstate's errors repeat "hub state file"
		}
		return fmt.Sprintf("%s exists but was not used: %v", file, err)
	case state.RegistryAddr == "":
		return file + " exists but names no registry address"
	case state.RegistryAddr != addr:
		return fmt.Sprintf("%s exists but is for registry %s, so its API token is not sent to %s", file, state.RegistryAddr, addr)
	case state.AdminTokenFile == "":
		return file + " exists but names no API token file (a hub given HUB_API_TOKENS or HUB_API_TOKENS_FILE writes none)"
	}
	return ""
}

// dial opens a client to the registry. The connection is lazy: an unreachable
// registry shows up as an rpcError on the first call.
func (g *globals) dial(ctx context.Context) (pb.RegistryServiceClient, func(), error) {
	t, err := resolveTarget(g.server, g.apiToken, g.env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if g.apiToken != "" {
		fmt.Fprintln(g.env.Stderr, "warning: an --api-token value is visible to other users of this machine (process list) and stays in shell history; "+
			"prefer HUB_API_TOKEN in the environment or the token file named in the hub state file")
	}
	creds := insecure.NewCredentials()
	if g.tls || g.caFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if g.caFile != "" {
			pem, err := os.ReadFile(g.caFile)
			if err != nil {
				return nil, nil, fmt.Errorf("--ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("--ca-file %s: no PEM certificates found", g.caFile)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	} else if t.Token != "" && !isLoopback(t.Addr) {
		fmt.Fprintf(g.env.Stderr, "warning: sending the API token to %s without TLS; pass --tls\n", t.Addr)
	}
	conn, err := grpc.NewClient(t.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(callInterceptor(t, g.timeout)),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()), // a client span per call when tracing is on
	)
	if err != nil {
		return nil, nil, fmt.Errorf("registry %s (from %s): %w", t.Addr, t.AddrSource, err)
	}
	return pb.NewRegistryServiceClient(conn), func() { conn.Close() }, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callInterceptor gives every call its own deadline and the bearer API token,
// and turns failures into errors that say which registry was used.
func callInterceptor(t target, timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if t.Token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.Token)
		}
		var p peer.Peer
		if err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...); err != nil {
			return &rpcError{err: err, target: t, timeout: timeout, answered: p.Addr != nil}
		}
		return nil
	}
}

// rpcError explains a failed registry call. It unwraps to the gRPC status
// error, so status.Code and errors.As still work.
type rpcError struct {
	err     error
	target  target
	timeout time.Duration
	// answered is true when the call reached the registry, so an UNAVAILABLE
	// came from it (e.g. its credential store is down), not from the network.
	answered bool
}

func (e *rpcError) Unwrap() error { return e.err }

func (e *rpcError) Error() string {
	st, _ := status.FromError(e.err)
	where := fmt.Sprintf("registry %s (from %s)", e.target.Addr, e.target.AddrSource)
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if e.answered {
			return fmt.Sprintf("%s is up but answered UNAVAILABLE: %s", where, msg)
		}
		s := fmt.Sprintf("%s is unreachable: %s", where, msg)
		if e.target.AddrSource == defaultAddrSource {
			s += e.target.stateNoteSuffix()
		}
		return s
	case codes.DeadlineExceeded:
		return fmt.Sprintf("%s did not answer within %s: %s", where, e.timeout, msg)
	case codes.Unauthenticated:
		if e.target.Token == "" {
			return fmt.Sprintf("%s requires an API token (UNAUTHENTICATED: %s): pass --api-token or set HUB_API_TOKEN", where, msg) + e.target.stateNoteSuffix()
		}
		return fmt.Sprintf("%s rejected the API token from %s (UNAUTHENTICATED): %s", where, e.target.TokenSource, msg)
	case codes.PermissionDenied:
		return fmt.Sprintf("permission denied (PERMISSION_DENIED): %s; the API token from %s may not do this, an admin token is needed", msg, e.target.TokenSource)
	case codes.InvalidArgument:
		return "invalid argument: " + msg + fieldViolations(st)
	case codes.NotFound:
		return "not found: " + msg
	case codes.AlreadyExists:
		return "already exists: " + msg
	case codes.Aborted:
		return "conflict (ABORTED): " + msg
	case codes.FailedPrecondition:
		return "failed precondition: " + msg
	default:
		return fmt.Sprintf("%s: %s", st.Code(), msg)
	}
}

// stateNoteSuffix is "; <StateNote>", or "" without a note.
func (t target) stateNoteSuffix() string {
	if t.StateNote == "" {
		return ""
	}
	return "; " + t.StateNote
}

func fieldViolations(st *status.Status) string {
	var b strings.Builder
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			if strings.Contains(st.Message(), v.GetDescription()) {
				continue
			}
			fmt.Fprintf(&b, "\n  %s: %s", v.GetField(), v.GetDescription())
		}
	}
	return b.String()
}
