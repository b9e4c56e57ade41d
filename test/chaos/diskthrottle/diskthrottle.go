// Package diskthrottle slows a process's disk writes: it moves the process
// into a blkio cgroup (cgroup v1) whose write IOPS on one disk are capped,
// and back out again. The fault campaign slows etcd with it, so that every
// fsync of its write-ahead log waits, as on a slow or saturated disk.
package diskthrottle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Root is where the cgroup v1 blkio hierarchy is mounted.
var Root = "/sys/fs/cgroup/blkio"

// DiskOf returns the "major:minor" of the whole disk that holds path (the
// parent disk of a partition): blkio throttles whole disks only.
func DiskOf(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("finding the disk of %s: %w", path, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	sys, err := filepath.EvalSymlinks(filepath.Join("/sys/dev/block", dev))
	if err != nil {
		return "", fmt.Errorf("%s is on device %s, which is no block device (a tmpfs or an overlay?): %w", path, dev, err)
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		raw, err := os.ReadFile(filepath.Join(sys, "..", "dev"))
		if err != nil {
			return "", fmt.Errorf("finding the disk of partition %s: %w", dev, err)
		}
		dev = strings.TrimSpace(string(raw))
	}
	return dev, nil
}

// Throttled is a process whose writes to a disk are capped until Undo.
type Throttled struct {
	pid    int
	group  string
	device string
	// from is the blkio cgroup the process came from, relative to Root.
	from string
}

// Throttle caps the writes of process pid (all its threads) to device
// ("major:minor", see DiskOf) at writeIOPS per second. The cgroup is named
// after the process, under Root.
func Throttle(pid int, device string, writeIOPS int) (*Throttled, error) {
	if writeIOPS <= 0 {
		return nil, fmt.Errorf("write IOPS %d: want at least 1", writeIOPS)
	}
	if _, err := os.Stat(filepath.Join(Root, "blkio.throttle.write_iops_device")); err != nil {
		return nil, fmt.Errorf("no cgroup v1 blkio hierarchy with throttling at %s (cgroup v2 is not supported): %w", Root, err)
	}
	from, err := blkioCgroupOf(pid)
	if err != nil {
		return nil, err
	}
	t := &Throttled{pid: pid, device: device, from: from, group: filepath.Join(Root, fmt.Sprintf("kubemesos-slow-disk-%d", pid))}
	if err := os.Mkdir(t.group, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating cgroup %s: %w", t.group, err)
	}
	if err := os.WriteFile(filepath.Join(t.group, "blkio.throttle.write_iops_device"), fmt.Appendf(nil, "%s %d", device, writeIOPS), 0o644); err != nil {
		_ = os.Remove(t.group)
		return nil, fmt.Errorf("capping writes to %s at %d IOPS: %w", device, writeIOPS, err)
	}
	if err := os.WriteFile(filepath.Join(t.group, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		_ = os.Remove(t.group)
		return nil, fmt.Errorf("moving process %d into %s: %w", pid, t.group, err)
	}
	return t, nil
}

// Writes is how many writes to the device the cgroup has let through.
func (t *Throttled) Writes() (int64, error) {
	raw, err := os.ReadFile(filepath.Join(t.group, "blkio.throttle.io_serviced"))
	if err != nil {
		return 0, fmt.Errorf("reading the writes of %s: %w", t.group, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == t.device && f[1] == "Write" {
			return strconv.ParseInt(f[2], 10, 64)
		}
	}
	return 0, nil
}

// Undo moves the process back to the cgroup it came from and removes the
// throttled one. A process that has exited leaves nothing to move.
func (t *Throttled) Undo() error {
	err := os.WriteFile(filepath.Join(Root, t.from, "cgroup.procs"), []byte(strconv.Itoa(t.pid)), 0o644)
	if errors.Is(err, unix.ESRCH) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("moving process %d back to %s: %w", t.pid, t.from, err)
	}
	if err := os.Remove(t.group); err != nil {
		return fmt.Errorf("removing cgroup %s: %w", t.group, err)
	}
	return nil
}

// blkioCgroupOf reads the blkio cgroup of process pid from /proc.
func blkioCgroupOf(pid int) (string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("reading the cgroups of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "blkio" {
				return parts[2], nil
			}
		}
	}
	return "", fmt.Errorf("process %d is in no blkio cgroup", pid)
}
