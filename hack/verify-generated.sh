#!/usr/bin/env bash
# Fails when the committed generated files (deepcopy, CRDs, RBAC) differ from
# what controller-gen makes of the current sources. It generates into a copy
# of the tree, so it never touches the working files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tar -C "$root" --exclude=./bin --exclude=./.localcluster --exclude=./.git -cf - . | tar -C "$tmp" -xf -
(cd "$tmp" && make -s generate manifests CONTROLLER_GEN="$root/bin/controller-gen-${CONTROLLER_GEN_VERSION:-v0.23.0}" >/dev/null)

status=0
for path in api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac charts/kubemesos/templates/crds charts/kubemesos/templates/rbac-master.yaml charts/kubemesos/templates/rbac-agent.yaml; do
  if ! diff -ru "$root/$path" "$tmp/$path"; then
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "generated files are stale: run 'make generate manifests' and commit the result" >&2
fi
exit "$status"
