package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Scale: N GitHub connectors registered through the registry's gRPC API, polled
// by R poller replicas, each a child process running a built `hub --target
// poller` on the bench's NATS (TCP on loopback), so RSS and CPU are each
// replica's own (/proc/<pid>/status and stat). The tracker is the fake
// GitHub with an empty repository: the first poll of a connector is 200 with
// an empty list, the next ones 304. Every connector's base URL carries its
// number (/c/<i>/api/v3/), so the fake records when each was polled.
//
// After a warm-up of one interval (plus 5 s), the window of -scale-window
// intervals is measured: polls needed (N per interval) and done, late polls
// (a poll more than lateSlack after its due time, i.e. after the connector's
// previous poll plus the interval), connectors not polled at all, CPU over
// the window and peak RSS per replica.

// scaleCase is N connectors on R replicas.
type scaleCase struct{ connectors, replicas int }

func (c scaleCase) String() string {
	return fmt.Sprintf("%d connectors, %d replica%s", c.connectors, c.replicas, map[bool]string{true: "s"}[c.replicas > 1])
}

func parseScaleCase(s string) (scaleCase, error) {
	a, b, ok := strings.Cut(s, "x")
	n, err1 := strconv.Atoi(a)
	r, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || r < 1 {
		return scaleCase{}, fmt.Errorf("-scale: %q is not connectors x replicas (e.g. 10000x3)", s)
	}
	return scaleCase{n, r}, nil
}

// lateSlack is how far past its due time a poll may start and still be on time.
const lateSlack = 5 * time.Second

// pollGap merges requests of one connector this close together into one poll
// (a cycle's pages).
const pollGap = 2 * time.Second

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTicks = 100

// removeBuiltHub deletes the binary hubBinary built, if it did.
func removeBuiltHub() {
	if hubPath != "" {
		_ = os.RemoveAll(filepath.Dir(hubPath))
	}
}

var (
	hubOnce sync.Once
	hubPath string
	hubErr  error
)

// hubBinary builds cmd/hub once per run, unless -hub names one.
func hubBinary(o options, progress func(string, ...any)) (string, error) {
	if o.hubBinary != "" {
		return o.hubBinary, nil
	}
	hubOnce.Do(func() {
		dir, err := os.MkdirTemp("", "connectorhub-bench-hub-")
		if err != nil {
			hubErr = err
			return
		}
		hubPath = filepath.Join(dir, "hub")
		progress("scale: building cmd/hub into %s", hubPath)
		out, err := exec.Command("go", "build", "-o", hubPath, "github.com/connectorhub/connectorhub/cmd/hub").CombinedOutput()
		if err != nil {
			hubErr = fmt.Errorf("go build cmd/hub: %v\n%s", err, out)
		}
	})
	return hubPath, hubErr
}

// pollLog records the requests each connector's poller sent to the fake.
type pollLog struct {
	mu    sync.Mutex
	times [][]time.Time // by connector number
}

func (l *pollLog) record(i int, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.times) <= i {
		l.times = append(l.times, nil)
	}
	l.times[i] = append(l.times[i], t)
}

// handler routes /c/<i>/... to the fake GitHub, recording the request.
func (l *pollLog) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
		num, path, ok2 := strings.Cut(rest, "/")
		i, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			http.NotFound(w, r)
			return
		}
		l.record(i, time.Now())
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = "/"+path, ""
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}

// window is what the log shows for connectors 0..n-1 between from and to.
type windowStats struct {
	polls, late, unpolled int
	requests              int // in the window
	maxGap                time.Duration
}

// started is when the replicas started: a connector never polled has waited since then.
func (l *pollLog) window(n int, started, from, to time.Time, interval time.Duration) windowStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s windowStats
	for i := range n {
		var ts []time.Time
		if i < len(l.times) {
			ts = l.times[i]
		}
		// Polls: requests more than pollGap apart.
		var polls []time.Time
		for _, t := range ts {
			if !t.Before(from) && !t.After(to) {
				s.requests++
			}
			if len(polls) == 0 || t.Sub(polls[len(polls)-1]) > pollGap {
				polls = append(polls, t)
			}
		}
		var prev time.Time
		in := 0
		for _, p := range polls {
			if p.After(to) {
				break
			}
			if !p.Before(from) {
				in++
				if !prev.IsZero() {
					gap := p.Sub(prev)
					s.maxGap = max(s.maxGap, gap)
					if gap > interval+lateSlack {
						s.late++
					}
				}
			}
			prev = p
		}
		s.polls += in
		if in == 0 {
			s.unpolled++
		}
		// Waiting at the end of the window: a gap, not yet a late poll.
		if prev.IsZero() || prev.Before(started) {
			prev = started
		}
		s.maxGap = max(s.maxGap, to.Sub(prev))
	}
	return s
}

// replica is a child poller process.
type replica struct {
	cmd   *exec.Cmd
	log   string
	admin string // its admin address (host:port; port 0 when the bench does not read it)
	done  chan error
}

// startReplica starts replica k; adminAddr "" gives it a free port nobody
// asks for, pprof adds HUB_PPROF=true.
func startReplica(bin, dir, natsURL string, k int, adminAddr string, pprof bool) (*replica, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("replica-%d.log", k))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--target", "poller")
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "HUB_") || strings.HasPrefix(name, "VAULT_") ||
			slices.Contains([]string{"POLLER_SYSTEMS", "POLLER_REPLICA_ID", "POLLER_LEASE_TTL"}, name) {
			continue // the bench sets these; other POLLER_* settings pass through
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "HUB_TARGET=poller", "HUB_NATS_URL="+natsURL, "HUB_DATA_DIR="+dir,
		"HUB_STATE_FILE="+filepath.Join(dir, "hub.json"), "HUB_LOG_LEVEL=warn",
		"POLLER_SYSTEMS=github", fmt.Sprintf("POLLER_REPLICA_ID=bench-%d", k))
	if adminAddr == "" {
		adminAddr = "127.0.0.1:0" // replicas side by side: each its own admin port (the default 7401 is taken by the first)
	}
	cmd.Env = append(cmd.Env, "HUB_ADMIN_ADDR="+adminAddr)
	if pprof {
		cmd.Env = append(cmd.Env, "HUB_PPROF=true")
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	r := &replica{cmd: cmd, log: logPath, admin: adminAddr, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait(); f.Close() }()
	return r, nil
}

// stop sends SIGTERM and waits for the drain (killing after a minute).
func (r *replica) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(time.Minute):
		_ = r.cmd.Process.Kill()
		err := <-r.done
		r.done <- err
		return fmt.Errorf("did not stop within a minute of SIGTERM: %v", err)
	}
}

// exited reports whether the process ended before it was stopped.
func (r *replica) exited() (error, bool) {
	select {
	case err := <-r.done:
		r.done <- err
		return err, true
	default:
		return nil, false
	}
}

func (r *replica) tail() string {
	b, _ := os.ReadFile(r.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// cpuTicks is utime+stime of pid.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return u + s, nil
}

// memKiB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func memKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func runScale(ctx context.Context, o options, rep *report, progress func(string, ...any)) error {
	bin, err := hubBinary(o, progress)
	if err != nil {
		return err
	}
	env, err := startBus(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer env.close()
	hubDir := filepath.Join(env.dir, "hub")
	reg, err := startRegistry(ctx, env, filepath.Join(hubDir, "keyring.json"))
	if err != nil {
		return err
	}
	defer reg.stop()

	gh := githubfake.New(githubfake.Options{
		Users:     []githubfake.User{{ID: 41, Login: githubfake.SandboxLogin, Name: "Bench Bot"}},
		Tokens:    []githubfake.Token{{Value: githubfake.SandboxToken, Login: githubfake.SandboxLogin, Scopes: []string{"repo"}}},
		Repos:     []githubfake.Repo{{ID: 4242, Owner: "sandbox", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{githubfake.SandboxLogin: githubfake.Write}}},
		RateLimit: 1 << 30, // the bench measures the poller, not GitHub's budget (docs/capacity.md does that)
	})
	var polls pollLog
	ts := httptest.NewServer(polls.handler(gh))
	defer ts.Close()

	created := 0
	for _, c := range o.scale {
		if c.connectors > created {
			t0 := time.Now()
			if err := reg.createConnectors(ctx, created, c.connectors, func(i int) *chv1.CreateConnectorRequest {
				return githubConnector(benchID(i), fmt.Sprintf("%s/c/%d/api/v3/", ts.URL, i), o.scaleInterval)
			}); err != nil {
				return err
			}
			progress("scale: connectors %d..%d created in %v", created, c.connectors-1, time.Since(t0).Round(time.Millisecond))
			created = c.connectors
		}
		if c.connectors < created {
			return fmt.Errorf("-scale: list cases by growing connector count (%v after %d)", c, created)
		}
		if err := measureScale(ctx, o, rep, progress, c, bin, hubDir, env.srv.ClientURL(), &polls); err != nil {
			return fmt.Errorf("%v: %w", c, err)
		}
	}
	rep.note("scale", fmt.Sprintf("Scale: connectors registered through the registry's gRPC API, each polled every %v by `hub --target poller` child processes "+
		"against a loopback fake GitHub answering 304 / an empty list; after a warm-up of one interval, %d intervals are measured. "+
		"Late: a poll starting more than %v after the connector's previous poll plus the interval. Unpolled: connectors with no poll in the window. "+
		"Longest wait: the longest time a connector went without a poll, up to the window's end (since the replicas started, for one never polled). "+
		"CPU: utime+stime over the window (1.00 = one core); RSS: peak (VmHWM) of each replica.",
		o.scaleInterval, o.scaleWindow, lateSlack))
	return nil
}

func measureScale(ctx context.Context, o options, rep *report, progress func(string, ...any), c scaleCase, bin, hubDir, natsURL string, polls *pollLog) error {
	var reps []*replica
	defer func() {
		for _, r := range reps {
			_ = r.stop()
		}
	}()
	for k := range c.replicas {
		admin := ""
		if o.scaleProfile != "" {
			a, err := freeLoopbackAddr()
			if err != nil {
				return err
			}
			admin = a
		}
		r, err := startReplica(bin, hubDir, natsURL, k, admin, o.scaleProfile != "")
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	started := time.Now()
	progress("scale %v: %d replica(s) started, warming up for %v", c, c.replicas, o.scaleInterval+lateSlack)
	sleep := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		for _, r := range reps {
			if err, ok := r.exited(); ok {
				return fmt.Errorf("replica exited early (%v):\n%s", err, r.tail())
			}
		}
		return nil
	}
	if err := sleep(o.scaleInterval + lateSlack); err != nil {
		return err
	}
	window := time.Duration(o.scaleWindow) * o.scaleInterval
	from := time.Now()
	cpu0 := make([]int64, len(reps))
	for i, r := range reps {
		t, err := cpuTicks(r.cmd.Process.Pid)
		if err != nil {
			return err
		}
		cpu0[i] = t
	}
	if err := sleep(window); err != nil {
		return err
	}
	to := time.Now()
	if o.scaleProfile != "" {
		for k, r := range reps {
			if err := profileReplica(ctx, o.scaleProfile, c, k, r, progress); err != nil {
				return fmt.Errorf("replica %d profile: %w", k, err)
			}
		}
	}
	var cpuTotal, cpuMax, rssMax float64
	for i, r := range reps {
		t, err := cpuTicks(r.cmd.Process.Pid)
		if err != nil {
			return err
		}
		hwm, err := memKiB(r.cmd.Process.Pid, "VmHWM")
		if err != nil {
			return err
		}
		cores := float64(t-cpu0[i]) / clockTicks / to.Sub(from).Seconds()
		cpuTotal += cores
		cpuMax = max(cpuMax, cores)
		rssMax = max(rssMax, float64(hwm)/1024)
	}
	s := polls.window(c.connectors, started, from, to, o.scaleInterval)
	intervals := to.Sub(from).Seconds() / o.scaleInterval.Seconds()
	cas := c.String()
	rep.add("scale", cas, metric{"polls needed / interval", "%.0f"}, float64(c.connectors))
	rep.add("scale", cas, metric{"polls done / interval", "%.0f"}, float64(s.polls)/intervals)
	rep.add("scale", cas, metric{"polls/s", "%.0f"}, float64(s.polls)/to.Sub(from).Seconds())
	rep.add("scale", cas, metric{"requests / poll", "%.2f"}, float64(s.requests)/float64(max(s.polls, 1)))
	rep.add("scale", cas, metric{"late polls / interval", "%.0f"}, float64(s.late)/intervals)
	rep.add("scale", cas, metric{"unpolled in window", "%.0f"}, float64(s.unpolled))
	rep.add("scale", cas, metric{"longest wait for a poll (s)", "%.0f"}, s.maxGap.Seconds())
	rep.add("scale", cas, metric{"RSS peak per replica (MiB)", "%.0f"}, rssMax)
	rep.add("scale", cas, metric{"CPU per replica (cores)", "%.2f"}, cpuMax)
	rep.add("scale", cas, metric{"CPU all replicas (cores)", "%.2f"}, cpuTotal)
	progress("scale %v: %.0f of %d polls per interval, %d late, %d unpolled, RSS %.0f MiB, CPU %.2f", c,
		float64(s.polls)/intervals, c.connectors, s.late, s.unpolled, rssMax, cpuTotal)
	for _, r := range reps {
		if err := r.stop(); err != nil {
			return fmt.Errorf("replica stop: %v\n%s", err, r.tail())
		}
	}
	reps = nil
	return nil
}
