package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildCPU reads the CPU time (user and system, in seconds) of each child
// process of this one by program name (etcd, kube-apiserver, kwok,
// kube-scheduler...), from /proc; the children of one name are summed.
// self names this process's own entry ("" leaves it out).
func ChildCPU(self string) map[string]float64 {
	out := map[string]float64{}
	me := os.Getpid()
	if cpu, _, ok := procStat(me); ok && self != "" {
		out[self] = cpu
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me {
			continue
		}
		cpu, ppid, ok := procStat(pid)
		if !ok || ppid != me {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		out[strings.TrimSpace(string(comm))] += cpu
	}
	return out
}

// procStat reads a process's CPU seconds and parent from /proc/pid/stat.
func procStat(pid int) (cpu float64, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks, ppid, true
}

// clockTicks is the kernel's USER_HZ, 100 on Linux.
const clockTicks = 100
