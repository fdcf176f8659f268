package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/connectorhub/connectorhub/pkg/bus"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// eventStreams are the streams of the bus contract, in the order tail opens
// them, with the first token of their subjects.
var eventStreams = []struct{ name, prefix string }{
	{bus.StreamTickets, "ticket"},
	{bus.StreamResults, "result"},
	{bus.StreamWriteback, "writeback"},
	{bus.StreamAudit, "audit"},
}

func newEventsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "Watch the events on the bus",
	}
	cmd.AddCommand(newTailCmd(g))
	return cmd
}

type tailFlags struct {
	stream   string
	since    time.Duration
	all, new bool
	count    int
}

func newTailCmd(g *globals) *cobra.Command {
	var f tailFlags
	cmd := &cobra.Command{
		Use:   "tail [SUBJECT_FILTER...]",
		Short: "Print events from the bus as they arrive",
		Long: `Follows the TICKETS, RESULTS, WRITEBACK and AUDIT streams (or one of them with
--stream) with an ephemeral ordered consumer per stream and prints each event:
publish time (when the stream stored it), type, subject and a one-line summary;
a ticket event's summary ends with the ticket's own update time. -o json prints
one CloudEvents JSON object per line (attributes, the publish time as
"publishtime" and the protobuf JSON payload as "data").

Subject filters may use NATS wildcards (ticket.discovered.jira.>,
writeback.*.*.jira-1); a stream is followed only when a filter can match it.
Starts 10 minutes back by default; --all starts at the beginning, --new with
the next event. Events of different streams are printed as they arrive, not
merged by time. Stops on Ctrl-C, or after --count events.

NATS is found by --nats, then $HUB_NATS_URL, then the hub state file's
nats_url, then ` + DefaultNATSURL + `.`,
		Example: `  hubctl events tail
  hubctl events tail 'ticket.discovered.>' --all
  hubctl events tail --stream writeback -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := tailPlan(f.stream, args)
			if err != nil {
				return err
			}
			if f.count < 0 {
				return errors.New("--count must not be negative")
			}
			cfg := jetstream.OrderedConsumerConfig{}
			switch {
			case f.all:
				cfg.DeliverPolicy = jetstream.DeliverAllPolicy
			case f.new:
				cfg.DeliverPolicy = jetstream.DeliverNewPolicy
			default:
				if f.since <= 0 {
					return errors.New("--since must be positive (use --all for everything)")
				}
				start := g.env.Now().Add(-f.since)
				cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
			}
			return g.tail(cmd.Context(), plan, cfg, f.count)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&g.natsURL, "nats", "", "NATS server URL (default: $HUB_NATS_URL, the hub state file, "+DefaultNATSURL+")")
	fs.StringVar(&g.natsCreds, "nats-creds", "", "NATS credential: an nkey seed or .creds file, or a credentials dir (its hubctl.nk) (default: $HUB_NATS_CREDS, the file named in the hub state file)")
	fs.StringVar(&f.stream, "stream", "all", "TICKETS, RESULTS, WRITEBACK, AUDIT or all")
	fs.DurationVar(&f.since, "since", 10*time.Minute, "start with the events of this last period")
	fs.BoolVar(&f.all, "all", false, "start with the first event each stream holds")
	fs.BoolVar(&f.new, "new", false, "print only events that arrive from now on")
	fs.IntVar(&f.count, "count", 0, "stop after this many events (0: until interrupted)")
	cmd.MarkFlagsMutuallyExclusive("since", "all", "new")
	return cmd
}

// streamPlan is one stream to follow and its consumer's filters (none: all).
type streamPlan struct {
	stream  string
	filters []string
}

// tailPlan picks the streams to follow and narrows each filter to the part of
// it a stream can hold: ">" on TICKETS becomes ticket.>. Filters another one
// already covers are dropped, since a consumer's filters must not overlap.
func tailPlan(stream string, filters []string) ([]streamPlan, error) {
	want := strings.ToUpper(strings.TrimSpace(stream))
	known := false
	for _, s := range eventStreams {
		known = known || s.name == want
	}
	if want != "ALL" && !known {
		return nil, fmt.Errorf("--stream %q: want TICKETS, RESULTS, WRITEBACK, AUDIT or all", stream)
	}
	for _, f := range filters {
		if err := validFilter(f); err != nil {
			return nil, err
		}
	}
	var plan []streamPlan
	for _, s := range eventStreams {
		if want != "ALL" && s.name != want {
			continue
		}
		p := streamPlan{stream: s.name}
		for _, f := range filters {
			if n, ok := narrowFilter(f, s.prefix); ok {
				p.filters = append(p.filters, n)
			}
		}
		if len(filters) > 0 && len(p.filters) == 0 {
			continue
		}
		p.filters = dropCovered(p.filters)
		plan = append(plan, p)
	}
	if len(plan) == 0 {
		where := "any stream (ticket.>, result.>, writeback.>, audit.>)"
		if want != "ALL" {
			where = "stream " + want
		}
		return nil, fmt.Errorf("subject filters %s match no subject of %s", strings.Join(filters, " "), where)
	}
	return plan, nil
}

func validFilter(f string) error {
	toks := strings.Split(f, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject filter %q has an empty token", f)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject filter %q: > must be the last token", f)
		case strings.ContainsAny(t, " \t\r\n") || (len(t) > 1 && strings.ContainsAny(t, "*>")):
			return fmt.Errorf("subject filter %q: token %q is invalid", f, t)
		}
	}
	return nil
}

// narrowFilter intersects filter with <prefix>.>, the subjects of a stream.
func narrowFilter(filter, prefix string) (string, bool) {
	first, rest, hasRest := strings.Cut(filter, ".")
	switch {
	case first == ">":
		return prefix + ".>", true
	case (first == "*" || first == prefix) && hasRest:
		return prefix + "." + rest, true
	}
	return "", false
}

// dropCovered removes filters that another filter in the list matches entirely.
func dropCovered(filters []string) []string {
	var out []string
	for i, f := range filters {
		covered := false
		for j, o := range filters {
			if i != j && subjectCovers(o, f) && (!subjectCovers(f, o) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f)
		}
	}
	return out
}

// subjectCovers reports whether every subject matching sub also matches filter.
func subjectCovers(filter, sub string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(sub, ".")
	for i, t := range ft {
		if t == ">" {
			return len(st) > i
		}
		if i >= len(st) || st[i] == ">" {
			return false
		}
		if t != "*" && (st[i] == "*" || st[i] != t) {
			return false
		}
	}
	return len(ft) == len(st)
}

// tailed is one message and the stream it came from.
type tailed struct {
	stream string
	msg    jetstream.Msg
}

func (g *globals) tail(ctx context.Context, plan []streamPlan, cfg jetstream.OrderedConsumerConfig, count int) error {
	nc, js, t, err := g.connectNATS()
	if err != nil {
		return err
	}
	defer nc.Close()

	msgs := make(chan tailed)
	done := make(chan struct{})
	for _, p := range plan {
		c := cfg
		c.FilterSubjects = p.filters
		stream := p.stream
		cons, err := js.OrderedConsumer(ctx, stream, c)
		if err != nil {
			close(done)
			return jetStreamError(t, "following stream "+stream, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			select {
			case msgs <- tailed{stream, m}:
			case <-done:
			}
		}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case <-done:
			default:
				g.info("warning: following %s: %v", stream, err)
			}
		}))
		if err != nil {
			close(done)
			return jetStreamError(t, "following stream "+stream, err)
		}
		defer cc.Stop()
	}
	defer close(done) // runs before the Stops above, unblocking handlers

	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			var err error
			if g.output == "json" {
				err = writeEventJSON(g.env.Stdout, m)
			} else {
				err = writeEventLine(g.env.Stdout, m)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// publishTime is when the stream stored the message, else its ce-time. The
// stored time comes first because ce-time is not always the publish time: the
// pollers set a ticket event's ce-time to the ticket's update time, which may
// be hours before the event was published.
func publishTime(m jetstream.Msg) time.Time {
	if md, err := m.Metadata(); err == nil && !md.Timestamp.IsZero() {
		return md.Timestamp
	}
	if ts := m.Headers().Get(bus.HeaderTime); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t
		}
	}
	return time.Time{}
}

// writeEventLine prints publish time, short type, subject and a summary.
func writeEventLine(w io.Writer, tm tailed) error {
	m := tm.msg
	typ := m.Headers().Get(bus.HeaderType)
	short := strings.TrimPrefix(typ, "connectorhub.v1.")
	if short == "" {
		short = "-"
	}
	_, err := fmt.Fprintf(w, "%-20s  %-18s  %-36s  %s\n", publishTime(m).UTC().Format(time.RFC3339), short, m.Subject(), summarize(m, typ))
	return err
}

// summarize decodes the event by its ce-type and describes it in one line.
func summarize(m jetstream.Msg, typ string) string {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return fmt.Sprintf("(%d bytes of an unknown event type)", len(m.Data()))
	}
	msg := mt.New().Interface()
	if _, err := bus.Decode(m, msg); err != nil {
		return fmt.Sprintf("(undecodable: %v)", err)
	}
	switch e := msg.(type) {
	case *pb.TicketDiscovered:
		return ticketSummary(e.GetTicket()) + ticketUpdated(e.GetTicket())
	case *pb.TicketUpdated:
		s := ticketSummary(e.GetTicket())
		if len(e.GetChangedFields()) > 0 {
			s += " changed: " + strings.Join(e.GetChangedFields(), ",")
		}
		return s + ticketUpdated(e.GetTicket())
	case *pb.TicketClosed:
		return fmt.Sprintf("%s closed (%s)", e.GetKey(), orDash(e.GetReason()))
	case *pb.TicketEnriched:
		ctx := contextSummary(e.GetContext())
		if len(e.GetHits()) == 0 {
			return fmt.Sprintf("%s: no knowledge (%s)%s", e.GetTicketKey(), orDash(e.GetEmptyReason()), ctx)
		}
		titles := make([]string, 0, len(e.GetHits()))
		for _, h := range e.GetHits() {
			titles = append(titles, fmt.Sprintf("%q", h.GetTitle()))
		}
		return fmt.Sprintf("%s: %d hits: %s%s", e.GetTicketKey(), len(e.GetHits()), strings.Join(titles, ", "), ctx)
	case *pb.ResultReady:
		return fmt.Sprintf("result %s for %s: %s", e.GetResultId(), e.GetTicketKey(), resultActions(e))
	case *pb.WritebackCompleted:
		s := fmt.Sprintf("result %s for %s: status %s", e.GetResultId(), e.GetTicketKey(), orDash(e.GetStatusOutcome()))
		var links []string
		for _, l := range e.GetLinks() {
			links = append(links, strings.TrimSpace(l.GetKind()+" "+firstNonEmpty(l.GetKey(), l.GetUrl())))
		}
		if len(links) > 0 {
			s += "; " + strings.Join(links, ", ")
		}
		return s
	case *pb.WritebackFailed:
		s := fmt.Sprintf("result %s for %s failed after %d attempts: %s", e.GetResultId(), e.GetTicketKey(), e.GetAttempts(), e.GetReason())
		if steps := stepsSummary(e.GetSteps()); steps != "" {
			s += " [" + steps + "]"
		}
		return s
	case *pb.AuditEvent:
		s := fmt.Sprintf("%s by %s", e.GetAction(), orDash(e.GetActor()))
		if e.GetRole() != "" {
			s += " (" + e.GetRole() + ")"
		}
		if e.GetConnectorId() != "" {
			s += " on " + e.GetConnectorId()
		}
		s += ": " + orDash(e.GetOutcome())
		if len(e.GetFields()) > 0 {
			s += " fields " + strings.Join(e.GetFields(), ",")
		}
		return s
	}
	return fmt.Sprintf("(%d bytes)", len(m.Data()))
}

func ticketSummary(t *pb.Ticket) string {
	s := fmt.Sprintf("%s %q", t.GetKey(), t.GetSummary())
	if t.GetStatus() != "" {
		s += " [" + t.GetStatus() + "]"
	}
	return s
}

// ticketUpdated is the ticket's own update time as a trailing field, or ""
// when the event does not carry it.
func ticketUpdated(t *pb.Ticket) string {
	if t.GetUpdateTime() == nil {
		return ""
	}
	return " (ticket updated " + t.GetUpdateTime().AsTime().UTC().Format(time.RFC3339) + ")"
}

func resultActions(r *pb.ResultReady) string {
	var a []string
	if r.GetTargetStatus() != "" {
		a = append(a, fmt.Sprintf("status %q", r.GetTargetStatus()))
	}
	if r.GetCommentMarkdown() != "" {
		a = append(a, "comment")
	}
	if r.GetMentionReporter() {
		a = append(a, "mention reporter")
	}
	switch n := len(r.GetSubtasks()); n {
	case 0:
	case 1:
		a = append(a, "1 sub-task")
	default:
		a = append(a, fmt.Sprintf("%d sub-tasks", n))
	}
	if pr := r.GetPullRequest(); pr != nil {
		a = append(a, "pull request from "+pr.GetHeadBranch())
	}
	return joinOrDash(a)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// cloudEvent is an event in CloudEvents 1.0 JSON (structured) format, with
// the NATS subject, stream, sequence and publish time as extension attributes.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	PublishTime     string          `json:"publishtime,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	NATSSubject     string          `json:"natssubject"`
	Stream          string          `json:"stream"`
	Sequence        uint64          `json:"sequence,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
}

func writeEventJSON(w io.Writer, tm tailed) error {
	m := tm.msg
	h := m.Headers()
	ev := cloudEvent{
		SpecVersion: h.Get(bus.HeaderSpecVersion), ID: h.Get(bus.HeaderID), Type: h.Get(bus.HeaderType),
		Source: h.Get(bus.HeaderSource), Subject: h.Get(bus.HeaderSubject), Time: h.Get(bus.HeaderTime),
		DataContentType: h.Get(bus.HeaderContentType), TraceParent: h.Get("traceparent"),
		NATSSubject: m.Subject(), Stream: tm.stream,
	}
	if md, err := m.Metadata(); err == nil {
		ev.Sequence = md.Sequence.Stream
		if !md.Timestamp.IsZero() {
			ev.PublishTime = md.Timestamp.UTC().Format(time.RFC3339Nano)
		}
	}
	var data bytes.Buffer
	if err := json.Compact(&data, m.Data()); err == nil && data.Len() > 0 {
		ev.Data = data.Bytes()
	} else if len(m.Data()) > 0 {
		ev.DataBase64 = base64.StdEncoding.EncodeToString(m.Data())
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// contextSummary is one line for an enrichment's context section: per scope
// the newest build, the gate, the app's health, or why it is unavailable.
func contextSummary(c *pb.TicketContext) string {
	var parts []string
	for _, s := range c.GetSources() {
		name := s.GetConnectorId() + "/" + s.GetScope()
		var what []string
		if r := s.GetUnavailableReason(); r != "" {
			what = append(what, "unavailable ("+r+")")
		}
		if b := s.GetBuilds(); len(b) > 0 {
			w := "build " + b[0].GetId() + " " + b[0].GetStatus()
			if len(b[0].GetFailingSteps()) > 0 {
				w += " (" + strings.Join(b[0].GetFailingSteps(), ", ") + ")"
			}
			what = append(what, w)
		}
		if g := s.GetQualityGate(); g != nil {
			what = append(what, "gate "+g.GetStatus())
		}
		if d := s.GetDeployment(); d != nil {
			what = append(what, d.GetHealth()+"/"+d.GetSync())
		}
		parts = append(parts, name+" "+orDash(strings.Join(what, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; context: " + strings.Join(parts, "; ")
}
