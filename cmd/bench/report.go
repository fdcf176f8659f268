package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects one value per repetition for every (part, case, metric)
// and prints each part as a table: a row per case, a column per metric,
// each cell the median with the min and max of the repetitions.
type report struct {
	parts map[string]*table
}

type table struct {
	cases   []string
	metrics []metric
	values  map[[2]string][]float64 // (case, metric name) → one value per repetition
	notes   []string
}

// metric is a column: its heading and how a value prints.
type metric struct {
	name   string
	format string // fmt verb for one value, e.g. "%.0f"
}

func newReport() *report { return &report{parts: map[string]*table{}} }

// add records one repetition's value.
func (r *report) add(part, cas string, m metric, v float64) {
	t := r.parts[part]
	if t == nil {
		t = &table{values: map[[2]string][]float64{}}
		r.parts[part] = t
	}
	if !slices.Contains(t.cases, cas) {
		t.cases = append(t.cases, cas)
	}
	if !slices.ContainsFunc(t.metrics, func(x metric) bool { return x.name == m.name }) {
		t.metrics = append(t.metrics, m)
	}
	k := [2]string{cas, m.name}
	t.values[k] = append(t.values[k], v)
}

// note adds a line printed under a part's table (once).
func (r *report) note(part, line string) {
	t := r.parts[part]
	if t == nil {
		t = &table{values: map[[2]string][]float64{}}
		r.parts[part] = t
	}
	if !slices.Contains(t.notes, line) {
		t.notes = append(t.notes, line)
	}
}

// summary is the median, min and max of vs.
func summary(vs []float64) (med, lo, hi float64) {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func (m metric) cell(vs []float64) string {
	if len(vs) == 0 {
		return "–"
	}
	med, lo, hi := summary(vs)
	s, l, h := fmt.Sprintf(m.format, med), fmt.Sprintf(m.format, lo), fmt.Sprintf(m.format, hi)
	if l == h { // one repetition, or all alike as printed
		return s
	}
	return s + " (" + l + "–" + h + ")"
}

func (r *report) print(w io.Writer, o options) {
	fmt.Fprintf(w, "connectorhub bench, %s, %d repetition(s): median (min–max); %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), o.reps, loadAverage())
	for _, part := range allParts {
		t := r.parts[part]
		if t == nil {
			continue
		}
		fmt.Fprintf(w, "\n### %s\n\n", part)
		head := []string{"case"}
		for _, m := range t.metrics {
			head = append(head, m.name)
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
		for _, c := range t.cases {
			row := []string{c}
			for _, m := range t.metrics {
				row = append(row, m.cell(t.values[[2]string{c, m.name}]))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
		if len(t.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range t.notes {
				fmt.Fprintln(w, n)
			}
		}
	}
}

// percentile is the p-th percentile (0 < p ≤ 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadAverage is the machine's load average (1, 5, 15 min) as the report
// states it: on a shared machine the figures depend on it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return fmt.Sprintf("load average %s %s %s on %d CPUs", f[0], f[1], f[2], runtime.NumCPU())
}
