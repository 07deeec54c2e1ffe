{{/* Chart name. */}}
{{- define "agentnet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: <release>-agentnet, or the release name if it contains the chart name. */}}
{{- define "agentnet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The webhook's Deployment, Service and ServiceAccount name. */}}
{{- define "agentnet.webhookName" -}}
{{- printf "%s-webhook" (include "agentnet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentnet.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "agentnet.webhookName" .)) .Values.webhook.tlsSecretName }}
{{- end }}

{{- define "agentnet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: agentnet
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "agentnet.selectorLabels" . }}
{{- end }}

{{- define "agentnet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentnet.name" . }}-webhook
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentnet.webhookImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "agentnet.sidecarImage" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (default .Chart.AppVersion .Values.sidecar.image.tag) }}
{{- end }}

{{/* Namespaces never injected: kube-system, the release namespace, cert-manager's, and extras. */}}
{{- define "agentnet.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- if .Values.certManager.enabled }}{{- $ns = append $ns .Values.certManager.namespace }}{{- end }}
{{- concat $ns .Values.webhook.excludedNamespaces | uniq | toJson }}
{{- end }}

{{/* The Service URL sidecars use for the identity service. */}}
{{- define "agentnet.identityUrl" -}}
{{- default (printf "https://%s.%s.svc:%v" (include "agentnet.webhookName" .) .Release.Namespace .Values.identity.port) .Values.sidecar.identityUrl }}
{{- end }}

{{- define "agentnet.identityCaSecretName" -}}
{{- default (printf "%s-identity-ca" (include "agentnet.fullname" .)) .Values.identity.ca.secretName }}
{{- end }}

{{- define "agentnet.identityLeaseName" -}}
{{- printf "%s-identity" (include "agentnet.fullname" .) }}
{{- end }}
