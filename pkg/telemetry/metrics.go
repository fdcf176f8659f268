package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
)

// The metrics, as Prometheus names them (the OTel exporter adds _total to
// counters and _seconds to instruments in seconds). Every label is bounded:
// system (a handful), outcome, type, class, reason (sanitised), step,
// consumer (durable names). Per-connector detail is the status API's.
const (
	MetricPollCycles            = "connectorhub_poll_cycles_total"
	MetricPollCycleDuration     = "connectorhub_poll_cycle_duration_seconds"
	MetricPollLag               = "connectorhub_poll_lag_seconds"
	MetricPollDeferrals         = "connectorhub_poll_deferrals_total"
	MetricTicketsPublished      = "connectorhub_tickets_published_total"
	MetricTicketsDuplicate      = "connectorhub_tickets_duplicates_dropped_total"
	MetricConnectorsLate        = "connectorhub_connectors_late"
	MetricConnectorsFailing     = "connectorhub_connectors_failing"
	MetricConnectorFailuresMax  = "connectorhub_connector_consecutive_failures_max"
	MetricTrackerRequests       = "connectorhub_tracker_requests_total"
	MetricTrackerRateLimited    = "connectorhub_tracker_rate_limited_total"
	MetricTrackerRateRemaining  = "connectorhub_tracker_rate_limit_remaining"
	MetricWritebackSteps        = "connectorhub_writeback_steps_total"
	MetricWritebackDeadLetters  = "connectorhub_writeback_dead_letters_total"
	MetricWritebackDeadBacklog  = "connectorhub_writeback_dead_letter_backlog"
	MetricConsumerPending       = "connectorhub_consumer_pending"
	MetricConsumerAckPending    = "connectorhub_consumer_ack_pending"
	MetricCredentialAge         = "connectorhub_credential_age_seconds"
	MetricCredentialExpiry      = "connectorhub_credential_expiry_seconds"
	MetricKnowledgeSearches     = "connectorhub_knowledge_searches_total"
	MetricKnowledgeCacheLookups = "connectorhub_knowledge_cache_lookups_total"
	MetricWebhookDeliveries     = "connectorhub_webhook_deliveries_total"
)

const (
	histogramSuffixForDuration  = "_seconds"
	otelCounterSuffix           = "_total"
	otelSecondsUnit             = "s"
	connectorGaugeRefreshPeriod = 15 * time.Second
	consumerInfoTimeout         = 2 * time.Second
	credentialListTimeout       = 5 * time.Second
	maxRateLimitReasonLen       = 40
	rateLimitReasonOther        = "other"
	rateLimitReasonUnknown      = "unspecified"
	statusClassTransportFailure = "error"
	knowledgeCacheHit           = "hit"
	knowledgeCacheMiss          = "miss"
	knowledgeOutcomeOK          = "ok"
	knowledgeOutcomeError       = "error"
	pollOutcomeOK               = "ok"
	pollOutcomeDeferred         = "deferred"
	pollOutcomeError            = "error"
)

// Names lists every metric this package registers (what the dashboard and
// the alert rules may use).
func Names() []string {
	return []string{
		MetricPollCycles, MetricPollCycleDuration, MetricPollLag, MetricPollDeferrals, MetricTicketsPublished,
		MetricTicketsDuplicate, MetricConnectorsLate, MetricConnectorsFailing, MetricConnectorFailuresMax,
		MetricTrackerRequests, MetricTrackerRateLimited, MetricTrackerRateRemaining, MetricWritebackSteps,
		MetricWritebackDeadLetters, MetricWritebackDeadBacklog, MetricConsumerPending, MetricConsumerAckPending,
		MetricCredentialAge, MetricCredentialExpiry, MetricKnowledgeSearches, MetricKnowledgeCacheLookups,
		MetricWebhookDeliveries,
	}
}

// otelName is the instrument name the exporter turns into name.
func otelName(name string) string {
	name = strings.TrimSuffix(name, otelCounterSuffix)
	return strings.TrimSuffix(name, histogramSuffixForDuration)
}

// Metrics are the process's instruments, exported in the Prometheus text
// format by Handler. Every method is safe on a nil *Metrics (a service
// tested without metrics), and takes only bounded labels.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
	now      func() time.Time

	pollCycles, deferrals, published, duplicates metric.Int64Counter
	requests, rateLimited, steps, deadLetters    metric.Int64Counter
	searches, cacheLookups, webhooks             metric.Int64Counter
	pollDuration                                 metric.Float64Histogram
	ticketCounters                               sync.Map // ticketKey → boundCounter

	mu         sync.Mutex
	connectors map[string]connectorState // this replica's connectors (poller)
	remaining  map[string]rateRemaining  // per connector, last seen
	consumers  map[string]func(context.Context) (jetstream.ConsumerInfo, error)
	credSource func(context.Context) ([]connector.Connector, error)
	credCache  []connector.Connector
	credAt     time.Time
	deadLetter map[string]bool // dead-lettered result ids (ledger watch)
	deadKnown  bool
}

type connectorState struct {
	system   connector.System
	cursor   time.Time
	late     bool
	failures int // consecutive failed cycles
}

type rateRemaining struct {
	system    connector.System
	remaining int64
}

// NewMetrics builds the instruments on a Prometheus registry of their own
// (so several processes, or tests, never share one). The exporter is the
// OpenTelemetry Prometheus exporter: the services instrument through the
// OTel metric API, the same API the traces use.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{
		provider: provider, now: time.Now,
		handler:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		connectors: map[string]connectorState{}, remaining: map[string]rateRemaining{},
		consumers:  map[string]func(context.Context) (jetstream.ConsumerInfo, error){},
		deadLetter: map[string]bool{},
	}
	meter := provider.Meter("github.com/connectorhub/connectorhub/pkg/telemetry")
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(otelName(name), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, desc string, unit string, cb metric.Int64Callback) {
		opts := []metric.Int64ObservableGaugeOption{metric.WithDescription(desc), metric.WithInt64Callback(cb)}
		if unit != "" {
			opts = append(opts, metric.WithUnit(unit))
		}
		_, err := meter.Int64ObservableGauge(otelName(name), opts...)
		errs = append(errs, err)
	}
	m.pollCycles = counter(MetricPollCycles, "Poll cycles finished, by system and outcome (ok, deferred, error).")
	m.deferrals = counter(MetricPollDeferrals, "Connectors deferred by a tracker rate limit, by system.")
	m.published = counter(MetricTicketsPublished, "Ticket events published, by system and type (discovered, updated, closed).")
	m.duplicates = counter(MetricTicketsDuplicate, "Ticket events JetStream dropped as duplicates (same event id), by system.")
	m.requests = counter(MetricTrackerRequests, "Tracker HTTP requests, by system and status class (2xx, 3xx, 4xx, 5xx, error).")
	m.rateLimited = counter(MetricTrackerRateLimited, "Tracker answers that were rate limits (429, or 403 with the quota spent), by system and reason.")
	m.steps = counter(MetricWritebackSteps, "Writeback steps run, by system, step and outcome (applied, skipped, failed, retry).")
	m.deadLetters = counter(MetricWritebackDeadLetters, "Results dead-lettered (writeback.failed), by system.")
	m.searches = counter(MetricKnowledgeSearches, "Knowledge searches of one Confluence connector, by outcome.")
	m.cacheLookups = counter(MetricKnowledgeCacheLookups, "Knowledge searches answered from the cache (hit) or not (miss).")
	m.webhooks = counter(MetricWebhookDeliveries, "Webhook deliveries received, by system and outcome (accepted, ignored, unsigned, bad_signature, stale, replayed, unknown_connector, too_large, error).")
	h, err := meter.Float64Histogram(otelName(MetricPollCycleDuration), metric.WithUnit(otelSecondsUnit),
		metric.WithDescription("Duration of one poll cycle, by system."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
	errs = append(errs, err)
	m.pollDuration = h
	gauge(MetricPollLag, "Now minus the oldest cursor among this replica's connectors, by system.", otelSecondsUnit, m.observeLag)
	gauge(MetricConnectorsLate, "This replica's connectors whose last poll started late, by system.", "", m.observeLate)
	gauge(MetricConnectorsFailing, "This replica's connectors whose last cycle failed, by system.", "", m.observeFailing)
	gauge(MetricConnectorFailuresMax, "The most consecutive failed cycles of one connector, by system.", "", m.observeFailuresMax)
	gauge(MetricTrackerRateRemaining, "The lowest rate-limit remaining a tracker last reported for a connector, by system.", "", m.observeRemaining)
	gauge(MetricWritebackDeadBacklog, "Dead-lettered results not replayed yet (failed entries in writeback_ledger).", "", m.observeDeadLetters)
	gauge(MetricConsumerPending, "Messages not yet delivered to a durable consumer, by consumer.", "", m.observeConsumers(false))
	gauge(MetricConsumerAckPending, "Messages delivered and not yet acknowledged, by consumer.", "", m.observeConsumers(true))
	gauge(MetricCredentialAge, "The oldest credential's age, by system.", otelSecondsUnit, m.observeCredentials(true))
	gauge(MetricCredentialExpiry, "Seconds until the first credential expires (negative: expired), by system; only credentials with a known expiry.", otelSecondsUnit, m.observeCredentials(false))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.provider.Shutdown(ctx)
}

func sys(s connector.System) attribute.KeyValue { return attribute.String("system", string(s)) }

// PollCycle records a finished cycle of connector c: its outcome (err nil:
// ok; deferred: a rate limit), its duration, whether it started late and its
// cursor after the cycle.
func (m *Metrics) PollCycle(ctx context.Context, c connector.Connector, d time.Duration, late bool, cursor time.Time, deferred bool, err error) {
	if m == nil {
		return
	}
	outcome := pollOutcomeOK
	switch {
	case deferred:
		outcome = pollOutcomeDeferred
		m.deferrals.Add(ctx, 1, metric.WithAttributes(sys(c.System)))
	case err != nil:
		outcome = pollOutcomeError
	}
	m.pollCycles.Add(ctx, 1, metric.WithAttributes(sys(c.System), attribute.String("outcome", outcome)))
	m.pollDuration.Record(ctx, d.Seconds(), metric.WithAttributes(sys(c.System)))
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.connectors[c.ID]
	st.system, st.late = c.System, late
	if !cursor.IsZero() {
		st.cursor = cursor
	}
	switch outcome {
	case pollOutcomeOK:
		st.failures = 0
	case pollOutcomeError:
		st.failures++
	}
	m.connectors[c.ID] = st
}

// ForgetConnector drops a connector this replica no longer polls (deleted,
// or its lease lost) from the gauges.
func (m *Metrics) ForgetConnector(id string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.connectors, id)
	delete(m.remaining, id)
}

// TicketPublished counts a ticket event JetStream acknowledged; duplicate:
// the acknowledgement said the id was seen within the duplicate window.
func (m *Metrics) TicketPublished(ctx context.Context, system connector.System, kind string, duplicate bool) {
	if m == nil {
		return
	}
	m.ticketCounter(system, kind, duplicate).Add(ctx, 1)
}

// ticketKey names one counter of TicketPublished.
type ticketKey struct {
	system    connector.System
	kind      string
	duplicate bool
}

// ticketCounter is the counter of one system and kind, its attributes
// bound once: every published event counts, and attributes given per call
// cost four allocations and a sort each time (issue 9).
func (m *Metrics) ticketCounter(system connector.System, kind string, duplicate bool) boundCounter {
	k := ticketKey{system, kind, duplicate}
	if c, ok := m.ticketCounters.Load(k); ok {
		return c.(boundCounter)
	}
	c := boundCounter{m.published, metric.WithAttributeSet(attribute.NewSet(sys(system), attribute.String("type", kind)))}
	if duplicate {
		c = boundCounter{m.duplicates, metric.WithAttributeSet(attribute.NewSet(sys(system)))}
	}
	m.ticketCounters.Store(k, c)
	return c
}

// boundCounter is a counter with its attributes.
type boundCounter struct {
	c    metric.Int64Counter
	opts metric.AddOption
}

func (b boundCounter) Add(ctx context.Context, n int64) { b.c.Add(ctx, n, b.opts) }

// ObserveResponse counts one tracker HTTP exchange of connector c (err: the
// tracker was not reached). It reads the status and the rate-limit headers
// only: never the URL, the credential or the body.
func (m *Metrics) ObserveResponse(c connector.Connector, resp *http.Response, err error) {
	if m == nil {
		return
	}
	ctx := context.Background()
	class := statusClassTransportFailure
	if err == nil && resp != nil {
		class = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	m.requests.Add(ctx, 1, metric.WithAttributes(sys(c.System), attribute.String("class", class)))
	if err != nil || resp == nil {
		return
	}
	h := resp.Header
	remaining, hasRemaining := headerInt(h, "X-RateLimit-Remaining", "RateLimit-Remaining")
	limited := resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusForbidden && (hasRemaining && remaining == 0 || h.Get("Retry-After") != "")
	if limited {
		m.rateLimited.Add(ctx, 1, metric.WithAttributes(sys(c.System), attribute.String("reason", rateLimitReason(resp))))
	}
	if hasRemaining {
		m.mu.Lock()
		m.remaining[c.ID] = rateRemaining{system: c.System, remaining: remaining}
		m.mu.Unlock()
	}
}

func headerInt(h http.Header, names ...string) (int64, bool) {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			if i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return i, true
			}
		}
	}
	return 0, false
}

var reasonPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// rateLimitReason is a bounded name for why the tracker limited: Jira's
// RateLimit-Reason (a short vendor token) when it looks like one, GitHub's
// primary (quota spent) or secondary (Retry-After) limit.
func rateLimitReason(resp *http.Response) string {
	if r := strings.ToLower(strings.TrimSpace(resp.Header.Get("RateLimit-Reason"))); r != "" {
		if len(r) <= maxRateLimitReasonLen && reasonPattern.MatchString(r) {
			return r
		}
		return rateLimitReasonOther
	}
	if v, ok := headerInt(resp.Header, "X-RateLimit-Remaining"); ok && v == 0 {
		return "primary"
	}
	if resp.Header.Get("Retry-After") != "" {
		return "secondary"
	}
	return rateLimitReasonUnknown
}

// WritebackStep counts one step run: outcome is applied, skipped, failed
// (refused: dead-letters) or retry. step is the step's kind (status,
// comment, subtask, pull_request), never a per-result name.
func (m *Metrics) WritebackStep(ctx context.Context, system connector.System, step, outcome string) {
	if m == nil {
		return
	}
	m.steps.Add(ctx, 1, metric.WithAttributes(sys(system), attribute.String("step", step), attribute.String("outcome", outcome)))
}

// DeadLettered counts a result published on writeback.failed.
func (m *Metrics) DeadLettered(ctx context.Context, system string) {
	if m == nil {
		return
	}
	m.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("system", system)))
}

// KnowledgeSearch counts one search of a Confluence connector: answered
// from the cache or not, and whether it failed.
func (m *Metrics) KnowledgeSearch(ctx context.Context, cached bool, err error) {
	if m == nil {
		return
	}
	outcome, lookup := knowledgeOutcomeOK, knowledgeCacheMiss
	if err != nil {
		outcome = knowledgeOutcomeError
	}
	if cached {
		lookup = knowledgeCacheHit
	}
	m.searches.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	m.cacheLookups.Add(ctx, 1, metric.WithAttributes(attribute.String("result", lookup)))
}

// WatchConsumer reports a durable consumer's pending and ack-pending counts
// under its name, read at each scrape.
func (m *Metrics) WatchConsumer(name string, info func(context.Context) (jetstream.ConsumerInfo, error)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consumers[name] = info
}

// WatchCredentials reports credential ages and expiries from list (the
// connector records), read at most every 15 s.
func (m *Metrics) WatchCredentials(list func(context.Context) ([]connector.Connector, error)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.credSource = list
}

// WatchDeadLetters follows the writeback ledger until ctx ends and reports
// the dead-lettered results not replayed yet.
func (m *Metrics) WatchDeadLetters(ctx context.Context, kv jetstream.KeyValue) error {
	if m == nil {
		return nil
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				m.mu.Lock()
				if e == nil { // the initial values are in
					m.deadKnown = true
					m.mu.Unlock()
					continue
				}
				var entry ledger.Entry
				failed := e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &entry) == nil && entry.Failed
				if failed {
					m.deadLetter[e.Key()] = true
				} else {
					delete(m.deadLetter, e.Key())
				}
				m.mu.Unlock()
			}
		}
	}()
	return nil
}

// The gauge callbacks.

func (m *Metrics) perSystem(value func(connectorState) (int64, bool), combine func(a, b int64) int64) map[connector.System]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[connector.System]int64{}
	for _, st := range m.connectors {
		v, ok := value(st)
		if !ok {
			continue
		}
		if prev, seen := out[st.system]; seen {
			v = combine(prev, v)
		}
		out[st.system] = v
	}
	return out
}

func observeSystems(o metric.Int64Observer, values map[connector.System]int64) {
	for s, v := range values {
		o.Observe(v, metric.WithAttributes(sys(s)))
	}
}

func sum(a, b int64) int64 { return a + b }

func maxOf(a, b int64) int64 { return max(a, b) }

func (m *Metrics) observeLag(_ context.Context, o metric.Int64Observer) error {
	now := m.now()
	observeSystems(o, m.perSystem(func(st connectorState) (int64, bool) {
		if st.cursor.IsZero() {
			return 0, false
		}
		return int64(now.Sub(st.cursor).Seconds()), true
	}, maxOf))
	return nil
}

func (m *Metrics) observeLate(_ context.Context, o metric.Int64Observer) error {
	observeSystems(o, m.perSystem(func(st connectorState) (int64, bool) {
		if st.late {
			return 1, true
		}
		return 0, true
	}, sum))
	return nil
}

func (m *Metrics) observeFailing(_ context.Context, o metric.Int64Observer) error {
	observeSystems(o, m.perSystem(func(st connectorState) (int64, bool) {
		if st.failures > 0 {
			return 1, true
		}
		return 0, true
	}, sum))
	return nil
}

func (m *Metrics) observeFailuresMax(_ context.Context, o metric.Int64Observer) error {
	observeSystems(o, m.perSystem(func(st connectorState) (int64, bool) { return int64(st.failures), true }, maxOf))
	return nil
}

func (m *Metrics) observeRemaining(_ context.Context, o metric.Int64Observer) error {
	m.mu.Lock()
	out := map[connector.System]int64{}
	for _, r := range m.remaining {
		if prev, ok := out[r.system]; !ok || r.remaining < prev {
			out[r.system] = r.remaining
		}
	}
	m.mu.Unlock()
	observeSystems(o, out)
	return nil
}

func (m *Metrics) observeDeadLetters(_ context.Context, o metric.Int64Observer) error {
	m.mu.Lock()
	n, known := len(m.deadLetter), m.deadKnown
	m.mu.Unlock()
	if known {
		o.Observe(int64(n))
	}
	return nil
}

func (m *Metrics) observeConsumers(ackPending bool) metric.Int64Callback {
	return func(ctx context.Context, o metric.Int64Observer) error {
		m.mu.Lock()
		consumers := make(map[string]func(context.Context) (jetstream.ConsumerInfo, error), len(m.consumers))
		for k, v := range m.consumers {
			consumers[k] = v
		}
		m.mu.Unlock()
		for name, info := range consumers {
			ictx, cancel := context.WithTimeout(ctx, consumerInfoTimeout)
			ci, err := info(ictx)
			cancel()
			if err != nil {
				continue // not provisioned yet, or NATS away: no sample rather than a wrong one
			}
			v := int64(ci.NumPending)
			if ackPending {
				v = int64(ci.NumAckPending)
			}
			o.Observe(v, metric.WithAttributes(attribute.String("consumer", name)))
		}
		return nil
	}
}

func (m *Metrics) credentials(ctx context.Context) []connector.Connector {
	m.mu.Lock()
	src, cached, at := m.credSource, m.credCache, m.credAt
	m.mu.Unlock()
	if src == nil {
		return nil
	}
	if !at.IsZero() && m.now().Sub(at) < connectorGaugeRefreshPeriod {
		return cached
	}
	lctx, cancel := context.WithTimeout(ctx, credentialListTimeout)
	defer cancel()
	list, err := src(lctx)
	if err != nil {
		return cached
	}
	m.mu.Lock()
	m.credCache, m.credAt = list, m.now()
	m.mu.Unlock()
	return list
}

func (m *Metrics) observeCredentials(age bool) metric.Int64Callback {
	return func(ctx context.Context, o metric.Int64Observer) error {
		now := m.now()
		out := map[connector.System]int64{}
		for _, c := range m.credentials(ctx) {
			cred := c.Credential
			var v int64
			switch {
			case cred.Ciphertext == "":
				continue
			case age && !cred.SetTime.IsZero():
				v = int64(now.Sub(cred.SetTime).Seconds())
				if prev, ok := out[c.System]; ok && prev > v {
					v = prev
				}
			case !age && !cred.ExpireTime.IsZero():
				v = int64(cred.ExpireTime.Sub(now).Seconds())
				if prev, ok := out[c.System]; ok && prev < v {
					v = prev
				}
			default:
				continue
			}
			out[c.System] = v
		}
		observeSystems(o, out)
		return nil
	}
}

// WebhookDelivery counts one webhook delivery by its outcome (a bounded
// set: accepted, ignored, unsigned, bad_signature, stale, replayed,
// unknown_connector, too_large, error). system is "" when the connector is
// unknown.
func (m *Metrics) WebhookDelivery(ctx context.Context, system connector.System, outcome string) {
	if m == nil {
		return
	}
	m.webhooks.Add(ctx, 1, metric.WithAttributes(sys(system), attribute.String("outcome", outcome)))
}
