#!/usr/bin/env bash
# Fails when the committed generated files (deepcopy, CRDs, RBAC, the Mesos
# protobuf Go code) differ from what controller-gen and protogen make of the
# current sources. It generates into a copy of the tree, so it never touches
# the working files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tar -C "$root" --exclude=./bin --exclude=./.localcluster --exclude=./.git -cf - . | tar -C "$tmp" -xf -
(cd "$tmp" && make -s generate manifests CONTROLLER_GEN="$root/bin/controller-gen-${CONTROLLER_GEN_VERSION:-v0.23.0}" \
  PROTOGEN="$root/bin/protogen-${PROTOCOMPILE_VERSION:-v0.14.1}" >/dev/null)

status=0
for path in api/v1alpha1/zz_generated.deepcopy.go api/mesos/v1 config/crd/bases config/rbac charts/kubemesos/templates/crds charts/kubemesos/templates/rbac-master.yaml charts/kubemesos/templates/rbac-agent.yaml; do
  if ! diff -ru "$root/$path" "$tmp/$path"; then
    status=1
  fi
done
# The generated protobuf code must run on the protobuf runtime it was made
# with: hack/protogen and the main module pin the same version.
gen_pb=$(awk '$1 == "google.golang.org/protobuf" {print $2}' "$root/hack/protogen/go.mod")
main_pb=$(awk '$1 == "google.golang.org/protobuf" {print $2}' "$root/go.mod")
if [ "$gen_pb" != "$main_pb" ]; then
  echo "google.golang.org/protobuf is $main_pb in go.mod but $gen_pb in hack/protogen/go.mod: pin the same version in both" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "generated files are stale: run 'make generate manifests' and commit the result" >&2
fi
exit "$status"
