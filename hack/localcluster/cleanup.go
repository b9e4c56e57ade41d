package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sweep removes whatever a cluster in dir left behind, whether it stopped
// cleanly or not: every process in the kubemesos cgroups (control plane,
// containerd and its shims, kubelets, containers), every mount under the
// cluster's directories, and its network namespaces (with their devices).
func sweep(dir string) error {
	var errs []error
	if err := killCgroupTree(30 * time.Second); err != nil {
		errs = append(errs, err)
	}
	abs, _ := filepath.Abs(dir)
	if err := unmountUnder(abs, runDir); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNetwork(); err != nil {
		errs = append(errs, err)
	}
	// Pod sandboxes' namespaces are containerd's (cni-*); with no
	// containerd left on the machine nothing else can own them.
	if exec.Command("pgrep", "-x", "containerd").Run() != nil {
		entries, _ := os.ReadDir("/run/netns")
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "cni-") {
				if err := ip("netns", "delete", e.Name()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, err)
	}
	// The nodes share the machine's filesystem, so their hostPath
	// directories are the machine's: a node's share of them goes with it.
	for _, d := range nodeDiskDirs {
		nodes, _ := filepath.Glob(filepath.Join(d, "node-[0-9]"))
		for _, n := range nodes {
			if err := os.RemoveAll(n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// nodeDiskDirs are hostPath directories that pods of the local cluster
// keep per node, in a subdirectory named after the node (the kubemesos
// agent's work directory): on a real cluster each node has its own disk;
// here `up` and `down` remove each node's subdirectory.
var nodeDiskDirs = []string{"/var/lib/kubemesos"}

// mountsUnder lists the mount points under any of roots, deepest first.
func mountsUnder(roots ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, r := range roots {
			if mp == r || strings.HasPrefix(mp, r+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, s.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount under roots.
func unmountUnder(roots ...string) error {
	var errs []error
	for pass := 0; pass < 5; pass++ {
		mps, err := mountsUnder(roots...)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mps {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
			}
		}
	}
	if mps, _ := mountsUnder(roots...); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %v", mps))
	}
	return errors.Join(errs...)
}
