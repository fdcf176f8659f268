package jirafake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
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
	seq     int // the id of the last hook created through the API
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

// routeDCWebhooks serves Jira Data Center's webhook resource
// (POST /rest/webhooks/1.0/webhook, DELETE …/webhook/{id}), for
// administrators only (403 otherwise). Creating one is RegisterWebhook with
// its url and secret (the fake keeps one hook); deleting it stops the
// deliveries. Jira Cloud's own API (/rest/api/3/webhook) is for apps and
// is not served.
func (s *Server) routeDCWebhooks() {
	s.Mux.HandleFunc("POST /rest/webhooks/1.0/webhook", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if c.user == nil || !c.user.Admin {
			fakehttp.JSON(w, http.StatusForbidden, errorCollection("You are not authorized to perform this operation. Please log in."))
			return
		}
		var in struct {
			Name   string   `json:"name"`
			URL    string   `json:"url"`
			Events []string `json:"events"`
			Secret string   `json:"secret"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.URL == "" {
			fakehttp.JSON(w, http.StatusBadRequest, errorCollection("url is required"))
			return
		}
		s.hooks.mu.Lock()
		s.hooks.seq++
		id := s.hooks.seq
		s.hooks.mu.Unlock()
		s.RegisterWebhook(in.URL, []byte(in.Secret))
		fakehttp.JSON(w, http.StatusCreated, map[string]any{
			"self": fmt.Sprintf("%s/rest/webhooks/1.0/webhook/%d", fakehttp.BaseURL(r), id), "name": in.Name, "url": in.URL,
			"events": in.Events, "enabled": true, "excludeBody": false,
		})
	})
	s.Mux.HandleFunc("DELETE /rest/webhooks/1.0/webhook/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if c.user == nil || !c.user.Admin {
			fakehttp.JSON(w, http.StatusForbidden, errorCollection("You are not authorized to perform this operation. Please log in."))
			return
		}
		s.hooks.mu.Lock()
		known := s.hooks.url != "" && r.PathValue("id") == strconv.Itoa(s.hooks.seq)
		s.hooks.mu.Unlock()
		if !known {
			fakehttp.JSON(w, http.StatusNotFound, errorCollection("webhook not found"))
			return
		}
		s.RegisterWebhook("", nil)
		w.WriteHeader(http.StatusNoContent)
	})
}

// WebhookURL is where the fake sends deliveries ("" when none is registered).
func (s *Server) WebhookURL() string {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.url
}
