#!/usr/bin/env bash
# Walks the first user journey against a running platform, only through its public surface
# (the gateway's HTTP API and the MQTT broker), and prints what it saw: sign in as the bootstrap
# platform-admin, create a tenant and its tenant-admin, register a schema, a device type, a
# device with an API key and MQTT credentials, an alert rule on it and (when ONNX_PYTHON names a
# Python with PyPI onnx) an ONNX model for its type, send telemetry over HTTP and MQTT, read it
# back, see the rule's alert open, see a bad payload become a dead letter with its reason, and load
# the web console's page and files. Exits 1 at the first step that
# does not do what it should.
# Usage: journey.sh GATEWAY_URL MQTT_HOST MQTT_PORT   (admin credentials from SENSORMINE_BOOTSTRAP_ADMIN_*)
set -euo pipefail
gateway=${1:?gateway URL}; mqtt_host=${2:?MQTT host}; mqtt_port=${3:?MQTT port}
admin_email=${SENSORMINE_BOOTSTRAP_ADMIN_EMAIL:-admin@sensormine.local}
admin_password=${SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD:?SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD}
run=journey-$(date +%s)-$$
started=$SECONDS

say() { printf '  [%3ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() { printf '  [%3ss] FAILED: %s\n' "$((SECONDS - started))" "$*" >&2; exit 1; }
field() { python3 -c 'import json,sys; value=json.load(sys.stdin)
for key in sys.argv[1].split("."): value=value[int(key)] if isinstance(value,list) else value[key]
print(value)' "$1"; }
# call METHOD PATH EXPECTED_STATUS [curl args...]: the body; fails the journey on another status.
call() {
  local method=$1 path=$2 expected=$3; shift 3
  local body status
  body=$(curl -sS -X "$method" "$gateway$path" -w '\n%{http_code}' "$@") || fail "$method $path: no answer"
  status=${body##*$'\n'}; body=${body%$'\n'*}
  [ "$status" = "$expected" ] || fail "$method $path answered $status, expected $expected: $body"
  printf '%s' "$body"
}
json=(-H 'Content-Type: application/json')

admin=$(call POST /api/v1/auth/token 200 "${json[@]}" \
  -d "{\"grant_type\":\"password\",\"username\":\"$admin_email\",\"password\":\"$admin_password\"}" | field access_token)
say "signed in as the bootstrap platform-admin $admin_email"
tenant=$(call POST /api/v1/tenants 201 -H "Authorization: Bearer $admin" "${json[@]}" \
  -d "{\"name\":\"$run\",\"kind\":\"organisation\",\"settings\":{\"retentionDays\":30}}" | field id)
say "tenant $run created: $tenant"
call POST "/api/v1/tenants/$tenant/users" 201 -H "Authorization: Bearer $admin" "${json[@]}" \
  -d "{\"email\":\"$run@example.com\",\"password\":\"journey tenant admin\",\"roles\":[\"tenant-admin\"]}" >/dev/null
token=$(call POST /api/v1/auth/token 200 "${json[@]}" \
  -d "{\"grant_type\":\"password\",\"username\":\"$run@example.com\",\"password\":\"journey tenant admin\"}" | field access_token)
say "signed in as its tenant-admin $run@example.com"
auth=(-H "Authorization: Bearer $token" "${json[@]}")

version=$(call POST /api/v1/schemas/subjects/turbine/versions 201 "${auth[@]}" \
  -d '{"schema":{"type":"object","required":["temperature"],"properties":{"temperature":{"type":"number","maximum":900},"rpm":{"type":"integer"}}}}' | field version.version)
say "schema subject turbine, version $version registered"
type_id=$(call POST /api/v1/device-types 201 "${auth[@]}" -d '{"name":"Gas turbine","schemaSubject":"turbine"}' | field id)
device=$(call POST /api/v1/devices 201 "${auth[@]}" -d "{\"name\":\"gt-1\",\"deviceTypeId\":\"$type_id\",\"tags\":[\"line-a\"]}" | field id)
say "device type $type_id and device $device created"
key=$(call POST "/api/v1/devices/$device/api-keys" 201 "${auth[@]}" -d '{"name":"field unit"}' | field key)
credentials=$(call PUT "/api/v1/devices/$device/mqtt-credentials" 200 "${auth[@]}")
mqtt_user=$(field username <<<"$credentials"); mqtt_password=$(field password <<<"$credentials"); topic=$(field telemetryTopic <<<"$credentials")
say "API key ${key:0:8}… and MQTT account $mqtt_user issued (topic $topic)"
rule=$(call POST /api/v1/alerts/rules 201 "${auth[@]}" \
  -d "{\"name\":\"hot turbine\",\"scope\":{\"kind\":\"device\",\"deviceId\":\"$device\"},\"condition\":{\"type\":\"threshold\",\"metric\":\"temperature\",\"comparison\":\"above\",\"level\":613.5},\"severity\":\"critical\"}" | field id)
say "alert rule $rule created (temperature above 613.5, published on alerts.rules)"
if [ -n "${ONNX_PYTHON:-}" ]; then
  model_file=$(mktemp --suffix=.onnx)
  "$ONNX_PYTHON" "$(dirname "$0")/../testing/onnx_model.py" linear "$model_file" 2 1 || fail "could not build the ONNX model"
  model=$(call POST /api/v1/models 201 "${auth[@]}" -d "{\"name\":\"double\",\"deviceTypeId\":\"$type_id\",\"windowSeconds\":60,\"features\":[{\"metric\":\"temperature\",\"aggregate\":\"avg\"}],\"model\":\"$(base64 -w0 "$model_file")\"}")
  rm -f "$model_file"
  say "ONNX model $(field id <<<"$model") registered for the type (loaded and tried by the container's ONNX Runtime; rules see $(field metrics.0 <<<"$model"))"
fi

now_ms=$(($(date +%s) * 1000))
call POST /api/v1/ingest 202 -H "X-API-Key: $key" "${json[@]}" \
  -d "[{\"time\":$((now_ms - 2000)),\"temperature\":612.5,\"rpm\":3000},{\"time\":$((now_ms - 1000)),\"temperature\":613.0,\"rpm\":3004}]" >/dev/null
say "2 readings sent over HTTP (202)"
mosquitto_pub -h "$mqtt_host" -p "$mqtt_port" -V mqttv5 -i "$run-device" -u "$mqtt_user" -P "$mqtt_password" -q 1 -t "$topic" \
  -m "{\"time\":$now_ms,\"temperature\":614.25,\"rpm\":3010}" || fail "mosquitto_pub to $mqtt_host:$mqtt_port refused"
say "1 reading published over MQTT (QoS 1, acknowledged)"
call POST /api/v1/ingest 202 -H "X-API-Key: $key" "${json[@]}" -d '{"temperature":"hot"}' >/dev/null
say "1 reading that breaks the schema sent (202: validation happens downstream)"

from=$(date -u -d "@$(((now_ms - 60000) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
deadline=$((SECONDS + 60)); points=""
while [ $SECONDS -lt $deadline ]; do
  points=$(call GET "/api/v1/telemetry/devices/$device/points?metric=temperature&from=$from" 200 "${auth[@]}")
  [ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))' <<<"$points")" -ge 3 ] && break
  sleep 0.5
done
values=$(python3 -c 'import json,sys; print(" ".join(str(p["value"]) for p in json.load(sys.stdin)["points"]))' <<<"$points")
[ "$values" = "612.5 613.0 614.25" ] || [ "$values" = "612.5 613 614.25" ] || fail "read back temperature points [$values], expected 612.5 613 614.25"
say "read back through the gateway: temperature $values (HTTP, HTTP, MQTT)"
latest=$(call GET "/api/v1/telemetry/latest?devices=$device" 200 "${auth[@]}")
say "latest: $(python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d)[:160])' <<<"$latest")"

deadline=$((SECONDS + 60)); opened=""
while [ $SECONDS -lt $deadline ]; do
  instances=$(call GET "/api/v1/alerts/instances?ruleId=$rule" 200 "${auth[@]}")
  opened=$(python3 -c 'import json,sys; items=json.load(sys.stdin)["items"]; print(items[0]["values"] if items else "")' <<<"$instances")
  [ -n "$opened" ] && break
  sleep 0.5
done
[ -n "$opened" ] || fail "no alert for the reading above 613.5 within 60 s (StreamProcessing → alerts.triggered → Alerts)"
say "alert opened by StreamProcessing's rule evaluation, values $opened"

deadline=$((SECONDS + 60)); reason=""
while [ $SECONDS -lt $deadline ]; do
  letters=$(call GET /api/v1/deadletters 200 "${auth[@]}")
  reason=$(python3 -c 'import json,sys; items=json.load(sys.stdin)["items"]; print(items[0]["reason"] if items else "")' <<<"$letters")
  [ -n "$reason" ] && break
  sleep 0.5
done
[ -n "$reason" ] || fail "no dead letter for the bad reading within 60 s"
say "dead letter for the bad reading: $reason"
# The web console through the same gateway: its page names hashed files that are served, cached
# for a year, with the policy that forbids inline and foreign scripts.
page=$(call GET /console/ 200)
script=$(grep -o '/console/static/app\.[0-9a-f]*\.js' <<<"$page" | head -n1)
chart=$(grep -o '/console/static/chart\.[0-9a-f]*\.js' <<<"$page" | head -n1)
[ -n "$script" ] && [ -n "$chart" ] || fail "the console's page names no hashed app.js and chart.js"
headers=$(curl -sS -D - -o /dev/null "$gateway$script")
grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$headers" || fail "$script is not cached as immutable: $headers"
csp=$(curl -sS -D - -o /dev/null "$gateway/console/devices" | grep -i '^content-security-policy:' || true)
grep -q "script-src 'self'" <<<"$csp" || fail "the console's deep link has no strict Content-Security-Policy"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$gateway$chart")" = 200 ] || fail "Chart.js (libjs-chart.js in the image) is not served"
say "console served through the gateway: $script, $chart (immutable), CSP on deep links"
say "journey complete"
