// Command hub runs connectorhub. By default (--target all) it is the
// all-in-one: an embedded NATS JetStream server, the credential cipher (local
// keyring, or Vault transit when VAULT_ADDR is set), the registry, the
// poller, the writeback, the knowledge service and the worker that answers
// saved connector tests. With --target registry|poller|writeback|knowledge
// (comma list) and --nats-url it runs those services alone against a shared
// NATS, so each can be scaled as its own process.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/conncheck"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/services/knowledge"
	"github.com/connectorhub/connectorhub/services/poller"
	"github.com/connectorhub/connectorhub/services/registry"
	"github.com/connectorhub/connectorhub/services/webhooks"
	"github.com/connectorhub/connectorhub/services/writeback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], env.ToMap(os.Environ()), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		os.Exit(1)
	}
}

// cipher is what the all-in-one needs from a credential cipher: the registry
// encrypts and rewraps, the in-process worker decrypts.
type cipher interface {
	registry.Encrypter
	conncheck.Decrypter
}

func run(ctx context.Context, args []string, environ map[string]string, stderr io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	flags := flag.NewFlagSet("hub", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for NATS data, the local keyring and the admin token (HUB_DATA_DIR)")
	flags.StringVar(&cfg.Registry.ListenAddr, "registry-addr", cfg.Registry.ListenAddr, "registry gRPC listen address (REGISTRY_LISTEN_ADDR)")
	flags.StringVar(&cfg.Knowledge.ListenAddr, "knowledge-addr", cfg.Knowledge.ListenAddr, "knowledge gRPC listen address; empty: NATS only (KNOWLEDGE_LISTEN_ADDR)")
	flags.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen, "TCP address for NATS clients; empty for in-process only (HUB_NATS_LISTEN)")
	flags.StringVar(&cfg.Target, "target", cfg.Target, "services to run: all, or a comma list of registry, poller, writeback, knowledge; or fakes: the sandbox trackers alone (HUB_TARGET)")
	flags.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "a shared NATS server instead of the embedded one; required unless --target all (HUB_NATS_URL)")
	flags.BoolVar(&cfg.Sandbox, "sandbox", cfg.Sandbox, "start fake Jira, GitHub and GitLab with seeded tickets and register connectors to them (HUB_SANDBOX)")
	provisionNATS := flags.String("provision-nats", "", "write a NATS nkey seed per role and the nats-server users include (auth.conf) into this dir, then exit")
	flags.StringVar(&cfg.NATSCreds, "nats-creds", cfg.NATSCreds, "credential for the shared NATS: a seed or .creds file, or a dir from --provision-nats (HUB_NATS_CREDS)")
	flags.StringVar(&cfg.Webhooks.Addr, "webhook-addr", cfg.Webhooks.Addr, "webhook receiver address: POST /webhooks/{connector-id} (HUB_WEBHOOK_ADDR)")
	flags.StringVar(&cfg.AdminAddr, "admin-addr", cfg.AdminAddr, "admin HTTP address: /healthz, /readyz, /metrics; empty: none (HUB_ADMIN_ADDR)")
	flags.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof, "serve /debug/pprof/ (Go profiles) on the admin address (HUB_PPROF)")
	flags.StringVar(&cfg.SandboxListen, "sandbox-listen", cfg.SandboxListen, "first address of the sandbox trackers; the others take the next ports (port 0: free ports)")
	vaultInitDir := flags.String("vault-init", "", "set up Vault (VAULT_ADDR, admin VAULT_TOKEN): transit, key, policies from --vault-policies, AppRoles; write their ids into this dir, then exit")
	vaultPolicies := flags.String("vault-policies", "deploy/vault", "directory of registry.hcl and workers.hcl, for --vault-init")
	probeURL := flags.String("probe", "", "GET this URL (a /readyz) and exit 0 on 200: a health check for images without a shell")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *probeURL != "" {
		return probe(ctx, *probeURL)
	}
	if *provisionNATS != "" {
		return provisionCredentials(*provisionNATS, stderr)
	}
	if *vaultInitDir != "" {
		return vaultInit(ctx, cfg.Vault, *vaultPolicies, *vaultInitDir, stderr)
	}
	if err := cfg.Vault.readSecretFiles(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := cfg.Registry.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if strings.TrimSpace(cfg.Target) == targetFakes {
		return runFakes(ctx, cfg, log)
	}

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	targets, err := parseTargets(cfg.Target)
	if err != nil {
		return err
	}
	stopTracing, err := startTracing(ctx, environ, targets, log)
	if err != nil {
		return err
	}
	defer stopTracing() // deferred first: runs last, after the services drained
	external := cfg.NATSURL != ""
	if !targets.all() && !external {
		return errors.New("--target other than all runs a service on its own: give it the shared NATS with HUB_NATS_URL (or --nats-url)")
	}
	var adminTokenFile, localAdmin string
	if targets.has(targetRegistry) && len(cfg.Registry.Tokens) == 0 && cfg.Registry.TokensFile == "" {
		token, path, err := adminToken(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.Registry.Tokens = []string{"local-admin:admin:" + token}
		adminTokenFile, localAdmin = path, token
		log.Info("no API tokens configured; using the local admin token", "file", path)
	}
	var sb *sandbox
	if cfg.Sandbox {
		if !targets.all() {
			return errors.New("--sandbox needs --target all")
		}
		if localAdmin == "" {
			return errors.New("--sandbox registers its connectors with the local admin token: unset HUB_API_TOKENS / HUB_API_TOKENS_FILE, or use a separate --data-dir")
		}
		sb = newSandbox(log.With("service", "sandbox"))
		if err := sb.start(cfg.SandboxListen, cfg.Knowledge.ListenAddr, cfg.Registry.ListenAddr, cfg.AdminAddr); err != nil {
			return err
		}
		defer sb.stop()
		if cfg.OAuth == oauthgrant.Atlassian() && sb.oauthFake != nil {
			// The sandbox's OAuth connector mints its tokens at the sandbox's
			// OAuth fake; a hub whose HUB_ATLASSIAN_* name other endpoints
			// keeps them (and the sandbox registers no OAuth connector).
			cfg.OAuth, sb.oauthOn = sb.oauthEndpoints(), true
			log.Info("sandbox: the OAuth 2.0 token service uses the sandbox's Atlassian fake", "url", sb.oauthURL)
		}
	}

	// The admin listener answers from the start: alive at once, ready when
	// the bus is up and every service of the process serves.
	ready := telemetry.NewReadiness()
	metrics, err := telemetry.NewMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Shutdown(context.WithoutCancel(ctx)) }()
	if cfg.AdminAddr != "" {
		h := telemetry.AdminHandler(ready, metrics.Handler())
		paths := "/healthz /readyz /metrics"
		if cfg.Pprof {
			h, paths = telemetry.WithPprof(h), paths+" /debug/pprof/"
		}
		admin, err := telemetry.ServeAdmin(cfg.AdminAddr, h, log)
		if err != nil {
			return err
		}
		defer admin.Close() // last: /readyz says draining until the process is gone
		log.Info("admin listening", "addr", admin.Addr().String(), "paths", paths)
	}
	ready.Set("bus", telemetry.ErrStarting)
	for _, name := range targets {
		ready.Set(name, telemetry.ErrStarting)
	}

	// NATS: the embedded server (all-in-one), or a shared one when services
	// run as separate processes. Each service connects as its own role
	// (pkg/bus/roles.go), so the server enforces what it may touch.
	nb, err := openBus(ctx, cfg, targets, log)
	if err != nil {
		return err
	}
	defer nb.close()
	clientURL := nb.clientURL
	ready.Set("bus", nil) // connected, streams and buckets provisioned, each role verified
	for r, nc := range nb.conns {
		ready.Probe("nats."+string(r), func(context.Context) error {
			if st := nc.Status(); st != nats.CONNECTED {
				return fmt.Errorf("NATS connection %s", st)
			}
			return nil
		})
	}

	ciph, err := openCipher(ctx, cfg, log)
	if err != nil {
		return err
	}

	allow, err := trackers.ParseAllowList(cfg.AllowEndpoints)
	if err != nil {
		return err
	}
	// The one tracker registry every service in this process uses.
	reg := all.Registry()
	// SIGTERM (ctx) makes the process not ready at once; the services stop
	// taking work HUB_SHUTDOWN_DELAY later. A service that fails stops the
	// others and makes the process not ready too.
	sigCtx := ctx
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(sigCtx))
	defer stopServices()
	go func() {
		select {
		case <-sigCtx.Done():
			delay := time.NewTimer(cfg.ShutdownDelay)
			defer delay.Stop()
			select {
			case <-delay.C:
			case <-svcCtx.Done():
			}
			stopServices()
		case <-svcCtx.Done():
		}
	}()
	g, gctx := errgroup.WithContext(svcCtx)
	draining, markDraining := context.WithCancel(sigCtx)
	defer markDraining()
	context.AfterFunc(gctx, markDraining)
	ready.DrainWhen(draining)
	ctx = gctx
	served := func(name string) func() { return func() { ready.Set(name, nil) } }
	watchServices(ctx, nb, targets, cfg, metrics, log)
	// The sandbox's hooks point at this process's receiver unless
	// REGISTRY_WEBHOOK_PUBLIC_URL says otherwise; its connectors register
	// once the receiver listens (its port may be chosen then).
	var hookAddr atomic.Value
	hooksListening := make(chan struct{})
	var publicURL func() string
	if sb != nil && targets.has(targetWebhooks) && cfg.Registry.WebhookPublicURL == "" {
		publicURL = func() string {
			a, _ := hookAddr.Load().(string)
			if a == "" {
				return ""
			}
			return "http://" + a
		}
	} else {
		close(hooksListening)
	}
	if targets.has(targetRegistry) {
		g.Go(func() error {
			return registry.Run(ctx, cfg.Registry, registry.Deps{
				WebhookPublicURL: publicURL,
				Trackers:         reg, NC: nb.conn(bus.RoleRegistry), JS: nb.js(bus.RoleRegistry), Cipher: ciph, Logger: log.With("service", "registry"),
				Ready: func(addr net.Addr) {
					ready.Set(targetRegistry, nil)
					st := hubstate.State{RegistryAddr: addr.String(), AdminTokenFile: adminTokenFile, NATSURL: clientURL, NATSCredsFile: nb.hubctlCreds,
						PID: os.Getpid(), StartTime: time.Now().UTC()}
					if err := hubstate.Write(cfg.StateFile, st); err != nil {
						log.Warn("state file not written; hubctl needs --server", "path", cfg.StateFile, "error", err)
					}
					if sb != nil {
						go func() {
							select {
							case <-hooksListening:
							case <-time.After(30 * time.Second):
								log.Warn("webhook receiver not listening; sandbox hooks are registered by hand")
							case <-ctx.Done():
								return
							}
							if err := sb.register(ctx, addr.String(), localAdmin); err != nil {
								log.Error("sandbox connectors not registered", "error", err)
							}
						}()
					}
				},
			})
		})
	}
	topts := trackers.Options{Policy: trackers.EndpointPolicy{Allow: allow}, Logger: log, MaxResponseBytes: cfg.MaxResponseBytes, Observer: metrics,
		// One pacer for the process: the poller and writeback spend the same budgets.
		Pacer:     trackers.NewPacer(trackers.PacerConfig{Below: paceBelow(cfg.PaceBelow), MaxWait: cfg.PaceMaxWait}),
		PoolRetry: cfg.PoolRetry, PoolRetryMax: cfg.PoolRetryMax}
	if targets.hasWorker() {
		// The worker side of saved-connector tests: a process with decrypt
		// rights answers connector.test.<system> (a queue group shares them),
		// on the connection of its first worker service.
		role := workerRole(targets)
		kv, err := nb.js(role).KeyValue(ctx, bus.BucketConnectors)
		if err != nil {
			return err
		}
		// One OAuth token service per process: every worker service shares
		// its access-token cache, and rotated refresh tokens are stored on
		// this role's connection in the oauth_grants bucket (compare-and-swap
		// on the grant's revision; workers may not write connectors).
		if err := cfg.OAuth.Validate(topts.Policy); err != nil {
			return fmt.Errorf("HUB_ATLASSIAN_*: %w", err)
		}
		gkv, err := nb.js(role).KeyValue(ctx, bus.BucketOAuthGrants)
		if err != nil {
			return fmt.Errorf("open %s (run bus.Provision first): %w", bus.BucketOAuthGrants, err)
		}
		// Connectors resolves oauth_grant_from: a Confluence connector on a
		// Jira connector's grant refreshes through that connector's record.
		topts.OAuth = oauthgrant.New(oauthgrant.Config{Endpoints: cfg.OAuth, TrackerOptions: topts, Connectors: connector.NewStore(kv),
			Logger: log.With("service", "oauth")}, connector.NewGrantStore(gkv), ciph)
		g.Go(func() error {
			opts := trackers.Options{Policy: trackers.EndpointPolicy{Allow: allow}, Timeout: cfg.Registry.TestTimeout, Logger: log, MaxResponseBytes: cfg.MaxResponseBytes, OAuth: topts.OAuth}
			r := &conncheck.Responder{
				Loader: connector.NewStore(kv), Decrypter: ciph, Logger: log.With("service", "conncheck"),
				Session: conncheck.RegistrySessions(reg, opts),
				Test: func(ctx context.Context, c connector.Connector, s connector.Secret) (trackers.TestResult, error) {
					return reg.Test(ctx, c, s, opts)
				},
			}
			return r.Serve(ctx, nb.conn(role), reg.Systems()...)
		})
	}
	if targets.has(targetPoller) {
		g.Go(func() error {
			return poller.Run(ctx, cfg.Poller, poller.Deps{JS: nb.js(bus.RolePoller), Decrypter: ciph, Logger: log.With("service", "poller"), Trackers: reg, TrackerOptions: topts,
				Metrics: metrics, Ready: served(targetPoller)})
		})
	}
	if targets.has(targetWriteback) {
		g.Go(func() error {
			return writeback.Run(ctx, cfg.Writeback, writeback.Deps{JS: nb.js(bus.RoleWriteback), Decrypter: ciph, Logger: log.With("service", "writeback"), Trackers: reg, TrackerOptions: topts,
				Metrics: metrics, Ready: served(targetWriteback)})
		})
	}
	if targets.has(targetKnowledge) {
		// Knowledge search accepts the registry's API tokens (any role may search).
		cfg.Knowledge.Tokens, cfg.Knowledge.TokensFile = cfg.Registry.Tokens, cfg.Registry.TokensFile
		g.Go(func() error {
			return knowledge.Run(ctx, cfg.Knowledge, knowledge.Deps{NC: nb.conn(bus.RoleKnowledge), JS: nb.js(bus.RoleKnowledge), Decrypter: ciph, Trackers: reg, Logger: log.With("service", "knowledge"),
				OAuth:   topts.OAuth,
				Metrics: metrics,
				Ready: func(addr net.Addr) {
					ready.Set(targetKnowledge, nil)
					if addr != nil {
						log.Info("knowledge search listening", "addr", addr.String())
					}
				}})
		})
	}
	if targets.has(targetWebhooks) {
		g.Go(func() error {
			return webhooks.Run(ctx, cfg.Webhooks, webhooks.Deps{JS: nb.js(bus.RolePoller), Decrypter: ciph, Trackers: reg, Logger: log.With("service", "webhooks"),
				Metrics: metrics, Ready: served(targetWebhooks), Listening: func(addr string) {
					if publicURL != nil {
						hookAddr.Store(addr)
						close(hooksListening)
					}
				}})
		})
	}
	log.Info("hub started", "targets", cfg.Target)

	err = g.Wait()
	if targets.has(targetRegistry) {
		if rmErr := hubstate.Remove(cfg.StateFile); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			log.Warn("state file not removed", "path", cfg.StateFile, "error", rmErr)
		}
	}
	nb.drain(log)
	log.Info("hub stopped")
	return err
}

func openCipher(ctx context.Context, cfg Config, log *slog.Logger) (cipher, error) {
	if cfg.Vault.Addr == "" {
		path := filepath.Join(cfg.DataDir, "keyring.json")
		local, err := secrets.OpenLocal(path)
		if err != nil {
			return nil, err
		}
		log.Info("credentials encrypted with the local keyring", "file", path)
		return local, nil
	}
	v, err := secrets.NewVault(ctx, cfg.Vault.secretsConfig(log))
	if err != nil {
		return nil, err
	}
	log.Info("credentials encrypted with Vault transit", "addr", v.Address(), "key", cfg.Vault.Key)
	return v, nil
}

// adminToken reads the local admin token, creating it (0600) on first run.
func adminToken(dataDir string) (token, path string, err error) {
	path = filepath.Join(dataDir, "admin.token")
	data, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(data)); len(t) >= registry.MinAPITokenLen {
			return t, path, nil
		}
		return "", "", fmt.Errorf("%s is malformed; delete it to get a new admin token", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "hub_" + hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write admin token: %w", err)
	}
	return token, path, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(telemetry.NewTraceHandler(slog.NewTextHandler(w, opts)))
}

// prepareDataDir creates the data dir, or tightens an existing one, to 0700:
// it holds the local keyring, the admin token and the NATS store.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}
