package trackers

import (
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
)

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
