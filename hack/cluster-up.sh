#!/usr/bin/env bash
# Starts hack/localcluster (built into bin/ by `make build`) in the
# background, in its own session, and waits until it has written its
# kubeconfig: every node Ready. Idempotent: on a running cluster it only
# rebuilds the images and imports them into the nodes.
set -euo pipefail
dir=${1:?usage: cluster-up.sh DIR [NODES]}
nodes=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
lc=(bin/localcluster --dir "$dir" --nodes "$nodes" --repo "$root" --bin "$root/bin")
cd "$root"
mkdir -p "$dir"
if [ -f "$dir/localcluster.pid" ] && kill -0 "$(cat "$dir/localcluster.pid")" 2>/dev/null && [ -f "$dir/kubeconfig" ]; then
  echo "local cluster already running (kubeconfig $dir/kubeconfig); importing the images again"
  "${lc[0]}" load "${lc[@]:1}"
  exit 0
fi
echo ">> starting the local cluster: a control plane and $nodes real nodes (kubelet, containerd, runc); log $dir/localcluster.log"
setsid "${lc[0]}" up "${lc[@]:1}" >"$dir/localcluster.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 300); do
  if [ -f "$dir/kubeconfig" ]; then
    echo "local cluster up: export KUBECONFIG=$dir/kubeconfig"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the local cluster failed to start; its log:" >&2
    cat "$dir/localcluster.log" >&2
    exit 1
  fi
  sleep 1
done
echo "the local cluster did not become ready in 300s; see $dir/localcluster.log" >&2
exit 1
