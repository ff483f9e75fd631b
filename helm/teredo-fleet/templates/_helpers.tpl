{{/* Names, labels and the generated daemon configs shared by the templates. */}}

{{- define "teredo-fleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $chart := .Values.nameOverride | default .Chart.Name -}}
{{- if contains $chart .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $chart | trunc 40 | trimSuffix "-" -}}
{{- end -}}
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
{{- if $.Values.relayAnycast.enabled -}}
{{- $a := $.Values.relayAnycast.announce -}}
{{- $announce := dict "enabled" true "table" (int64 $a.table) "protocol" (int64 $a.protocol) "metric" (int64 $a.metric) "withdraw_grace" $a.withdrawGrace -}}
{{- with $a.prefixes }}{{ $_ := set $announce "prefixes" . }}{{ end -}}
{{- $_ := set $relay "announce" $announce -}}
{{- end -}}
{{ include "teredo-fleet.agentCommon" (list $ $i.name $.Values.agents.relayAdminPort) }}
{{ toYaml (dict "relay" $relay) }}
{{- end -}}

{{/* A duration of the daemons' form (<digits>ms|s|m) in whole seconds, rounded up. */}}
{{- define "teredo-fleet.seconds" -}}
{{- $n := regexFind "^[0-9]+" . | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" . "" -}}
{{- if eq $unit "ms" }}{{ div (add $n 999) 1000 }}{{ else if eq $unit "m" }}{{ mul $n 60 }}{{ else }}{{ $n }}{{ end -}}
{{- end -}}

{{/* The BIRD 2 config of a relay's BGP sidecar: (list $ instance). deploy/bgp/bird.conf with the
values filled in: the same table, the same filters (learn the relay's kernel table, accept only
its route protocol and the announced prefixes, export only those, import nothing); logs go to
stderr (the container's log) instead of syslog, and there is one session per neighbor. The
prefixes are relay.announce.prefixes, else the relay's own /32 (relay.prefix, 2001::/32), as
the relay itself defaults them. */}}
{{- define "teredo-fleet.birdConfig" -}}
{{- $ := index . 0 -}}
{{- $i := index . 1 -}}
{{- $a := $.Values.relayAnycast.announce -}}
{{- $bgp := $.Values.relayAnycast.bgp -}}
{{- $own := $i.anycast | default dict -}}
{{- $prefixes := $a.prefixes -}}
{{- if not $prefixes -}}
{{- $merged := mergeOverwrite (deepCopy $.Values.relayConfig) (deepCopy ($i.config | default dict)) -}}
{{- $p := toString ($merged.prefix | default "2001::/32") -}}
{{- if not (contains "/" $p) }}{{ $p = printf "%s/32" $p }}{{ end -}}
{{- $prefixes = list $p -}}
{{- end -}}
{{- $neighbors := $own.neighbors | default $bgp.neighbors -}}
{{- if not $neighbors }}{{ fail (printf "relay %s: relayAnycast.enabled needs neighbors (relayAnycast.bgp.neighbors or relays[].anycast.neighbors)" $i.name) }}{{ end -}}
{{- $local := required (printf "relay %s: relayAnycast.enabled needs relays[].anycast.localAddress" $i.name) $own.localAddress -}}
{{- $localAs := int64 (required "relayAnycast.enabled needs relayAnycast.bgp.localAs" $bgp.localAs) -}}
{{- $hold := int64 $bgp.holdTime -}}
# BIRD 2 for relay {{ $i.name }}: announce the relay's prefixes to the upstream over BGP, exactly
# while teredo-relay says it can serve. Generated by the teredo-fleet chart from relayAnycast.*
# and following deploy/bgp/bird.conf: the prefixes, route protocol and table are the relay's
# relay.announce.* (its relay.yaml beside this file).

log stderr all;

router id {{ $own.routerId | default $i.bindAddress }};

# The announced prefixes: exact matches, nothing longer or shorter.
define TEREDO_PREFIXES = [ {{ join ", " $prefixes }} ];
define TEREDO_ROUTE_PROTOCOL = {{ int64 $a.protocol }};

# The relay's announcement lives in a BIRD table of its own, fed only by the kernel table below.
ipv6 table teredo_announce;

protocol device {
  scan time 10;
}

# Learns the relay's routes from kernel table {{ int64 $a.table }}; BIRD never writes to it (export none).
protocol kernel teredo_kernel {
  kernel table {{ int64 $a.table }};
  learn;
  scan time 5;
  ipv6 {
    table teredo_announce;
    import filter {
      if krt_source = TEREDO_ROUTE_PROTOCOL && net ~ TEREDO_PREFIXES then accept;
      reject;
    };
    export none;
  };
}
{{- if $bgp.bfd }}

protocol bfd {
}
{{- end }}
{{- range $n, $nb := $neighbors }}

# Only the relay's prefixes leave this host, and nothing is accepted back.
protocol bgp upstream{{ add1 $n }} {
  description "Teredo relay anycast announcement";
  local {{ $local }} as {{ $localAs }};
  neighbor {{ $nb.address }} as {{ int64 $nb.as }};
  hold time {{ $hold }};
  keepalive time {{ div $hold 3 }};
  {{- if $bgp.bfd }}
  bfd on;
  {{- end }}
  ipv6 {
    table teredo_announce;
    import none;
    export filter {
      if net ~ TEREDO_PREFIXES && source = RTS_INHERIT then accept;
      reject;
    };
    next hop self;
  };
}
{{- end }}
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
