#!/usr/bin/env bash
# Copies the generated CRDs, ClusterRoles and Roles into the Helm chart. The CRDs
# go under templates/ behind crds.enabled and keep
# helm.sh/resource-policy: keep, so an uninstall never deletes user objects.
# `make manifests` runs it; hack/verify-generated.sh checks the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/kubemesos/templates"
mkdir -p "$chart/crds"
rm -f "$chart"/crds/*.yaml
for f in "$root"/config/crd/bases/*.yaml; do
  {
    echo "# Generated from config/crd/bases/$(basename "$f") by hack/sync-chart.sh; do not edit."
    echo "{{- if .Values.crds.enabled }}"
    sed -e '/^---$/d' -e 's/^  annotations:$/  annotations:\n    helm.sh\/resource-policy: keep/' "$f"
    echo "{{- end }}"
  } > "$chart/crds/$(basename "$f")"
done
for role in master agent; do
  {
    echo "# Generated from config/rbac/$role/role.yaml by hack/sync-chart.sh; do not edit."
    # The first separator goes; the one before a Role stays. A Role's
    # namespace in the markers stands for the release namespace.
    sed -e '1{/^---$/d}' -e 's/^  namespace: kubemesos-system$/  namespace: {{ .Release.Namespace }}/' "$root/config/rbac/$role/role.yaml"
  } > "$chart/rbac-$role.yaml"
done
