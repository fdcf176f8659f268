package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// writeJSON prints m as protobuf JSON. protojson deliberately varies its
// whitespace between runs; re-indenting with encoding/json makes the output
// byte-stable for scripts and golden tests.
func writeJSON(w io.Writer, m proto.Message) error {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// enumName turns SYSTEM_GITHUB into github and DEPLOYMENT_SELF_HOSTED into self-hosted.
func enumName(full, prefix string) string {
	s := strings.TrimPrefix(full, prefix)
	if s == "UNSPECIFIED" {
		return "-"
	}
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

func systemName(s pb.System) string         { return enumName(s.String(), "SYSTEM_") }
func deploymentName(d pb.Deployment) string { return enumName(d.String(), "DEPLOYMENT_") }
func authName(a pb.AuthMode) string         { return enumName(a.String(), "AUTH_MODE_") }
func policyName(p pb.ConflictPolicy) string { return enumName(p.String(), "CONFLICT_POLICY_") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOrDash(ss []string) string { return orDash(strings.Join(ss, ", ")) }
func tsOrDash(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// redactURL hides a password in a URL (a proxy URL may carry one).
func redactURL(s string) string {
	if s == "" {
		return "-"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// shortAge renders a duration as the largest whole unit: 45s, 12m, 5h, 93d.
func shortAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	default:
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
}

// credentialSummary is all hubctl ever shows of a credential: set, age, fingerprint.
func credentialSummary(c *pb.CredentialInfo, now time.Time) string {
	if !c.GetSet() {
		return "not set"
	}
	parts := []string{"set"}
	switch c.GetKind() {
	case connector.CredentialKindGitHubApp:
		parts = append(parts, "GitHub App private key")
	case connector.CredentialKindTokenPool:
		parts = append(parts, fmt.Sprintf("token pool of %d (%s; writes use the first)", c.GetPoolSize(), strings.Join(c.GetPoolFingerprints(), ", ")))
	}
	if c.GetSetTime() != nil {
		parts = append(parts, "age "+shortAge(now.Sub(c.GetSetTime().AsTime())))
	}
	if c.GetFingerprint() != "" {
		parts = append(parts, "fingerprint "+c.GetFingerprint())
	}
	if c.GetCipher() != "" {
		parts = append(parts, "cipher "+c.GetCipher())
	}
	if c.GetExpireTime() != nil {
		parts = append(parts, "expires "+tsOrDash(c.GetExpireTime()))
	}
	return strings.Join(parts, ", ")
}

func printConnectorList(w io.Writer, cs []*pb.Connector, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tSYSTEM\tDEPLOYMENT\tNAME\tPROJECT\tENABLED\tCREDENTIAL\tAGE\tFINGERPRINT")
	for _, c := range cs {
		cred, age := "not set", "-"
		if c.GetCredential().GetSet() {
			cred = "set"
			if ts := c.GetCredential().GetSetTime(); ts != nil {
				age = shortAge(now.Sub(ts.AsTime()))
			}
		}
		project := c.GetProject()
		if project == "" {
			project = strings.Join(c.GetSpaceKeys(), ",")
		}
		if project == "" {
			project = strings.Join(c.GetWatch(), ",") // a context source
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.GetId(), systemName(c.GetSystem()),
			deploymentName(c.GetDeployment()), orDash(c.GetDisplayName()), orDash(project),
			yesNo(c.GetEnabled()), cred, age, orDash(c.GetCredential().GetFingerprint()))
	}
	return tw.Flush()
}

func printConnector(w io.Writer, c *pb.Connector, now time.Time) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", c.GetId())
	row("System", systemName(c.GetSystem()))
	row("Deployment", deploymentName(c.GetDeployment()))
	row("Name", orDash(c.GetDisplayName()))
	row("Base URL", redactURL(c.GetBaseUrl()))
	row("Auth", authName(c.GetAuthMode()))
	row("Username", orDash(c.GetUsername()))
	row("Assignee", orDash(c.GetAssignee()))
	row("Context", joinOrDash(c.GetContextConnectors()))
	row("Project", orDash(c.GetProject()))
	row("Spaces", joinOrDash(c.GetSpaceKeys()))
	row("Watch", joinOrDash(c.GetWatch()))
	row("Enabled", yesNo(c.GetEnabled()))
	interval := "-"
	if c.GetPollInterval() != nil {
		interval = c.GetPollInterval().AsDuration().String()
	}
	row("Poll interval", interval)
	row("Statuses", joinOrDash(c.GetScope().GetStatuses()))
	row("Labels", joinOrDash(c.GetScope().GetLabels()))
	row("Min priority", orDash(c.GetScope().GetMinPriority()))
	row("Index comments", yesNo(c.GetIndexComments()))
	row("Index attachments", yesNo(c.GetIndexAttachments()))
	if sl := c.GetStatusLabels(); sl != nil {
		row("Status labels", fmt.Sprintf("in progress=%q, in review=%q, done=%q", sl.GetInProgress(), sl.GetInReview(), sl.GetDone()))
	}
	row("Close on done", yesNo(c.GetCloseOnDone()))
	row("Full text", yesNo(c.GetFullText()))
	row("Conflict policy", policyName(c.GetConflictPolicy()))
	row("Zone", zoneName(c.GetZone()))
	row("Proxy", redactURL(c.GetHttpProxyUrl()))
	ca := "-"
	if n := len(c.GetCaBundlePem()); n > 0 {
		ca = fmt.Sprintf("set (%d bytes)", n)
	}
	row("CA bundle", ca)
	if c.GetAuthMode() == pb.AuthMode_AUTH_MODE_GITHUB_APP {
		inst := "found from the repository"
		if c.GetInstallationId() != 0 {
			inst = fmt.Sprint(c.GetInstallationId())
		}
		row("GitHub App", fmt.Sprintf("app id %d, installation %s", c.GetAppId(), inst))
	}
	row("Credential", credentialSummary(c.GetCredential(), now))
	if c.GetAuthMode() == pb.AuthMode_AUTH_MODE_OAUTH2 {
		row("OAuth client id", orDash(c.GetOauthClientId()))
		row("OAuth scopes", joinOrDash(c.GetOauthScopes()))
		owner := c.GetId()
		if from := c.GetOauthGrantFrom(); from != "" {
			owner = from
			row("OAuth grant from", from+" (its grant is used; authorize that connector)")
		}
		grant := "not authorized: hubctl connectors authorize " + owner
		if cr := c.GetCredential(); cr.GetOauthRefreshTokenSet() {
			grant = fmt.Sprintf("refresh token %s, rotated %s, authorized %s", orDash(cr.GetOauthRefreshTokenFingerprint()),
				tsOrDash(cr.GetOauthRefreshTokenSetTime()), tsOrDash(cr.GetOauthGrantTime()))
		}
		row("OAuth grant", grant)
		if users := c.GetOauthGrantUsers(); len(users) > 0 {
			row("OAuth grant used by", strings.Join(users, ", "))
		}
	}
	if st := c.GetStatus(); st != nil {
		row("Last poll", tsOrDash(st.GetLastPollTime()))
		row("Last success", tsOrDash(st.GetLastSuccessTime()))
		row("Last error", orDash(st.GetLastError()))
		row("Tickets known", fmt.Sprint(st.GetTicketsKnown()))
		row("Next poll", tsOrDash(st.GetNextPollTime()))
		if aside := st.GetPoolTokensSetAside(); len(aside) > 0 {
			row("Pool tokens set aside", fmt.Sprintf("%s (refused by the tracker; %d still usable): rotate the pool with `hubctl secrets rotate %s`",
				strings.Join(aside, ", "), st.GetPoolTokensUsable(), c.GetId()))
			for _, r := range st.GetPoolTokensRetry() {
				row("Pool token retried", fmt.Sprintf("%s at %s", r.GetFingerprint(), tsOrDash(r.GetRetryTime())))
			}
		}
		if b := st.GetRateLimitBudget(); b != "" {
			row("Rate-limit budget", b)
		}
		if st.GetPacedUntil() != nil {
			row("Paced until", tsOrDash(st.GetPacedUntil())+" (the budget is low: requests are spread to its reset)")
		}
		if st.GetAuthError() != "" {
			row("Auth error", st.GetAuthError())
			row("Fix", orDash(st.GetReauthorizeCommand()))
		}
		if late := st.GetLateBy(); late != nil {
			row("Late by", late.AsDuration().String()+" (the poller replica is saturated)")
		}
		if c.GetWebhook() {
			reg := orDash(st.GetWebhookRegistration())
			if r := st.GetWebhookRegistrationReason(); r != "" {
				reg += " (" + r + ")"
			}
			row("Webhook", reg)
			row("Webhook URL", orDash(st.GetWebhookUrl()))
			row("Last delivery", tsOrDash(st.GetLastDeliveryTime()))
			refused := fmt.Sprint(st.GetDeliveriesRefused())
			if r := st.GetLastRefusalReason(); r != "" {
				refused += " (last: " + r + ")"
			}
			row("Deliveries refused", refused)
			row("Changes only the poll found", fmt.Sprint(st.GetPollOnlyChanges()))
		}
	}
	row("Created", tsOrDash(c.GetCreateTime()))
	row("Updated", tsOrDash(c.GetUpdateTime()))
	row("Etag", orDash(c.GetEtag()))
	return tw.Flush()
}

func printTestResult(w io.Writer, r *pb.TestConnectionResponse) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "CHECK\tRESULT\tMESSAGE")
	for _, c := range r.GetChecks() {
		result := "ok"
		if !c.GetOk() {
			result = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.GetName(), result, orDash(c.GetMessage()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.GetIdentity() != "" {
		fmt.Fprintf(w, "identity: %s\n", r.GetIdentity())
	}
	if len(r.GetGrantedScopes()) > 0 {
		fmt.Fprintf(w, "granted scopes: %s\n", strings.Join(r.GetGrantedScopes(), ", "))
	}
	if len(r.GetMissingScopes()) > 0 {
		fmt.Fprintf(w, "missing scopes: %s\n", strings.Join(r.GetMissingScopes(), ", "))
	}
	if r.GetCredentialExpireTime() != nil {
		fmt.Fprintf(w, "credential expires: %s\n", tsOrDash(r.GetCredentialExpireTime()))
	}
	if r.GetOk() {
		fmt.Fprintln(w, "connection test passed")
	} else {
		fmt.Fprintln(w, "connection test FAILED")
	}
	return nil
}

// printCapabilities prints one row per feature with a column per system, then
// what each system accepts and needs.
func printCapabilities(w io.Writer, systems []*pb.SystemCapabilities) error {
	var features []string
	seen := map[string]bool{}
	for _, s := range systems {
		for _, f := range s.GetFeatures() {
			if !seen[f.GetName()] {
				seen[f.GetName()] = true
				features = append(features, f.GetName())
			}
		}
	}
	tw := newTable(w)
	fmt.Fprint(tw, "FEATURE")
	for _, s := range systems {
		fmt.Fprint(tw, "\t"+strings.ToUpper(systemName(s.GetSystem())))
	}
	fmt.Fprintln(tw)
	for _, name := range features {
		fmt.Fprint(tw, name)
		for _, s := range systems {
			mark := "-"
			for _, f := range s.GetFeatures() {
				if f.GetName() == name && f.GetSupported() {
					mark = "yes"
				}
			}
			fmt.Fprint(tw, "\t"+mark)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "SYSTEM\tDEPLOYMENTS\tAUTH\tREQUIRED SCOPES")
	for _, s := range systems {
		var deps, auths []string
		for _, d := range s.GetDeployments() {
			deps = append(deps, deploymentName(d))
		}
		for _, a := range s.GetAuthModes() {
			auths = append(auths, authName(a))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", systemName(s.GetSystem()), joinOrDash(deps), joinOrDash(auths), joinOrDash(s.GetRequiredScopes()))
	}
	return tw.Flush()
}

func printCredentialAges(w io.Writer, ages []*pb.CredentialAge) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tSYSTEM\tSET\tAGE\tSTALE\tFINGERPRINT\tEXPIRES\tKIND")
	for _, a := range ages {
		age := "-"
		if a.GetAge() != nil && a.GetCredential().GetSet() {
			age = shortAge(a.GetAge().AsDuration())
		}
		expires := tsOrDash(a.GetCredential().GetExpireTime())
		if a.GetExpiring() {
			expires += " (soon)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.GetConnectorId(), systemName(a.GetSystem()),
			yesNo(a.GetCredential().GetSet()), age, yesNo(a.GetStale()),
			orDash(a.GetCredential().GetFingerprint()), expires, orDash(a.GetCredential().GetKind()))
	}
	return tw.Flush()
}

// zoneName shows the empty zone as the central site.
func zoneName(z string) string {
	if z == "" {
		return "central"
	}
	return z
}

// printWebhookSetup prints what an admin needs to create a hook by hand.
// The secret appears only when the registry sent it (once).
func printWebhookSetup(w io.Writer, s *pb.WebhookSetup) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Connector", s.GetConnectorId())
	reg := orDash(s.GetRegistration())
	if r := s.GetRegistrationReason(); r != "" {
		reg += " (" + r + ")"
	}
	row("Registration", reg)
	url := s.GetUrl()
	if url == "" {
		url = "- (REGISTRY_WEBHOOK_PUBLIC_URL is not set: the receiver's public URL + /webhooks/" + s.GetConnectorId() + ")"
	}
	row("URL", url)
	row("Content type", "application/json")
	row("Events", joinOrDash(s.GetEvents()))
	switch {
	case s.GetSecret() != "":
		row("Secret", s.GetSecret()+"  (shown once: paste it now)")
	case s.GetRegistration() == "registered":
		row("Secret", "- (the registry set it on the tracker's hook)")
	case s.GetSecretShownBefore():
		row("Secret", "- (shown before; hubctl secrets rotate --webhook "+s.GetConnectorId()+" makes a new one)")
	default:
		row("Secret", "-")
	}
	return tw.Flush()
}
