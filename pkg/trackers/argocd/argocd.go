// Package argocd is the Argo CD context source: for each watched
// application it reads health, sync status and the last synced revision
// (GET /api/v1/applications/{name}), with a bearer auth token (an account's
// API token or a session token).
package argocd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// Tracker reads Argo CD applications.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
	_ trackers.ContextReader   = Tracker{}
)

// New returns the Argo CD context source.
func New() Tracker { return Tracker{} }

// appName is a Kubernetes object name (DNS-1123 subdomain), as Argo CD
// names applications.
var appName = regexp.MustCompile(`^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$`)

// RequiredPermission is the Argo CD RBAC rule the account needs on each
// watched application.
const RequiredPermission = "applications, get (Argo CD RBAC, e.g. p, role:readonly, applications, get, */*, allow)"

// Rules: Argo CD is self-hosted, so --endpoint (the base URL) is required,
// as in DevLake; the credential is an auth token sent as Bearer.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:         connector.ArgoCD,
		Deployments:    []connector.Deployment{connector.SelfHosted},
		AuthModes:      map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthBearer}},
		Watch:          &connector.KeyRule{Required: true, Pattern: appName, What: "the Argo CD application names", Invalid: "must be an Argo CD application name (lowercase letters, digits, '-' and '.')"},
		RequiredScopes: []string{RequiredPermission},
	}
}

type runtimeError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func messages(raw []byte) []string {
	var e runtimeError
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		return nil
	}
	return []string{e.Message}
}

type userInfo struct {
	LoggedIn bool     `json:"loggedIn"`
	Username string   `json:"username"`
	Iss      string   `json:"iss"`
	Groups   []string `json:"groups"`
}

type application struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Status struct {
		Health struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"health"`
		Sync struct {
			Status   string `json:"status"`
			Revision string `json:"revision"`
		} `json:"sync"`
		OperationState *struct {
			Phase      string     `json:"phase"`
			Message    string     `json:"message"`
			FinishedAt *time.Time `json:"finishedAt"`
			SyncResult *struct {
				Revision string `json:"revision"`
			} `json:"syncResult"`
		} `json:"operationState"`
		History []struct {
			Revision   string     `json:"revision"`
			DeployedAt *time.Time `json:"deployedAt"`
		} `json:"history"`
	} `json:"status"`
}

func getApp(ctx context.Context, s *trackers.Session, name string) (application, error) {
	var app application
	err := ctxhttp.Get(ctx, s, ctxhttp.Request{Path: "api/v1/applications/" + name, Messages: messages, What: "application " + name}, &app)
	return app, err
}

// CheckIdentity: who the token is (GET /api/v1/session/userinfo), then each
// watched application is readable.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	var me userInfo
	err := ctxhttp.Get(ctx, s, ctxhttp.Request{Path: "api/v1/session/userinfo", Messages: messages, What: "session user"}, &me)
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckIdentity, "%v (send an Argo CD auth token: `argocd account generate-token --account <name>`; the account needs the apiKey capability)", err)
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	case !me.LoggedIn:
		r.Fail(trackers.CheckIdentity, "Argo CD does not accept the token (not logged in): generate one with `argocd account generate-token --account <name>`")
		return
	}
	r.Identity = me.Username
	r.Pass(trackers.CheckIdentity, "authenticated as %s", me.Username)
	checkWatched(ctx, s, r)
}

func checkWatched(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	ctxhttp.CheckWatched(s, r, "applications readable", func(name string) error {
		_, err := getApp(ctx, s, name)
		return err
	}, func(err error) string {
		if errors.Is(err, ctxhttp.ErrForbidden) || errors.Is(err, ctxhttp.ErrNotFound) {
			// Argo CD answers 403 "permission denied" for an application
			// that does not exist as well as for one the account may not read.
			return "not found, or the account lacks RBAC " + RequiredPermission
		}
		return ""
	})
}

// ReadContext reads one application: health, sync status, the last synced
// revision and when it was synced. One request.
func (Tracker) ReadContext(ctx context.Context, s *trackers.Session, scope string) (trackers.ContextReport, error) {
	if !appName.MatchString(scope) {
		return trackers.ContextReport{}, fmt.Errorf("%w: %q is not an Argo CD application name", trackers.ErrInvalidConfig, scope)
	}
	app, err := getApp(ctx, s, scope)
	if errors.Is(err, ctxhttp.ErrForbidden) {
		// Argo CD hides applications the account may not read behind 403.
		err = fmt.Errorf("%w (not found, or the account lacks RBAC %s)", err, RequiredPermission)
	}
	if err != nil {
		return trackers.ContextReport{}, err
	}
	st := app.Status
	d := &trackers.DeploymentState{
		Health:   orUnknown(st.Health.Status),
		Sync:     orUnknown(st.Sync.Status),
		Revision: st.Sync.Revision,
		Message:  st.Health.Message,
	}
	if op := st.OperationState; op != nil {
		if op.Phase == "Succeeded" && op.FinishedAt != nil {
			d.SyncedAt = op.FinishedAt.UTC()
			if op.SyncResult != nil && op.SyncResult.Revision != "" {
				d.Revision = op.SyncResult.Revision
			}
		}
		if d.Message == "" && op.Phase != "Succeeded" {
			d.Message = op.Message
		}
	}
	if n := len(st.History); d.SyncedAt.IsZero() && n > 0 && st.History[n-1].DeployedAt != nil {
		d.SyncedAt = st.History[n-1].DeployedAt.UTC()
		if d.Revision == "" {
			d.Revision = st.History[n-1].Revision
		}
	}
	return trackers.ContextReport{
		Scope:      scope,
		URL:        s.BaseURL.JoinPath("applications", scope).String(),
		Deployment: d,
	}, nil
}

func orUnknown(v string) string {
	if v == "" {
		return "Unknown"
	}
	return v
}
