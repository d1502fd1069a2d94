#!/usr/bin/env bash
# Schemathesis against every HTTP service's OpenAPI document, through the gateway, as the
# tenant-admin of a tenant of its own (so what it creates or deletes is that tenant's only).
# Checks: no 5xx answer, and every answer matching its documented schema and status.
# Usage: scripts/api-fuzz.sh [MAX_EXAMPLES per operation, default 30] [SECONDS per service, default 60]
# APIFUZZ_SEED fixes the generator's seed (make test does, so a run repeats what the last one tried).
set -euo pipefail
source "$(dirname "$0")/stack/common.sh"
examples="${1:-30}"
seconds="${2:-60}"
FUZZ_VENV="$STACK/apifuzz-venv"
if [ ! -x "$FUZZ_VENV/bin/schemathesis" ]; then
  log "installing schemathesis into $FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.5'
fi
BIN=$(cd "$ROOT" && swift build --show-bin-path)
RUN="$STACK/apifuzz"
rm -rf "$RUN"; mkdir -p "$RUN/logs"
prefix="apifuzz-$(date +%s)"
export SENSORMINE_KAFKA_TOPIC_PREFIX="$prefix" SENSORMINE_INGESTION_GROUP="$prefix.ingestion" SENSORMINE_ALERTS_GROUP="$prefix.alerts" SENSORMINE_STREAM_GROUP="$prefix.stream" SENSORMINE_BILLING_GROUP="$prefix.billing" SENSORMINE_EDGE_SPOOL_DIR="$RUN/spool"
export SENSORMINE_EDGE_MQTT_SHARE_GROUP="$prefix" SENSORMINE_EDGE_MQTT_CLIENT_ID="$prefix-edge" SENSORMINE_EDGE_MQTT_SESSION_EXPIRY=10s SENSORMINE_EDGE_MQTT_CONNECTIONS=2
export SENSORMINE_GATEWAY_RATE_PER_SECOND=100000 SENSORMINE_GATEWAY_RATE_BURST=100000
export SENSORMINE_GATEWAY_SIGNIN_ACCOUNT_LIMIT=100000/100000 SENSORMINE_GATEWAY_SIGNIN_ADDRESS_LIMIT=100000/100000
export SENSORMINE_LOG_LEVEL=warning
ports="ApiGateway:18680 DeviceAPI:18681 SchemaRegistry:18682 QueryAPI:18683 Ingestion:18684 EdgeGateway:18685 StreamProcessing:18686 Alerts:18687 Billing:18688 FailoverOrchestrator:18689 Console:18690"
port_of() { for spec in $ports; do if [ "${spec%%:*}" = "$1" ]; then echo "${spec##*:}"; fi; done; }
export SENSORMINE_DEVICE_API_URL="http://127.0.0.1:$(port_of DeviceAPI)" SENSORMINE_SCHEMA_REGISTRY_URL="http://127.0.0.1:$(port_of SchemaRegistry)"
d="http://127.0.0.1:$(port_of DeviceAPI)"
export SENSORMINE_GATEWAY_ROUTES="/api/v1/tenants=$d,/api/v1/auth=$d,/api/v1/devices=$d,/api/v1/device-types=$d,/api/v1/assets=$d,/api/v1/schemas=http://127.0.0.1:$(port_of SchemaRegistry),/api/v1/aiusage=http://127.0.0.1:$(port_of SchemaRegistry),/api/v1/telemetry=http://127.0.0.1:$(port_of QueryAPI),/api/v1/ingest=http://127.0.0.1:$(port_of EdgeGateway),/api/v1/deadletters=http://127.0.0.1:$(port_of Ingestion),/api/v1/alerts=http://127.0.0.1:$(port_of Alerts),/api/v1/models=http://127.0.0.1:$(port_of StreamProcessing),/api/v1/billing=http://127.0.0.1:$(port_of Billing),/api/v1/failover=http://127.0.0.1:$(port_of FailoverOrchestrator),/console=http://127.0.0.1:$(port_of Console)"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$BIN/DeviceAPI" migrate >>"$RUN/logs/DeviceAPI.log" 2>&1
for spec in $ports; do
  name=${spec%%:*}
  SENSORMINE_HTTP_PORT=${spec##*:} "$BIN/$name" serve >>"$RUN/logs/$name.log" 2>&1 &
  pids+=($!)
done
for spec in $ports; do
  curl -s -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors -f "http://127.0.0.1:${spec##*:}/health/ready" \
    || { log "${spec%%:*} never became ready"; tail -n 20 "$RUN/logs/${spec%%:*}.log"; exit 1; }
done

gateway="http://127.0.0.1:$(port_of ApiGateway)"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
admin=$(curl -sf -X POST "$gateway/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d "{\"grant_type\":\"password\",\"username\":\"${SENSORMINE_BOOTSTRAP_ADMIN_EMAIL:-admin@sensormine.local}\",\"password\":\"$SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD\"}" | json "['access_token']")
tenant=$(curl -sf -X POST "$gateway/api/v1/tenants" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d "{\"name\":\"$prefix\",\"kind\":\"organisation\",\"settings\":{\"retentionDays\":30}}" | json "['id']")
email="$prefix@example.com"
curl -sf -o /dev/null -X POST "$gateway/api/v1/tenants/$tenant/users" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"fuzzing tenant admin\",\"roles\":[\"tenant-admin\"]}"
token=$(curl -sf -X POST "$gateway/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d "{\"grant_type\":\"password\",\"username\":\"$email\",\"password\":\"fuzzing tenant admin\"}" | json "['access_token']")

status=0
for name in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway StreamProcessing Alerts Billing FailoverOrchestrator Console; do
  report="$RUN/$name.txt"
  # The orchestrator's /status is for probes inside the cluster; the gateway does not route it.
  exclude=(); [ "$name" = FailoverOrchestrator ] && exclude=(--exclude-path /status)
  if timeout -k 5 "$((seconds + 30))" "$FUZZ_VENV/bin/schemathesis" run "http://127.0.0.1:$(port_of "$name")/openapi.yaml" --url "$gateway" \
      -H "Authorization: Bearer $token" --checks not_a_server_error,response_schema_conformance,status_code_conformance \
      --max-examples "$examples" --max-time "$seconds" ${APIFUZZ_SEED:+--seed "$APIFUZZ_SEED"} --no-color "${exclude[@]}" >"$report" 2>&1; then
    printf 'api-fuzz %-16s %s, no 5xx, every answer as documented\n' "$name" "$(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$report" | tail -n1)"
  else
    status=1
    printf 'api-fuzz %-16s FAILED; report %s:\n' "$name" "$report"
    grep -E 'FAILURES|^_+ |Server error|Response violates|Undocumented|Curl|curl -X' "$report" | head -n 40
  fi
done
exit $status
