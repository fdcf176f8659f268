package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// -scale-profile: where a replica's memory goes. At the window's end the
// bench asks each replica (run with HUB_PPROF=true on a port the bench chose)
// for its heap profile, written for `go tool pprof` (inuse_space: what is
// live; alloc_space: everything allocated since the start, the start-up's
// bursts included), and prints a breakdown of its RSS from the runtime's own
// MemStats (the heap profile's debug=1 text ends with them) and
// /proc/<pid>/status:
//
//	heap in use   HeapInuse: spans holding objects, live or not yet swept
//	heap live     HeapAlloc: the objects themselves
//	heap idle     HeapIdle − HeapReleased: freed spans the runtime keeps (GC headroom returned to the heap, not to the OS)
//	stacks        StackInuse (goroutines × their stack size)
//	runtime       MSpan, MCache, BuckHash, GC metadata and other runtime structures
//	goroutines    from the goroutine profile
//	RSS, peak     VmRSS, VmHWM; RssAnon vs RssFile (the binary's pages)

// freeLoopbackAddr is a loopback address whose port was free a moment ago
// (the replica binds it next; another process taking it in between makes the
// replica exit, which the bench reports).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func profileReplica(ctx context.Context, dir string, c scaleCase, k int, r *replica, progress func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	get := func(path string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.admin+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return b, err
	}
	base := filepath.Join(dir, fmt.Sprintf("scale-%dx%d-replica-%d", c.connectors, c.replicas, k))
	heap, err := get("/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".heap.pb.gz", heap, 0o644); err != nil {
		return err
	}
	text, err := get("/debug/pprof/heap?debug=1")
	if err != nil {
		return err
	}
	gor, err := get("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err
	}
	st := memStatsOf(text)
	pid := r.cmd.Process.Pid
	kib := func(field string) float64 {
		v, _ := memKiB(pid, field)
		return float64(v) / 1024
	}
	goroutines := 0
	if first, _, _ := bytes.Cut(gor, []byte("\n")); len(first) > 0 {
		f := strings.Fields(string(first)) // "goroutine profile: total N"
		goroutines, _ = strconv.Atoi(f[len(f)-1])
	}
	mib := func(name string) float64 { return float64(st[name]) / (1 << 20) }
	runtimeMiB := mib("MSpanInuse") + mib("MCacheInuse") + mib("BuckHashSys") + mib("GCSys") + mib("OtherSys")
	summary := fmt.Sprintf("%v replica %d: RSS %.0f MiB (peak %.0f; anon %.0f, file %.0f) = heap in use %.1f (live %.1f, %d objects) + heap idle kept %.1f + stacks %.1f (%d goroutines) + runtime %.1f; heap released to the OS %.1f, next GC at %.1f MiB",
		c, k, kib("VmRSS"), kib("VmHWM"), kib("RssAnon"), kib("RssFile"),
		mib("HeapInuse"), mib("HeapAlloc"), st["HeapObjects"], mib("HeapIdle")-mib("HeapReleased"),
		mib("StackInuse"), goroutines, runtimeMiB, mib("HeapReleased"), mib("NextGC"))
	progress("scale profile: %s; %s.heap.pb.gz", summary, base)
	return os.WriteFile(base+".txt", []byte(summary+"\n\n"+string(text)+"\n"+string(gor)), 0o644)
}

// memStatsOf reads the "# Name = value" (and "# Name = inuse / sys") lines
// runtime/pprof appends to a debug=1 heap profile. Two-valued lines give
// NameInuse and NameSys.
func memStatsOf(text []byte) map[string]uint64 {
	st := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(line, " = ")
		if !ok || strings.Contains(name, " ") {
			continue
		}
		if a, b, two := strings.Cut(val, " / "); two {
			x, err1 := strconv.ParseUint(a, 10, 64)
			y, err2 := strconv.ParseUint(b, 10, 64)
			if err1 == nil && err2 == nil {
				st[name+"Inuse"], st[name+"Sys"] = x, y
			}
			continue
		}
		if v, err := strconv.ParseUint(val, 10, 64); err == nil {
			st[name] = v
		}
	}
	return st
}
