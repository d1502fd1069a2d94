#!/usr/bin/env bash
# Starts every service from the debug build, logs to .stack/logs/<Service>.log, PIDs under
# .stack/pids/services, then waits for each /health/ready and prints where it listens.
set -euo pipefail
source "$(dirname "$0")/stack/common.sh"
BIN=$(swift build --show-bin-path)
mkdir -p "$PIDS/services" "$LOGS"
# EdgeGateway's store-and-forward spool survives restarts of the local stack.
export SENSORMINE_EDGE_SPOOL_DIR="${SENSORMINE_EDGE_SPOOL_DIR:-$DATA/edge-spool}"
# The orchestrator watches the stack's primary and streaming replica (regions a and b) and its
# Sentinels; tests run their drills on scratch clusters instead (Tests/FailoverTests).
export SENSORMINE_FAILOVER_POSTGRES_NODES="${SENSORMINE_FAILOVER_POSTGRES_NODES:-pg_a@region-a=postgresql://postgres@127.0.0.1:$PG_PORT/postgres,$PG_REPLICA_SLOT@region-b=postgresql://postgres@127.0.0.1:$PG_REPLICA_PORT/postgres}"
export SENSORMINE_FAILOVER_SENTINELS="${SENSORMINE_FAILOVER_SENTINELS:-$(printf '127.0.0.1:%s,' $REDIS_SENTINEL_PORTS | sed 's/,$//')}"
# Tables and the first platform-admin (credentials from stack.env) before anything serves.
"$BIN/DeviceAPI" migrate >>"$LOGS/DeviceAPI.log" 2>&1 || { echo "DeviceAPI migrate failed; see $LOGS/DeviceAPI.log"; exit 1; }
SERVICES="SchemaRegistry:8082 ApiGateway:8080 DeviceAPI:8081 QueryAPI:8083 Ingestion:8084 EdgeGateway:8085 StreamProcessing:8086 Alerts:8087 Billing:8088 FailoverOrchestrator:8089 Console:8090"
for spec in $SERVICES; do
  name=${spec%%:*} port=${spec##*:}
  pidfile="$PIDS/services/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then continue; fi
  SENSORMINE_HTTP_PORT=$port nohup "$BIN/$name" serve >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$pidfile"
done
printf '\n%-22s %-28s %s\n' SERVICE URL READY
for spec in $SERVICES; do
  name=${spec%%:*} port=${spec##*:}
  state=$(curl -s -o /dev/null -w '%{http_code}' --retry 30 --retry-delay 1 --retry-all-errors "http://127.0.0.1:$port/health/ready" || true)
  printf '%-22s %-28s %s\n' "$name" "http://127.0.0.1:$port" "$state"
done
printf '\nConsole:  http://127.0.0.1:8080/console/ (through the gateway; sign in as the platform-admin below)\n'
printf '\nPlatform-admin: %s / %s (from scripts/stack/stack.env)\n' "${SENSORMINE_BOOTSTRAP_ADMIN_EMAIL:-admin@sensormine.local}" "$SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD"
printf 'Sign in:  curl -s -X POST http://127.0.0.1:8080/api/v1/auth/token -H "Content-Type: application/json" \\\n            -d %s\n' "'{\"grant_type\":\"password\",\"username\":\"admin@sensormine.local\",\"password\":\"$SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD\"}'"
printf '\nLogs: %s/<Service>.log   Stop everything: make down\n' "$LOGS"
