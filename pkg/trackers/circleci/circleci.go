// Package circleci is the CircleCI context source: for the watched project
// slug (gh/org/repo) it reads the latest pipelines on the default branch
// (GET /api/v2/project/{slug}/pipeline), their workflows and the failing
// jobs of failed ones, with a personal API token sent as Circle-Token.
package circleci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// Tracker reads CircleCI projects.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
	_ trackers.ContextReader   = Tracker{}
)

// New returns the CircleCI context source.
func New() Tracker { return Tracker{} }

// DefaultBaseURL is CircleCI cloud; CircleCI server sets its own.
const DefaultBaseURL = "https://circleci.com"

// projectSlug is vcs/org/repo: gh or github, bb or bitbucket, or circleci
// with the organization and project ids (GitLab and GitHub App projects).
var projectSlug = regexp.MustCompile(`^(gh|github|bb|bitbucket|circleci)/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$`)

// RequiredPermission: CircleCI personal tokens carry no scopes; they act
// as their user.
const RequiredPermission = "a personal API token (User Settings → Personal API Tokens) of a user who can view the project"

// Bounds of one read: pipelines looked at, and failed workflows whose jobs
// are listed (1 + MaxPipelines + MaxFailedWorkflows requests at most).
const (
	MaxPipelines       = 2
	MaxFailedWorkflows = 2
	maxFailingJobs     = 5
)

// Rules: CircleCI cloud by default (https://circleci.com, as in DevLake),
// CircleCI server with its base URL.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.CircleCI,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			connector.Cloud: {connector.AuthBearer}, connector.SelfHosted: {connector.AuthBearer},
		},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: DefaultBaseURL},
		Watch:           &connector.KeyRule{Required: true, Pattern: projectSlug, What: "the CircleCI project slug (gh/org/repo)", Invalid: "must be a CircleCI project slug: gh/org/repo, bb/workspace/repo or circleci/<org-id>/<project-id>"},
		RequiredScopes:  []string{RequiredPermission},
	}
}

// circleToken replaces the session's bearer header with CircleCI's own.
func circleToken(s *trackers.Session) func(*http.Request) {
	return func(req *http.Request) {
		req.Header.Del("Authorization")
		req.Header.Set("Circle-Token", s.Secret.Reveal())
	}
}

func messages(raw []byte) []string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		return nil
	}
	return []string{e.Message}
}

func get(ctx context.Context, s *trackers.Session, path string, q url.Values, out any, what string) error {
	return ctxhttp.Get(ctx, s, ctxhttp.Request{Path: path, Query: q, Auth: circleToken(s), Messages: messages, What: what}, out)
}

type pipeline struct {
	ID        string    `json:"id"`
	Number    int64     `json:"number"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	Errors    []struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"errors"`
	VCS *struct {
		Branch   string `json:"branch"`
		Revision string `json:"revision"`
	} `json:"vcs"`
}

type workflow struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	StoppedAt *time.Time `json:"stopped_at"`
}

type job struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type page[T any] struct {
	Items []T `json:"items"`
}

func pipelines(ctx context.Context, s *trackers.Session, slug string) ([]pipeline, error) {
	var p page[pipeline]
	err := get(ctx, s, "api/v2/project/"+slug+"/pipeline", nil, &p, "pipelines of "+slug)
	return p.Items, err
}

// CheckIdentity: who the token is (GET /api/v2/me), then each watched
// project's pipelines are readable.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	var me struct {
		ID    string `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	err := get(ctx, s, "api/v2/me", nil, &me, "current user")
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckIdentity, "%v (CircleCI needs %s; project API tokens cannot call /me)", err, RequiredPermission)
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	}
	r.Identity = me.Login
	r.Pass(trackers.CheckIdentity, "authenticated as %s", me.Login)
	ctxhttp.CheckWatched(s, r, "pipelines readable", func(slug string) error {
		_, err := pipelines(ctx, s, slug)
		return err
	}, func(err error) string {
		if errors.Is(err, ctxhttp.ErrNotFound) || errors.Is(err, ctxhttp.ErrForbidden) {
			return "not found or not visible to " + me.Login + ": the user must be able to view the project (a member of the organization with access to the repository, and the project set up in CircleCI)"
		}
		return ""
	})
}

// defaultBranch guesses the project's default branch from its latest
// pipelines: main or master when one of them ran there, else the branch of
// the newest. CircleCI's project endpoint (which names it) is not in the
// API shape this package is checked against.
func defaultBranch(ps []pipeline) string {
	for _, want := range []string{"main", "master"} {
		for _, p := range ps {
			if p.VCS != nil && p.VCS.Branch == want {
				return want
			}
		}
	}
	for _, p := range ps {
		if p.VCS != nil && p.VCS.Branch != "" {
			return p.VCS.Branch
		}
	}
	return ""
}

// ReadContext reads the latest pipelines of a project slug on its default
// branch, each workflow as a Build, newest first, with the failing jobs of
// failed workflows. At most 1 + MaxPipelines + MaxFailedWorkflows requests.
func (Tracker) ReadContext(ctx context.Context, s *trackers.Session, scope string) (trackers.ContextReport, error) {
	if !projectSlug.MatchString(scope) {
		return trackers.ContextReport{}, fmt.Errorf("%w: %q is not a CircleCI project slug", trackers.ErrInvalidConfig, scope)
	}
	ps, err := pipelines(ctx, s, scope)
	if err != nil {
		return trackers.ContextReport{}, err
	}
	branch := defaultBranch(ps)
	web := webURL(s)
	rep := trackers.ContextReport{Scope: scope, URL: web.JoinPath("pipelines", scope).String()}
	failedLooked := 0
	taken := 0
	for _, p := range ps {
		if taken == MaxPipelines {
			break
		}
		if branch != "" && (p.VCS == nil || p.VCS.Branch != branch) {
			continue
		}
		taken++
		b := trackers.Build{ID: fmt.Sprint(p.Number), Branch: branch, Started: p.CreatedAt.UTC(),
			URL: web.JoinPath("pipelines", scope, fmt.Sprint(p.Number)).String()}
		if p.VCS != nil {
			b.Revision = p.VCS.Revision
		}
		if p.State == "errored" || len(p.Errors) > 0 {
			// A pipeline whose configuration failed has no workflows.
			b.Name, b.Status = "pipeline", trackers.BuildFailed
			for _, e := range p.Errors {
				b.FailingSteps = append(b.FailingSteps, e.Type+": "+e.Message)
			}
			rep.Builds = append(rep.Builds, b)
			continue
		}
		var wf page[workflow]
		if err := get(ctx, s, "api/v2/pipeline/"+url.PathEscape(p.ID)+"/workflow", nil, &wf, "workflows of pipeline "+b.ID); err != nil {
			return trackers.ContextReport{}, err
		}
		for _, w := range wf.Items {
			wb := b
			wb.Name, wb.Status = w.Name, statusOf(w.Status)
			wb.URL = web.JoinPath("pipelines", scope, fmt.Sprint(p.Number), "workflows", w.ID).String()
			if !w.CreatedAt.IsZero() {
				wb.Started = w.CreatedAt.UTC()
			}
			if w.StoppedAt != nil && wb.Status != trackers.BuildRunning {
				wb.Finished = w.StoppedAt.UTC()
			}
			if wb.Status == trackers.BuildFailed && failedLooked < MaxFailedWorkflows {
				failedLooked++
				var jobs page[job]
				if err := get(ctx, s, "api/v2/workflow/"+url.PathEscape(w.ID)+"/job", nil, &jobs, "jobs of workflow "+w.Name); err != nil {
					return trackers.ContextReport{}, err
				}
				for _, j := range jobs.Items {
					if statusOf(j.Status) == trackers.BuildFailed && len(wb.FailingSteps) < maxFailingJobs {
						wb.FailingSteps = append(wb.FailingSteps, j.Name)
					}
				}
			}
			rep.Builds = append(rep.Builds, wb)
		}
	}
	slices.SortStableFunc(rep.Builds, func(a, b trackers.Build) int { return b.Started.Compare(a.Started) })
	return rep, nil
}

// webURL is the CircleCI web app: app.circleci.com for the cloud, the
// server's own host otherwise.
func webURL(s *trackers.Session) *url.URL {
	u := *s.BaseURL
	if u.Host == "circleci.com" {
		u.Host = "app.circleci.com"
	}
	u.Path, u.RawPath = "", ""
	return &u
}

func statusOf(v string) string {
	switch v {
	case "success":
		return trackers.BuildSucceeded
	case "failed", "error", "failing", "infrastructure_fail", "timedout", "unauthorized", "terminated-unknown":
		return trackers.BuildFailed
	case "running", "on_hold", "queued", "not_running", "blocked":
		return trackers.BuildRunning
	case "canceled":
		return trackers.BuildCanceled
	}
	return trackers.BuildUnknown
}
