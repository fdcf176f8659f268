package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Interactive mode, as DevLake's `configure connection`: `connectors add`
// without --system asks for everything (the system from the registry's
// catalog, then that system's fields), `update` and `remove` without an id
// list the connectors and let you pick one. It is on when stdin is a
// terminal, or with --interactive, which reads the answers line by line from
// stdin even when it is a pipe (scripts, tests). Without it, add needs
// --system and update/remove the id.

// addInteractiveFlag declares --interactive on a command.
func addInteractiveFlag(fs *pflag.FlagSet) {
	fs.BoolP("interactive", "i", false, "prompt for the connector and its fields; answers are read from stdin, even a pipe (default: on when stdin is a terminal)")
}

// interactive reports whether the command prompts. With --interactive and a
// stdin that is not a terminal, answers (tokens too) are read as lines from
// stdin.
func (g *globals) interactive(fs *pflag.FlagSet) bool {
	if on, _ := fs.GetBool("interactive"); on {
		if !g.env.Terminal.IsTerminal() {
			g.env.Terminal = &lineTerminal{r: bufio.NewReader(g.env.Stdin)}
		}
		return true
	}
	return g.env.Terminal.IsTerminal()
}

// lineTerminal reads answers from a non-terminal stdin (--interactive).
// Passwords are read as plain lines: there is no echo to turn off.
type lineTerminal struct{ r *bufio.Reader }

var _ Terminal = (*lineTerminal)(nil)

func (*lineTerminal) IsTerminal() bool { return true }

func (t *lineTerminal) ReadLine() (string, error) {
	line, err := t.r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (t *lineTerminal) ReadPassword() (string, error) { return t.ReadLine() }

// askDefault prompts with a default shown in brackets; an empty answer keeps it.
func (g *globals) askDefault(prompt, def string) (string, error) {
	if def != "" {
		prompt += " [" + def + "]"
	}
	v, err := g.ask(prompt)
	if err != nil {
		return "", err
	}
	if v == "" {
		return def, nil
	}
	return v, nil
}

// choose asks for one of options by number or by name; def (an option, or
// "") is taken on an empty answer.
func (g *globals) choose(what string, options []string, def string) (string, error) {
	for i, o := range options {
		g.info("  %d) %s", i+1, o)
	}
	for attempt := 0; ; attempt++ {
		v, err := g.askDefault(what, def)
		if err != nil {
			return "", err
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= len(options) {
			return options[n-1], nil
		}
		for _, o := range options {
			if name, _, _ := strings.Cut(o, " "); strings.EqualFold(v, name) || strings.EqualFold(v, o) {
				return o, nil
			}
		}
		if attempt+1 >= maxPromptAttempts {
			return "", fmt.Errorf("%s: %q is none of the choices", strings.ToLower(what), v)
		}
		g.info("  %q is none of the choices; answer a number or a name", v)
	}
}

func hasFeature(s *pb.SystemCapabilities, name string) bool {
	return slices.ContainsFunc(s.GetFeatures(), func(f *pb.Feature) bool { return f.GetName() == name && f.GetSupported() })
}

// contextSourceCaps is the catalog's context sources (feature "context").
func contextSourceCaps(caps []*pb.SystemCapabilities) []pb.System {
	var out []pb.System
	for _, s := range caps {
		if hasFeature(s, "context") {
			out = append(out, s.GetSystem())
		}
	}
	return out
}

// promptNewConnector asks for everything a new connector needs that the
// flags did not give: the system from the catalog, its deployment and auth
// mode when it has a choice, the required fields (missingFields: the
// endpoint where there is no default, project, spaces, what a context
// source watches, the username of basic auth), then the
// optional ones (assignee, labels, the context connectors of a ticket
// connector, what a context source watches, a display name). The scopes the
// system's token needs are shown with the system.
func (g *globals) promptNewConnector(ctx context.Context, client pb.RegistryServiceClient, fs *pflag.FlagSet, c *pb.Connector) error {
	caps, err := client.GetCapabilities(ctx, &pb.GetCapabilitiesRequest{})
	if err != nil {
		return fmt.Errorf("reading the catalog of systems: %w", err)
	}
	var sys *pb.SystemCapabilities
	if c.GetSystem() == pb.System_SYSTEM_UNSPECIFIED {
		var options []string
		for _, s := range caps.GetSystems() {
			label := systemName(s.GetSystem())
			if hasFeature(s, "context") {
				label += " (context source)"
			}
			options = append(options, label)
		}
		g.info("Systems:")
		pick, err := g.choose("System", options, "")
		if err != nil {
			return err
		}
		name, _, _ := strings.Cut(pick, " ")
		if c.System, err = parseSystem(name); err != nil {
			return err
		}
	}
	for _, s := range caps.GetSystems() {
		if s.GetSystem() == c.GetSystem() {
			sys = s
		}
	}
	if sys == nil {
		return fmt.Errorf("the registry does not know %s", systemName(c.GetSystem()))
	}
	if len(sys.GetRequiredScopes()) > 0 {
		g.info("A %s token needs these scopes or permissions: %s", systemName(c.GetSystem()), strings.Join(sys.GetRequiredScopes(), ", "))
	}
	if !fs.Changed("deployment") && len(sys.GetDeployments()) > 1 {
		var opts []string
		for _, d := range sys.GetDeployments() {
			opts = append(opts, deploymentName(d))
		}
		pick, err := g.choose("Deployment", opts, opts[0])
		if err != nil {
			return err
		}
		if c.Deployment, err = parseDeployment(pick); err != nil {
			return err
		}
	} else if !fs.Changed("deployment") && len(sys.GetDeployments()) == 1 {
		c.Deployment = sys.GetDeployments()[0]
	}
	if !fs.Changed("auth") && len(sys.GetAuthModes()) > 1 {
		c.AuthMode = pb.AuthMode_AUTH_MODE_UNSPECIFIED
		applyAddDefaults(c)
		def := authName(c.GetAuthMode())
		if !slices.Contains(sys.GetAuthModes(), c.GetAuthMode()) {
			def = authName(sys.GetAuthModes()[0])
		}
		var opts []string
		for _, a := range sys.GetAuthModes() {
			opts = append(opts, authName(a))
		}
		pick, err := g.choose("Auth mode", opts, def)
		if err != nil {
			return err
		}
		if c.AuthMode, err = parseAuth(pick); err != nil {
			return err
		}
	} else if !fs.Changed("auth") && len(sys.GetAuthModes()) == 1 {
		c.AuthMode = sys.GetAuthModes()[0]
	}
	if src, err := usernameFromEnv(g.env, fs, c); err != nil {
		return err
	} else if src != "" {
		g.info("using the %s username from %s", systemName(c.GetSystem()), src)
	}
	isSource := hasFeature(sys, "context")
	applyAddDefaults(c)
	if err := g.askMissing(c); err != nil {
		return err
	}
	if isSource {
		if len(c.GetWatch()) == 0 {
			v, err := g.ask("Watch (comma-separated: Jenkins jobs, a CircleCI project slug, SonarQube project keys or Argo CD applications)")
			if err != nil {
				return err
			}
			c.Watch = nonEmpty(strings.Split(v, ","))
		}
	} else if hasFeature(sys, "discovery") {
		if !fs.Changed("assignee") {
			v, err := g.ask("Assignee (empty: the token's user)")
			if err != nil {
				return err
			}
			c.Assignee = v
		}
		if !fs.Changed("label") {
			v, err := g.ask("Only tickets with these labels (comma-separated, empty: all)")
			if err != nil {
				return err
			}
			scopeOf(c).Labels = nonEmpty(strings.Split(v, ","))
		}
		if !fs.Changed("context") {
			if err := g.askContextConnectors(ctx, client, contextSourceCaps(caps.GetSystems()), c, nil); err != nil {
				return err
			}
		}
	}
	if !fs.Changed("name") {
		v, err := g.ask("Display name (optional)")
		if err != nil {
			return err
		}
		c.DisplayName = v
	}
	return nil
}

// askMissing asks for each required field still missing (missingFields).
func (g *globals) askMissing(c *pb.Connector) error {
	failures := 0
	for {
		missing := missingFields(c)
		if len(missing) == 0 {
			return nil
		}
		v, err := g.ask(missing[0].prompt)
		if err != nil {
			return err
		}
		if v == "" {
			err = fmt.Errorf("a value is required")
		} else {
			err = missing[0].set(c, v)
		}
		if err != nil {
			if failures++; failures >= maxPromptAttempts {
				return fmt.Errorf("--%s: %w", missing[0].flag, err)
			}
			g.info("  %v", err)
			continue
		}
		applyAddDefaults(c)
	}
}

// askContextConnectors lists the saved context connectors and asks which
// apply to c; current is the default (update). Nothing is asked when there
// are none.
func (g *globals) askContextConnectors(ctx context.Context, client pb.RegistryServiceClient, sources []pb.System, c *pb.Connector, current []string) error {
	all, err := listConnectors(ctx, client)
	if err != nil {
		return err
	}
	var avail []string
	for _, cc := range all {
		if slices.Contains(sources, cc.GetSystem()) {
			avail = append(avail, fmt.Sprintf("%s (%s: %s)", cc.GetId(), systemName(cc.GetSystem()), strings.Join(cc.GetWatch(), ", ")))
		}
	}
	if len(avail) == 0 {
		return nil
	}
	g.info("Context connectors (builds, quality gate, deployment added to this connector's ticket.enriched):")
	for _, a := range avail {
		g.info("  %s", a)
	}
	v, err := g.askDefault("Context connectors (comma-separated ids, - for none)", strings.Join(current, ","))
	if err != nil {
		return err
	}
	if v == "-" {
		v = ""
	}
	c.ContextConnectors = nonEmpty(strings.Split(v, ","))
	return nil
}

func listConnectors(ctx context.Context, client pb.RegistryServiceClient) ([]*pb.Connector, error) {
	var out []*pb.Connector
	req := &pb.ListConnectorsRequest{PageSize: 100}
	for {
		resp, err := client.ListConnectors(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("listing connectors: %w", err)
		}
		out = append(out, resp.GetConnectors()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// pickConnector lists the connectors and asks for one, by number or id.
func (g *globals) pickConnector(ctx context.Context, client pb.RegistryServiceClient, verb string) (*pb.Connector, error) {
	all, err := listConnectors(ctx, client)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("there are no connectors to %s", verb)
	}
	opts := make([]string, len(all))
	for i, c := range all {
		opts[i] = fmt.Sprintf("%s %s %s", c.GetId(), systemName(c.GetSystem()), orDefault(c.GetDisplayName(), c.GetProject()))
		opts[i] = strings.TrimSpace(opts[i])
	}
	g.info("Connectors:")
	pick, err := g.choose("Connector to "+verb, opts, "")
	if err != nil {
		return nil, err
	}
	return all[slices.Index(opts, pick)], nil
}

// editableField is a field interactive update offers, with the current
// value as the default. Fields that send the stored token elsewhere
// (base URL, auth, username, proxy, CA) are left to flags: they need the
// token again.
type editableField struct {
	path   string
	prompt string
	when   func(c *pb.Connector, contextSource bool) bool
	get    func(c *pb.Connector) string
	set    func(c *pb.Connector, v string) error
}

func list(v string) []string { return nonEmpty(strings.Split(v, ",")) }

var editableFields = []editableField{
	{"display_name", "Display name", func(*pb.Connector, bool) bool { return true },
		func(c *pb.Connector) string { return c.GetDisplayName() }, func(c *pb.Connector, v string) error { c.DisplayName = v; return nil }},
	{"project", "Project", func(c *pb.Connector, src bool) bool { return !src && c.GetProject() != "" },
		func(c *pb.Connector) string { return c.GetProject() }, func(c *pb.Connector, v string) error { c.Project = v; return nil }},
	{"space_keys", "Space keys (comma-separated)", func(c *pb.Connector, _ bool) bool { return c.GetSystem() == pb.System_SYSTEM_CONFLUENCE },
		func(c *pb.Connector) string { return strings.Join(c.GetSpaceKeys(), ",") }, func(c *pb.Connector, v string) error { c.SpaceKeys = list(v); return nil }},
	{"watch", "Watch (comma-separated)", func(_ *pb.Connector, src bool) bool { return src },
		func(c *pb.Connector) string { return strings.Join(c.GetWatch(), ",") }, func(c *pb.Connector, v string) error { c.Watch = list(v); return nil }},
	{"assignee", "Assignee", func(c *pb.Connector, src bool) bool { return !src && c.GetSystem() != pb.System_SYSTEM_CONFLUENCE },
		func(c *pb.Connector) string { return c.GetAssignee() }, func(c *pb.Connector, v string) error { c.Assignee = v; return nil }},
	{"scope.labels", "Labels (comma-separated)", func(c *pb.Connector, src bool) bool { return !src && c.GetSystem() != pb.System_SYSTEM_CONFLUENCE },
		func(c *pb.Connector) string { return strings.Join(c.GetScope().GetLabels(), ",") },
		func(c *pb.Connector, v string) error { scopeOf(c).Labels = list(v); return nil }},
	{"poll_interval", "Poll interval", func(c *pb.Connector, src bool) bool { return !src && c.GetSystem() != pb.System_SYSTEM_CONFLUENCE },
		func(c *pb.Connector) string {
			if c.GetPollInterval() == nil {
				return ""
			}
			return shortDuration(c.GetPollInterval().AsDuration())
		},
		func(c *pb.Connector, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			c.PollInterval = durationpb.New(d)
			return nil
		}},
	{"enabled", "Enabled (yes/no)", func(*pb.Connector, bool) bool { return true },
		func(c *pb.Connector) string {
			if c.GetEnabled() {
				return "yes"
			}
			return "no"
		},
		func(c *pb.Connector, v string) error {
			switch strings.ToLower(v) {
			case "y", "yes", "true":
				c.Enabled = true
			case "n", "no", "false":
				c.Enabled = false
			default:
				return fmt.Errorf("answer yes or no")
			}
			return nil
		}},
}

// promptUpdate asks for each editable field of cur with its current value
// as the default (- clears a text or list field) and returns the update of
// exactly the fields whose answer differs.
func (g *globals) promptUpdate(ctx context.Context, client pb.RegistryServiceClient, cur *pb.Connector) (*pb.UpdateConnectorRequest, error) {
	caps, err := client.GetCapabilities(ctx, &pb.GetCapabilitiesRequest{})
	if err != nil {
		return nil, fmt.Errorf("reading the catalog of systems: %w", err)
	}
	sources := contextSourceCaps(caps.GetSystems())
	src := slices.Contains(sources, cur.GetSystem())
	next := &pb.Connector{Id: cur.GetId(), Etag: cur.GetEtag()}
	var paths []string
	g.info("Connector %s (%s): press Enter to keep a value, - to clear it.", cur.GetId(), systemName(cur.GetSystem()))
	for _, f := range editableFields {
		if !f.when(cur, src) {
			continue
		}
		old := f.get(cur)
		for attempt := 0; ; attempt++ {
			v, err := g.askDefault(f.prompt, old)
			if err != nil {
				return nil, err
			}
			if v == "-" {
				v = ""
			}
			if v == old {
				break
			}
			if err := f.set(next, v); err != nil {
				if attempt+1 >= maxPromptAttempts {
					return nil, fmt.Errorf("%s: %w", f.path, err)
				}
				g.info("  %v", err)
				continue
			}
			paths = append(paths, f.path)
			break
		}
	}
	if !src {
		before := slices.Clone(cur.GetContextConnectors())
		if err := g.askContextConnectors(ctx, client, sources, next, before); err != nil {
			return nil, err
		}
		if !slices.Equal(next.GetContextConnectors(), before) {
			paths = append(paths, "context_connectors")
		}
	}
	return &pb.UpdateConnectorRequest{Connector: next, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}, nil
}
