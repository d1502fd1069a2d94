{{/* The release's name prefix for every object. */}}
{{- define "sensormine.fullname" -}}
{{- if contains "sensormine" .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-sensormine" .Release.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "sensormine.labels" -}}
app.kubernetes.io/part-of: sensormine
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service; call with (dict "root" $ "service" $service). */}}
{{- define "sensormine.selectorLabels" -}}
app.kubernetes.io/name: {{ .service.name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "sensormine.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "sensormine.fullname" .)) -}}
{{- end -}}

{{- define "sensormine.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}{{ with .Values.image.digest }}@{{ . }}{{ end }}
{{- end -}}

{{/* A service's in-cluster base URL; call with (dict "root" $ "name" "device-api"). */}}
{{- define "sensormine.url" -}}
http://{{ include "sensormine.fullname" .root }}-{{ .name }}:8080
{{- end -}}

{{/* Environment shared by every container: settings, endpoints, and secrets by reference. */}}
{{- define "sensormine.env" -}}
{{- $secret := include "sensormine.secretName" . -}}
{{- $pg := .Values.infrastructure.postgres -}}
- name: SENSORMINE_POSTGRES_USER
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: postgresUser } }
- name: SENSORMINE_POSTGRES_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: postgresPassword } }
- name: SENSORMINE_REDIS_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: redisPassword } }
- name: SENSORMINE_METADATA_DB_URL
  value: {{ printf "postgresql://$(SENSORMINE_POSTGRES_USER):$(SENSORMINE_POSTGRES_PASSWORD)@%s:%v/%s" $pg.host $pg.port $pg.metadataDatabase | quote }}
- name: SENSORMINE_TIMESERIES_DB_URL
  value: {{ printf "postgresql://$(SENSORMINE_POSTGRES_USER):$(SENSORMINE_POSTGRES_PASSWORD)@%s:%v/%s" $pg.host $pg.port $pg.timeseriesDatabase | quote }}
- name: SENSORMINE_REDIS_URL
  value: {{ printf "redis://:$(SENSORMINE_REDIS_PASSWORD)@%s:%v/0" .Values.infrastructure.redis.host .Values.infrastructure.redis.port | quote }}
- name: SENSORMINE_MQTT_USERNAME
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttUsername } }
- name: SENSORMINE_MQTT_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttPassword } }
- name: SENSORMINE_MQTT_ADMIN_USERNAME
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttAdminUsername } }
- name: SENSORMINE_MQTT_ADMIN_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttAdminPassword } }
- name: SENSORMINE_GATEWAY_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: gatewayToken } }
- name: SENSORMINE_JWT_HS256_SECRET
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: jwtHS256Secret } }
- name: SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: bootstrapAdminPassword } }
{{- end -}}

{{/* Policy-scan findings (checkov) accepted on purpose, each with its reason. */}}
{{- define "sensormine.acceptedFindings" -}}
checkov.io/skip1: CKV_K8S_43=The image is pinned by its release tag; set image.digest to pin it by digest as well.
checkov.io/skip2: CKV_K8S_35=Services read settings from SENSORMINE_* environment variables (ADR 4); secrets are referenced from the Secret, never inlined.
{{- end -}}
