package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/hubstate"
)

// DefaultNATSURL is where the all-in-one hub's NATS listens by default.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// maxConnectTimeout bounds the dial of one NATS server, whatever --timeout says.
const maxConnectTimeout = 5 * time.Second

// natsTarget is the NATS server hubctl connects to and where its URL came
// from, so that an error can say which URL it used and why.
type natsTarget struct {
	URL    string
	Source string // "--nats flag", "HUB_NATS_URL", "state file /x/hub.json", "the default URL"
	// Creds is the NATS credential file (or dir, of which hubctl.nk is used):
	// --nats-creds → HUB_NATS_CREDS → the state file's nats_creds_file when
	// the URL came from that state file.
	Creds string
}

// resolveNATS finds the NATS URL: --nats → HUB_NATS_URL → the hub state
// file's nats_url → DefaultNATSURL.
func resolveNATS(flag string, getenv func(string) string) (natsTarget, error) {
	if flag != "" {
		return natsTarget{URL: flag, Source: "--nats flag"}, nil
	}
	if v := getenv("HUB_NATS_URL"); v != "" {
		return natsTarget{URL: v, Source: "HUB_NATS_URL"}, nil
	}
	statePath := hubstate.PathFromEnv(getenv)
	state, err := hubstate.Read(statePath)
	switch {
	case err == nil && state.NATSURL != "":
		return natsTarget{URL: state.NATSURL, Source: "state file " + statePath, Creds: state.NATSCredsFile}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return natsTarget{}, fmt.Errorf("cannot use %v; pass --nats or set HUB_NATS_URL", err)
	}
	return natsTarget{URL: DefaultNATSURL, Source: "the default URL"}, nil
}

// String names the server for messages, without any password in the URL.
func (t natsTarget) String() string {
	return fmt.Sprintf("NATS %s (from %s)", redactNATSURL(t.URL), t.Source)
}

// redactNATSURL hides passwords and tokens in a comma-separated server list.
func redactNATSURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			continue
		}
		if _, hasPassword := u.User.Password(); !hasPassword {
			u.User = url.User("xxxxx") // a bare user part is a token
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}

// connectNATS opens a JetStream client to the resolved NATS server. Status
// changes of a long-lived connection (tail) are reported on stderr.
func (g *globals) connectNATS() (*nats.Conn, jetstream.JetStream, natsTarget, error) {
	t, err := resolveNATS(g.natsURL, g.env.Getenv)
	if err != nil {
		return nil, nil, t, err
	}
	switch {
	case g.natsCreds != "":
		t.Creds = g.natsCreds
	case g.env.Getenv("HUB_NATS_CREDS") != "":
		t.Creds = g.env.Getenv("HUB_NATS_CREDS")
	}
	auth, err := bus.ClientAuth{CredsFile: t.Creds, Role: bus.RoleHubctl,
		TLSCert: g.env.Getenv("HUB_NATS_TLS_CERT"), TLSKey: g.env.Getenv("HUB_NATS_TLS_KEY"), TLSCA: g.env.Getenv("HUB_NATS_TLS_CA")}.Options()
	if err != nil {
		return nil, nil, t, fmt.Errorf("%s: %w", t, err)
	}
	timeout := maxConnectTimeout
	if g.timeout > 0 {
		timeout = min(timeout, g.timeout)
	}
	nc, err := nats.Connect(t.URL, append(auth,
		nats.Name("hubctl"),
		nats.Timeout(timeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				g.info("disconnected from %s: %v; reconnecting", t, err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { g.info("reconnected to %s", t) }),
		// A refused publish or subscribe is only reported asynchronously (the
		// call itself then times out): say so at once, with the subject.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				g.info("%s refused this: %v; the NATS credential's role does not allow it (hubctl's role is %s)", t, err, bus.RoleHubctl)
				return
			}
			g.info("%s: %v", t, err)
		}),
	)...)
	if err != nil {
		return nil, nil, t, natsConnectError(t, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, t, fmt.Errorf("%s: %w", t, err)
	}
	return nc, js, t, nil
}

func natsConnectError(t natsTarget, err error) error {
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked):
		if t.Creds == "" {
			return fmt.Errorf("%s rejected the connection: %w; it needs a credential: --nats-creds or HUB_NATS_CREDS (the hub's is <data dir>/nats-creds/hubctl.nk)", t, err)
		}
		return fmt.Errorf("%s rejected the connection with the credential %s: %w", t, t.Creds, err)
	case errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%s is unreachable: %w; is the hub running? pass --nats or set HUB_NATS_URL", t, err)
	}
	return fmt.Errorf("%s: cannot connect: %w", t, err)
}

// jetStreamError explains a JetStream failure that usually means the server
// is not the hub's (no JetStream, streams not provisioned).
func jetStreamError(t natsTarget, what string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("%s: %s: JetStream is not enabled there; is it the hub's NATS? %w", t, what, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%s: %s: no such stream; has the hub provisioned its streams? %w", t, what, err)
	}
	return fmt.Errorf("%s: %s: %w", t, what, err)
}
