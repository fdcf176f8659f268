package main

// contextSandboxes are the context sources the sandbox serves beside the
// trackers: a failing build, a red quality gate and a degraded app for the
// GitHub fake's repository (contextTarget), so its tickets' ticket.enriched
// carry a context section.
//
// TODO(issue 15): empty until pkg/trackers/{jenkins,circleci,sonarqube,argocd}
// (branch ctxa) are in pkg/trackers/all. Then each is one entry, e.g.
//
//	{
//		name: "sonarqube", handler: sonarqubefake.NewSandbox(), credential: sonarqubefake.SandboxToken, context: true,
//		connector: func(url string) *chv1.Connector {
//			return &chv1.Connector{System: chv1.System_SYSTEM_SONARQUBE, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
//				AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{sonarqubefake.SandboxRedProject},
//				DisplayName: "Sandbox SonarQube", Enabled: true}
//		},
//	},
//
// (likewise argocdfake.SandboxDegradedApp, and the Jenkins or CircleCI
// fake's failing job), and TestSandboxWalkThrough checks the context
// section of the GitHub ticket's enrichment. register already creates them
// first and names them in the GitHub connector's context_connectors.
func contextSandboxes() []sandboxTracker { return nil }
