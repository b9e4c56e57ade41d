#!/usr/bin/env bash
# Starts hack/localcluster in the background (its own process group) and
# waits until it has written its kubeconfig. Idempotent: a running cluster is
# left as it is.
set -euo pipefail
dir=${1:?usage: cluster-up.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
if [ -f "$dir/localcluster.pid" ] && kill -0 "$(cat "$dir/localcluster.pid")" 2>/dev/null && [ -f "$dir/kubeconfig" ]; then
  echo "local cluster already running (kubeconfig $dir/kubeconfig)"
  exit 0
fi
(cd "$root" && CGO_ENABLED=0 go build -o bin/localcluster ./hack/localcluster)
rm -f "$dir/kubeconfig"
rm -rf "$dir/agent-work" "$dir/nodes"   # a new cluster: no stale checkpoints or pod dirs
setsid "$root/bin/localcluster" up --dir "$dir" >"$dir/localcluster.log" 2>&1 < /dev/null &
for _ in $(seq 1 120); do
  if [ -f "$dir/kubeconfig" ]; then
    echo "local cluster up: export KUBECONFIG=$dir/kubeconfig"
    exit 0
  fi
  if ! kill -0 $! 2>/dev/null; then
    echo "the local cluster failed to start; its log:" >&2
    cat "$dir/localcluster.log" >&2
    exit 1
  fi
  sleep 1
done
echo "the local cluster did not become ready in 120s; see $dir/localcluster.log" >&2
exit 1
