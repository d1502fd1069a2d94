#!/usr/bin/env bash
# End-to-end benchmark of the telemetry path: the release ApiGateway, DeviceAPI, SchemaRegistry,
# EdgeGateway, Ingestion and QueryAPI against the local stack (topics and a consumer group of the
# run's own), driven by DeviceSimulator. Prints sustained published → queryable points/s, p50/p99
# end-to-end latency at 2,000 and 5,000 readings/s over HTTP and MQTT with where the time goes,
# and each service's peak RSS, each beside its anchor measured in the same run: the COPY ceiling
# and the Kafka hop alone (from SensormineBench, whose `make bench` run leaves them in
# $SENSORMINE_BENCH_ANCHORS; measured here when that file is missing) and Mosquitto's intake from
# the same publisher. Asserts nothing.
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
# MQTT sessions and a share group of the run's own, so a running `make run` keeps its messages.
export SENSORMINE_EDGE_MQTT_SHARE_GROUP=$RUN SENSORMINE_EDGE_MQTT_CLIENT_ID=$RUN-edge SENSORMINE_EDGE_MQTT_SESSION_EXPIRY=60s
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

# Anchors: the COPY ceiling and the Kafka hop alone at the latency runs' rates.
# BENCH_PIPELINE_ONLY (comma-separated: http, mqtt, latency) runs some parts alone, for tuning;
# BENCH_PIPELINE_LATENCY (e.g. "mqtt:2000 mqtt:5000") picks the latency runs.
only() { [ -z "${BENCH_PIPELINE_ONLY:-}" ] || [[ ",$BENCH_PIPELINE_ONLY," == *",$1,"* ]]; }
ANCHORS=${SENSORMINE_BENCH_ANCHORS:-}
if { only http || only latency; } && { [ -z "$ANCHORS" ] || ! grep -q '^HOP_5000_P99=' "$ANCHORS" || ! grep -q '^COPY_CEILING=' "$ANCHORS"; } 2>/dev/null; then
  ANCHORS=$(mktemp); OWN_ANCHORS=$ANCHORS
  SENSORMINE_BENCH_ANCHORS=$ANCHORS SENSORMINE_BENCH_ONLY=postgres,kafkahop "$BIN/SensormineBench" | grep -E "COPY into|kafka hop" || true
fi
anchor() { awk -F= -v key="$1" '$1 == key { value = $2 } END { print value + 0 }' "${ANCHORS:-/dev/null}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
"$BIN/DeviceAPI" migrate >>"$LOGS/bench-DeviceAPI.log" 2>&1
for name in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do
  SENSORMINE_HTTP_PORT=${PORT[$name]} "$BIN/$name" serve >>"$LOGS/bench-$name.log" 2>&1 &
  PIDS_RUN+=($!)
done
for name in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do
  curl -sf -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors "http://127.0.0.1:${PORT[$name]}/health/ready" \
    || { echo "$name did not become ready; see $LOGS/bench-$name.log"; exit 1; }
done
INGESTION_IDLE_RSS=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/${PIDS_RUN[3]}/status")
# Rows stored so far, from Ingestion's own counter (a count(*) every half second would load the
# database being measured).
count() { curl -s "http://127.0.0.1:${PORT[Ingestion]}/metrics" | awk '/^sensormine_ingestion_points_stored_total / {printf "%d", $2}'; }

# measure OUT: follows the simulator $SIM writing OUT from its registration until storage has
# not grown for 3 s after it ended; sets RATE (rows/s published → queryable), STORED (rows
# stored meanwhile), BACKLOG (rows still to store when publishing stopped), DRAIN (their rows/s)
# and SUMMARY (the simulator's own).
measure() {
  local out=$1 base
  base=$(count)
  until grep -q "^registered" "$out" 2>/dev/null; do kill -0 $SIM 2>/dev/null || { cat "$out"; exit 1; }; sleep 0.2; done
  local start last=$base last_change at_end="" end_time="" stable=0 now
  start=$(date +%s.%N); last_change=$start
  while true; do
    now=$(count)
    if [ "$now" != "$last" ]; then last=$now; last_change=$(date +%s.%N); stable=0; else stable=$((stable + 1)); fi
    if [ -z "$at_end" ] && ! kill -0 $SIM 2>/dev/null; then at_end=$now; end_time=$(date +%s.%N); fi
    if [ -n "$at_end" ] && [ $stable -ge 6 ]; then break; fi
    sleep 0.5
  done
  DRAIN=$(awk -v n="$last" -v m="$at_end" -v a="$end_time" -v b="$last_change" 'BEGIN { if (b > a && n > m) printf "%d", (n - m) / (b - a); else print "-" }')
  wait $SIM || true
  SUMMARY=$(tr '\r' '\n' <"$out" | grep "^summary" | tail -1)
  STORED=$((last - base)); BACKLOG=$((last - at_end))
  RATE=$(awk -v n="$STORED" -v a="$start" -v b="$last_change" 'BEGIN { printf "%d", n / (b - a) }')
  local acknowledged
  acknowledged=$(sed -n 's/.* sent, \([0-9]*\) acknowledged.*/\1/p' <<<"$SUMMARY")
  MESSAGES=$(awk -v n="${acknowledged:-0}" -v a="$start" -v b="$last_change" 'BEGIN { printf "%d", n / (b - a) }')
}

OUT=$(mktemp)
HTTP_LINE="" DRAIN_LINE="" MQTT_LINE="" MQTT_ANCHOR_LINE="" HTTP_DRAIN="-"

# 1. Latency, first, while the system is quiet (the saturation runs leave the database busy
# for a while): 200 devices at a steady rate, 100 probes from one of them timed until QueryAPI
# returns them, and each stage's p50/p99 over the run from Ingestion's histograms (the buckets'
# counts after minus before; linear within a bucket): where a reading's time goes (ADR 10).
stages() { curl -s "http://127.0.0.1:${PORT[Ingestion]}/metrics" | grep '^sensormine_pipeline_stage_seconds_bucket' || true; }
STAGE_QUANTILES=$(mktemp)
cat >"$STAGE_QUANTILES" <<'PY'
import re, sys
def read(path):
    counts = {}
    for line in open(path):
        m = re.match(r'sensormine_pipeline_stage_seconds_bucket\{(.*)\} (\S+)', line)
        if not m: continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        counts[(labels.get("stage"), labels.get("le"))] = float(m.group(2))
    return counts
before, after = read(sys.argv[1]), read(sys.argv[2])
def quantile(stage, q):
    buckets = sorted(((float("inf") if le == "+Inf" else float(le)), after[(s, le)] - before.get((s, le), 0)) for (s, le) in after if s == stage)
    total = buckets[-1][1] if buckets else 0
    if total <= 0: return None, 0
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= q * total:
            if upper == float("inf"): return lower * 1000, total
            return (lower + (upper - lower) * (q * total - below) / max(count - below, 1e-9)) * 1000, total
        lower, below = upper, count
    return lower * 1000, total
parts = []
for stage, what in (("edge", "received at the edge → handed to the producer"), ("kafka", "→ fetched by Ingestion"), ("store", "→ stored, committed (per batch)")):
    p50, n = quantile(stage, 0.5); p99, _ = quantile(stage, 0.99)
    parts.append(f"{stage} p50 {p50:.1f} ms, p99 {p99:.1f} ms ({what}; {int(n)} samples)" if p50 is not None else f"{stage}: no samples")
print("\n".join(parts))
PY
LATENCY_LINES=()
# latency_run TRANSPORT RATE: appends the run's rows to LATENCY_LINES.
latency_run() {
  local transport=$1 rate=$2 before after out line p99 hop achieved
  before=$(mktemp); after=$(mktemp); out=$(mktemp)
  if [ "$transport" = http ]; then
    # 32 requests in flight: with 8, a request's Kafka round trip capped the run near 3,000–4,000
    # readings/s whatever rate was asked, and the 5,000/s row measured a lighter load.
    "$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --devices 200 --rate "$rate" --batch 10 --concurrency 32 --duration 15 --probes 100 >"$out" 2>&1 &
  else
    "$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --transport mqtt --devices 200 --mqtt-devices 200 --mqtt-window 16 --rate "$rate" --duration 15 --probes 100 >"$out" 2>&1 &
  fi
  local sim=$!
  # The stages over the steady rate: from 3 s after publishing began (when the probes start;
  # before, the new fleet's first messages wait for each device's first lookup) to its end.
  until grep -q "^registered" "$out" 2>/dev/null || ! kill -0 $sim 2>/dev/null; do sleep 0.2; done
  sleep 3; stages >"$before"
  wait $sim || true
  line=$(tr '\r' '\n' <"$out" | grep "end-to-end latency" | tail -1)
  # The rate the run really reached: a closed loop that cannot keep its requests in flight
  # publishes less than asked, and its latency would flatter the path.
  achieved=$(tr '\r' '\n' <"$out" | sed -n 's/^summary: .*(\([0-9]*\) messages\/s acknowledged).*/\1/p' | tail -1)
  [ -n "$line" ] && line="$line; ${achieved:-?} msgs/s acknowledged over the run"
  sleep 1; stages >"$after"
  p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$line")
  hop=$(anchor "HOP_${rate}_P99")
  LATENCY_LINES+=("$(printf '%-42s %s' "pipeline latency, $transport at $rate/s" "${line:-no probe answered}")")
  LATENCY_LINES+=("$(printf '%-42s %s' "  anchor: Kafka hop alone at $rate/s" "p50 $(anchor "HOP_${rate}_P50") ms, p99 $hop ms; pipeline p99 = $(ratio "${p99:--}" "$hop")x the hop's")")
  while IFS= read -r line; do LATENCY_LINES+=("$(printf '%-42s %s' "  stage" "$line")"); done < <(python3 "$STAGE_QUANTILES" "$before" "$after")
  rm -f "$before" "$after" "$out"
}
if only latency; then
  for run in ${BENCH_PIPELINE_LATENCY:-http:2000 http:5000 mqtt:2000 mqtt:5000}; do latency_run "${run%%:*}" "${run##*:}"; done
fi

# 2. Saturation over HTTP: 1000 devices, as fast as the path takes it, for 20 s.
if only http; then
"$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --devices 1000 --rate 40000 --batch 100 --concurrency 32 --duration 20 >"$OUT" 2>&1 &
SIM=$!
measure "$OUT"
HTTP_LINE=$(printf '%-42s %8s %-7s %s' "pipeline, published → queryable (HTTP)" "$RATE" "rows/s" "$STORED rows stored (each message is 3–4 metric rows); simulator: ${SUMMARY#*summary: }")
DRAIN_LINE=$(printf '%-42s %8s %-7s %s' "pipeline, backlog drain (Ingestion alone)" "$DRAIN" "rows/s" "after publishing stopped, $BACKLOG rows still to store")
HTTP_DRAIN=$DRAIN
fi

# 3. Saturation over MQTT: 200 devices, each on its own connection with its own credentials,
# QoS 1 with 16 publishes in flight per connection, for 15 s; its anchor first: the same
# publisher (connections, window, payloads) into Mosquitto alone, on topics no one reads.
if only mqtt; then
"$BIN/DeviceSimulator" --broker-only --mqtt-devices 200 --mqtt-window 16 --rate 100000 --duration 10 >"$OUT" 2>&1 || true
BROKER_ALONE=$(tr '\r' '\n' <"$OUT" | sed -n 's/.*(\([0-9]*\) messages\/s acknowledged); broker alone/\1/p' | tail -1)
"$BIN/DeviceSimulator" --gateway "http://127.0.0.1:$BASE" --transport mqtt --devices 200 --mqtt-devices 200 --mqtt-window 16 --rate 100000 --duration 15 >"$OUT" 2>&1 &
SIM=$!
measure "$OUT"
MQTT_LINE=$(printf '%-42s %8s %-7s %s' "pipeline, published → queryable (MQTT)" "$MESSAGES" "msgs/s" "$RATE rows/s, $STORED rows stored; simulator: ${SUMMARY#*summary: }")
MQTT_ANCHOR_LINE=$(printf '%-42s %8s %-7s %s' "  anchor: Mosquitto alone, same publisher" "${BROKER_ALONE:--}" "msgs/s" "200 connections, QoS 1, 16 in flight each; pipeline = $(ratio "$MESSAGES" "${BROKER_ALONE:-0}")x Mosquitto's intake")
fi


COPY_CEILING=$(anchor COPY_CEILING)
for line in "$HTTP_LINE" "$MQTT_LINE" "$MQTT_ANCHOR_LINE" "$DRAIN_LINE"; do [ -n "$line" ] && printf '%s\n' "$line"; done
[ -n "$DRAIN_LINE" ] && printf '%-42s %8s %-7s %s\n' "  anchor: COPY into telemetry's shape" "${COPY_CEILING%.*}" "rows/s" "drain = $(ratio "$HTTP_DRAIN" "$COPY_CEILING")x the COPY ceiling (rollups kept)"
[ ${#LATENCY_LINES[@]} -gt 0 ] && printf '%s\n' "${LATENCY_LINES[@]}"
for name in ApiGateway DeviceAPI SchemaRegistry EdgeGateway Ingestion QueryAPI; do
  i=0; for n in DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway ApiGateway; do [ "$n" = "$name" ] && break; i=$((i + 1)); done
  RSS=$(awk '/VmHWM/ {printf "%d MiB", $2 / 1024}' "/proc/${PIDS_RUN[$i]}/status" 2>/dev/null || echo "?")
  printf '%-42s %s\n' "peak RSS $name" "$RSS"
done
printf '%-42s %s\n' "  Ingestion's bound" "idle ${INGESTION_IDLE_RSS} MiB + what configuration lets it hold: prefetch ${SENSORMINE_INGESTION_PREFETCH_KIB:-4096} KiB + (depth ${SENSORMINE_INGESTION_DEPTH:-3} + 1) batches of ${SENSORMINE_INGESTION_BATCH:-2000} messages and at most ${SENSORMINE_INGESTION_BATCH_KIB:-4096} KiB of payload each"
rm -f "$OUT" "$STAGE_QUANTILES" "${OWN_ANCHORS:-}"
