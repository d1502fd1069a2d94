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

{{/*
The secrets one service gets, and only those (call with dict "root" $ "binary" "<Service>").
EdgeGateway, which parses untrusted payloads, gets neither a signing key nor the broker admin
password nor another service's token; receivers hold the SHA-256 of their callers' tokens, which
lets them check a token but not present it (ADR 17).
*/}}
{{- define "sensormine.env" -}}
{{- $root := .root -}}
{{- $binary := .binary -}}
{{- $secret := include "sensormine.secretName" $root -}}
{{- $pg := $root.Values.infrastructure.postgres -}}
{{- $postgres := has $binary (list "DeviceAPI" "SchemaRegistry" "QueryAPI" "Ingestion" "StreamProcessing" "Alerts" "Billing") -}}
{{- $redis := has $binary (list "ApiGateway" "DeviceAPI" "SchemaRegistry" "Billing") -}}
{{- $receivers := list "DeviceAPI" "SchemaRegistry" "QueryAPI" "Ingestion" "EdgeGateway" "StreamProcessing" "Alerts" "Billing" "FailoverOrchestrator" -}}
{{- $hs256 := eq $root.Values.auth.signing "hs256" -}}
{{- if $postgres }}
- name: SENSORMINE_POSTGRES_USER
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: postgresUser } }
- name: SENSORMINE_POSTGRES_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: postgresPassword } }
{{- /* With standbys, a multi-host URL: libpq connects to whichever host accepts writes. */}}
{{- $hosts := prepend ($pg.standbys | default list) (printf "%s:%v" $pg.host $pg.port) | join "," }}
{{- $attrs := ternary "?target_session_attrs=read-write" "" (gt (len ($pg.standbys | default list)) 0) }}
- name: SENSORMINE_METADATA_DB_URL
  value: {{ printf "postgresql://$(SENSORMINE_POSTGRES_USER):$(SENSORMINE_POSTGRES_PASSWORD)@%s/%s%s" $hosts $pg.metadataDatabase $attrs | quote }}
- name: SENSORMINE_TIMESERIES_DB_URL
  value: {{ printf "postgresql://$(SENSORMINE_POSTGRES_USER):$(SENSORMINE_POSTGRES_PASSWORD)@%s/%s%s" $hosts $pg.timeseriesDatabase $attrs | quote }}
{{- end }}
{{- if $redis }}
- name: SENSORMINE_REDIS_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: redisPassword } }
{{- with $root.Values.infrastructure.redis.sentinels }}
- name: SENSORMINE_REDIS_URL
  value: {{ printf "redis-sentinel://:$(SENSORMINE_REDIS_PASSWORD)@%s/%s/0" . $root.Values.infrastructure.redis.masterName | quote }}
{{- else }}
- name: SENSORMINE_REDIS_URL
  value: {{ printf "redis://:$(SENSORMINE_REDIS_PASSWORD)@%s:%v/0" $root.Values.infrastructure.redis.host $root.Values.infrastructure.redis.port | quote }}
{{- end }}
{{- end }}
{{- if eq $binary "EdgeGateway" }}
- name: SENSORMINE_MQTT_USERNAME
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttUsername } }
- name: SENSORMINE_MQTT_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttPassword } }
- name: SENSORMINE_EDGE_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: edgeToken } }
{{- end }}
{{- if eq $binary "Alerts" }}
{{- $notify := $root.Values.notifications }}
{{- with $notify.smtp.url }}
- name: SENSORMINE_ALERTS_SMTP_URL
  value: {{ . | quote }}
- name: SENSORMINE_ALERTS_SMTP_FROM
  value: {{ $notify.smtp.from | quote }}
- name: SENSORMINE_ALERTS_SMTP_REQUIRE_TLS
  value: {{ $notify.smtp.requireTLS | quote }}
{{- with $notify.smtp.username }}
- name: SENSORMINE_ALERTS_SMTP_USERNAME
  value: {{ . | quote }}
- name: SENSORMINE_ALERTS_SMTP_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: smtpPassword } }
{{- end }}
{{- end }}
{{- with $notify.sms.baseURL }}
- name: SENSORMINE_ALERTS_SMS_BASE_URL
  value: {{ . | quote }}
- name: SENSORMINE_ALERTS_SMS_ACCOUNT_SID
  value: {{ required "notifications.sms.accountSID is required with notifications.sms.baseURL" $notify.sms.accountSID | quote }}
- name: SENSORMINE_ALERTS_SMS_FROM
  value: {{ required "notifications.sms.from is required with notifications.sms.baseURL" $notify.sms.from | quote }}
- name: SENSORMINE_ALERTS_SMS_AUTH_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: smsAuthToken } }
{{- end }}
{{- with $notify.webhookAllowedNetworks }}
- name: SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq $binary "DeviceAPI" }}
- name: SENSORMINE_MQTT_ADMIN_USERNAME
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttAdminUsername } }
- name: SENSORMINE_MQTT_ADMIN_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: mqttAdminPassword } }
- name: SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: bootstrapAdminPassword } }
- name: SENSORMINE_INGESTION_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: ingestionTokenSha256 } }
- name: SENSORMINE_EDGE_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: edgeTokenSha256 } }
- name: SENSORMINE_STREAM_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: streamTokenSha256 } }
- name: SENSORMINE_BILLING_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: billingTokenSha256 } }
{{- if not $hs256 }}
- name: SENSORMINE_JWT_PRIVATE_KEY
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: jwtPrivateKey } }
{{- end }}
{{- end }}
{{- if eq $binary "SchemaRegistry" }}
- name: SENSORMINE_INGESTION_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: ingestionTokenSha256 } }
- name: SENSORMINE_STREAM_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: streamTokenSha256 } }
{{- end }}
{{- if eq $binary "StreamProcessing" }}
- name: SENSORMINE_STREAM_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: streamToken } }
{{- end }}
{{- if eq $binary "Billing" }}
- name: SENSORMINE_BILLING_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: billingToken } }
- name: SENSORMINE_BILLING_GRACE
  value: {{ $root.Values.billing.grace | quote }}
{{- with $root.Values.billing.stripe.url }}
- name: SENSORMINE_BILLING_STRIPE_URL
  value: {{ . | quote }}
- name: SENSORMINE_BILLING_STRIPE_SECRET_KEY
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: stripeSecretKey } }
- name: SENSORMINE_BILLING_STRIPE_METER_EVENTS
  value: {{ $root.Values.billing.stripe.meterEvents | quote }}
{{- end }}
{{- if $root.Values.billing.stripe.webhooks }}
- name: SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: stripeWebhookSecret } }
{{- end }}
{{- end }}
{{- if eq $binary "FailoverOrchestrator" }}
{{- $failover := $root.Values.failover }}
- name: SENSORMINE_FAILOVER_ETCD_ENDPOINTS
  value: {{ required "infrastructure.etcd.endpoints is required" $root.Values.infrastructure.etcd.endpoints | quote }}
- name: SENSORMINE_FAILOVER_IDENTITY
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: SENSORMINE_FAILOVER_CLUSTER
  value: {{ $failover.cluster | quote }}
- name: SENSORMINE_FAILOVER_GRACE
  value: {{ $failover.grace | quote }}
- name: SENSORMINE_FAILOVER_AUTOMATIC
  value: {{ $failover.automatic | quote }}
- name: SENSORMINE_FAILOVER_REPLICATION
  value: {{ $failover.replication | quote }}
- name: SENSORMINE_FAILOVER_POSTGRES_NODES
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: failoverPostgresNodes, optional: true } }
{{- with $root.Values.infrastructure.redis.sentinels }}
- name: SENSORMINE_FAILOVER_SENTINELS
  value: {{ . | quote }}
- name: SENSORMINE_FAILOVER_REDIS_MASTER
  value: {{ $root.Values.infrastructure.redis.masterName | quote }}
{{- end }}
{{- end }}
{{- if eq $binary "Ingestion" }}
- name: SENSORMINE_INGESTION_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: ingestionToken } }
{{- end }}
{{- if eq $binary "ApiGateway" }}
- name: SENSORMINE_GATEWAY_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: gatewayToken } }
{{- if not $hs256 }}
- name: SENSORMINE_JWT_JWKS_URL
  value: {{ printf "%s/.well-known/jwks.json" (include "sensormine.url" (dict "root" $root "name" "device-api")) | quote }}
{{- end }}
{{- end }}
{{- if has $binary $receivers }}
- name: SENSORMINE_GATEWAY_TOKEN_SHA256
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: gatewayTokenSha256 } }
{{- end }}
{{- if and $hs256 (has $binary (list "ApiGateway" "DeviceAPI")) }}
- name: SENSORMINE_JWT_HS256_SECRET
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: jwtHS256Secret } }
{{- end }}
{{- end -}}

{{/* Policy-scan findings (checkov) accepted on purpose, each with its reason. */}}
{{- define "sensormine.acceptedFindings" -}}
checkov.io/skip1: CKV_K8S_43=The image is pinned by its release tag; set image.digest to pin it by digest as well.
checkov.io/skip2: CKV_K8S_35=Services read settings from SENSORMINE_* environment variables (ADR 4); secrets are referenced from the Secret, never inlined.
{{- end -}}
