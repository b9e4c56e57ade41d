#!/usr/bin/env bash
# Stops the cluster that hack/cluster-up.sh started, leaving no process behind.
set -euo pipefail
dir=${1:?usage: cluster-down.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/bin/localcluster" ]; then
  echo "local cluster not running"
  exit 0
fi
"$root/bin/localcluster" down --dir "$dir"
