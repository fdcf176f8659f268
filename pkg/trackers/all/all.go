// Package all is the one place that names every tracker system: adding a
// system means adding it here (see docs/architecture.md, "Adding a tracker").
package all

import (
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/argocd"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket"
	"github.com/connectorhub/connectorhub/pkg/trackers/circleci"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/jenkins"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty"
	"github.com/connectorhub/connectorhub/pkg/trackers/sonarqube"
)

// Registry returns a registry of every system connectorhub supports, in the
// order hubctl and the registry API list them.
func Registry() *trackers.Registry {
	reg, err := trackers.NewRegistry(jira.New(), github.New(), gitlab.New(), confluence.New(),
		azuredevops.New(), bitbucket.New(), pagerduty.New(),
		// Context sources (read-only): builds, quality gates, deployments.
		jenkins.New(), circleci.New(), sonarqube.New(), argocd.New(),
	)
	if err != nil { // two trackers for one system: a programming error caught by this package's test
		panic(err)
	}
	return reg
}
