package fakehttp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Hook is one webhook registered on a fake: where it sends and the secret
// its deliveries are signed with.
type Hook struct {
	ID     int64
	URL    string
	Secret []byte
	Events []string
	Active bool
}

// HookSender sends a fake's webhook deliveries the way the trackers do:
// after the change, asynchronously, without waiting for the answer to go
// on. It records the receiver's answer times and how many deliveries it
// refused (any status but 2xx, or no answer). Shared by the GitHub and
// GitLab fakes (Jira's predates it).
type HookSender struct {
	mu      sync.Mutex
	client  *http.Client
	answers []time.Duration
	refused int
	wg      sync.WaitGroup
}

// Send posts body to url with the given headers (signatures included).
func (h *HookSender) Send(url string, body []byte, header http.Header) {
	h.mu.Lock()
	if h.client == nil {
		h.client = &http.Client{Timeout: 10 * time.Second}
	}
	client := h.client
	h.mu.Unlock()
	h.wg.Go(func() {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header = header.Clone()
		req.Header.Set("Content-Type", "application/json")
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

// Answers waits for the deliveries under way and returns the receiver's
// answer times so far and how many it refused.
func (h *HookSender) Answers() (answers []time.Duration, refused int) {
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.answers...), h.refused
}

// DeliveryID is a fresh random delivery id (a UUID-shaped hex string).
func DeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
