package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultReadyTimeout bounds how long StartEmbedded waits for the server,
// including JetStream recovering its store.
const DefaultReadyTimeout = 10 * time.Second

// ErrNotReady is returned when the embedded server did not start in time.
var ErrNotReady = errors.New("bus: embedded NATS server not ready")

// EmbeddedConfig configures an in-process NATS server with JetStream.
type EmbeddedConfig struct {
	// StoreDir holds JetStream's files; required. Reusing it keeps messages
	// and buckets across restarts.
	StoreDir string
	// Listen is an optional host:port for TCP clients, e.g. "127.0.0.1:4222"
	// so the nats CLI can reach the all-in-one binary; port 0 picks a free
	// port. Empty (the default) means in-process connections only.
	Listen string
	// ServerName defaults to "connectorhub".
	ServerName string
	// Logger receives the server's warnings and errors (notices at debug);
	// nil turns server logging off.
	Logger *slog.Logger
	// ReadyTimeout defaults to DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Credentials, when set, make every connection (in-process ones too)
	// authenticate as one of its roles' users, with that role's
	// permissions; a connection without a credential is refused. Nil: no
	// authentication (tests of a single service).
	Credentials *Credentials
	// TLSCert and TLSKey put TLS on the TCP listener; TLSCA also requires
	// and verifies client certificates. In-process connections skip TLS.
	TLSCert, TLSKey, TLSCA string
}

// Validate checks the configuration.
func (c EmbeddedConfig) Validate() error {
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, fmt.Errorf("%w: embedded NATS needs a StoreDir", ErrInvalidOptions))
	}
	if c.Listen != "" {
		if _, _, err := splitListen(c.Listen); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") || (c.TLSCA != "" && c.TLSCert == "") {
		errs = append(errs, fmt.Errorf("%w: NATS TLS needs a certificate and its key (and a CA only with them)", ErrInvalidOptions))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative ReadyTimeout", ErrInvalidOptions))
	}
	return errors.Join(errs...)
}

func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("%w: Listen %q: %v", ErrInvalidOptions, listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: Listen %q: bad port", ErrInvalidOptions, listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	return host, port, nil
}

// Embedded is a running in-process NATS server with JetStream.
type Embedded struct {
	srv       *server.Server
	listening bool
}

// StartEmbedded starts the server and waits until it accepts connections,
// bounded by cfg.ReadyTimeout and ctx's deadline.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		DontListen: cfg.Listen == "",
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
	}
	if opts.ServerName == "" {
		opts.ServerName = "connectorhub"
	}
	if cfg.Listen != "" {
		host, port, _ := splitListen(cfg.Listen) // checked by Validate
		opts.Host, opts.Port = host, port
	}
	if cfg.Credentials != nil {
		opts.Nkeys = cfg.Credentials.Users()
		opts.AuthTimeout = authTimeout.Seconds()
	}
	if cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, CaFile: cfg.TLSCA, Verify: cfg.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("bus: embedded NATS TLS: %w", err)
		}
		opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, cfg.TLSCA != ""
		opts.TLSTimeout = authTimeout.Seconds()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}

	wait := cfg.ReadyTimeout
	if wait == 0 {
		wait = DefaultReadyTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(wait) || !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("%w after %s (store %s)", ErrNotReady, wait, cfg.StoreDir)
	}
	return &Embedded{srv: srv, listening: cfg.Listen != ""}, nil
}

// Connect opens an in-process client connection (no TCP involved).
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect("", append([]nats.Option{nats.InProcessServer(e.srv)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to embedded NATS: %w", err)
	}
	return nc, nil
}

// ClientURL is the nats:// URL for TCP clients, or "" when not listening.
func (e *Embedded) ClientURL() string {
	if !e.listening {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown closes client connections, flushes JetStream to StoreDir and
// returns once the server has stopped. Drain clients first for a graceful
// stop of consumers. Safe to call more than once.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// slogAdapter routes nats-server's logger to slog. Hand-written: the server
// only offers its own file/syslog loggers, and the interface is six methods.
type slogAdapter struct{ l *slog.Logger }

var _ server.Logger = slogAdapter{}

func (a slogAdapter) Noticef(format string, v ...any) { a.log(slog.LevelDebug, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.log(slog.LevelDebug, format, v) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.log(slog.LevelDebug-4, format, v) }

func (a slogAdapter) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if a.l.Enabled(ctx, level) {
		a.l.Log(ctx, level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}
