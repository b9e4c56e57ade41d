#!/usr/bin/env bash
# The demo: on the running local cluster, helm-install kubemesos, run the
# MonteCarloArea sample, stream its tasks until it completes, print the area.
# Idempotent: a rerun upgrades the release and runs the sample again.
set -euo pipefail
kubectl=${1:?usage: demo.sh KUBECTL HELM KUBECONFIG}
helm=${2:?usage: demo.sh KUBECTL HELM KUBECONFIG}
export KUBECONFIG=${3:?usage: demo.sh KUBECTL HELM KUBECONFIG}
root=$(cd "$(dirname "$0")/.." && pwd)
k() { "$kubectl" "$@"; }

echo "== helm install kubemesos (chart charts/kubemesos, namespace kubemesos-system)"
"$helm" upgrade --install kubemesos "$root/charts/kubemesos" --namespace kubemesos-system --create-namespace \
  --wait --timeout 5m >/dev/null
k get pods -n kubemesos-system -o wide

echo "== waiting for the agents"
for _ in $(seq 1 120); do
  active=$(k get magent -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Active$' || true)
  nodes=$(k get nodes --no-headers | wc -l)
  [ "$active" -ge "$nodes" ] && break
  sleep 1
done
k get magent

echo "== kubectl apply -f config/samples/montecarloarea.yaml"
if k get mfw montecarloarea >/dev/null 2>&1; then
  k delete mfw montecarloarea --wait --timeout 2m >/dev/null   # a rerun starts afresh
fi
k apply -f "$root/config/samples/montecarloarea.yaml"

echo "== the tasks (kubectl get mtask), until the framework completes"
phase=""
for _ in $(seq 1 300); do
  phase=$(k get mfw montecarloarea -o jsonpath='{.status.phase}')
  echo "--- $(date +%T) framework phase: ${phase:-Pending}"
  k get mtask 2>/dev/null || true
  case "$phase" in Completed|Failed) break ;; esac
  sleep 2
done

echo
echo "== kubectl get kubemesos"
k get kubemesos
echo
if [ "$phase" != "Completed" ]; then
  echo "MonteCarloArea did not complete (phase ${phase:-unknown}): $(k get mfw montecarloarea -o jsonpath='{.status.message}')" >&2
  exit 1
fi
echo "The area under 2x^2 + 3x in [0,10] x [0,230]:"
echo "  $(k get mfw montecarloarea -o jsonpath='{.status.result}')"

# The console's viewer: a ServiceAccount that may read every namespace's
# frameworks and tasks and the agents (the chart's ClusterRole
# kubemesos-viewer), since the local cluster's kubeconfig authenticates
# with a certificate, which the console cannot check.
k create serviceaccount kubemesos-demo-viewer -n default --dry-run=client -o yaml | k apply -f - >/dev/null
k create clusterrolebinding kubemesos-demo-viewer --clusterrole=kubemesos-viewer \
  --serviceaccount=default:kubemesos-demo-viewer --dry-run=client -o yaml | k apply -f - >/dev/null
cat <<MSG

Open the console (the web UI) with one command, then browse http://127.0.0.1:5080/
(run the demo again in another terminal to watch MonteCarloArea live):
  KUBECONFIG=$KUBECONFIG $root/bin/kubectl-mesos console --service-account default/kubemesos-demo-viewer
MSG
cat <<MSG

The local cluster is still running. Play with it:
  export KUBECONFIG=$KUBECONFIG
  kubectl get kubemesos                 # frameworks, tasks, offers
  kubectl get magent                    # agents
  kubectl logs -n kubemesos-system deploy/kubemesos-master
  kubectl exec -n kubemesos-system ds/kubemesos-agent -- kubemesos version
  ctr -a /run/kubemesos/node-1/containerd.sock -n k8s.io tasks ls   # node-1's containers
  kubectl explain task.spec
  $root/bin/kubectl-mesos status        # the kubectl plugin: agents, frameworks, roles and shares
  make cluster-down                     # stop it, leaving no process behind
MSG
