package bus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Role is what a NATS connection may do on the bus. Every connection
// authenticates as one role's user (an nkey, see Credentials), and the
// server enforces the role's subject permissions.
type Role string

// The roles (docs/architecture.md, "Who may do what on the bus").
const (
	// RoleOperator provisions: the only role that creates, updates or
	// deletes streams and buckets. The hub uses it to run Provision.
	RoleOperator Role = "operator"
	// RoleRegistry is the only writer of the connectors bucket and audit.>.
	RoleRegistry Role = "registry"
	// RolePoller leases connectors, keeps cursors and publishes ticket
	// discovered/updated/closed events.
	RolePoller Role = "poller"
	// RoleWriteback consumes RESULTS and publishes writeback.* outcomes.
	RoleWriteback Role = "writeback"
	// RoleKnowledge consumes TICKETS, publishes ticket.enriched and answers
	// knowledge.search.
	RoleKnowledge Role = "knowledge"
	// RoleAgent is a worker outside the hub: it reads ticket.> and
	// writeback.> and publishes result.ready.>.
	RoleAgent Role = "agent"
	// RoleReader reads every stream and publishes nothing.
	RoleReader Role = "reader"
	// RoleHubctl is the operator CLI: a reader that may also publish
	// result.ready.> (hubctl results publish).
	RoleHubctl Role = "hubctl"
	// RoleLeaf is an edge site's NATS leaf node connecting to the central
	// cluster (its leafnode port), not a client: what crosses that
	// connection is what an edge poller and an edge writeback need, and
	// nothing else (see grant.leafFor). A compromised edge site then has
	// those two services' rights on the bus, without the connectors writes.
	RoleLeaf Role = "leaf"
)

// Knowledge's own buckets. The knowledge service creates them with its
// settings (TTL, replicas), so its role may create and update these two.
const (
	bucketKnowledgeCache = "knowledge_cache"
	bucketKnowledgeState = "knowledge_state"
)

// Subjects outside the streams.
const (
	subjectConnectorTest = "connector.test.>" // pkg/conncheck: saved-connector tests
	subjectSearch        = "knowledge.search" // services/knowledge: search request/reply
	subjectAuditMismatch = "audit.credential.mismatch"
)

// grant is one role's rights, written as what it does: the streams it reads,
// the buckets it reads or writes, the subjects it publishes, requests or
// serves. permissions() turns it into NATS subject permissions.
//
// A new bucket or subject is one line here: add it to the role that uses it.
type grant struct {
	readStreams  []string // consume, get messages, stream info
	readBuckets  []string // get, watch, keys
	writeBuckets []string // readBuckets + put, create, update, delete, purge keys
	ownBuckets   []string // writeBuckets + create and update the bucket itself (never delete)
	publish      []string // subjects published, to a stream or core NATS
	requests     []string // request/reply subjects this role asks
	serves       []string // request/reply subjects this role answers (queue subscribe, reply once)
	subscribe    []string // other subjects subscribed to
	all          bool     // every subject: the operator
	// leafFor makes the grant a leaf node connection's, carrying these
	// client roles' traffic: their inboxes are what the hub sends across,
	// and JetStream and KV requests cross only in their domain form
	// ($JS.<domain>.API.…), the one edge services use (HUB_JS_DOMAIN).
	leafFor []Role
}

// roles is the table of every role's rights.
var roles = map[Role]grant{
	RoleOperator: {all: true},
	RoleRegistry: {
		// ledger: replay clears the failed mark; poll_state: read for the
		// status, and a deleted connector's state (head and parts) removed;
		// oauth_grants: a new authorization stored, a deleted or reconfigured
		// connector's grant dropped.
		writeBuckets: []string{BucketConnectors, BucketWritebackLedger, BucketPollState, BucketOAuthGrants},
		publish:      []string{subjectAudit + ".>", subjectResult + ".ready.>"}, // result.ready: replay
		requests:     []string{subjectConnectorTest},
	},
	RolePoller: {
		// The webhooks service connects as the poller too: it is the
		// poller's front door (reads connectors, publishes webhook.notice).
		// oauth_grants rw: a worker stores the rotated OAuth refresh token of
		// an oauth2 connector (pkg/oauthgrant, compare-and-swap on the
		// grant's revision); connectors stay read-only (the registry alone
		// writes them).
		readStreams:  []string{StreamWebhooks},
		readBuckets:  []string{BucketConnectors},
		writeBuckets: []string{BucketOAuthGrants, BucketPollLeases, BucketPollState, BucketTicketVersions},
		publish: []string{
			subjectTicket + "." + TicketDiscovered + ".>",
			subjectTicket + "." + TicketUpdated + ".>",
			subjectTicket + "." + TicketClosed + ".>",
			subjectWebhook + ".notice.>",
			subjectAuditMismatch,
		},
		serves: []string{subjectConnectorTest},
	},
	RoleWriteback: {
		readStreams:  []string{StreamResults},
		readBuckets:  []string{BucketConnectors},
		writeBuckets: []string{BucketOAuthGrants, BucketWritebackLedger, BucketTicketVersions}, // oauth_grants: rotated OAuth refresh tokens
		publish:      []string{subjectWriteback + ".>", subjectAuditMismatch},
		serves:       []string{subjectConnectorTest},
	},
	RoleKnowledge: {
		readStreams:  []string{StreamTickets},
		readBuckets:  []string{BucketConnectors},
		writeBuckets: []string{BucketOAuthGrants}, // rotated OAuth refresh tokens (Confluence oauth2)
		ownBuckets:   []string{bucketKnowledgeCache, bucketKnowledgeState},
		publish:      []string{subjectTicket + "." + TicketEnriched + ".>", subjectAuditMismatch},
		serves:       []string{subjectSearch, subjectConnectorTest},
		subscribe:    []string{"$SRV.>"}, // nats micro discovery (PING, INFO, STATS)
	},
	RoleAgent: {
		readStreams: []string{StreamTickets, StreamWriteback},
		publish:     []string{subjectResult + ".ready.>"},
		requests:    []string{subjectSearch},
	},
	RoleReader: {
		readStreams: []string{StreamTickets, StreamResults, StreamWriteback, StreamAudit},
		requests:    []string{subjectSearch},
	},
	RoleHubctl: {
		readStreams: []string{StreamTickets, StreamResults, StreamWriteback, StreamAudit},
		publish:     []string{subjectResult + ".ready.>"},
		requests:    []string{subjectSearch},
	},
	// What an edge poller (POLLER_ZONE) and an edge writeback
	// (WRITEBACK_ZONE) do through the leaf: the poller's buckets and ticket
	// events, webhook notices (Verify and the notice follower read them),
	// RESULTS through the writeback's zone durable, writeback.* events, and
	// oauth_grants (both workers read and rotate a zoned OAuth 2.0
	// connector's refresh token there). Not granted: writing connectors,
	// connector.test.>
	// (saved-connector tests are answered centrally), webhook.notice.>
	// (the webhooks service runs centrally), audit.> except the
	// credential-mismatch alarm, and no stream, bucket or consumer admin
	// beyond the consumers readStream allows.
	RoleLeaf: {
		leafFor:      []Role{RolePoller, RoleWriteback},
		readStreams:  []string{StreamWebhooks, StreamResults},
		readBuckets:  []string{BucketConnectors},
		writeBuckets: []string{BucketOAuthGrants, BucketPollLeases, BucketPollState, BucketTicketVersions, BucketWritebackLedger},
		publish: []string{
			subjectTicket + "." + TicketDiscovered + ".>",
			subjectTicket + "." + TicketUpdated + ".>",
			subjectTicket + "." + TicketClosed + ".>",
			subjectWriteback + ".>",
			subjectAuditMismatch,
		},
	},
}

// durables are the services' shared consumers (by their default names,
// WRITEBACK_DURABLE and KNOWLEDGE_CONSUMER): another role reading the stream
// may not create, change, pull from, ack on or delete them, so a reader
// cannot steal or stall the writeback's results.
var durables = []struct {
	stream, name string
	owner        Role
}{
	{StreamResults, "writeback", RoleWriteback},
	{StreamTickets, "knowledge", RoleKnowledge},
}

// Roles lists every role, operator first.
func Roles() []Role {
	return []Role{RoleOperator, RoleRegistry, RolePoller, RoleWriteback, RoleKnowledge, RoleAgent, RoleReader, RoleHubctl, RoleLeaf}
}

// LeafNode reports whether r is a leaf node's credential (RoleLeaf): the
// server accepts it on its leafnode port only, never from a client.
func (r Role) LeafNode() bool { return len(roles[r].leafFor) > 0 }

// ConnectionTypes are the connection types the server accepts r's user on
// (nil: any), as NkeyUser.AllowedConnectionTypes and the configuration's
// allowed_connection_types take them.
func (r Role) ConnectionTypes() []string {
	if r.LeafNode() {
		return []string{"LEAFNODE"}
	}
	return nil
}

// InboxPrefix is the reply-subject prefix of the role's connections,
// "_INBOX_<role>": the only inboxes it may subscribe to. Clients set it with
// nats.CustomInboxPrefix (Credentials.Option and ClientAuth do), the nats
// CLI with --inbox-prefix.
func (r Role) InboxPrefix() string { return "_INBOX_" + string(r) }

// RoleOfFile is the role a seed file is named for (<role>.nk, as
// LoadOrCreateCredentials writes them), or "".
func RoleOfFile(path string) Role {
	name := filepath.Base(path)
	if !strings.HasSuffix(name, ".nk") {
		return ""
	}
	if r := Role(strings.TrimSuffix(name, ".nk")); r.Valid() {
		return r
	}
	return ""
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := roles[r]; return ok }

// responseTTL bounds how long a served request may take to be answered.
const responseTTL = 2 * time.Minute

// Permissions returns the NATS permissions of the role's user, or nil for
// an unknown role.
func (r Role) Permissions() *server.Permissions {
	g, ok := roles[r]
	if !ok {
		return nil
	}
	return g.permissions(r)
}

func (g grant) permissions(r Role) *server.Permissions {
	if g.all {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}},
		}
	}
	// Replies (JetStream API answers, publish acks, KV watch deliveries)
	// arrive on the role's own inbox prefix, so no role reads another's
	// (a watcher's connector records, a test's answer); $JS.API.INFO is the
	// account info.
	pub := []string{jsAPI + "INFO"}
	sub := []string{r.InboxPrefix() + ".>"}

	for _, b := range g.ownBuckets {
		s := kvStream(b)
		pub = append(pub, jsAPI+"STREAM.CREATE."+s, jsAPI+"STREAM.UPDATE."+s)
	}
	for _, b := range slices.Concat(g.writeBuckets, g.ownBuckets) {
		pub = append(pub, "$KV."+b+".>")
	}
	for _, b := range slices.Concat(g.readBuckets, g.writeBuckets, g.ownBuckets) {
		pub = append(pub, readStream(kvStream(b))...)
	}
	for _, s := range g.readStreams {
		pub = append(pub, readStream(s)...)
	}
	pub = append(pub, g.publish...)
	pub = append(pub, g.requests...)
	sub = append(sub, g.serves...)
	sub = append(sub, g.subscribe...)
	if len(g.leafFor) > 0 {
		// A leaf user's permissions are written from the leaf's side, as a
		// client's: publish is what the leaf may send into the hub (its
		// clients' requests and events), subscribe what the hub may send
		// to the leaf (replies to its clients' inboxes). The hub swaps them
		// for its own side of the connection (NATS docs, "Leaf Nodes",
		// permissions; nats-server leafnode.go) and sends them to the leaf,
		// which then forwards nothing else.
		sub = sub[:0]
		for _, c := range g.leafFor {
			sub = append(sub, c.InboxPrefix()+".>")
		}
	}

	var deny []string
	for _, d := range durables {
		if d.owner != r && slices.Contains(g.readStreams, d.stream) {
			c := d.stream + "." + d.name
			deny = append(deny, jsAPI+"CONSUMER.CREATE."+c, jsAPI+"CONSUMER.CREATE."+c+".>", jsAPI+"CONSUMER.DURABLE.CREATE."+c,
				jsAPI+"CONSUMER.DELETE."+c, jsAPI+"CONSUMER.MSG.NEXT."+c, "$JS.ACK."+c+".>")
		}
	}

	pub, deny = withDomains(pub), withDomains(deny)
	if len(g.leafFor) > 0 {
		// The leaf's own JetStream answers $JS.API.… locally, and the hub
		// denies that form across a leaf connection of another domain
		// anyway: only the domain forms cross.
		pub, deny = domainOnly(pub), domainOnly(deny)
	}
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: dedupe(pub), Deny: dedupe(deny)},
		Subscribe: &server.SubjectPermission{Allow: dedupe(sub)},
	}
	if len(g.serves) > 0 || len(g.subscribe) > 0 {
		// Answering a request is allowed once per request received, without a
		// publish right on other connections' inboxes.
		p.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	}
	return p
}

const jsAPI = "$JS.API."

// withDomains adds, for each JetStream API and KV subject, its form through a
// JetStream domain ($JS.<domain>.API.…, and $JS.<domain>.API.$KV.… for a
// KV put): an edge service on a leaf node (HUB_JS_DOMAIN) reaches the
// central streams and buckets that way, and the leaf applies these same
// users. The hub maps them back to $JS.API.… and $KV.… (NATS's domain
// mapping), so a role gets the same rights in any domain and no more.
func withDomains(subjects []string) []string {
	out := slices.Clone(subjects)
	for _, s := range subjects {
		switch {
		case strings.HasPrefix(s, jsAPI):
			out = append(out, "$JS.*.API."+strings.TrimPrefix(s, jsAPI))
		case strings.HasPrefix(s, "$KV."):
			out = append(out, "$JS.*.API."+s)
		}
	}
	return out
}

// domainOnly drops the JetStream API and KV subjects that name no domain.
func domainOnly(subjects []string) []string {
	return slices.DeleteFunc(slices.Clone(subjects), func(s string) bool {
		return strings.HasPrefix(s, jsAPI) || strings.HasPrefix(s, "$KV.")
	})
}

func kvStream(bucket string) string { return "KV_" + bucket }

// readStream is what reading a stream takes: its info, message gets (direct
// or through the API), consumers (create, info, next batch, delete an
// ephemeral one), acks and flow-control replies. Creating, updating,
// purging or deleting the stream itself is not part of it.
func readStream(s string) []string {
	return []string{
		jsAPI + "STREAM.INFO." + s,
		jsAPI + "STREAM.MSG.GET." + s,
		jsAPI + "DIRECT.GET." + s,
		jsAPI + "DIRECT.GET." + s + ".>",
		jsAPI + "CONSUMER.CREATE." + s,
		jsAPI + "CONSUMER.CREATE." + s + ".>",
		jsAPI + "CONSUMER.DURABLE.CREATE." + s + ".>",
		jsAPI + "CONSUMER.INFO." + s + ".>",
		jsAPI + "CONSUMER.MSG.NEXT." + s + ".>",
		jsAPI + "CONSUMER.DELETE." + s + ".>",
		jsAPI + "CONSUMER.NAMES." + s,
		jsAPI + "CONSUMER.LIST." + s,
		"$JS.ACK." + s + ".>",
		"$JS.FC." + s + ".>",
	}
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// verifyTimeout bounds Verify: the server drops a refused request, so the
// client only learns of it at its deadline.
const verifyTimeout = 10 * time.Second

// ErrRoleMismatch is returned by Verify when a connection cannot do what its
// role needs: usually the credential of another role, or a server whose
// users were generated from an older roles table.
var ErrRoleMismatch = errors.New("bus: NATS connection lacks a permission of its role")

// verifyWait bounds how long Verify waits for a cluster that does not answer
// yet (a node restarting, a stream leader being elected): such requests time
// out like refused ones, but without the server's permissions violation.
const verifyWait = time.Minute

// Verify checks, without changing anything, that js can read every stream
// and bucket role r needs (the ones Provision creates), so a service started
// with the wrong credential stops with a clear error instead of failing on
// its first message. The operator's check is the account info. A refused
// request fails it once its attempt's deadline passes (the connection has
// seen the permissions violation); a request that went unanswered otherwise
// is retried for up to verifyWait.
func Verify(ctx context.Context, js jetstream.JetStream, r Role) error {
	ctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	for {
		err := verifyOnce(ctx, js, r)
		if err == nil || !unanswered(js, err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// unanswered says err is a request that timed out while the connection saw
// no permissions violation: the cluster was busy, not the role wrong.
func unanswered(js jetstream.JetStream, err error) bool {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) &&
		!errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return false
	}
	return !errors.Is(js.Conn().LastError(), nats.ErrPermissionViolation)
}

func verifyOnce(ctx context.Context, js jetstream.JetStream, r Role) error {
	// A refused request is not answered: bound the wait.
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	g, ok := roles[r]
	if !ok {
		return fmt.Errorf("%w: unknown role %q", ErrRoleMismatch, r)
	}
	if len(g.leafFor) > 0 {
		return fmt.Errorf("%w: %s is a leaf node's credential, not a client's", ErrRoleMismatch, r)
	}
	if g.all {
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("%w: %s: account info: %w", ErrRoleMismatch, r, err)
		}
		return nil
	}
	for _, s := range g.readStreams {
		if _, err := js.Stream(ctx, s); err != nil {
			return fmt.Errorf("%w: %s cannot read stream %s: %w", ErrRoleMismatch, r, s, err)
		}
	}
	for _, b := range slices.Concat(g.readBuckets, g.writeBuckets) {
		if _, err := js.KeyValue(ctx, b); err != nil {
			return fmt.Errorf("%w: %s cannot read bucket %s: %w", ErrRoleMismatch, r, b, err)
		}
	}
	return nil
}
