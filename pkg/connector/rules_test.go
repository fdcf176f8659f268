package connector_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
)

// The project, repository and space key rules are declared once, by each
// tracker package. These cases sit at the vendors' boundaries, and both the
// registry's validation (Connector.Validate) and a worker's session
// (trackers.NewSession) must agree on every one of them.
func TestKeyRulesAtTheVendorBoundary(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	jira := func(project string) connector.Connector {
		return connector.Connector{ID: "j1", System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://acme.atlassian.net",
			AuthMode: connector.AuthBasic, Username: "bot@acme.example", Project: project}
	}
	github := func(project string) connector.Connector {
		return connector.Connector{ID: "g1", System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: project}
	}
	gitlab := func(project string) connector.Connector {
		return connector.Connector{ID: "l1", System: connector.GitLab, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: project}
	}
	confluence := func(key string) connector.Connector {
		return connector.Connector{ID: "c1", System: connector.Confluence, Deployment: connector.SelfHosted, BaseURL: "https://wiki.example.com",
			AuthMode: connector.AuthBearer, SpaceKeys: []string{key}}
	}
	tests := []struct {
		name string
		c    connector.Connector
		ok   bool
	}{
		{"jira key", jira("PROJ"), true},
		{"jira key of one letter", jira("A"), true},
		{"jira key with digits and underscore", jira("R2_D2"), true},
		{"jira key of 255 characters", jira("A" + strings.Repeat("B", 254)), true},
		{"jira numeric project id", jira("10000"), true},
		{"jira lowercase key", jira("proj"), false},
		{"jira key starting with a digit and a letter", jira("2013PROJECT"), false},
		{"jira key with a hyphen", jira("PRODUCT-2012"), false},
		{"jira key of 256 characters", jira("A" + strings.Repeat("B", 255)), false},
		{"jira JQL in the key", jira(`PROJ" OR project = "X`), false},
		{"github owner/repo", github("acme/widgets"), true},
		{"github repo with dots", github("acme/widgets.js"), true},
		{"github owner of 39 characters", github(strings.Repeat("a", 39) + "/r"), true},
		{"github owner of 40 characters", github(strings.Repeat("a", 40) + "/r"), false},
		{"github owner starting with a dash", github("-acme/widgets"), false},
		{"github without owner", github("widgets"), false},
		{"github with a path", github("acme/widgets/issues"), false},
		{"github missing", github(""), false},
		{"gitlab path", gitlab("group/project"), true},
		{"gitlab subgroup path", gitlab("group/sub.group/my-project"), true},
		{"gitlab numeric id", gitlab("4242"), true},
		{"gitlab single name", gitlab("project"), false},
		{"gitlab trailing slash", gitlab("group/project/"), false},
		{"gitlab leading dash", gitlab("group/-project"), false},
		{"confluence global key", confluence("ENG"), true},
		{"confluence personal space on data center", confluence("~mia.k@example.com"), true},
		{"confluence personal space on cloud", confluence("~557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"), true},
		{"confluence key with a space", confluence("ENG TEAM"), false},
		{"confluence CQL in the key", confluence(`ENG" OR type = page`), false},
		{"confluence tilde alone", confluence("~"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.c.ApplyDefaults(reg)
			verr := tt.c.Validate(reg)
			_, serr := reg.NewSession(tt.c, connector.NewSecret("tok"), trackers.Options{})
			if (verr == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok=%v", verr, tt.ok)
			}
			if (serr == nil) != tt.ok {
				t.Errorf("NewSession = %v, want ok=%v", serr, tt.ok)
			}
			if !tt.ok && serr != nil && !errors.Is(serr, trackers.ErrInvalidConfig) {
				t.Errorf("NewSession error %v does not wrap ErrInvalidConfig", serr)
			}
		})
	}
}

func TestValidateNamesEveryRegisteredSystem(t *testing.T) {
	t.Parallel()
	err := connector.Connector{ID: "x1", System: "trello", Deployment: connector.Cloud}.Validate(all.Registry())
	if err == nil || !strings.Contains(err.Error(), "one of jira, github, gitlab, confluence") {
		t.Fatalf("err = %v, want the registered systems listed", err)
	}
}
