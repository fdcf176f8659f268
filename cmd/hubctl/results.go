package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func newResultsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "results",
		Aliases: []string{"result"},
		Short:   "Publish results for writeback and replay dead-lettered ones",
	}
	cmd.AddCommand(newPublishCmd(g), newReplayCmd(g))
	return cmd
}

func newReplayCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "replay RESULT_ID",
		Short: "Re-publish a dead-lettered result (writeback.failed) so writeback tries it again",
		Long: `Re-publishes a result that writeback gave up on (a writeback.failed event)
on its result.ready subject. Writeback resumes from the steps its ledger
records as done, so nothing already written is repeated. Needs an admin token.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeConn, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := client.ReplayResult(ctx, &pb.ReplayResultRequest{ResultId: args[0]})
			if err != nil {
				return replayError(args[0], err)
			}
			return g.show(resp, func() error {
				_, err := fmt.Fprintf(g.env.Stdout, "replayed result %s on %s (replay %d)\n", resp.GetResultId(), resp.GetSubject(), resp.GetReplays())
				return err
			})
		},
	}
}

// replayError explains the refusals of ReplayResult; the gRPC status stays
// reachable through the returned error.
func replayError(id string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("result %s is unknown to writeback (no ledger entry; check the id, or the result was never consumed): %w", id, err)
	case codes.FailedPrecondition:
		return fmt.Errorf("result %s cannot be replayed, only dead-lettered results (writeback.failed) can: %w", id, err)
	}
	return err
}

// publishFlags are the fields of a ResultReady given on the command line.
type publishFlags struct {
	connector, ticket, system, resultID string
	status, comment, commentFile        string
	mention                             bool
	subtasks                            []string
	prHead, prTitle, prBody, prBase     string
	baseTime                            string
	traceparent, tracestate             string
}

func newPublishCmd(g *globals) *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish --connector ID --ticket KEY [flags]",
		Short: "Publish a result.ready event, as an agent would, for writeback to apply",
		Long: `Publishes a ResultReady on result.ready.<system>.<connector> over NATS
JetStream. Writeback applies it to the ticket: status, comment, reporter
mention, sub-tasks, pull/merge request.

--ticket takes the ticket's key (PROJ-12, owner/repo#12, group/project#12),
its number or #number within the connector's project or repository, or its
web URL. The registry turns it into the key the ticket events carry and
gives the connector's system; a key of another repository is refused. With
--system the registry is not asked, and writeback normalises the ticket. The result id (ce-id and Nats-Msg-Id) is random unless --id is given;
publishing the same id again within the stream's duplicate window is dropped
by JetStream.

--traceparent (or $TRACEPARENT) takes the traceparent header of the ticket
event the result answers: the result then carries that trace context, and
its writeback is part of the ticket's trace (poll, discovery, enrichment).

NATS is found by --nats, then $HUB_NATS_URL, then the hub state file's
nats_url, then ` + DefaultNATSURL + `.`,
		Example: `  hubctl results publish --connector jira-sandbox --ticket SAND-1 --status "In Review" \
      --comment "Fixed in **main**." --mention-reporter
  hubctl results publish --connector gh-acme --ticket acme/api#12 \
      --pr-head fix-12 --pr-title "Fix #12" --comment-file notes.md
  hubctl results publish --connector gh-acme --ticket https://github.com/acme/api/issues/12 --status "In Review"
  hubctl results publish --connector gl-platform --ticket '#7' --comment "Merged."`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := f.result(g.env, cmd.Flags().Changed("id"))
			if err != nil {
				return err
			}
			ctx, err := withTraceParent(cmd.Context(), f.traceparent, f.tracestate)
			if err != nil {
				return err
			}
			system := f.system
			if system == "" {
				if system, r.TicketKey, err = g.normalizeTicket(ctx, f.connector, r.GetTicketKey()); err != nil {
					return err
				}
			}
			s, err := parseSystem(system)
			if err != nil {
				return fmt.Errorf("--system: %w", err)
			}
			if s == pb.System_SYSTEM_CONFLUENCE {
				return fmt.Errorf("connector %s is a confluence connector; results are written back to jira, github or gitlab", f.connector)
			}
			if s == pb.System_SYSTEM_JIRA && r.GetPullRequest() != nil {
				return errors.New("--pr-head: jira connectors cannot open pull requests (github and gitlab can)")
			}
			r.System = s
			subject, err := bus.ResultSubject(systemName(s), f.connector)
			if err != nil {
				return fmt.Errorf("--connector %q cannot be used in a subject: %w", f.connector, err)
			}
			return g.publishResult(ctx, subject, r)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&g.natsURL, "nats", "", "NATS server URL (default: $HUB_NATS_URL, the hub state file, "+DefaultNATSURL+")")
	fs.StringVar(&g.natsCreds, "nats-creds", "", "NATS credential: an nkey seed or .creds file, or a credentials dir (its hubctl.nk) (default: $HUB_NATS_CREDS, the file named in the hub state file)")
	fs.StringVar(&f.connector, "connector", "", "connector id (required)")
	fs.StringVar(&f.ticket, "ticket", "", "ticket: PROJ-12, owner/repo#12, group/project#12, its number, #number or web URL (required)")
	fs.StringVar(&f.system, "system", "", "jira, github or gitlab (default: the connector's, asked from the registry)")
	fs.StringVar(&f.resultID, "id", "", "result id, also the event id (default: random, printed)")
	fs.StringVar(&f.status, "status", "", "target status name, e.g. \"In Review\"")
	fs.StringVar(&f.comment, "comment", "", "comment in Markdown")
	fs.StringVar(&f.commentFile, "comment-file", "", "read the Markdown comment from this file (- for stdin)")
	fs.BoolVar(&f.mention, "mention-reporter", false, "mention the ticket's reporter in the comment")
	fs.StringArrayVar(&f.subtasks, "subtask", nil, "create a sub-task with this summary (repeatable)")
	fs.StringVar(&f.prHead, "pr-head", "", "open a pull/merge request from this branch (github, gitlab)")
	fs.StringVar(&f.prTitle, "pr-title", "", "pull/merge request title")
	fs.StringVar(&f.prBody, "pr-body", "", "pull/merge request description in Markdown")
	fs.StringVar(&f.prBase, "pr-base", "", "pull/merge request target branch (default: the repository's default)")
	fs.StringVar(&f.traceparent, "traceparent", g.env.Getenv("TRACEPARENT"), "the traceparent header of the ticket event the result answers, so its writeback joins the ticket's trace (default: $TRACEPARENT)")
	fs.StringVar(&f.tracestate, "tracestate", g.env.Getenv("TRACESTATE"), "the tracestate header of that event, if any (default: $TRACESTATE)")
	fs.StringVar(&f.baseTime, "base-time", "", "the ticket update time the work is based on (RFC 3339, or now); later tracker changes are conflicts")
	_ = cmd.MarkFlagRequired("connector")
	_ = cmd.MarkFlagRequired("ticket")
	cmd.MarkFlagsMutuallyExclusive("comment", "comment-file")
	return cmd
}

// result builds the ResultReady the flags describe, without its system.
func (f *publishFlags) result(env Env, idGiven bool) (*pb.ResultReady, error) {
	r := &pb.ResultReady{
		ResultId:        f.resultID,
		ConnectorId:     f.connector,
		TicketKey:       strings.TrimSpace(f.ticket),
		TargetStatus:    strings.TrimSpace(f.status),
		CommentMarkdown: f.comment,
		MentionReporter: f.mention,
	}
	if r.GetTicketKey() == "" {
		return nil, errors.New("--ticket must not be empty")
	}
	switch {
	case idGiven && strings.TrimSpace(f.resultID) == "":
		return nil, errors.New("--id must not be empty (leave it out for a random id)")
	case idGiven && strings.ContainsAny(f.resultID, "\r\n"):
		return nil, errors.New("--id must not contain a line break")
	case !idGiven:
		r.ResultId = newResultID()
	}
	if f.commentFile != "" {
		c, err := readCommentFile(env, f.commentFile)
		if err != nil {
			return nil, err
		}
		r.CommentMarkdown = c
	}
	for _, s := range f.subtasks {
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("--subtask needs a summary")
		}
		r.Subtasks = append(r.Subtasks, &pb.SubTaskSpec{Summary: strings.TrimSpace(s)})
	}
	if f.prHead != "" {
		r.PullRequest = &pb.PullRequestSpec{HeadBranch: f.prHead, BaseBranch: f.prBase, Title: f.prTitle, BodyMarkdown: f.prBody}
	} else if f.prTitle != "" || f.prBody != "" || f.prBase != "" {
		return nil, errors.New("--pr-title, --pr-body and --pr-base need --pr-head, the branch to open the pull/merge request from")
	}
	if f.baseTime != "" {
		t, err := parseBaseTime(f.baseTime, env.Now())
		if err != nil {
			return nil, err
		}
		r.BaseTime = timestamppb.New(t)
	}
	if r.GetTargetStatus() == "" && r.GetCommentMarkdown() == "" && !r.GetMentionReporter() && len(r.GetSubtasks()) == 0 && r.GetPullRequest() == nil {
		return nil, errors.New("nothing to write back: give --status, --comment, --comment-file, --mention-reporter, --subtask or --pr-head")
	}
	return r, nil
}

func parseBaseTime(s string, now time.Time) (time.Time, error) {
	if strings.EqualFold(s, "now") {
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--base-time %q: want RFC 3339 (2026-03-01T12:00:00Z) or now", s)
	}
	return t, nil
}

func readCommentFile(env Env, path string) (string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(env.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("--comment-file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("--comment-file %s is empty", path)
	}
	return string(b), nil
}

func newResultID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// normalizeTicket asks the registry for the connector's system and the
// ticket's key as the events carry it (NormalizeTicketKey: the tracker's own
// rule, so hubctl holds no copy of it). A registry without that call is asked
// for the system only, and the ticket goes as typed (writeback normalises it).
func (g *globals) normalizeTicket(ctx context.Context, id, ticket string) (system, key string, err error) {
	client, closeConn, err := g.dial(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeConn()
	resp, err := client.NormalizeTicketKey(ctx, &pb.NormalizeTicketKeyRequest{ConnectorId: id, Ticket: ticket})
	switch status.Code(err) {
	case codes.OK:
		return systemName(resp.GetSystem()), resp.GetKey(), nil
	case codes.InvalidArgument:
		return "", "", fmt.Errorf("--ticket: %s", status.Convert(err).Message())
	case codes.Unimplemented:
		c, err := client.GetConnector(ctx, &pb.GetConnectorRequest{Id: id})
		if err != nil {
			return "", "", fmt.Errorf("looking up the system of connector %s (pass --system to skip this): %w", id, err)
		}
		return systemName(c.GetConnector().GetSystem()), ticket, nil
	}
	return "", "", fmt.Errorf("looking up connector %s and its ticket %s (pass --system to skip this): %w", id, ticket, err)
}

// publishReceipt is what publish prints with -o json.
type publishReceipt struct {
	ResultID  string `json:"result_id"`
	Subject   string `json:"subject"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

func (g *globals) publishResult(ctx context.Context, subject string, r *pb.ResultReady) error {
	nc, js, t, err := g.connectNATS()
	if err != nil {
		return err
	}
	defer nc.Close()
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	ack, err := bus.Publish(ctx, js, subject, r,
		bus.WithID(r.GetResultId()), bus.WithSource(bus.Source(bus.ProducerHubctl, r.GetConnectorId())), bus.WithSubject(r.GetTicketKey()),
		bus.WithPublishOpts(jetstream.WithExpectStream(bus.StreamResults)))
	if err != nil {
		return jetStreamError(t, "publishing result "+r.GetResultId(), err)
	}
	if g.output == "json" {
		b, err := json.Marshal(publishReceipt{ResultID: r.GetResultId(), Subject: subject, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.env.Stdout, "%s\n", b)
		return err
	}
	if ack.Duplicate {
		g.info("JetStream already holds result %s from a publish within its duplicate window; this one was dropped (use another --id to publish anew)", r.GetResultId())
		_, err = fmt.Fprintf(g.env.Stdout, "result %s already published on %s (%s seq %d)\n", r.GetResultId(), subject, ack.Stream, ack.Sequence)
		return err
	}
	if _, err := fmt.Fprintf(g.env.Stdout, "published result %s for %s on %s (%s seq %d)\n", r.GetResultId(), r.GetTicketKey(), subject, ack.Stream, ack.Sequence); err != nil {
		return err
	}
	g.info("follow its writeback with: hubctl events tail 'writeback.*.%s.%s'", systemName(r.GetSystem()), r.GetConnectorId())
	return nil
}
