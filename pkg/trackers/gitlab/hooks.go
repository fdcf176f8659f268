package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.WebhookRegistrar = Tracker{}

// gitlabHookCreate is the body of POST /projects/:id/hooks (the fields of
// GitLab's postApiV4ProjectsIdHooks this code sets).
type gitlabHookCreate struct {
	URL                   string `json:"url"`
	Token                 string `json:"token"`
	IssuesEvents          bool   `json:"issues_events"`
	NoteEvents            bool   `json:"note_events"`
	MergeRequestsEvents   bool   `json:"merge_requests_events"`
	PushEvents            bool   `json:"push_events"`
	EnableSSLVerification bool   `json:"enable_ssl_verification"`
}

// gitlabHook is the part of API_Entities_ProjectHook read back.
type gitlabHook struct {
	ID int64 `json:"id"`
}

// CreateWebhook creates a project hook (POST /projects/:id/hooks) for issue,
// note (comment) and merge request events, with secret as its token (GitLab
// sends it back as X-Gitlab-Token; services/webhooks compares it in constant
// time). Creating hooks needs the Maintainer role: a 403 is ErrWebhookManual.
func (Tracker) CreateWebhook(ctx context.Context, s *trackers.Session, url string, secret []byte) (string, error) {
	c, err := gitlabConnFor(s)
	if err != nil {
		return "", err
	}
	body := gitlabHookCreate{URL: url, Token: string(secret), IssuesEvents: true, NoteEvents: true, MergeRequestsEvents: true, EnableSSLVerification: true}
	var h gitlabHook
	resp, err := c.call(ctx, http.MethodPost, gitlabProjectPath(s)+"/hooks", body, &h, "create hook on project "+s.Connector.Project)
	if resp != nil && resp.Response != nil && resp.StatusCode == http.StatusForbidden {
		return "", fmt.Errorf("%w: GitLab refused to create a hook on %s (creating project hooks needs the Maintainer role and the api scope)", trackers.ErrWebhookManual, s.Connector.Project)
	}
	if err != nil {
		return "", err
	}
	if h.ID <= 0 {
		return "", fmt.Errorf("%w: created hook has no id", trackers.ErrMalformedResponse)
	}
	return strconv.FormatInt(h.ID, 10), nil
}

// DeleteWebhook deletes the project hook (DELETE /projects/:id/hooks/:hook_id).
func (Tracker) DeleteWebhook(ctx context.Context, s *trackers.Session, hookID string) error {
	id, err := strconv.ParseInt(hookID, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: hook id %q is not a GitLab hook id", trackers.ErrInvalidConfig, hookID)
	}
	c, err := gitlabConnFor(s)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodDelete, gitlabProjectPath(s)+"/hooks/"+strconv.FormatInt(id, 10), nil, nil, "delete hook of project "+s.Connector.Project)
	if errors.Is(err, errGitLabNotFound) {
		return nil // already gone
	}
	return err
}
