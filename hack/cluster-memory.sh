#!/usr/bin/env bash
# Prints the resident memory of the local cluster's processes, summed per
# program: every process in the kubemesos cgroups (the control plane, each
# node's containerd, shims and kubelet, and the pods' containers).
set -euo pipefail
find /sys/fs/cgroup/pids/kubemesos -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r pid; do
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
  [ -n "$rss" ] && echo "$comm $rss"
done | awk '{ kib[$1] += $2; n[$1]++; total += $2 }
  END { for (p in kib) printf "%-24s %3d  %8.1f MiB\n", p, n[p], kib[p] / 1024; printf "%-24s %3s  %8.1f MiB\n", "total", "", total / 1024 }' | sort
