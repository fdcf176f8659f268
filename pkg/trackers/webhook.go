package trackers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Webhook errors. Every one of them is answered 401 and counted; none
// reaches the bus.
var (
	// ErrWebhookUnsigned: the delivery carries no signature or token.
	ErrWebhookUnsigned = errors.New("webhook: unsigned delivery")
	// ErrWebhookBadSignature: the signature or token does not match the secret.
	ErrWebhookBadSignature = errors.New("webhook: signature mismatch")
	// ErrWebhookStale: a signed timestamp is outside the tolerance (a replay).
	ErrWebhookStale = errors.New("webhook: timestamp outside tolerance")
	// ErrWebhookManual: the hook cannot be created through the API with this
	// connector's credential (the tracker answered 403, or the auth mode
	// cannot create hooks, as Jira Cloud with an API token); an admin
	// creates it by hand.
	ErrWebhookManual = errors.New("webhook: the credential may not create hooks; register it by hand")
)

// WebhookRegistrar creates and deletes the connector's hook on the tracker
// (the registry drives it through a worker that may decrypt). CreateWebhook
// points a hook for WebhookReceiver.WebhookEvents at url, signed with secret,
// and returns the tracker's hook id; ErrWebhookManual when the credential may
// not. DeleteWebhook removes it; a hook already gone is not an error.
type WebhookRegistrar interface {
	CreateWebhook(ctx context.Context, s *Session, url string, secret []byte) (hookID string, err error)
	DeleteWebhook(ctx context.Context, s *Session, hookID string) error
}

// WebhookVerify is what a receiver is given to check one delivery.
type WebhookVerify struct {
	Header http.Header
	// Body is the raw body, exactly as received: signatures cover its bytes.
	Body   []byte
	Secret []byte
	Now    time.Time
	// Tolerance bounds how far a signed timestamp may be from Now.
	Tolerance time.Duration
}

// WebhookReceiver is implemented by systems that send signed webhooks
// (services/webhooks drives it). VerifyWebhook checks the signature in
// constant time and returns the delivery's id, the key deliveries are
// deduplicated by. ParseWebhook only says which tickets changed (keys in the
// system's form); the worker fetches them through the tracker code, so
// nothing else in a payload is trusted. A payload about something that is
// not a ticket the poller would list (a pull request, a ping) names none.
type WebhookReceiver interface {
	VerifyWebhook(v WebhookVerify) (deliveryID string, err error)
	ParseWebhook(header http.Header, body []byte) (keys []string, err error)
	// WebhookEvents are the events an admin selects when creating the hook by hand.
	WebhookEvents() []string
}

// HMACSHA256Hex is hex(HMAC-SHA256(secret, parts...)).
func HMACSHA256Hex(secret []byte, parts ...[]byte) string {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyHexSignature checks a "sha256=<hex>" header against the body in
// constant time (hmac.Equal over the decoded bytes).
func VerifyHexSignature(header string, secret, body []byte) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrWebhookUnsigned
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrWebhookBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrWebhookBadSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrWebhookBadSignature
	}
	return nil
}

// BodyDigest is a delivery id for systems that send none: the same body
// delivered twice is the same delivery.
func BodyDigest(body []byte) string {
	d := sha256.Sum256(body)
	return "sha256-" + hex.EncodeToString(d[:16])
}
