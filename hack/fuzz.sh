#!/usr/bin/env bash
# Runs every Go fuzz target of the repository's modules for a budget of
# executions, one target after another, and prints one table.
#
#   FUZZ_EXECS     executions per target (default 1000000): -fuzztime=<N>x
#   FUZZ_PARALLEL  fuzzing workers per target (default 1): -parallel
#   FUZZ_MATCH     an extended regexp; only the targets whose
#                  <import path>.<FuzzName> it matches run (default: all)
#   FUZZ_LOGS      where each target's output is kept (default: a new
#                  temporary directory, named at the end)
#
# The targets are found, not listed here: in every module, each package
# with a test file that declares a fuzz function is asked for its fuzz
# targets with `go test -list`. A target that fails leaves the failing
# input where Go keeps it (testdata/fuzz/<FuzzName>/<id> beside the
# package's tests, from where plain `go test` runs it as a seed); the
# script names it and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

execs=${FUZZ_EXECS:-1000000}
parallel=${FUZZ_PARALLEL:-1}
match=${FUZZ_MATCH:-}
logs=${FUZZ_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/kubemesos-fuzz.XXXXXX")}
mkdir -p "$logs"
case $execs in '' | *[!0-9]*) echo "FUZZ_EXECS=$execs: want a number of executions" >&2; exit 2 ;; esac
case $parallel in '' | *[!0-9]*) echo "FUZZ_PARALLEL=$parallel: want a number of workers" >&2; exit 2 ;; esac

# The modules: every go.mod outside bin/, the local cluster's state and
# node_modules.
mapfile -t modules < <(find . \( -name bin -o -name .localcluster -o -name node_modules -o -name testdata -o -name .git \) -prune -o -name go.mod -print |
  xargs -n1 dirname | sed 's|^\./||' | sort)

# targets holds "module dir<TAB>import path<TAB>package dir<TAB>FuzzName".
targets=()
for mod in "${modules[@]}"; do
  # Packages whose test files (in- or external) declare a fuzz function;
  # `go test -list` then says which fuzz targets each package really has.
  while IFS=$'\t' read -r pkg dir files; do
    [ -n "$files" ] || continue
    has=0
    for f in $files; do
      if grep -q '^func Fuzz' "$dir/$f"; then has=1; break; fi
    done
    [ "$has" = 1 ] || continue
    listed=$(cd "$mod" && go test -list '^Fuzz' "$pkg") || { echo "$listed" >&2; echo "listing the fuzz targets of $pkg failed" >&2; exit 1; }
    while read -r name; do
      [ -n "$match" ] && ! grep -Eq -- "$match" <<<"$pkg.$name" && continue
      targets+=("$mod"$'\t'"$pkg"$'\t'"$dir"$'\t'"$name")
    done < <(grep -E '^Fuzz[A-Za-z0-9_]*$' <<<"$listed" || true)
  done < <(cd "$mod" && go list -f '{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)
done
if [ ${#targets[@]} = 0 ]; then
  echo "no fuzz target${match:+ matches FUZZ_MATCH=$match}" >&2
  exit 1
fi
echo ">> ${#targets[@]} fuzz targets, $execs executions each, $parallel worker(s); output in $logs"

# seconds turns a Go duration as the fuzzer prints it (1h2m3s) into seconds.
seconds() {
  awk -v d="$1" 'BEGIN {
    s = 0
    while (match(d, /^[0-9.]+(h|ms|m|s)/)) {
      part = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
      unit = part; sub(/^[0-9.]+/, "", unit); n = part + 0
      s += (unit == "h") ? n * 3600 : (unit == "m") ? n * 60 : (unit == "ms") ? n / 1000 : n
    }
    printf "%d", s
  }'
}

# Each go test runs in a process group of its own (set -m), which an
# interrupt or a kill of this script stops, fuzzing workers included.
child=
stop() {
  if [ -n "$child" ]; then
    kill -INT -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 130
}
trap stop INT TERM
set -m

rows=()
failures=()
for t in "${targets[@]}"; do
  IFS=$'\t' read -r mod pkg dir name <<<"$t"
  log="$logs/$(tr '/.' '__' <<<"$pkg").$name.log"
  echo ">> $pkg $name"
  # No -timeout: a budget of executions may take longer than go test's
  # default 10 minutes.
  (cd "$mod" && exec go test -run '^$' -fuzz "^$name\$" -fuzztime "${execs}x" -parallel "$parallel" -timeout 0 "$pkg") >"$log" 2>&1 &
  child=$!
  while :; do
    rc=0
    wait "$child" || rc=$?
    # With job control on, wait also returns when the target is only
    # stopped (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: 128+19 to 128+22); it
    # is waited for again until it has exited.
    case $rc in 147 | 148 | 149 | 150) kill -0 "$child" 2>/dev/null && { sleep 1; continue; } ;; esac
    break
  done
  child=
  # The fuzzer's last progress line holds the totals:
  # "fuzz: elapsed: 1m5s, execs: 1000000 (15385/sec), new interesting: 12 (total: 40)".
  last=$(grep -E '^fuzz: elapsed: [^,]+, execs: ' "$log" | tail -n1 || true)
  ran=$(sed -nE 's/.*, execs: ([0-9]+) .*/\1/p' <<<"$last")
  elapsed=$(sed -nE 's/^fuzz: elapsed: ([^,]+), .*/\1/p' <<<"$last")
  found=$(sed -nE 's/.*new interesting: ([0-9]+) .*/\1/p' <<<"$last")
  secs=$( [ -n "$elapsed" ] && seconds "$elapsed" || echo "")
  rate="-"
  if [ -n "$ran" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ]; then rate=$((ran / secs)); fi
  result=ok
  if [ "$rc" != 0 ]; then
    result=FAIL
    input=$(sed -nE 's/^[[:space:]]*Failing input written to (.*)$/\1/p' "$log" | tail -n1)
    if [ -n "$input" ]; then
      rel=.${dir#"$root/$mod"}
      [ "$mod" = . ] && rel=./${dir#"$root"/}
      replay="go test -run=$name/$(basename "$input") $rel"
      [ "$mod" = . ] || replay="cd $mod && $replay"
      failures+=("$pkg $name: failing input kept in ${dir#"$root"/}/$input (replay: $replay); log $log")
    else
      failures+=("$pkg $name: failed without a failing input (exit $rc); log $log")
    fi
  elif [ "${ran:-0}" -lt "$execs" ]; then
    result=SHORT
    failures+=("$pkg $name: ran ${ran:-0} of $execs executions; log $log")
  fi
  rows+=("$(printf '| %-36s | %-28s | %10s | %7s | %8s | %5s | %-6s |' "${dir#"$root"/}" "$name" "${ran:--}" "${secs:--}" "$rate" "${found:--}" "$result")")
done

echo
printf '| %-36s | %-28s | %10s | %7s | %8s | %5s | %-6s |\n' package target executions seconds execs/s new result
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..38})" "$(printf -- '-%.0s' {1..30})" "$(printf -- '-%.0s' {1..12})" \
  "$(printf -- '-%.0s' {1..9})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..7})" "$(printf -- '-%.0s' {1..8})"
printf '%s\n' "${rows[@]}"
echo
echo "new: inputs the fuzzer found that reach new code (kept in Go's fuzz cache, $(go env GOCACHE)/fuzz, not in the repository)"
echo "logs: $logs"
if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
