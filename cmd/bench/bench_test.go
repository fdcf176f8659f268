package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestSummaryIsMedianMinMax(t *testing.T) {
	for name, tc := range map[string]struct {
		in            []float64
		med, lo, high float64
	}{
		"one":   {[]float64{7}, 7, 7, 7},
		"odd":   {[]float64{9, 1, 5}, 5, 1, 9},
		"even":  {[]float64{4, 1, 3, 10}, 3.5, 1, 10},
		"equal": {[]float64{2, 2, 2}, 2, 2, 2},
	} {
		t.Run(name, func(t *testing.T) {
			med, lo, hi := summary(tc.in)
			if med != tc.med || lo != tc.lo || hi != tc.high {
				t.Errorf("summary(%v) = %v, %v, %v; want %v, %v, %v", tc.in, med, lo, hi, tc.med, tc.lo, tc.high)
			}
		})
	}
}

func TestCellShowsTheRangeOnlyWhenRepetitionsDiffer(t *testing.T) {
	m := metric{"x", "%.0f"}
	if got := m.cell([]float64{3, 1, 2}); got != "2 (1–3)" {
		t.Errorf("cell = %q", got)
	}
	if got := m.cell([]float64{4.1, 3.9}); got != "4" {
		t.Errorf("cell = %q", got)
	}
	if got := m.cell(nil); got != "–" {
		t.Errorf("cell = %q", got)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(ds, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(ds, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(ds[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
}

func TestReportPrintsOneRowPerCaseAndAColumnPerMetric(t *testing.T) {
	r := newReport()
	for _, v := range []float64{10, 30, 20} {
		r.add("registry", "10000 stored", metric{"Get p99 (ms)", "%.1f"}, v)
	}
	r.add("registry", "10000 stored", metric{"Create p99 (ms)", "%.1f"}, 5)
	var b strings.Builder
	r.print(&b, options{reps: 3})
	out := b.String()
	for _, want := range []string{"| case | Get p99 (ms) | Create p99 (ms) |", "| 10000 stored | 20.0 (10.0–30.0) | 5.0 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWindowCountsPollsLateOnesAndUnpolledConnectors(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	var l pollLog
	// Connector 0: on time every 20 s; two requests 0.5 s apart are one poll.
	for _, s := range []float64{10, 30, 30.5, 50, 70} {
		l.record(0, at(s))
	}
	// Connector 1: polled at 10, then 40 s later (late: > 20 s + 5 s).
	l.record(1, at(10))
	l.record(1, at(50))
	// Connector 2: never polled.
	s := l.window(3, at(0), at(25), at(75), 20*time.Second)
	if s.polls != 4 || s.late != 1 || s.unpolled != 1 || s.requests != 5 {
		t.Errorf("polls %d, late %d, unpolled %d, requests %d; want 4, 1, 1, 5", s.polls, s.late, s.unpolled, s.requests)
	}
	if s.maxGap != 75*time.Second { // connector 2 has waited since the start
		t.Errorf("longest wait %v, want 75s", s.maxGap)
	}
}

func TestScaleCasesParse(t *testing.T) {
	c, err := parseScaleCase("10000x3")
	if err != nil || c != (scaleCase{10000, 3}) {
		t.Errorf("parse = %v, %v", c, err)
	}
	for _, bad := range []string{"10000", "x3", "10x0", "ax3"} {
		if _, err := parseScaleCase(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The raw publish is the same size as discovery's events only if
// storedOverhead counts what the server counts: one message with a header,
// stored on a real (embedded) JetStream, is storedOverhead + its payload.
func TestStoredOverheadIsWhatTheStreamCounts(t *testing.T) {
	ctx := t.Context()
	env, err := startBus(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer env.close()
	stream, err := env.js.CreateStream(ctx, jetstream.StreamConfig{Name: "SIZE", Subjects: []string{"size.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{jetstream.MsgIDHeader: {"raw-00000001"}, "ce-type": {"connectorhub.v1.TicketDiscovered"}}
	msg := &nats.Msg{Subject: "size.raw", Data: []byte("0123456789"), Header: h}
	if _, err := env.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := int(info.State.Bytes), storedOverhead(msg.Subject, h)+len(msg.Data); got != want {
		t.Fatalf("the stream counts %d bytes, storedOverhead + payload = %d", got, want)
	}
}
