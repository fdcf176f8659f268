package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// credsDirName is where the all-in-one keeps its NATS credentials, one nkey
// seed per role, under the data dir.
const credsDirName = "nats-creds"

// serviceRoles is the NATS role each service connects as.
var serviceRoles = map[string]bus.Role{
	targetRegistry:  bus.RoleRegistry,
	targetPoller:    bus.RolePoller,
	targetWriteback: bus.RoleWriteback,
	targetKnowledge: bus.RoleKnowledge,
	// The webhook receiver is the poller's front door: it reads connectors
	// and publishes webhook.notice.>, which the poller role may do.
	targetWebhooks: bus.RolePoller,
}

// workerRole is the connection that answers saved-connector tests: the first
// worker service of the process.
func workerRole(t targets) bus.Role {
	for _, name := range []string{targetPoller, targetWriteback, targetKnowledge, targetWebhooks} {
		if t.has(name) {
			return serviceRoles[name]
		}
	}
	return ""
}

// natsBus is this process's connections to NATS, one per role it needs.
type natsBus struct {
	embedded    *bus.Embedded
	conns       map[bus.Role]*nats.Conn
	streams     map[bus.Role]jetstream.JetStream
	clientURL   string // where TCP clients reach the embedded server ("" when not listening)
	hubctlCreds string // the hubctl role's seed file, named in the state file
}

// openBus starts the embedded server (with a credential per role, generated
// on first start in <data dir>/nats-creds) or reaches the shared one, opens a
// connection per service role, provisions the streams and buckets as the
// operator when it has that credential, and checks each role with
// bus.Verify.
func openBus(ctx context.Context, cfg Config, t targets, log *slog.Logger) (_ *natsBus, err error) {
	nb := &natsBus{conns: map[bus.Role]*nats.Conn{}, streams: map[bus.Role]jetstream.JetStream{}}
	defer func() {
		if err != nil {
			nb.close()
		}
	}()
	var (
		dial      func(bus.Role) (*nats.Conn, error)
		provision bool
	)
	// Asynchronous errors (a permission the role lacks) go to the log with
	// the role, instead of nats.go's default print.
	errorLog := func(r bus.Role) nats.Option {
		return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("NATS", "role", r, "error", err)
		})
	}
	if cfg.NATSURL != "" {
		auth := cfg.natsClientAuth()
		dial = func(r bus.Role) (*nats.Conn, error) {
			a := auth
			a.Role = r
			opts, err := a.Options()
			if err != nil {
				return nil, err
			}
			opts = append(opts, nats.Name("connectorhub-"+string(r)), nats.MaxReconnects(-1), errorLog(r))
			nc, err := nats.Connect(cfg.NATSURL, opts...)
			if err != nil {
				return nil, fmt.Errorf("NATS %s (HUB_NATS_URL) as %s: %w", redactURL(cfg.NATSURL), r, natsAuthHint(err))
			}
			return nc, nil
		}
		// Provision only with the operator's credential, or on a NATS without
		// authentication; otherwise the operator has provisioned.
		provision = cfg.NATSCreds == "" || isFile(filepath.Join(cfg.NATSCreds, bus.CredentialFile(bus.RoleOperator)))
		if cfg.NATSCreds == "" {
			log.Warn("connecting to NATS without a credential (HUB_NATS_CREDS unset): unless that server requires one, anything reaching it can rewrite connectors and publish results; see hub --provision-nats")
		}
		nb.clientURL = cfg.NATSURL
		if f := filepath.Join(cfg.NATSCreds, bus.CredentialFile(bus.RoleHubctl)); cfg.NATSCreds != "" && isFile(f) {
			nb.hubctlCreds = f
		}
	} else {
		creds, err := bus.LoadOrCreateCredentials(filepath.Join(cfg.DataDir, credsDirName))
		if err != nil {
			return nil, err
		}
		nb.embedded, err = bus.StartEmbedded(ctx, bus.EmbeddedConfig{
			StoreDir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATSListen, Logger: log, Credentials: creds,
			TLSCert: cfg.NATSTLSCert, TLSKey: cfg.NATSTLSKey, TLSCA: cfg.NATSTLSCA,
		})
		if err != nil {
			return nil, err
		}
		dial = func(r bus.Role) (*nats.Conn, error) {
			opt, err := creds.Option(r)
			if err != nil {
				return nil, err
			}
			return nb.embedded.Connect(opt, nats.Name("connectorhub-"+string(r)), errorLog(r))
		}
		provision = true
		if nb.clientURL = nb.embedded.ClientURL(); nb.clientURL != "" {
			nb.hubctlCreds = creds.File(bus.RoleHubctl)
			log.Info("NATS listening; clients authenticate with a role's nkey", "url", nb.clientURL, "credentials", creds.Dir())
		}
	}

	roles := make([]bus.Role, 0, len(t)+1)
	if provision {
		roles = append(roles, bus.RoleOperator)
	}
	for _, name := range t {
		roles = append(roles, serviceRoles[name])
	}
	for _, r := range roles {
		nc, err := dial(r)
		if err != nil {
			return nil, err
		}
		nb.conns[r] = nc
		if cfg.JSDomain != "" {
			nb.streams[r], err = jetstream.NewWithDomain(nc, cfg.JSDomain)
		} else {
			nb.streams[r], err = jetstream.New(nc)
		}
		if err != nil {
			return nil, err
		}
	}
	if provision {
		// Idempotent: every process may provision; the first creates, the
		// others find (and update a stream or bucket whose replicas or
		// retention differ from HUB_STREAM_REPLICAS / HUB_<STREAM>_MAX_*). The poll_leases TTL follows POLLER_LEASE_TTL (pollers
		// refuse a bucket whose TTL differs), so set it alike for every hub
		// process.
		if err := bus.Provision(ctx, nb.streams[bus.RoleOperator], cfg.provisionOptions()); err != nil {
			return nil, err
		}
		// The services need no operator rights; this process drops them.
		nb.conns[bus.RoleOperator].Close()
		delete(nb.conns, bus.RoleOperator)
		delete(nb.streams, bus.RoleOperator)
	}
	for _, name := range t {
		r := serviceRoles[name]
		if err := bus.Verify(ctx, nb.streams[r], r); err != nil {
			return nil, fmt.Errorf("%s: %w (is the NATS credential the %s role's, and are the streams provisioned?)", name, err, r)
		}
	}
	return nb, nil
}

func (nb *natsBus) conn(r bus.Role) *nats.Conn        { return nb.conns[r] }
func (nb *natsBus) js(r bus.Role) jetstream.JetStream { return nb.streams[r] }

// drain lets every connection finish what it has in flight.
func (nb *natsBus) drain(log *slog.Logger) {
	for r, nc := range nb.conns {
		if err := nc.Drain(); err != nil {
			log.Warn("NATS drain", "role", r, "error", err)
		}
	}
}

// close closes the connections and stops the embedded server.
func (nb *natsBus) close() {
	for _, nc := range nb.conns {
		nc.Close()
	}
	if nb.embedded != nil {
		nb.embedded.Shutdown()
	}
}

// natsAuthHint adds what to check to an authentication refusal.
func natsAuthHint(err error) error {
	if errors.Is(err, nats.ErrAuthorization) {
		return fmt.Errorf("%w; set HUB_NATS_CREDS to the role's seed file or to the credentials dir", err)
	}
	return err
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// provisionCredentials writes a seed per role and the nats-server users
// include (auth.conf) into dir, for services run against a NATS outside the
// hub, and says what it wrote. Existing seeds are kept.
func provisionCredentials(dir string, w io.Writer) error {
	creds, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "NATS credentials in %s (seeds 0600; never share operator.nk):\n", creds.Dir())
	for _, r := range bus.Roles() {
		fmt.Fprintf(w, "  %-10s %s  user %s\n", r, creds.File(r), creds.PublicKey(r))
	}
	fmt.Fprintf(w, "nats-server users and permissions: %s (include it in nats-server.conf)\n", filepath.Join(creds.Dir(), bus.AuthConfigFile))
	fmt.Fprintf(w, "an edge site's leaf node credential: %s (0600; include it in the leafnodes remote block)\n", filepath.Join(creds.Dir(), bus.LeafRemoteFile))
	return nil
}
