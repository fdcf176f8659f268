package registry

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

var deploymentsToProto = map[connector.Deployment]chv1.Deployment{
	connector.Cloud: chv1.Deployment_DEPLOYMENT_CLOUD, connector.SelfHosted: chv1.Deployment_DEPLOYMENT_SELF_HOSTED,
}

var authModesToProto = map[connector.AuthMode]chv1.AuthMode{
	connector.AuthBasic: chv1.AuthMode_AUTH_MODE_BASIC, connector.AuthBearer: chv1.AuthMode_AUTH_MODE_BEARER,
	connector.AuthAnonymous: chv1.AuthMode_AUTH_MODE_ANONYMOUS, connector.AuthOAuth2: chv1.AuthMode_AUTH_MODE_OAUTH2,
	connector.AuthGitHubApp: chv1.AuthMode_AUTH_MODE_GITHUB_APP,
}

var policiesToProto = map[connector.ConflictPolicy]chv1.ConflictPolicy{
	connector.TrackerWins: chv1.ConflictPolicy_CONFLICT_POLICY_TRACKER_WINS, connector.AgentWins: chv1.ConflictPolicy_CONFLICT_POLICY_AGENT_WINS,
}

// reverse inverts an enum mapping; an unknown proto value maps to a name that
// validation rejects with a clear message instead of silently to "".
func reverse[K comparable, V ~int32](m map[K]V, unknown func(V) K) func(V) K {
	r := make(map[V]K, len(m))
	for k, v := range m {
		r[v] = k
	}
	return func(v V) K {
		if v == 0 {
			var zero K
			return zero
		}
		if k, ok := r[v]; ok {
			return k
		}
		return unknown(v)
	}
}

var (
	deploymentFromProto = reverse(deploymentsToProto, func(v chv1.Deployment) connector.Deployment {
		return connector.Deployment("unknown(" + strconv.Itoa(int(v)) + ")")
	})
	authModeFromProto = reverse(authModesToProto, func(v chv1.AuthMode) connector.AuthMode {
		return connector.AuthMode("unknown(" + strconv.Itoa(int(v)) + ")")
	})
	policyFromProto = reverse(policiesToProto, func(v chv1.ConflictPolicy) connector.ConflictPolicy {
		return connector.ConflictPolicy("unknown(" + strconv.Itoa(int(v)) + ")")
	})
)

// systemFromProto maps an unknown protobuf value to a name that validation
// rejects with a clear message instead of silently to "".
func systemFromProto(v chv1.System) connector.System {
	if sys, ok := connectorpb.SystemFromProto(v); ok || v == chv1.System_SYSTEM_UNSPECIFIED {
		return sys
	}
	return connector.System("unknown(" + strconv.Itoa(int(v)) + ")")
}

func etagOf(rev uint64) string { return strconv.FormatUint(rev, 10) }

// revisionOf parses an etag; empty means "any revision".
func revisionOf(etag string) (uint64, bool) {
	if etag == "" {
		return 0, true
	}
	rev, err := strconv.ParseUint(etag, 10, 64)
	return rev, err == nil && rev > 0
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func credentialToProto(c connector.Credential) *chv1.CredentialInfo {
	return &chv1.CredentialInfo{
		Set:              c.Set(),
		SetTime:          tsOrNil(c.SetTime),
		Fingerprint:      c.Fingerprint,
		Cipher:           secrets.Kind(c.Ciphertext),
		ExpireTime:       tsOrNil(c.ExpireTime),
		Kind:             c.Kind,
		PoolSize:         int32(len(c.Pool())),
		PoolFingerprints: c.Pool(),
	}
}

// credentialInfoOf is the connector's credential with, on oauth2
// connectors, what may be shown of the stored refresh token (c.Grant, which
// the application read from the oauth_grants bucket).
func credentialInfoOf(c connector.Connector) *chv1.CredentialInfo {
	info := credentialToProto(c.Credential)
	if c.AuthMode == connector.AuthOAuth2 {
		info.OauthRefreshTokenSet = c.Grant.Refresh.Set()
		info.OauthRefreshTokenSetTime = tsOrNil(c.Grant.Refresh.SetTime)
		info.OauthRefreshTokenFingerprint = c.Grant.Refresh.Fingerprint
		info.OauthGrantTime = tsOrNil(c.Grant.GrantTime)
	}
	return info
}

// connectorToProto never carries the ciphertext, only what may be shown.
func connectorToProto(c connector.Connector) *chv1.Connector {
	p := &chv1.Connector{
		Id:                 c.ID,
		System:             connectorpb.SystemToProto(c.System),
		Deployment:         deploymentsToProto[c.Deployment],
		DisplayName:        c.DisplayName,
		BaseUrl:            c.BaseURL,
		AuthMode:           authModesToProto[c.AuthMode],
		Username:           c.Username,
		Assignee:           c.Assignee,
		Project:            c.Project,
		SpaceKeys:          c.SpaceKeys,
		Enabled:            c.Enabled,
		PollInterval:       durationpb.New(c.PollInterval),
		IndexComments:      c.IndexComments,
		IndexAttachments:   c.IndexAttachments,
		ConflictPolicy:     policiesToProto[c.ConflictPolicy],
		HttpProxyUrl:       c.HTTPProxyURL,
		CaBundlePem:        c.CABundlePEM,
		CloseOnDone:        c.CloseOnDone,
		FullText:           c.FullText,
		ReviewPullRequests: c.ReviewPullRequests,
		Watch:              c.Watch,
		ContextConnectors:  c.ContextConnectors,
		Zone:               c.Zone,
		AppId:              c.AppID,
		InstallationId:     c.InstallationID,
		Webhook:            c.Webhook,
		Credential:         credentialInfoOf(c),
		OauthClientId:      c.OAuthClientID,
		OauthScopes:        c.OAuthScopes,
		OauthGrantFrom:     c.OAuthGrantFrom,
		OauthGrantUsers:    c.GrantUsers,
		Status:             webhookStatus(&chv1.ConnectorStatus{}, c),
		CreateTime:         tsOrNil(c.CreateTime),
		UpdateTime:         tsOrNil(c.UpdateTime),
	}
	if c.Revision > 0 {
		p.Etag = etagOf(c.Revision)
	}
	if s := c.Scope; len(s.Statuses)+len(s.Labels) > 0 || s.MinPriority != "" {
		p.Scope = &chv1.Scope{Statuses: s.Statuses, Labels: s.Labels, MinPriority: s.MinPriority}
	}
	if l := c.StatusLabels; l != (connector.StatusLabels{}) {
		p.StatusLabels = &chv1.StatusLabels{InProgress: l.InProgress, InReview: l.InReview, Done: l.Done}
	}
	return p
}

// connectorFromProto reads the fields a caller may set; output-only fields are ignored.
func connectorFromProto(p *chv1.Connector) connector.Connector {
	if p == nil {
		return connector.Connector{}
	}
	c := connector.Connector{
		ID:                 p.GetId(),
		System:             systemFromProto(p.GetSystem()),
		Deployment:         deploymentFromProto(p.GetDeployment()),
		DisplayName:        p.GetDisplayName(),
		BaseURL:            p.GetBaseUrl(),
		AuthMode:           authModeFromProto(p.GetAuthMode()),
		Username:           p.GetUsername(),
		Assignee:           p.GetAssignee(),
		Project:            p.GetProject(),
		SpaceKeys:          p.GetSpaceKeys(),
		Enabled:            p.GetEnabled(),
		PollInterval:       p.GetPollInterval().AsDuration(),
		IndexComments:      p.GetIndexComments(),
		IndexAttachments:   p.GetIndexAttachments(),
		ConflictPolicy:     policyFromProto(p.GetConflictPolicy()),
		HTTPProxyURL:       p.GetHttpProxyUrl(),
		CABundlePEM:        p.GetCaBundlePem(),
		CloseOnDone:        p.GetCloseOnDone(),
		FullText:           p.GetFullText(),
		ReviewPullRequests: p.GetReviewPullRequests(),
		Watch:              p.GetWatch(),
		ContextConnectors:  p.GetContextConnectors(),
		Zone:               p.GetZone(),
		AppID:              p.GetAppId(),
		InstallationID:     p.GetInstallationId(),
		Webhook:            p.GetWebhook(),
		OAuthClientID:      p.GetOauthClientId(),
		OAuthScopes:        p.GetOauthScopes(),
		OAuthGrantFrom:     p.GetOauthGrantFrom(),
	}
	if s := p.GetScope(); s != nil {
		c.Scope = connector.Scope{Statuses: s.GetStatuses(), Labels: s.GetLabels(), MinPriority: s.GetMinPriority()}
	}
	if l := p.GetStatusLabels(); l != nil {
		c.StatusLabels = connector.StatusLabels{InProgress: l.GetInProgress(), InReview: l.GetInReview(), Done: l.GetDone()}
	}
	return c
}

func statusToProto(st connector.PollStatus) *chv1.ConnectorStatus {
	return &chv1.ConnectorStatus{
		LastPollTime:       tsOrNil(st.LastPoll),
		LastSuccessTime:    tsOrNil(st.LastSuccess),
		LastError:          st.LastError,
		TicketsKnown:       int64(st.TicketsKnown),
		NextPollTime:       tsOrNil(st.NextPoll),
		LateBy:             durationOrNil(st.Late),
		PoolTokensSetAside: st.PoolSetAside,
		PoolTokensUsable:   int32(st.PoolUsable),
		PoolTokensRetry:    poolRetryToProto(st.PoolRetry),
		PacedUntil:         tsOrNil(st.PacedUntil),
		RateLimitBudget:    st.RateBudget,
		AuthError:          st.AuthError,
		ReauthorizeCommand: st.Reauthorize,
		LastDeliveryTime:   tsOrNil(st.LastDelivery),
		DeliveriesRefused:  st.DeliveriesRefused,
		LastRefusalReason:  st.LastRefusal,
		PollOnlyChanges:    st.PollOnlyChanges,
	}
}

// durationOrNil leaves a zero duration unset.
func durationOrNil(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

func testResultToProto(r trackers.TestResult) *chv1.TestConnectionResponse {
	out := &chv1.TestConnectionResponse{
		Ok:                   r.OK,
		Identity:             r.Identity,
		GrantedScopes:        r.GrantedScopes,
		MissingScopes:        r.MissingScopes,
		CredentialExpireTime: tsOrNil(r.ExpireTime),
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, &chv1.CheckResult{Name: c.Name, Ok: c.OK, Message: c.Message})
	}
	return out
}

func capabilitiesToProto(c trackers.Capabilities) *chv1.SystemCapabilities {
	out := &chv1.SystemCapabilities{System: connectorpb.SystemToProto(c.System), RequiredScopes: c.RequiredScopes}
	for _, d := range c.Deployments {
		out.Deployments = append(out.Deployments, deploymentsToProto[d])
	}
	for _, m := range c.AuthModes {
		out.AuthModes = append(out.AuthModes, authModesToProto[m])
	}
	for _, f := range c.Features {
		out.Features = append(out.Features, &chv1.Feature{Name: f.Name, Supported: f.Supported})
	}
	return out
}

// webhookStatus adds the connector's hook registration to its status.
func webhookStatus(st *chv1.ConnectorStatus, c connector.Connector) *chv1.ConnectorStatus {
	if !c.Webhook {
		return st
	}
	st.WebhookRegistration = c.WebhookHook.State
	st.WebhookRegistrationReason = c.WebhookHook.Reason
	st.WebhookUrl = c.WebhookHook.URL
	return st
}

// connectorStatusToProto is the full status: what the workers report and
// the hook's registration.
func connectorStatusToProto(c connector.Connector, st connector.PollStatus) *chv1.ConnectorStatus {
	return webhookStatus(statusToProto(st), c)
}

func webhookSetupToProto(w WebhookSetup) *chv1.WebhookSetup {
	return &chv1.WebhookSetup{
		ConnectorId:        w.ConnectorID,
		Url:                w.URL,
		Events:             w.Events,
		Secret:             w.Secret.Reveal(),
		SecretShownBefore:  w.SecretShownBefore,
		Registration:       w.Registration,
		RegistrationReason: w.Reason,
	}
}

func poolRetryToProto(rs []connector.PoolRetry) []*chv1.PoolTokenRetry {
	var out []*chv1.PoolTokenRetry
	for _, r := range rs {
		out = append(out, &chv1.PoolTokenRetry{Fingerprint: r.Fingerprint, RetryTime: tsOrNil(r.At)})
	}
	return out
}
