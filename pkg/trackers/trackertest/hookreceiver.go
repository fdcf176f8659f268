package trackertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Delivery is one webhook delivery a HookReceiver got.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// HookReceiver serves a loopback endpoint that accepts every delivery (202)
// and hands it to the returned channel (buffered; deliveries beyond its room
// are answered 503, so a test that stops reading cannot block a fake).
func HookReceiver(t testing.TB) (url string, got <-chan Delivery) {
	t.Helper()
	ch := make(chan Delivery, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case ch <- Delivery{Header: r.Header.Clone(), Body: body}:
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks/test", ch
}

// NextDelivery waits (generously: the machine may be busy) for a delivery.
func NextDelivery(t testing.TB, got <-chan Delivery) Delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s")
		return Delivery{}
	}
}
