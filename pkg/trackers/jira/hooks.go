package jira

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.WebhookRegistrar = Tracker{}

// jiraDCWebhooksAPI is Jira Data Center's webhook REST resource (not under
// rest/api/2).
const jiraDCWebhooksAPI = "rest/webhooks/1.0"

// jiraDCHook is the body of POST /rest/webhooks/1.0/webhook (Jira Data
// Center 10: the secret signs deliveries as X-Hub-Signature).
type jiraDCHook struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Events      []string          `json:"events"`
	Filters     map[string]string `json:"filters,omitempty"`
	ExcludeBody bool              `json:"excludeBody"`
	Secret      string            `json:"secret,omitempty"`
}

// jiraDCHookCreated is the part of the answer read: "self" ends in the hook id.
type jiraDCHookCreated struct {
	Self string `json:"self"`
}

// CreateWebhook creates the hook on Jira Data Center, filtered to the
// connector's project. Jira Cloud creates webhooks through the REST API
// (POST /rest/api/3/webhook) only for an OAuth 2.0 or Connect app, which an
// API-token connector is not: on Cloud it is ErrWebhookManual (an admin
// adds it under System → WebHooks with the URL, events and secret that
// `hubctl connectors webhook ID` prints). A 403 (not a Jira administrator)
// is ErrWebhookManual too.
func (t Tracker) CreateWebhook(ctx context.Context, s *trackers.Session, url string, secret []byte) (string, error) {
	if s.Connector.Deployment == connector.Cloud {
		return "", fmt.Errorf("%w: Jira Cloud registers webhooks through the API only for OAuth 2.0 or Connect apps; an admin adds it under System → WebHooks", trackers.ErrWebhookManual)
	}
	c := jiraClient{s: s, api: jiraDCWebhooksAPI}
	body := jiraDCHook{
		Name:   "connectorhub " + s.Connector.ID,
		URL:    url,
		Events: t.WebhookEvents(),
		Secret: string(secret),
	}
	if p := s.Connector.Project; p != "" {
		q, err := jqlString(p)
		if err != nil {
			return "", fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
		}
		body.Filters = map[string]string{"issue-related-events-section": "project = " + q}
	}
	var out jiraDCHookCreated
	err := c.do(ctx, http.MethodPost, "webhook", nil, body, &out)
	if jiraStatus(err) == http.StatusForbidden {
		return "", fmt.Errorf("%w: Jira refused to create a webhook (only Jira administrators may)", trackers.ErrWebhookManual)
	}
	if err != nil {
		return "", err
	}
	id := path.Base(strings.TrimRight(out.Self, "/"))
	if out.Self == "" || id == "" || id == "." || id == "/" {
		return "", fmt.Errorf("%w: created webhook has no self link", trackers.ErrMalformedResponse)
	}
	return id, nil
}

// DeleteWebhook deletes the Data Center hook (DELETE /rest/webhooks/1.0/webhook/{id}).
func (Tracker) DeleteWebhook(ctx context.Context, s *trackers.Session, hookID string) error {
	if hookID == "" || strings.ContainsAny(hookID, "/?#") {
		return fmt.Errorf("%w: hook id %q is not a Jira webhook id", trackers.ErrInvalidConfig, hookID)
	}
	c := jiraClient{s: s, api: jiraDCWebhooksAPI}
	err := c.do(ctx, http.MethodDelete, "webhook/"+hookID, nil, nil, nil)
	if jiraStatus(err) == http.StatusNotFound {
		return nil
	}
	return err
}
