#!/usr/bin/env bash
# End-to-end benchmark of the telemetry path: the release ApiGateway, DeviceAPI, SchemaRegistry,
# EdgeGateway, Ingestion and QueryAPI against the local stack (topics and a consumer group of the
# run's own), driven by DeviceSimulator. Prints sustained published → queryable points/s, p50/p99
# end-to-end latency at a moderate rate, and each service's peak RSS. Asserts nothing.
set -euo pipefail
source "$(dirname "$0")/stack/common.sh"
set -a; source "$ROOT/scripts/stack/stack.env"; set +a
export LD_LIBRARY_PATH="$RUNTIME_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=$(cd "$ROOT" && swift build -c release --show-bin-path)
RUN="bench$(date +%s)"
SPOOL=$(mktemp -d)
BASE=18780
declare -A PORT=([ApiGateway]=$BASE [DeviceAPI]=$((BASE + 1)) [SchemaRegistry]=$((BASE + 2)) [QueryAPI]=$((BASE + 3)) [Ingestion]=$((BASE + 4)) [EdgeGateway]=$((BASE + 5)))
export SENSORMINE_KAFKA_TOPIC_PREFIX=$RUN SENSORMINE_INGESTION_GROUP=$RUN.ingestion SENSORMINE_EDGE_SPOOL_DIR=$SPOOL SENSORMINE_LOG_LEVEL=warning
export SENSORMINE_DEVICE_API_URL=http://127.0.0.1:${PORT[DeviceAPI]} SENSORMINE_SCHEMA_REGISTRY_URL=http://127.0.0.1:${PORT[SchemaRegistry]}
DEVICE_API=http://127.0.0.1:${PORT[DeviceAPI]}
export SENSORMINE_GATEWAY_ROUTES="/api/v1/tenants=$DEVICE_API,/api/v1/auth=$DEVICE_API,/api/v1/devices=$DEVICE_API,/api/v1/device-types=$DEVICE_API,/api/v1/assets=$DEVICE_API,/api/v1/schemas=http://127.0.0.1:${PORT[SchemaRegistry]},/api/v1/telemetry=http://127.0.0.1:${PORT[QueryAPI]},/api/v1/ingest=http://127.0.0.1:${PORT[EdgeGateway]}"
export SENSORMINE_GATEWAY_RATE_PER_SECOND=1000000 SENSORMINE_GATEWAY_RATE_BURST=1000000
export SENSORMINE_GATEWAY_PLAN_LIMITS="free=1000000/1000000,standard=1000000/1000000,enterprise=1000000/1000000"

for spec in device.telemetry:6 device.telemetry.dlq:3 device.events:3 asset.updates:3; do
  "$STACK/tansu" topic create "$RUN.${spec%%:*}" --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions "${spec##*:}" >/dev/null 2>&1 || true
done
PIDS_RUN=()
cleanup() {
  for pid in "${PIDS_RUN[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SPOOL"
}
trap cleanup EXIT
"$BIN/DeviceAPI" migrate >>"$LOGS/bench-DeviceAPI.log" 2>&1
for name in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do
  SENSORMINE_HTTP_PORT=${PORT[$name]} "$BIN/$name" serve >>"$LOGS/bench-$name.log" 2>&1 &
  PIDS_RUN+=($!)
done
for name in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do
  curl -sf -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors "http://127.0.0.1:${PORT[$name]}/health/ready" \
    || { echo "$name did not become ready; see $LOGS/bench-$name.log"; exit 1; }
done
# Rows stored so far, from Ingestion's own counter (a count(*) every half second would load the
# database being measured).
count() { curl -s "http://127.0.0.1:${PORT[Ingestion]}/metrics" | awk '/^sensormine_ingestion_points_stored_total / {printf "%d", $2}'; }

# 1. Saturation: 1000 devices, as fast as the path takes it, for 20 s.
OUT=$(mktemp)
"$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --devices 1000 --rate 40000 --batch 100 --concurrency 32 --duration 20 >"$OUT" 2>&1 &
SIM=$!
until grep -q "^registered" "$OUT" 2>/dev/null; do kill -0 $SIM 2>/dev/null || { cat "$OUT"; exit 1; }; sleep 0.2; done
TENANT=$(sed -n 's/^registered .* in tenant \(.*\)$/\1/p' "$OUT")
START=$(date +%s.%N)
LAST=0; LAST_CHANGE=$START; STABLE=0; AT_END=""; END_TIME=""
while true; do
  NOW=$(count)
  if [ "$NOW" != "$LAST" ]; then LAST=$NOW; LAST_CHANGE=$(date +%s.%N); STABLE=0; else STABLE=$((STABLE + 1)); fi
  if [ -z "$AT_END" ] && ! kill -0 $SIM 2>/dev/null; then AT_END=$NOW; END_TIME=$(date +%s.%N); fi
  if [ -n "$AT_END" ] && [ $STABLE -ge 6 ]; then break; fi
  sleep 0.5
done
DRAIN=$(awk -v n="$LAST" -v m="$AT_END" -v a="$END_TIME" -v b="$LAST_CHANGE" 'BEGIN { if (b > a && n > m) printf "%d", (n - m) / (b - a); else print "-" }')
wait $SIM || true
SUMMARY=$(tr '\r' '\n' <"$OUT" | grep "^summary" | tail -1)
RATE=$(awk -v n="$LAST" -v a="$START" -v b="$LAST_CHANGE" 'BEGIN { printf "%d", n / (b - a) }')

# 2. Latency: 200 devices at a moderate 2,000 messages/s, 100 probes timed until QueryAPI returns them.
OUT2=$(mktemp)
"$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --devices 200 --rate 2000 --batch 10 --concurrency 8 --duration 15 --probes 100 >"$OUT2" 2>&1 || true
LATENCY=$(tr '\r' '\n' <"$OUT2" | grep "end-to-end latency" | tail -1)

printf '%-42s %8s %-7s %s\n' "pipeline, published → queryable" "$RATE" "rows/s" "$LAST rows stored (each message is 3–4 metric rows); simulator: ${SUMMARY#*summary: }"
printf '%-42s %8s %-7s %s\n' "pipeline, backlog drain (Ingestion alone)" "$DRAIN" "rows/s" "after publishing stopped, $((LAST - AT_END)) rows still to store"
printf '%-42s %s\n' "pipeline, end-to-end latency" "${LATENCY:-no probe answered}"
for name in ApiGateway DeviceAPI SchemaRegistry EdgeGateway Ingestion QueryAPI; do
  i=0; for n in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do [ "$n" = "$name" ] && break; i=$((i + 1)); done
  RSS=$(awk '/VmHWM/ {printf "%d MiB", $2 / 1024}' "/proc/${PIDS_RUN[$i]}/status" 2>/dev/null || echo "?")
  printf '%-42s %s\n' "peak RSS $name" "$RSS"
done
rm -f "$OUT" "$OUT2"
