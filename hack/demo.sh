#!/usr/bin/env bash
# The demo: on the running local cluster, install the kubemesos CRDs, apply
# the samples and show them with kubectl.
set -euo pipefail
kubectl=${1:?usage: demo.sh KUBECTL KUBECONFIG}
export KUBECONFIG=${2:?usage: demo.sh KUBECTL KUBECONFIG}
root=$(cd "$(dirname "$0")/.." && pwd)
k() { "$kubectl" "$@"; }

echo "== installing the kubemesos CRDs"
k apply --server-side -f "$root/config/crd/bases"
k wait --for condition=established --timeout=60s crd/frameworks.kubemesos.io crd/tasks.kubemesos.io crd/offers.kubemesos.io crd/agents.kubemesos.io

echo "== applying config/samples"
k apply -f "$root/config/samples"

echo "== kubectl get kubemesos"
k get kubemesos -o wide
echo
echo "== kubectl get magent"
k get magent
cat <<MSG

The local control plane is still running. Try:
  export KUBECONFIG=$KUBECONFIG
  kubectl get kubemesos
  kubectl explain task.spec
  make cluster-down     # stop it
MSG
