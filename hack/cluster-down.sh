#!/usr/bin/env bash
# Stops the cluster that hack/cluster-up.sh started and removes whatever a
# local cluster left behind: processes, mounts, network namespaces.
set -euo pipefail
dir=${1:?usage: cluster-down.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/bin/localcluster" ]; then
  echo "local cluster not running (no bin/localcluster)"
  exit 0
fi
"$root/bin/localcluster" down --dir "$dir"
