#!/usr/bin/env bash
# Runs the Go benchmarks and prints them as a table. Speed is measured here,
# never asserted in a test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the packages that have benchmarks: the others would start envtest for nothing.
pkgs=${BENCH_PKGS:-$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u | sed 's|^|./|; s|^\./\./|./|')}
benchtime=${BENCHTIME:-1s}
raw=$(go test -run '^$' -bench . -benchmem -benchtime "$benchtime" $pkgs 2>&1) || { echo "$raw"; exit 1; }
echo "$raw" | awk '
  /^cpu:/ { cpu = substr($0, 6) }
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    ns = $3; extra = ""
    for (i = 5; i <= NF; i += 2) extra = extra sprintf(" %s %s", $i, $(i+1))
    rows[++n] = sprintf("| %-55s | %14s | %s |", name, ns, extra)
  }
  END {
    printf "cpu:%s\n\n", cpu
    printf "| %-55s | %14s | %s |\n", "benchmark", "ns/op", "other"
    printf "|%s|%s|%s|\n", "---------------------------------------------------------", "----------------", "------"
    for (i = 1; i <= n; i++) print rows[i]
  }'
