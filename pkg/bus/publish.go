package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ErrInvalidEvent is returned by Publish when an attribute is unusable.
var ErrInvalidEvent = errors.New("bus: invalid event")

type publishConfig struct {
	id, source, subject string
	time                time.Time
	jsOpts              []jetstream.PublishOpt
	// payload, when set, is msg's protobuf JSON encoded by the caller.
	payload func(proto.Message) ([]byte, error)
}

// PublishOption sets an attribute of a published event.
type PublishOption interface{ applyPublish(*publishConfig) }

type publishOptionFunc func(*publishConfig)

func (f publishOptionFunc) applyPublish(c *publishConfig) { f(c) }

// WithID sets ce-id (and Nats-Msg-Id). Use EventID to derive it; without
// this option the id is random and JetStream cannot deduplicate replays.
func WithID(id string) PublishOption { return publishOptionFunc(func(c *publishConfig) { c.id = id }) }

// WithSource sets ce-source; default DefaultSource.
func WithSource(source string) PublishOption {
	return publishOptionFunc(func(c *publishConfig) { c.source = source })
}

// WithSubject sets ce-subject, e.g. the ticket key; default none.
func WithSubject(subject string) PublishOption {
	return publishOptionFunc(func(c *publishConfig) { c.subject = subject })
}

// WithTime sets ce-time; default now.
func WithTime(t time.Time) PublishOption {
	return publishOptionFunc(func(c *publishConfig) { c.time = t })
}

// WithPublishOpts passes options through to jetstream.PublishMsg, e.g.
// jetstream.WithExpectStream.
func WithPublishOpts(opts ...jetstream.PublishOpt) PublishOption {
	return publishOptionFunc(func(c *publishConfig) { c.jsOpts = append(c.jsOpts, opts...) })
}

// WithEncoder encodes the payload with enc instead of protojson.Marshal:
// a faster encoder of the same protobuf JSON mapping for a hot message (the
// poller's ticket events). enc may return nil data and no error to fall
// back to protojson for a message it does not handle.
func WithEncoder(enc func(proto.Message) ([]byte, error)) PublishOption {
	return publishOptionFunc(func(c *publishConfig) { c.payload = enc })
}

// NewMsg builds the NATS message Publish sends: a CloudEvents 1.0
// binary-mode event whose payload is the protobuf JSON of msg.
//
// The headers are written by hand rather than through the CloudEvents Go SDK.
// Its JetStream binding (sdk-go protocol/nats_jetstream/v3, on the jetstream
// API) applies publish options fixed when the Protocol is built, so it cannot
// set Nats-Msg-Id per event, and its Send returns no PubAck, which hides
// whether JetStream dropped the event as a duplicate; the older v2 binding is
// on the legacy nats.JetStreamContext. The mapping itself is seven headers.
//
// NewMsg is exported for senders other than Publish (async publish, core
// NATS request/reply); options made by WithPublishOpts are ignored here. Such
// a sender calls TracePublish on the message before sending it, so the send
// has its PRODUCER span and consumers continue under it.
func NewMsg(ctx context.Context, subject string, msg proto.Message, opts ...PublishOption) (*nats.Msg, error) {
	m, _, err := newMsg(ctx, subject, msg, opts)
	return m, err
}

// Event holds the CloudEvents attributes of one event, for NewEvent: the
// same attributes as the options WithID, WithSource, WithSubject, WithTime
// and WithEncoder, in a value. A sender that builds an event per ticket
// uses it rather than options, each of which is a closure allocated per
// call (five of a ticket event's allocations, issue 9).
type Event struct {
	ID, Source, Subject string
	Time                time.Time
	Encoder             func(proto.Message) ([]byte, error)
}

// NewEvent is NewMsg with the attributes in ev; ev.Source empty means
// DefaultSource.
func NewEvent(ctx context.Context, subject string, msg proto.Message, ev Event) (*nats.Msg, error) {
	c := publishConfig{id: ev.ID, source: ev.Source, subject: ev.Subject, time: ev.Time, payload: ev.Encoder}
	if c.source == "" {
		c.source = DefaultSource
	}
	return buildMsg(ctx, subject, msg, &c)
}

func newMsg(ctx context.Context, subject string, msg proto.Message, opts []PublishOption) (*nats.Msg, []jetstream.PublishOpt, error) {
	c := publishConfig{source: DefaultSource}
	for _, o := range opts {
		o.applyPublish(&c)
	}
	m, err := buildMsg(ctx, subject, msg, &c)
	return m, c.jsOpts, err
}

// headerSlots is how many headers an event has without trace context. A
// map made for at most eight entries is one group (two allocations); one
// made for more is a table (four, and twice the bytes), so the map is made
// for ten only when trace context will be added (traceparent, tracestate).
const headerSlots = 8

func buildMsg(ctx context.Context, subject string, msg proto.Message, c *publishConfig) (*nats.Msg, error) {
	if c.id == "" {
		c.id = randomID()
	}
	typ := TypeOf(msg)
	if c.time.IsZero() {
		c.time = time.Now()
	}
	if c.source == "" || typ == "" {
		return nil, fmt.Errorf("%w: ce-source and ce-type must not be empty", ErrInvalidEvent)
	}
	for _, v := range [...]string{c.id, c.source, typ, c.subject} {
		// Two IndexByte scans (vectorised) rather than ContainsAny, which
		// builds a character set per call (issue 9 req. 4: per event).
		if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
			return nil, fmt.Errorf("%w: header value %q contains a line break", ErrInvalidEvent, v)
		}
	}
	var data []byte
	var err error
	if c.payload != nil {
		data, err = c.payload(msg)
	}
	if data == nil && err == nil {
		data, err = protojson.Marshal(msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: marshal %s: %v", ErrInvalidEvent, typ, err)
	}
	// One map sized for every header and one array for their values:
	// Header.Set allocates a slice per value, 8 of an event's allocations
	// (issue 9). Each value is its own one-element, full-capacity slice, so
	// a later Add to one header copies rather than overwrites the next.
	slots := headerSlots
	if trace.SpanContextFromContext(ctx).IsValid() {
		slots += 2 // traceparent, tracestate
	}
	h := make(nats.Header, slots)
	// The message and its header values are one allocation.
	b := &msgBlock{vals: [...]string{SpecVersion, c.id, typ, c.source, c.time.UTC().Format(time.RFC3339Nano), c.subject, ContentTypeJSON, c.id}}
	for i := range b.vals {
		if b.vals[i] == "" && headerKeys[i] == HeaderSubject {
			continue
		}
		h[headerKeys[i]] = b.vals[i : i+1 : i+1]
	}
	inject(ctx, h)
	b.msg = nats.Msg{Subject: subject, Header: h, Data: data}
	return &b.msg, nil
}

// headerKeys are the headers of an event, in the order of msgBlock.vals.
var headerKeys = [...]string{HeaderSpecVersion, HeaderID, HeaderType, HeaderSource, HeaderTime, HeaderSubject, HeaderContentType, jetstream.MsgIDHeader}

type msgBlock struct {
	msg  nats.Msg
	vals [len(headerKeys)]string
}

// Publish sends msg to subject as a CloudEvent and waits for JetStream's
// acknowledgement. PubAck.Duplicate is true when an event with the same id
// was already stored within the stream's duplicate window.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, msg proto.Message, opts ...PublishOption) (*jetstream.PubAck, error) {
	m, jsOpts, err := newMsg(ctx, subject, msg, opts)
	if err != nil {
		return nil, err
	}
	end := TracePublish(ctx, m)
	ack, err := js.PublishMsg(ctx, m, jsOpts...)
	end(err)
	if err != nil {
		return nil, fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	return ack, nil
}
