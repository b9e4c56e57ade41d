package diskthrottle

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestThrottleCapsWritesAndUndoes throttles a real process writing with
// O_DSYNC (each write waits for the disk, as etcd's fsyncs do): its writes
// are counted in the throttled cgroup, no more than the cap lets through,
// and Undo puts the process back where it was and removes the cgroup.
func TestThrottleCapsWritesAndUndoes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("moving a process between cgroups needs root")
	}
	if _, err := os.Stat(filepath.Join(Root, "blkio.throttle.write_iops_device")); err != nil {
		t.Skipf("no cgroup v1 blkio hierarchy here: %v", err)
	}
	dir := t.TempDir()
	device, err := DiskOf(dir)
	if err != nil {
		t.Skipf("the temporary directory is on no disk: %v", err)
	}
	if !regexp.MustCompile(`^\d+:\d+$`).MatchString(device) {
		t.Fatalf("DiskOf(%s) = %q, want major:minor", dir, device)
	}
	if _, err := os.Stat(filepath.Join("/sys/dev/block", device, "partition")); err == nil {
		t.Fatalf("DiskOf(%s) = %s, a partition, not its disk", dir, device)
	}

	dd := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "out"), "bs=4k", "count=100000", "oflag=dsync")
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dd.Process.Kill(); _ = dd.Wait() })
	before, err := blkioCgroupOf(dd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	const iops = 20
	th, err := Throttle(dd.Process.Pid, device, iops)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got, _ := blkioCgroupOf(dd.Process.Pid); !strings.HasSuffix(got, filepath.Base(th.group)) {
		t.Errorf("process in blkio cgroup %q, want %s", got, th.group)
	}
	time.Sleep(1500 * time.Millisecond)
	writes, err := th.Writes()
	if err != nil {
		t.Fatal(err)
	}
	// The cap bounds what passes, whatever the machine's speed: at most
	// iops a second, plus one second's worth of burst.
	limit := int64(iops*time.Since(start).Seconds()) + iops
	if writes == 0 || writes > limit {
		t.Errorf("%d writes passed the throttled cgroup in %v, want 1..%d", writes, time.Since(start), limit)
	}

	if err := th.Undo(); err != nil {
		t.Fatal(err)
	}
	if got, _ := blkioCgroupOf(dd.Process.Pid); got != before {
		t.Errorf("after Undo the process is in %q, want %q", got, before)
	}
	if _, err := os.Stat(th.group); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after Undo: %v", th.group, err)
	}
}

// TestThrottleRefuses: no cap of zero, no hierarchy, no process.
func TestThrottleRefuses(t *testing.T) {
	if _, err := Throttle(os.Getpid(), "1:0", 0); err == nil {
		t.Error("a cap of 0 IOPS was taken")
	}
	saved := Root
	Root = t.TempDir()
	defer func() { Root = saved }()
	if _, err := Throttle(os.Getpid(), "1:0", 5); err == nil || !strings.Contains(err.Error(), "no cgroup v1 blkio hierarchy") {
		t.Errorf("without a blkio hierarchy: %v", err)
	}
	if _, err := blkioCgroupOf(1 << 30); err == nil {
		t.Error("the cgroup of a process that does not exist was found")
	}
}

// TestDiskOfRefusesNonBlockDevices: /proc is on no disk.
func TestDiskOfRefusesNonBlockDevices(t *testing.T) {
	if _, err := DiskOf("/proc"); err == nil || !strings.Contains(err.Error(), "no block device") {
		t.Errorf("DiskOf(/proc): %v", err)
	}
}
