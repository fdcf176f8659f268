// Package registrytest runs a real registry for tests: embedded NATS
// JetStream, a cipher (local keyring unless one is given), a loopback gRPC
// listener with an admin and a viewer token, and a worker answering saved
// connector tests.
package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/connectorhub/connectorhub/pkg/conncheck"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry"
)

// Cipher is what a test registry needs: encrypt/rewrap for the registry,
// decrypt for the worker that answers saved tests.
type Cipher interface {
	registry.Encrypter
	conncheck.Decrypter
}

// Server is a running registry.
type Server struct {
	Addr        string // 127.0.0.1:port, plaintext gRPC
	AdminToken  string
	ViewerToken string
	NC          *nats.Conn
	JS          jetstream.JetStream
	Cipher      Cipher
	logs        *testenv.LogBuffer
}

// Option changes how Start builds the registry.
type Option func(*options)

type options struct {
	cipher Cipher
	tester registry.Tester
	cfg    func(*registry.Config)
	reg    *trackers.Registry
	oauth  *oauthgrant.Endpoints
}

// WithTrackers replaces the tracker registry (pkg/trackers/all by default),
// e.g. to add a context source from trackertest/contextfake.
func WithTrackers(r *trackers.Registry) Option { return func(o *options) { o.reg = r } }

// WithOAuth lets the worker answering saved tests mint OAuth 2.0 access
// tokens for oauth2 connectors at these endpoints (rotating the stored
// refresh token, as pollers do).
func WithOAuth(ep oauthgrant.Endpoints) Option { return func(o *options) { o.oauth = &ep } }

// WithCipher uses c (e.g. Vault transit) instead of a local keyring.
func WithCipher(c Cipher) Option { return func(o *options) { o.cipher = c } }

// WithTester replaces the tracker checks used for unsaved tests and rotation.
func WithTester(t registry.Tester) Option { return func(o *options) { o.tester = t } }

// WithConfig edits the registry config before start.
func WithConfig(f func(*registry.Config)) Option { return func(o *options) { o.cfg = f } }

// Start runs a registry until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	nc, js := testenv.NATS(t)
	if o.cipher == nil {
		local, err := secrets.OpenLocal(filepath.Join(t.TempDir(), "keyring.json"))
		if err != nil {
			t.Fatalf("open local keyring: %v", err)
		}
		o.cipher = local
	}
	s := &Server{AdminToken: randomToken(), ViewerToken: randomToken(), NC: nc, JS: js, Cipher: o.cipher, logs: &testenv.LogBuffer{}}
	cfg := registry.DefaultConfig()
	cfg.Tokens = []string{"test-admin:admin:" + s.AdminToken, "test-viewer:viewer:" + s.ViewerToken}
	cfg.TestTimeout = 10 * time.Second
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.Addr = lis.Addr().String()
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	reg := o.reg
	if reg == nil {
		reg = all.Registry()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 2)
	go func() {
		done <- registry.Run(ctx, cfg, registry.Deps{
			Trackers: reg, NC: nc, JS: js, Cipher: o.cipher, Logger: logger, Listener: lis, Tester: o.tester,
			Ready: func(net.Addr) { close(ready) },
		})
	}()
	kv, err := js.KeyValue(ctx, "connectors")
	if err != nil {
		t.Fatalf("open connectors bucket: %v", err)
	}
	topts := trackers.Options{Timeout: 10 * time.Second, Logger: logger}
	if o.oauth != nil {
		gkv, err := js.KeyValue(ctx, "oauth_grants")
		if err != nil {
			t.Fatalf("open oauth_grants bucket: %v", err)
		}
		topts.OAuth = oauthgrant.New(oauthgrant.Config{Endpoints: *o.oauth, TrackerOptions: topts, Logger: logger, RotationGrace: time.Second, Connectors: connector.NewStore(kv)}, connector.NewGrantStore(gkv), o.cipher)
	}
	test := func(ctx context.Context, c connector.Connector, sec connector.Secret) (trackers.TestResult, error) {
		if o.tester != nil {
			return o.tester.Test(ctx, c, sec)
		}
		return reg.Test(ctx, c, sec, topts)
	}
	responder := &conncheck.Responder{Loader: connector.NewStore(kv), Decrypter: o.cipher, Test: test, Logger: logger,
		Session: conncheck.RegistrySessions(reg, trackers.Options{Timeout: 10 * time.Second, Logger: logger})}
	go func() { done <- responder.Serve(ctx, nc, reg.Systems()...) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("registry stopped with error: %v", err)
			}
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("registry did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("registry did not start within 10s")
	}
	return s
}

// Logs returns everything the registry logged so far.
func (s *Server) Logs() []byte { return s.logs.Bytes() }

// Dial returns a client whose calls carry token (empty: none).
func (s *Server) Dial(t testing.TB, token string) chv1.RegistryServiceClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(s.Addr, opts...)
	if err != nil {
		t.Fatalf("dial registry: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return chv1.NewRegistryServiceClient(conn)
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
