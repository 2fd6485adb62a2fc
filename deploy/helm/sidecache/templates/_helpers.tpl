{{/*
Named templates. The "sidecache.sidecar.*" ones are for your own chart (with this chart as a
dependency): they take
  (dict "Values" .Values.sidecache "Release" .Release "Chart" .Subcharts.sidecache.Chart)
*/}}

{{- define "sidecache.name" -}}
{{- default "sidecache" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sidecache.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "sidecache.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sidecache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sidecache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sidecache.labels" -}}
{{ include "sidecache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "sidecache.configMapName" -}}
{{- default (printf "%s-config" (include "sidecache.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{- define "sidecache.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The configuration file: config.sidecache with the keys the chart owns. */}}
{{- define "sidecache.config" -}}
{{- $host := ternary "0.0.0.0" "127.0.0.1" (eq .Values.mode "tier") -}}
{{- $owned := dict
      "listen" (printf "%s:%d" $host (int .Values.ports.resp))
      "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)))
      "process" (dict "drain_timeout" (printf "%ds" (int .Values.shutdown.drainTimeoutSeconds))) -}}
{{- toYaml (mergeOverwrite (deepCopy .Values.config.sidecache) $owned) -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds for the pod: sidecar: the application's shutdown + drain +
margin; tier: the endpoint delay + drain + margin.
*/}}
{{- define "sidecache.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown -}}
{{- if eq .Values.mode "tier" -}}
{{- add $s.endpointDelaySeconds $s.drainTimeoutSeconds $s.marginSeconds -}}
{{- else -}}
{{- add $s.appShutdownSeconds $s.drainTimeoutSeconds $s.marginSeconds -}}
{{- end -}}
{{- end -}}

{{/* The sidecache container (one list item). */}}
{{- define "sidecache.container" -}}
- name: sidecache
  image: {{ include "sidecache.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if and (ne .Values.mode "tier") .Values.sidecar.native }}
  restartPolicy: Always
  {{- end }}
  args: ["-c", "/etc/sidecache/sidecache.yaml"]
  ports:
    - {name: resp, containerPort: {{ .Values.ports.resp }}, protocol: TCP}
    - {name: metrics, containerPort: {{ .Values.ports.http }}, protocol: TCP}
  startupProbe:
    httpGet: {path: /healthz, port: metrics}
    periodSeconds: {{ .Values.probes.startup.periodSeconds }}
    failureThreshold: {{ .Values.probes.startup.failureThreshold }}
  readinessProbe:
    httpGet: {path: /readyz, port: metrics}
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  livenessProbe:
    httpGet: {path: /healthz, port: metrics}
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  {{- $sleep := 0 -}}
  {{- if eq .Values.mode "tier" -}}
  {{- $sleep = .Values.shutdown.endpointDelaySeconds -}}
  {{- else if not .Values.sidecar.native -}}
  {{- $sleep = .Values.shutdown.appShutdownSeconds -}}
  {{- end }}
  {{- if gt (int $sleep) 0 }}
  lifecycle:
    preStop:
      exec: {command: ["sleep", "{{ $sleep }}"]}
  {{- end }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ .Values.securityContext.runAsUser }}
    runAsGroup: {{ .Values.securityContext.runAsGroup }}
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
    seccompProfile: {type: RuntimeDefault}
  volumeMounts:
    # The whole directory, never subPath: the kubelet swaps the ..data symlink on a
    # ConfigMap change and sidecache reloads it.
    - {name: sidecache-config, mountPath: /etc/sidecache, readOnly: true}
    {{- if .Values.secret.name }}
    - {name: sidecache-secret, mountPath: /var/run/secrets/sidecache, readOnly: true}
    {{- end }}
{{- end -}}

{{- define "sidecache.volumes" -}}
- name: sidecache-config
  configMap: {name: {{ include "sidecache.configMapName" . }}}
{{- if .Values.secret.name }}
- name: sidecache-secret
  secret: {secretName: {{ .Values.secret.name }}, optional: {{ .Values.secret.optional }}}
{{- end }}
{{- end -}}

{{/* For your own chart: the container under initContainers (native) or containers (classic). */}}
{{- define "sidecache.sidecar.container" -}}
{{ include "sidecache.container" . }}
{{- end -}}

{{- define "sidecache.sidecar.volumes" -}}
{{ include "sidecache.volumes" . }}
{{- end -}}
