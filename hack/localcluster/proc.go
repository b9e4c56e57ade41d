package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is the cgroup under which every process of the local cluster
// runs: the control plane, each node's containerd and kubelet (and so the
// containerd shims), and the pods, which each kubelet places under its node's
// cgroup. `down` kills whatever is left in it, so nothing survives a cluster.
const cgroupRoot = "kubemesos"

// trackingHierarchy is the cgroup v1 hierarchy whose membership `down`
// reads to find every process; joining it changes no resource limit.
const trackingHierarchy = "/sys/fs/cgroup/pids"

// proc is one process of the cluster, started inside a network namespace
// and a tracking cgroup, logging to a file.
type proc struct {
	name   string
	netns  string
	cgroup string // relative to cgroupRoot
	argv   []string
	log    string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start starts the process; nsenter enters the network namespace only.
func (p *proc) start() error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	argv := append([]string{"--net=" + netnsPath(p.netns), "--"}, p.argv...)
	p.cmd = exec.Command("nsenter", argv...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Its own process group, so that a terminal's ^C reaches `up` alone,
	// which then stops everything in order.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	if err := joinCgroup(p.cgroup, p.cmd.Process.Pid); err != nil {
		_ = p.cmd.Process.Kill()
		logf.Close()
		return err
	}
	p.done = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return nil
}

// again is a process like p, not started: the same command, namespace,
// cgroup and log.
func (p *proc) again() *proc {
	return &proc{name: p.name, netns: p.netns, cgroup: p.cgroup, argv: p.argv, log: p.log}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, after grace, SIGKILL.
func (p *proc) stop(grace time.Duration) {
	if p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cgroupDir is a tracking cgroup's directory.
func cgroupDir(rel string) string { return filepath.Join(trackingHierarchy, cgroupRoot, rel) }

// joinCgroup moves pid into the tracking cgroup rel (creating it); its
// children are born there.
func joinCgroup(rel string, pid int) error {
	dir := cgroupDir(rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("moving pid %d into %s: %w", pid, dir, err)
	}
	return nil
}

// cgroupPids lists the processes in every cgroup under dir.
func cgroupPids(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		raw, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// killCgroupTree kills every process under each hierarchy's kubemesos cgroup
// until none is left, then removes the cgroups, deepest first.
func killCgroupTree(timeout time.Duration) error {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupRoot)
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, h := range hierarchies {
			left = append(left, cgroupPids(h)...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survive in the %s cgroups", left, cgroupRoot)
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var errs []error
	for _, h := range hierarchies {
		var dirs []string
		_ = filepath.WalkDir(h, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
