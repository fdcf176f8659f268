package trackerhttp

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 1.5 ", 1500 * time.Millisecond, true},
		{"3600", time.Hour, true},
		{"10000000000", MaxRetryAfter, true}, // wrapped to 1 s before
		{"9223372036854775807", MaxRetryAfter, true},
		{"1e300", MaxRetryAfter, true},
		{"-5", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{"Wed, 02 Dec 2026 10:02:00 GMT", 2 * time.Minute, true},
		{"Wed, 02 Dec 2026 09:00:00 GMT", 0, true}, // in the past
		{"Fri, 31 Dec 9999 23:59:59 GMT", MaxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBufferComesBackEmpty(t *testing.T) {
	b := Buffer()
	b.WriteString("a page")
	PutBuffer(b)
	for range 3 { // the pool may or may not hand the same one back
		if got := Buffer(); got.Len() != 0 {
			t.Fatalf("pooled buffer holds %q", got.String())
		}
	}
}
