package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// proc is a kubemesos process (master or agent) that the runner started,
// with its endpoints on loopback and its log in a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	metrics string // host:port of /metrics
	pprof   string // host:port of /debug/pprof
	started time.Time
	done    chan struct{}
	once    sync.Once
}

// freePort returns a free loopback address that it has not handed out
// before in this run: the kernel may give a port that was just free to
// the next listener that asks, and a process started with the same port
// for two of its listeners fails to bind the second (a fresh-clone CI run
// failed so).
func (bn *bench) freePort() (string, error) {
	bn.mu.Lock()
	defer bn.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("finding a free port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !bn.ports[addr] {
			if bn.ports == nil {
				bn.ports = map[string]bool{}
			}
			bn.ports[addr] = true
			return addr, nil
		}
	}
	return "", errors.New("finding a free port: 100 tries gave ports handed out before")
}

// start runs `kubemesos <sub> args...`, with env added to its environment,
// its metrics, probes and pprof on free loopback ports, logging to
// <out>/<name>.log.
func (bn *bench) start(name, sub string, env []string, args ...string) (*proc, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := bn.freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	p := &proc{name: name, logPath: filepath.Join(bn.cfg.out, name+".log"), metrics: addrs[0], pprof: addrs[2], done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", name, err)
	}
	all := append([]string{sub, "--kubeconfig", bn.kubeconfig,
		"--metrics-bind-address", addrs[0], "--health-probe-bind-address", addrs[1], "--pprof-bind-address", addrs[2]}, args...)
	p.cmd = exec.Command(bn.cfg.kubemesos, all...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if len(env) > 0 {
		p.cmd.Env = append(os.Environ(), env...)
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p.started = time.Now()
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	bn.mu.Lock()
	bn.procs = append(bn.procs, p)
	bn.mu.Unlock()
	return p, nil
}

// startMaster runs a master with leader election, the agents' Leases in
// systemNS, a long agent ping timeout and no limit on terminal tasks (the
// runner decides how many exist), its Mesos API and console on free
// loopback ports (so that a standby runs beside the leader), plus extra
// flags.
func (bn *bench) startMaster(name string, extra ...string) (*proc, error) {
	mesosAPI, err := bn.freePort()
	if err != nil {
		return nil, err
	}
	console, err := bn.freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--leader-election-namespace", systemNS, "--agent-lease-namespace", systemNS,
		"--agent-ping-timeout", bn.cfg.agentPing.String(), "--terminal-task-limit", "0",
		"--mesos-api-bind-address", mesosAPI, "--console-bind-address", console}, extra...)
	return bn.start(name, "master", bn.cfg.masterEnv, args...)
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// errExited says that a process a wait depends on has exited: waitFor
// gives up at once.
var errExited = errors.New("exited")

// exited returns an error wrapping errExited once the process has ended,
// naming its log, and nil while it runs.
func (p *proc) exited() error {
	if p.alive() {
		return nil
	}
	return fmt.Errorf("%s %w (log: %s)", p.name, errExited, p.logPath)
}

// kill sends SIGKILL, as a crash, and waits until the process is gone.
func (p *proc) kill() {
	p.once.Do(func() {
		if p.alive() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
		<-p.done
	})
}

// logContains reports whether the process's log holds s.
func (p *proc) logContains(s string) bool {
	raw, err := os.ReadFile(p.logPath)
	return err == nil && bytes.Contains(raw, []byte(s))
}

// memory is what a process holds.
type memory struct {
	// RSS and HWM (the peak RSS) from /proc/<pid>/status, in bytes.
	RSS, HWM int64
	// HeapAlloc and HeapInuse after a forced GC, and Sys (all the Go
	// runtime holds from the OS), from /debug/pprof/heap?gc=1&debug=1.
	HeapAlloc, HeapInuse, Sys int64
}

// readMemory reads the process's RSS and, after a forced GC, its heap; it
// keeps the heap profile as <out>/<label>.heap.pb.gz.
func (bn *bench) readMemory(ctx context.Context, p *proc, label string) (memory, error) {
	var m memory
	status := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	rss, err := procField(status, "VmRSS")
	if err != nil {
		return m, err
	}
	hwm, err := procField(status, "VmHWM")
	if err != nil {
		return m, err
	}
	m.RSS, m.HWM = rss<<10, hwm<<10
	text, err := httpGet(ctx, "http://"+p.pprof+"/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return m, err
	}
	stats := parseMemStats(string(text))
	m.HeapAlloc, m.HeapInuse, m.Sys = stats["HeapAlloc"], stats["HeapInuse"], stats["Sys"]
	if m.HeapAlloc == 0 {
		return m, fmt.Errorf("no HeapAlloc in the heap profile of %s", p.name)
	}
	prof, err := httpGet(ctx, "http://"+p.pprof+"/debug/pprof/heap")
	if err != nil {
		return m, err
	}
	if err := os.WriteFile(filepath.Join(bn.cfg.out, label+".heap.pb.gz"), prof, 0o644); err != nil {
		return m, fmt.Errorf("keeping the heap profile: %w", err)
	}
	return m, nil
}

// parseMemStats reads the "# Name = value" lines that the heap profile's
// debug=1 text ends with (runtime.MemStats).
func parseMemStats(text string) map[string]int64 {
	out := map[string]int64{}
	s := bufio.NewScanner(strings.NewReader(text))
	s.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for s.Scan() {
		line, ok := strings.CutPrefix(s.Text(), "# ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// heapTop summarises a kept heap profile: the top functions by in-use
// space (go tool pprof -top, n of them), also kept as <label>.heap.top.txt.
func (bn *bench) heapTop(ctx context.Context, label string, n int) string {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount="+strconv.Itoa(n),
		filepath.Join(bn.cfg.out, label+".heap.pb.gz"))
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)", err)
	}
	if err := os.WriteFile(filepath.Join(bn.cfg.out, label+".heap.top.txt"), out, 0o644); err != nil {
		logf("keeping the heap summary: %v", err)
	}
	return string(out)
}

// metricsFamilies reads the process's Prometheus metrics, flattened by
// parseMetrics.
func (p *proc) metricsFamilies(ctx context.Context) (map[string]float64, error) {
	raw, err := httpGet(ctx, "http://"+p.metrics+"/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(raw)
}

// parseMetrics flattens a Prometheus text exposition into
// `name{label="value",...}` → value, labels sorted as exposed.
func parseMetrics(raw []byte) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if ls := m.GetLabel(); len(ls) > 0 {
				parts := make([]string, len(ls))
				for i, l := range ls {
					parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out, nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// waitFor polls cond every interval until it holds, ctx ends, or within
// passes; then it fails saying what it waited for and where the process
// logs are. It bounds a broken run; it is not a speed requirement.
func waitFor(ctx context.Context, what string, within, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if errors.Is(err, errExited) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waited %s for %s; last error: %w", within, what, last)
			}
			return fmt.Errorf("waited %s for %s", within, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
