{{/* SPDX-License-Identifier: Apache-2.0 */}}

{{/* The objects' base name: the release name, unless it lacks the chart's. */}}
{{- define "nvml-scaler.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: stable for the life of the release. */}}
{{- define "nvml-scaler.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* The labels every object carries besides its selector labels. */}}
{{- define "nvml-scaler.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: nvml-scaler
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels on the agent's objects. kustomize's base carries the same, less the two Helm-only ones. */}}
{{- define "nvml-scaler.labels" -}}
{{ include "nvml-scaler.selectorLabels" . }}
{{ include "nvml-scaler.commonLabels" . }}
{{- end -}}

{{/* The aggregator's objects: <fullname>-aggregator. */}}
{{- define "nvml-scaler.aggregatorName" -}}
{{- printf "%s-aggregator" (include "nvml-scaler.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{/* The aggregator's selector labels: the agent's, with component aggregator. */}}
{{- define "nvml-scaler.aggregatorSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: aggregator
{{- end -}}

{{- define "nvml-scaler.aggregatorLabels" -}}
{{ include "nvml-scaler.aggregatorSelectorLabels" . }}
{{ include "nvml-scaler.commonLabels" . }}
{{- end -}}

{{/* The headless Service that lists every agent (the aggregator's discovery). */}}
{{- define "nvml-scaler.peersName" -}}
{{- printf "%s-peers" (include "nvml-scaler.fullname" .) -}}
{{- end -}}

{{/* Where the kubelet's PodResources socket directory is mounted in the agent. */}}
{{- define "nvml-scaler.podResourcesDir" -}}/var/lib/kubelet/pod-resources{{- end -}}

{{- define "nvml-scaler.serviceAccountName" -}}
{{- default (include "nvml-scaler.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "nvml-scaler.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "nvml-scaler.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "nvml-scaler.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* Where the TLS secret is mounted in the container. */}}
{{- define "nvml-scaler.tlsDir" -}}/etc/nvml-scaler/tls{{- end -}}

{{/* Where the GPU operator's validations directory is mounted (as on the host). */}}
{{- define "nvml-scaler.validationsDir" -}}/run/nvidia/validations{{- end -}}

{{/*
The agent's container securityContext: uid 65532, or 0 in cluster mode (the
kubelet socket's owner); every capability dropped, but SYS_ADMIN with MIG,
which the NVIDIA hook requires for NVIDIA_MIG_MONITOR_DEVICES.
Takes (dict "cluster" bool "mig" bool).
*/}}
{{- define "nvml-scaler.agentContainerSecurity" -}}
{{- if .cluster }}
runAsNonRoot: false
runAsUser: 0
{{- else }}
runAsNonRoot: true
runAsUser: 65532
{{- end }}
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
  {{- if .mig }}
  add: [SYS_ADMIN]
  {{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "nvml-scaler.aggregatorTLSSecretName" -}}
{{- default (printf "%s-tls" (include "nvml-scaler.aggregatorName" .)) .Values.aggregator.tls.secretName -}}
{{- end -}}
