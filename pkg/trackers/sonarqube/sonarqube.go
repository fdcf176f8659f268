// Package sonarqube is the SonarQube context source: for each watched
// project key it reads the quality gate (api/qualitygates/project_status)
// and the open issues in the new code period, counted by severity with the
// few most severe (api/issues/search), with a user token sent as Bearer.
package sonarqube

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/ctxhttp"
)

// Tracker reads SonarQube projects.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
	_ trackers.ContextReader   = Tracker{}
)

// New returns the SonarQube context source.
func New() Tracker { return Tracker{} }

// projectKey is SonarQube's project key rule: letters, digits, '-', '_',
// '.' and ':'.
var projectKey = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,400}$`)

// RequiredPermission is what the token's user needs on each watched project.
const RequiredPermission = "Browse on each watched project (a user token, not a project analysis token)"

// TopIssues is how many of the most severe new issues a report lists.
const TopIssues = 5

// Rules: SonarQube Server is self-hosted, so --endpoint (the base URL) is
// required, as in DevLake; the credential is a user token sent as Bearer.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:         connector.SonarQube,
		Deployments:    []connector.Deployment{connector.SelfHosted},
		AuthModes:      map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthBearer}},
		Watch:          &connector.KeyRule{Required: true, Pattern: projectKey, What: "the SonarQube project keys", Invalid: "must be a SonarQube project key (letters, digits, '-', '_', '.', ':')"},
		RequiredScopes: []string{RequiredPermission},
	}
}

// messages reads SonarQube's {"errors":[{"msg":…}]}.
func messages(raw []byte) []string {
	var e struct {
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return nil
	}
	var out []string
	for _, m := range e.Errors {
		out = append(out, m.Msg)
	}
	return out
}

func get(ctx context.Context, s *trackers.Session, path string, q url.Values, out any, what string) error {
	return ctxhttp.Get(ctx, s, ctxhttp.Request{Path: path, Query: q, Messages: messages, What: what}, out)
}

type projectStatus struct {
	ProjectStatus struct {
		Status     string `json:"status"`
		Conditions []struct {
			Status         string `json:"status"`
			MetricKey      string `json:"metricKey"`
			Comparator     string `json:"comparator"`
			ErrorThreshold string `json:"errorThreshold"`
			ActualValue    string `json:"actualValue"`
		} `json:"conditions"`
	} `json:"projectStatus"`
}

type issue struct {
	Key       string `json:"key"`
	Component string `json:"component"`
	Project   string `json:"project"`
	Severity  string `json:"severity"`
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line"`
	Impacts   []struct {
		SoftwareQuality string `json:"softwareQuality"`
		Severity        string `json:"severity"`
	} `json:"impacts"`
}

type issueSearch struct {
	Paging struct {
		Total int `json:"total"`
	} `json:"paging"`
	Issues []issue `json:"issues"`
	Facets []struct {
		Property string `json:"property"`
		Values   []struct {
			Val   string `json:"val"`
			Count int    `json:"count"`
		} `json:"values"`
	} `json:"facets"`
}

func gateStatus(ctx context.Context, s *trackers.Session, key string) (projectStatus, error) {
	var ps projectStatus
	err := get(ctx, s, "api/qualitygates/project_status", url.Values{"projectKey": {key}}, &ps, "quality gate of project "+key)
	return ps, err
}

// CheckIdentity: the token is valid (api/authentication/validate; the
// shape has no user endpoint, so the identity is the token's validity),
// then each watched project's gate is readable.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	var v struct {
		Valid bool `json:"valid"`
	}
	err := get(ctx, s, "api/authentication/validate", nil, &v, "token validation")
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	case !v.Valid:
		// SonarQube answers 200 {"valid": false} to a token it does not know.
		r.Fail(trackers.CheckIdentity, "SonarQube does not accept the token: generate a user token under My Account → Security (type User token)")
		return
	}
	r.Identity = "sonarqube user token"
	r.Pass(trackers.CheckIdentity, "token valid")
	ctxhttp.CheckWatched(s, r, "quality gates readable", func(key string) error {
		_, err := gateStatus(ctx, s, key)
		return err
	}, func(err error) string {
		switch {
		case errors.Is(err, ctxhttp.ErrForbidden):
			return "the token's user lacks Browse permission on the project (Project Settings → Permissions)"
		case errors.Is(err, ctxhttp.ErrNotFound):
			return "no such project, or it has not been analysed yet"
		case errors.Is(err, trackers.ErrUnauthorized):
			return err.Error() + " (a user token is needed; project analysis tokens cannot read gates)"
		}
		return ""
	})
}

// ReadContext reads one project's gate and its new issues: two requests.
func (Tracker) ReadContext(ctx context.Context, s *trackers.Session, scope string) (trackers.ContextReport, error) {
	if !projectKey.MatchString(scope) {
		return trackers.ContextReport{}, fmt.Errorf("%w: %q is not a SonarQube project key", trackers.ErrInvalidConfig, scope)
	}
	ps, err := gateStatus(ctx, s, scope)
	if err != nil {
		return trackers.ContextReport{}, err
	}
	q := &trackers.QualityGate{Status: gateOf(ps.ProjectStatus.Status), NewIssues: map[string]int{}}
	for _, c := range ps.ProjectStatus.Conditions {
		if c.Status == "ERROR" {
			q.FailedConditions = append(q.FailedConditions, c.MetricKey)
		}
	}
	var is issueSearch
	err = get(ctx, s, "api/issues/search", url.Values{
		"components": {scope}, "inNewCodePeriod": {"true"}, "resolved": {"false"},
		"facets": {"severities,impactSeverities"}, "s": {"SEVERITY"}, "asc": {"false"}, "ps": {fmt.Sprint(TopIssues)},
	}, &is, "new issues of project "+scope)
	if err != nil {
		return trackers.ContextReport{}, err
	}
	// The classic severities facet when the server still computes it
	// (SonarQube up to 10.x, and 2025 in standard mode), else the
	// impact severities of Multi-Quality Rule mode.
	for _, prop := range []string{"severities", "impactSeverities"} {
		for _, f := range is.Facets {
			if f.Property != prop {
				continue
			}
			for _, v := range f.Values {
				if v.Count > 0 {
					q.NewIssues[strings.ToLower(v.Val)] = v.Count
				}
			}
		}
		if len(q.NewIssues) > 0 {
			break
		}
	}
	if len(q.NewIssues) == 0 && is.Paging.Total > 0 {
		for _, i := range is.Issues {
			q.NewIssues[severityOf(i)]++
		}
	}
	for _, i := range is.Issues {
		q.TopIssues = append(q.TopIssues, trackers.QualityIssue{
			Key:       i.Key,
			Severity:  severityOf(i),
			Type:      typeOf(i),
			Message:   i.Message,
			Component: strings.TrimPrefix(i.Component, scope+":"),
			Line:      i.Line,
			URL:       s.BaseURL.JoinPath("project", "issues").String() + "?" + url.Values{"id": {scope}, "issues": {i.Key}, "open": {i.Key}}.Encode(),
		})
	}
	slices.SortStableFunc(q.TopIssues, func(a, b trackers.QualityIssue) int { return rank(a.Severity) - rank(b.Severity) })
	if len(q.TopIssues) > TopIssues {
		q.TopIssues = q.TopIssues[:TopIssues]
	}
	return trackers.ContextReport{
		Scope:   scope,
		URL:     s.BaseURL.JoinPath("dashboard").String() + "?" + url.Values{"id": {scope}}.Encode(),
		Quality: q,
	}, nil
}

func gateOf(v string) string {
	switch v {
	case "OK":
		return trackers.GateOK
	case "WARN":
		return trackers.GateWarn
	case "ERROR":
		return trackers.GateError
	}
	return trackers.GateNone
}

// severityOf is the classic severity, else the highest impact severity.
func severityOf(i issue) string {
	if i.Severity != "" {
		return strings.ToLower(i.Severity)
	}
	best := ""
	for _, im := range i.Impacts {
		if s := strings.ToLower(im.Severity); best == "" || rank(s) < rank(best) {
			best = s
		}
	}
	if best == "" {
		return "info"
	}
	return best
}

// rank orders severities, most severe first, classic and impact ones alike.
func rank(sev string) int {
	switch sev {
	case "blocker":
		return 0
	case "critical", "high":
		return 1
	case "major", "medium":
		return 2
	case "minor", "low":
		return 3
	}
	return 4
}

func typeOf(i issue) string {
	if i.Type != "" {
		return strings.ToLower(i.Type)
	}
	for _, im := range i.Impacts {
		switch im.SoftwareQuality {
		case "RELIABILITY":
			return "bug"
		case "SECURITY":
			return "vulnerability"
		}
	}
	return "code_smell"
}
