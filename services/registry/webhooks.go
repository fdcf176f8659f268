package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// HookRegistrar creates and deletes a saved connector's hook on its tracker.
// The registry cannot decrypt the credential or the webhook secret, so in
// production a worker does it (pkg/conncheck, over NATS request/reply).
type HookRegistrar interface {
	CreateWebhook(ctx context.Context, c connector.Connector, url string) (hookID string, err error)
	DeleteWebhook(ctx context.Context, c connector.Connector, hookID string) error
}

// errNoWebhook: the connector has webhook: false.
var errNoWebhook = errors.New("connector has no webhook")

// webhookSecretBytes is the entropy of a generated webhook secret.
const webhookSecretBytes = 32

// newWebhookSecret draws a secret from crypto/rand: 32 bytes, hex-encoded
// (64 characters, accepted by every tracker's secret or token field).
func newWebhookSecret() (connector.Secret, error) {
	b := make([]byte, webhookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return connector.Secret{}, fmt.Errorf("generate webhook secret: %w", err)
	}
	return connector.NewSecret(hex.EncodeToString(b)), nil
}

// webhookURL is where the tracker sends c's deliveries; "" without a public URL.
func (s *Service) webhookURL(id string) string {
	base := s.cfg.WebhookPublicURL
	if base == "" && s.publicURL != nil {
		base = s.publicURL()
	}
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/webhooks/" + id
}

// newHookSecret generates a webhook secret for c and stores its ciphertext
// in c (bound to WebhookSecretContext, so c's credential must be encrypted
// first). The clear value is returned for the one caller that may show it.
func (s *Service) newHookSecret(ctx context.Context, c *connector.Connector) (connector.Secret, error) {
	secret, err := newWebhookSecret()
	if err != nil {
		return connector.Secret{}, err
	}
	ct, err := s.cipher.Encrypt(ctx, c.WebhookSecretContext(), []byte(secret.Reveal()))
	if err != nil {
		return connector.Secret{}, fmt.Errorf("encrypt webhook secret of %s: %w", c.ID, err)
	}
	c.WebhookSecret = connector.Credential{
		Ciphertext:  ct,
		SetTime:     s.now().UTC(),
		Fingerprint: secrets.Fingerprint([]byte(secret.Reveal())),
		Binding:     c.Credential.Binding,
	}
	c.WebhookHook = connector.WebhookHook{URL: s.webhookURL(c.ID)}
	if c.WebhookHook.URL == "" {
		c.WebhookHook.State, c.WebhookHook.Reason = connector.HookManual, "REGISTRY_WEBHOOK_PUBLIC_URL is not set: create the hook by hand (hubctl connectors webhook "+c.ID+")"
	}
	return secret, nil
}

// needsRegistration: the hook should be created on the tracker now.
func (s *Service) needsRegistration(c connector.Connector) bool {
	return c.Webhook && c.WebhookSecret.Set() && s.webhookURL(c.ID) != "" && c.WebhookHook.State != connector.HookRegistered
}

// register creates the saved connector c's hook on the tracker through a
// worker and records the outcome in the connector. A failure does not fail
// the call: the connector is saved, its status says manual or failed.
func (s *Service) register(ctx context.Context, c connector.Connector) (connector.Connector, error) {
	url := s.webhookURL(c.ID)
	tctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	id, err := s.hooks.CreateWebhook(tctx, c, url)
	cancel()
	h := connector.WebhookHook{URL: url, SecretShown: c.WebhookHook.SecretShown}
	switch {
	case err == nil:
		h.State, h.ID = connector.HookRegistered, id
		s.log.InfoContext(ctx, "webhook registered on the tracker", "connector", c.ID, "hook", id)
	case errors.Is(err, trackers.ErrWebhookManual):
		h.State, h.Reason = connector.HookManual, err.Error()
		s.log.InfoContext(ctx, "webhook registration is manual", "connector", c.ID, "reason", err.Error())
	default:
		h.State, h.Reason = connector.HookFailed, err.Error()
		s.log.WarnContext(ctx, "webhook registration failed", "connector", c.ID, "error", err)
	}
	return s.saveHook(ctx, c, h)
}

// saveHook stores h in c, once more on a concurrent change of the record.
func (s *Service) saveHook(ctx context.Context, c connector.Connector, h connector.WebhookHook) (connector.Connector, error) {
	for attempt := 0; ; attempt++ {
		c.WebhookHook = h
		out, err := s.stored(s.store.Update(ctx, c))
		if errors.Is(err, connector.ErrConflict) && attempt == 0 {
			fresh, gerr := s.store.Get(ctx, c.ID)
			if gerr != nil {
				return c, gerr
			}
			if fresh.WebhookSecret.Ciphertext == c.WebhookSecret.Ciphertext {
				c = fresh
				continue
			}
		}
		if err != nil && h.ID != "" {
			s.log.WarnContext(ctx, "hook created on the tracker but not recorded; delete it there by hand", "connector", c.ID, "hook", h.ID, "error", err)
		}
		return out, err
	}
}

// unregister deletes c's registered hook, best effort: a failure is logged
// (without secrets) and the caller goes on.
func (s *Service) unregister(ctx context.Context, c connector.Connector) {
	if c.WebhookHook.State != connector.HookRegistered || c.WebhookHook.ID == "" {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	err := s.hooks.DeleteWebhook(tctx, c, c.WebhookHook.ID)
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "webhook not deleted on the tracker; delete it there by hand", "connector", c.ID, "hook", c.WebhookHook.ID, "error", err)
		return
	}
	s.log.InfoContext(ctx, "webhook deleted on the tracker", "connector", c.ID, "hook", c.WebhookHook.ID)
}

// WebhookSetup is what an admin needs to create a hook by hand.
type WebhookSetup struct {
	ConnectorID       string
	URL               string
	Events            []string
	Secret            connector.Secret // set once
	SecretShownBefore bool
	Registration      string
	Reason            string
}

func (s *Service) setupOf(c connector.Connector) WebhookSetup {
	w := WebhookSetup{ConnectorID: c.ID, URL: s.webhookURL(c.ID), Registration: c.WebhookHook.State, Reason: c.WebhookHook.Reason}
	if tr, ok := s.trackers.Lookup(c.System); ok {
		if r, ok := tr.(trackers.WebhookReceiver); ok {
			w.Events = r.WebhookEvents()
		}
	}
	return w
}

// WebhookSetup returns the URL and events of c's hook and, the first time
// for a hook an admin creates by hand, its secret. The registry may encrypt
// but never decrypt, so "showing the secret" draws a new one, stores its
// ciphertext and returns the clear value this once; later calls say it was
// shown (RotateWebhookSecret draws another). A registered hook's secret is
// never shown: the tracker has it.
func (s *Service) WebhookSetup(ctx context.Context, id string) (w WebhookSetup, err error) {
	defer func() { s.record(ctx, "webhook.setup", id, err, nil) }()
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return w, err
	}
	if !c.Webhook {
		return w, fmt.Errorf("%w: %s (update it with webhook: true first)", errNoWebhook, id)
	}
	w = s.setupOf(c)
	if c.WebhookHook.State == connector.HookRegistered || c.WebhookHook.SecretShown {
		w.SecretShownBefore = c.WebhookHook.SecretShown
		return w, nil
	}
	secret, err := s.newHookSecret(ctx, &c)
	if err != nil {
		return WebhookSetup{}, err
	}
	h := c.WebhookHook
	if h.State == "" {
		h.State = connector.HookManual
	}
	h.SecretShown = true
	c.WebhookHook = h
	c.UpdateTime = s.now().UTC()
	if _, err := s.stored(s.store.Update(ctx, c)); err != nil {
		return WebhookSetup{}, err
	}
	w = s.setupOf(c)
	w.Secret = secret
	return w, nil
}

// RotateWebhookSecret draws a new secret. A registered hook is replaced on
// the tracker (deleted, then created with the new secret: deliveries in
// between are lost and the reconcile poll finds their changes); otherwise
// the new secret is returned once for the admin to paste.
func (s *Service) RotateWebhookSecret(ctx context.Context, id string) (w WebhookSetup, err error) {
	defer func() { s.record(ctx, "webhook.rotate", id, err, []string{"webhook_secret"}) }()
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return w, err
	}
	if !c.Webhook {
		return w, fmt.Errorf("%w: %s", errNoWebhook, id)
	}
	old := c
	secret, err := s.newHookSecret(ctx, &c)
	if err != nil {
		return w, err
	}
	if s.webhookURL(c.ID) == "" || old.WebhookHook.State == connector.HookManual {
		c.WebhookHook.State, c.WebhookHook.Reason = connector.HookManual, old.WebhookHook.Reason
		c.WebhookHook.SecretShown = true
		c.UpdateTime = s.now().UTC()
		if c, err = s.stored(s.store.Update(ctx, c)); err != nil {
			return WebhookSetup{}, err
		}
		w = s.setupOf(c)
		w.Secret = secret
		return w, nil
	}
	c.UpdateTime = s.now().UTC()
	if c, err = s.stored(s.store.Update(ctx, c)); err != nil {
		return WebhookSetup{}, err
	}
	s.unregister(ctx, old)
	if c, err = s.register(ctx, c); err != nil {
		return WebhookSetup{}, err
	}
	if c.WebhookHook.State == connector.HookManual {
		// The tracker refused this time: the admin pastes it instead.
		c.WebhookHook.SecretShown = true
		if c, err = s.stored(s.store.Update(ctx, c)); err != nil {
			return WebhookSetup{}, err
		}
		w = s.setupOf(c)
		w.Secret = secret
		return w, nil
	}
	return s.setupOf(c), nil
}

// noHooks is the registrar of a registry without NATS (some tests): every
// registration fails and says why.
type noHooks struct{}

func (noHooks) CreateWebhook(context.Context, connector.Connector, string) (string, error) {
	return "", errors.New("no worker to register webhooks (no NATS connection)")
}

func (noHooks) DeleteWebhook(context.Context, connector.Connector, string) error {
	return errors.New("no worker to delete webhooks (no NATS connection)")
}
