package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.WebhookReceiver = Tracker{}

// VerifyWebhook checks X-Hub-Signature-256 (HMAC-SHA256 of the raw body) and
// returns X-GitHub-Delivery, which GitHub keeps on a redelivery.
func (Tracker) VerifyWebhook(v trackers.WebhookVerify) (string, error) {
	if err := trackers.VerifyHexSignature(v.Header.Get("X-Hub-Signature-256"), v.Secret, v.Body); err != nil {
		return "", err
	}
	id := v.Header.Get("X-GitHub-Delivery")
	if id == "" {
		id = trackers.BodyDigest(v.Body)
	}
	return id, nil
}

// webhookPayload is the part of an issues / issue_comment payload read:
// the repository and the issue number, nothing else.
type webhookPayload struct {
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Issue *struct {
		Number      int64           `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	} `json:"issue"`
}

// ParseWebhook names the issue an issues or issue_comment delivery is
// about. Pull requests (their own event, or an issue_comment on one) are not
// tickets here, as in discovery; a ping names nothing.
func (Tracker) ParseWebhook(h http.Header, body []byte) ([]string, error) {
	switch ev := h.Get("X-GitHub-Event"); ev {
	case "issues", "issue_comment", "":
	default:
		return nil, nil
	}
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("github webhook: %w", err)
	}
	if p.Issue == nil || len(p.Issue.PullRequest) > 0 && string(p.Issue.PullRequest) != "null" {
		return nil, nil
	}
	owner, repo, ok := strings.Cut(p.Repository.FullName, "/")
	if !ok || owner == "" || repo == "" || strings.ContainsAny(repo, "/#") || p.Issue.Number <= 0 {
		return nil, fmt.Errorf("github webhook: no repository/issue number")
	}
	return []string{fmt.Sprintf("%s/%s#%d", owner, repo, p.Issue.Number)}, nil
}

// WebhookEvents are the events to select on the repository's hook.
func (Tracker) WebhookEvents() []string { return []string{"issues", "issue_comment"} }
