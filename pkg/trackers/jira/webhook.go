package jira

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.WebhookReceiver = Tracker{}

// VerifyWebhook checks X-Hub-Signature ("sha256=<hex>" HMAC-SHA256 of the
// raw body), which Jira Cloud sends for a webhook with a secret and Jira
// Data Center (10+) sends the same way for its secret. The delivery id is
// X-Atlassian-Webhook-Identifier (kept across Jira's retries), else a
// digest of the body.
func (Tracker) VerifyWebhook(v trackers.WebhookVerify) (string, error) {
	if err := trackers.VerifyHexSignature(v.Header.Get("X-Hub-Signature"), v.Secret, v.Body); err != nil {
		return "", err
	}
	if id := v.Header.Get("X-Atlassian-Webhook-Identifier"); id != "" {
		return id, nil
	}
	return trackers.BodyDigest(v.Body), nil
}

var webhookKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*-[1-9][0-9]*$`)

// ParseWebhook names the issue a jira:issue_* or comment_* delivery is about.
func (Tracker) ParseWebhook(_ http.Header, body []byte) ([]string, error) {
	var p struct {
		WebhookEvent string `json:"webhookEvent"`
		Issue        *struct {
			Key string `json:"key"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("jira webhook: %w", err)
	}
	if p.Issue == nil {
		return nil, nil
	}
	if !webhookKey.MatchString(p.Issue.Key) {
		return nil, fmt.Errorf("jira webhook: issue key %q", p.Issue.Key)
	}
	return []string{p.Issue.Key}, nil
}

// WebhookEvents are the events to select on the hook.
func (Tracker) WebhookEvents() []string {
	return []string{"jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"}
}
