// Package jenkins is the Jenkins context source: for each watched job path
// (folder/job) it reads the last builds (GET /job/<a>/job/<b>/api/json with
// a tree), with HTTP basic auth (the Jenkins user id and an API token).
package jenkins

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// Tracker reads Jenkins jobs.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
	_ trackers.ContextReader   = Tracker{}
)

// New returns the Jenkins context source.
func New() Tracker { return Tracker{} }

// jobPath is a job's full name: item names joined by '/', none starting
// with '.' (so no "." or ".." segment). Multibranch jobs keep Jenkins' own
// encoding of the branch (feature%2Fx).
var jobPath = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9 _.()%+~,'=-]*(/[A-Za-z0-9_][A-Za-z0-9 _.()%+~,'=-]*)*$`)

// Permissions the user needs, by Jenkins' (matrix) authorization names.
const (
	PermOverallRead = "Overall/Read"
	PermJobRead     = "Job/Read"
)

// LastBuilds is how many builds a report carries, newest first.
const LastBuilds = 5

// Rules: Jenkins is self-hosted, so --endpoint (the base URL) is required,
// as in DevLake; the credential is BasicAuth: the user id and an API token.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:         connector.Jenkins,
		Deployments:    []connector.Deployment{connector.SelfHosted},
		AuthModes:      map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthBasic}},
		Watch:          &connector.KeyRule{Required: true, Pattern: jobPath, What: "the Jenkins job paths (folder/job)", Invalid: "must be a Jenkins job path: item names joined by '/' (folder/job)"},
		RequiredScopes: []string{PermOverallRead, PermJobRead},
	}
}

// jobURLPath is /job/a/job/b for the job path a/b.
func jobURLPath(path string) string {
	var b strings.Builder
	for _, seg := range strings.Split(path, "/") {
		b.WriteString("job/")
		b.WriteString(seg)
		b.WriteString("/")
	}
	return b.String()
}

type user struct {
	ID          string `json:"id"`
	FullName    string `json:"fullName"`
	AbsoluteURL string `json:"absoluteUrl"`
}

type build struct {
	Number     int64   `json:"number"`
	URL        string  `json:"url"`
	Result     *string `json:"result"`
	Building   bool    `json:"building"`
	InProgress bool    `json:"inProgress"`
	Timestamp  int64   `json:"timestamp"` // ms since the epoch
	Duration   int64   `json:"duration"`  // ms
	ChangeSets []struct {
		Items []struct {
			CommitID string `json:"commitId"`
		} `json:"items"`
	} `json:"changeSets"`
}

type job struct {
	Name     string  `json:"name"`
	FullName string  `json:"fullName"`
	URL      string  `json:"url"`
	Color    string  `json:"color"`
	Builds   []build `json:"builds"`
}

// buildTree asks for the last builds and only the fields read here.
var buildTree = fmt.Sprintf("name,fullName,url,color,builds[number,url,result,building,inProgress,timestamp,duration,changeSets[items[commitId]]]{0,%d}", LastBuilds)

func getJob(ctx context.Context, s *trackers.Session, path, tree string) (job, error) {
	var j job
	err := ctxhttp.Get(ctx, s, ctxhttp.Request{Path: jobURLPath(path) + "api/json", Query: url.Values{"tree": {tree}}, What: "job " + path}, &j)
	return j, err
}

// CheckIdentity: who the user is (GET /me/api/json), then each watched job
// is readable.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	var me user
	err := ctxhttp.Get(ctx, s, ctxhttp.Request{Path: "me/api/json", What: "current user"}, &me)
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, ctxhttp.ErrForbidden):
		r.Fail(trackers.CheckIdentity, "%v: the user lacks %s", err, PermOverallRead)
		return
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckIdentity, "%v (Jenkins needs the user id as username and an API token from the user's Security page, not the password)", err)
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	}
	r.Identity = me.ID
	r.Pass(trackers.CheckIdentity, "authenticated as %s (%s)", me.ID, me.FullName)
	ctxhttp.CheckWatched(s, r, "jobs readable", func(path string) error {
		_, err := getJob(ctx, s, path, "name,url")
		return err
	}, func(err error) string {
		switch {
		case errors.Is(err, ctxhttp.ErrNotFound):
			// Jenkins answers 404 for a job the user may not see.
			return fmt.Sprintf("no such job, or %s lacks %s on it (check the folder path: folder/job)", me.ID, PermJobRead)
		case errors.Is(err, ctxhttp.ErrForbidden):
			return fmt.Sprintf("%s lacks %s on it", me.ID, PermJobRead)
		}
		return ""
	})
}

// ReadContext reads a job's last builds in one request. Jenkins' JSON API
// (as in the shape) carries no stages or test cases, so FailingSteps stay
// empty; the revision is the newest commit of the build's change sets.
func (Tracker) ReadContext(ctx context.Context, s *trackers.Session, scope string) (trackers.ContextReport, error) {
	if !jobPath.MatchString(scope) {
		return trackers.ContextReport{}, fmt.Errorf("%w: %q is not a Jenkins job path", trackers.ErrInvalidConfig, scope)
	}
	j, err := getJob(ctx, s, scope, buildTree)
	if err != nil {
		return trackers.ContextReport{}, err
	}
	rep := trackers.ContextReport{Scope: scope, URL: j.URL}
	if rep.URL == "" {
		rep.URL = s.BaseURL.JoinPath(jobURLPath(scope)).String()
	}
	name := j.FullName
	if name == "" {
		name = scope
	}
	for i, b := range j.Builds {
		if i == LastBuilds {
			break
		}
		out := trackers.Build{ID: fmt.Sprint(b.Number), Name: name, Status: statusOf(b), URL: b.URL}
		if b.Timestamp > 0 {
			out.Started = time.UnixMilli(b.Timestamp).UTC()
			if out.Status != trackers.BuildRunning && b.Duration > 0 {
				out.Finished = out.Started.Add(time.Duration(b.Duration) * time.Millisecond)
			}
		}
		for _, cs := range b.ChangeSets {
			if n := len(cs.Items); n > 0 && cs.Items[n-1].CommitID != "" {
				out.Revision = cs.Items[n-1].CommitID
			}
		}
		rep.Builds = append(rep.Builds, out)
	}
	return rep, nil
}

func statusOf(b build) string {
	if b.Building || b.InProgress {
		return trackers.BuildRunning
	}
	if b.Result == nil {
		return trackers.BuildUnknown
	}
	switch *b.Result {
	case "SUCCESS":
		return trackers.BuildSucceeded
	case "FAILURE", "UNSTABLE":
		return trackers.BuildFailed
	case "ABORTED":
		return trackers.BuildCanceled
	}
	return trackers.BuildUnknown
}
