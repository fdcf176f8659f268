package gitlab

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.WebhookReceiver = Tracker{}

// VerifyWebhook accepts a delivery signed with the Standard Webhooks headers
// GitLab sends when the hook has a signing token (webhook-id,
// webhook-timestamp, webhook-signature: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", with the timestamp within the tolerance), or one
// carrying the secret token (X-Gitlab-Token, compared in constant time).
// The delivery id is webhook-id, else Idempotency-Key, else
// X-Gitlab-Event-UUID, else a digest of the body.
func (Tracker) VerifyWebhook(v trackers.WebhookVerify) (string, error) {
	h := v.Header
	if sig := h.Get("webhook-signature"); sig != "" {
		id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
		if id == "" || ts == "" {
			return "", trackers.ErrWebhookBadSignature
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return "", trackers.ErrWebhookBadSignature
		}
		if d := v.Now.Sub(time.Unix(sec, 0)); d > v.Tolerance || d < -v.Tolerance {
			return "", trackers.ErrWebhookStale
		}
		key := v.Secret
		if s, ok := strings.CutPrefix(string(v.Secret), "whsec_"); ok {
			if k, err := base64.StdEncoding.DecodeString(s); err == nil {
				key = k
			}
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(v.Body)
		want := m.Sum(nil)
		for _, part := range strings.Fields(sig) { // several signatures during a key rotation
			b64, ok := strings.CutPrefix(part, "v1,")
			if !ok {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return id, nil
			}
		}
		return "", trackers.ErrWebhookBadSignature
	}
	tok := h.Get("X-Gitlab-Token")
	if tok == "" {
		return "", trackers.ErrWebhookUnsigned
	}
	if subtle.ConstantTimeCompare([]byte(tok), v.Secret) != 1 {
		return "", trackers.ErrWebhookBadSignature
	}
	for _, name := range []string{"Idempotency-Key", "X-Gitlab-Event-UUID"} {
		if id := h.Get(name); id != "" {
			return id, nil
		}
	}
	return trackers.BodyDigest(v.Body), nil
}

type webhookPayload struct {
	ObjectKind string `json:"object_kind"`
	Project    struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	ObjectAttributes struct {
		IID          int64  `json:"iid"`
		NoteableType string `json:"noteable_type"`
	} `json:"object_attributes"`
	Issue *struct {
		IID int64 `json:"iid"`
	} `json:"issue"`
}

// ParseWebhook names the issue an Issue Hook or a Note Hook on an issue is
// about; merge requests and other kinds name nothing.
func (Tracker) ParseWebhook(_ http.Header, body []byte) ([]string, error) {
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("gitlab webhook: %w", err)
	}
	var iid int64
	switch p.ObjectKind {
	case "issue", "work_item":
		iid = p.ObjectAttributes.IID
	case "note":
		if p.ObjectAttributes.NoteableType != "Issue" || p.Issue == nil {
			return nil, nil
		}
		iid = p.Issue.IID
	default:
		return nil, nil
	}
	path := p.Project.PathWithNamespace
	if path == "" || !strings.Contains(path, "/") || strings.Contains(path, "#") || iid <= 0 {
		return nil, fmt.Errorf("gitlab webhook: no project path/issue iid")
	}
	return []string{fmt.Sprintf("%s#%d", path, iid)}, nil
}

// WebhookEvents are the triggers to select on the project's hook.
func (Tracker) WebhookEvents() []string { return []string{"issues_events", "note_events"} }
