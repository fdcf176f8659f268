package jirafake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// hookSender sends Jira's signed webhook deliveries to one registered URL
// (a Jira Cloud admin webhook with a secret, or Jira Data Center's): a
// jira:issue_updated payload naming the issue (the fields the webhook
// examples in ../shared/specs/webhooks-jira.examples.json carry that the
// receiver reads), X-Hub-Signature: sha256=<HMAC-SHA256 of the body> and
// a fresh X-Atlassian-Webhook-Identifier. Like Jira, it sends after the
// change, asynchronously, and does not wait for the answer to go on.
type hookSender struct {
	mu      sync.Mutex
	url     string
	secret  []byte
	client  *http.Client
	answers []time.Duration
	refused int
	wg      sync.WaitGroup
}

// RegisterWebhook makes the fake send a signed delivery to url whenever a
// person changes an issue (Touch, Resolve, Unassign, Assign, SetStatus).
// An empty url stops the deliveries.
func (s *Server) RegisterWebhook(url string, secret []byte) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.url, s.hooks.secret = url, secret
	if s.hooks.client == nil {
		s.hooks.client = &http.Client{Timeout: 10 * time.Second}
	}
}

// WebhookAnswers are the receiver's answer times so far, and how many
// deliveries it refused (any status but 2xx).
func (s *Server) WebhookAnswers() (answers []time.Duration, refused int) {
	s.hooks.wg.Wait()
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]time.Duration(nil), s.hooks.answers...), s.hooks.refused
}

// sendHook delivers a change of key (called without s.mu held).
func (s *Server) sendHook(key string) {
	h := &s.hooks
	h.mu.Lock()
	url, secret, client := h.url, h.secret, h.client
	h.mu.Unlock()
	if url == "" {
		return
	}
	body := fmt.Appendf(nil, `{"timestamp":%d,"webhookEvent":"jira:issue_updated","issue_event_type_name":"issue_generic","issue":{"key":%q}}`,
		time.Now().UnixMilli(), key)
	var id [16]byte
	_, _ = rand.Read(id[:])
	h.wg.Go(func() {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature", "sha256="+trackers.HMACSHA256Hex(secret, body))
		req.Header.Set("X-Atlassian-Webhook-Identifier", hex.EncodeToString(id[:]))
		start := time.Now()
		resp, err := client.Do(req)
		took := time.Since(start)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.refused++
			return
		}
		resp.Body.Close()
		h.answers = append(h.answers, took)
		if resp.StatusCode/100 != 2 {
			h.refused++
		}
	})
}
