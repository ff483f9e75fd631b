{{/* Names, labels and the generated daemon configs shared by the templates. */}}

{{- define "teredo-fleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "teredo-fleet.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "teredo-fleet.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image: repository@digest when a digest pins it, else repository:tag (tag defaults to
the chart's appVersion, the version tools/build-images.sh tags the image with). */}}
{{- define "teredo-fleet.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The controller's in-cluster address for agents (they run with ClusterFirstWithHostNet DNS). */}}
{{- define "teredo-fleet.controllerAddress" -}}
{{ include "teredo-fleet.fullname" . }}-controller.{{ .Release.Namespace }}.svc.cluster.local:{{ .Values.controller.agentPort }}
{{- end -}}

{{/* Secret holding an instance's TLS material: (list $ "name"). */}}
{{- define "teredo-fleet.tlsSecret" -}}
{{ include "teredo-fleet.fullname" (index . 0) }}-{{ index . 1 }}-tls
{{- end -}}

{{/* The part of an agent config every server and relay shares: (list $ agentId adminPort). */}}
{{- define "teredo-fleet.agentCommon" -}}
{{- $ := index . 0 -}}
admin:
  listen: {{ printf "%s:%v" $.Values.agents.adminAddress (index . 2) | quote }}
log:
  level: {{ $.Values.log.level }}
  format: {{ $.Values.log.format }}
agent:
  id: {{ index . 1 | quote }}
  state_dir: /var/lib/teredo
controller:
  address: {{ include "teredo-fleet.controllerAddress" $ | quote }}
{{- if $.Values.tls.enabled }}
  tls:
    ca_file: /etc/teredo/tls/ca.crt
    cert_file: /etc/teredo/tls/tls.crt
    key_file: /etc/teredo/tls/tls.key
{{- end }}
{{- end -}}

{{/* A server's config file: (list $ instance). */}}
{{- define "teredo-fleet.serverConfig" -}}
{{- $ := index . 0 -}}
{{- $i := index . 1 -}}
{{- $own := dict "primary_address" $i.primaryAddress -}}
{{- if $i.secondaryAddress }}{{ $_ := set $own "secondary_address" $i.secondaryAddress }}{{ end -}}
{{- $server := mergeOverwrite (deepCopy $.Values.serverConfig) (deepCopy ($i.config | default dict)) $own -}}
{{ include "teredo-fleet.agentCommon" (list $ $i.name $.Values.agents.serverAdminPort) }}
{{ toYaml (dict "server" $server) }}
{{- end -}}

{{/* A relay's config file: (list $ instance). */}}
{{- define "teredo-fleet.relayConfig" -}}
{{- $ := index . 0 -}}
{{- $i := index . 1 -}}
{{- $own := dict "bind_address" $i.bindAddress "port" ($i.port | default 3544) -}}
{{- $relay := mergeOverwrite (deepCopy $.Values.relayConfig) (deepCopy ($i.config | default dict)) $own -}}
{{ include "teredo-fleet.agentCommon" (list $ $i.name $.Values.agents.relayAdminPort) }}
{{ toYaml (dict "relay" $relay) }}
{{- end -}}

{{/* The controller's config file. */}}
{{- define "teredo-fleet.controllerConfig" -}}
admin:
  listen: {{ printf "0.0.0.0:%v" .Values.controller.metricsPort | quote }}
log:
  level: {{ .Values.log.level }}
  format: {{ .Values.log.format }}
controller:
  agent_listen: {{ printf "0.0.0.0:%v" .Values.controller.agentPort | quote }}
  admin_listen: {{ printf "0.0.0.0:%v" .Values.controller.adminPort | quote }}
  state_dir: /var/lib/teredo-controller
  auth:
    token_file: /etc/teredo/admin/token
  debounce: {{ .Values.controller.debounce }}
  stats_interval: {{ .Values.controller.statsInterval }}
{{- if .Values.tls.enabled }}
tls:
  cert_file: /etc/teredo/tls/tls.crt
  key_file: /etc/teredo/tls/tls.key
  ca_file: /etc/teredo/tls/ca.crt
  require_client_cert: true
{{- end }}
{{- end -}}
