{{/* The chart's name. */}}
{{- define "kubemesos.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "kubemesos.labels" -}}
app.kubernetes.io/name: {{ include "kubemesos.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of a component (master or agent). */}}
{{- define "kubemesos.selector" -}}
app.kubernetes.io/name: {{ include "kubemesos.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of the kubemesos binaries. */}}
{{- define "kubemesos.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* An alert's runbook_url annotation (on a line of its own, indented for
the annotations of prometheusrule.yaml), when prometheusRule.runbookBaseURL
is set; else nothing. */}}
{{- define "kubemesos.runbook" -}}
{{- if .base }}
{{ printf "runbook_url: %s" (printf "%s#%s" .base (lower .alert) | quote) | indent 12 }}
{{- end -}}
{{- end -}}

{{/*
kubemesos.distinctPorts fails the install when two of a component's ports
(a dict of value name to port; 0 is off) are equal: each is bound on one
address, and the second bind would crash-loop the component.
*/}}
{{- define "kubemesos.distinctPorts" -}}
{{- $seen := dict -}}
{{- range $name, $port := . -}}
{{- if $port -}}
{{- $key := toString $port -}}
{{- if hasKey $seen $key -}}
{{- fail (printf "%s and %s are both %s: each is bound on the same address, so they must differ" (get $seen $key) $name $key) -}}
{{- end -}}
{{- $_ := set $seen $key $name -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
kubemesos.systemNamespaces is a CEL list of the namespaces where no
kubemesos component may run a pod: the cluster's own and the release's.
*/}}
{{- define "kubemesos.systemNamespaces" -}}
['kube-system', 'kube-public', 'kube-node-lease', '{{ .Release.Namespace }}']
{{- end -}}
