# Shared settings for the local-stack scripts: paths, fixed loopback ports, privilege helper.
# Sourced, never executed.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK="$ROOT/.stack"
VENV="$STACK/venv"
RUNTIME_LIB="$STACK/lib"          # holds librdkafka.so.1 -> a current librdkafka (>= 2.2)
TRIXIE="$STACK/trixie"            # Debian 13 root with PostgreSQL 17 + TimescaleDB
DATA="$STACK/data"
LOGS="$STACK/logs"
PIDS="$STACK/pids"

PG_PORT=${SENSORMINE_STACK_PG_PORT:-55432}
REDIS_PORT=${SENSORMINE_STACK_REDIS_PORT:-56379}
MQTT_PORT=${SENSORMINE_STACK_MQTT_PORT:-51883}
KAFKA_PORT=${SENSORMINE_STACK_KAFKA_PORT:-59092}
PG_REPLICA_PORT=${SENSORMINE_STACK_PG_REPLICA_PORT:-55433}
PG_REPLICA_SLOT=pg_b
REDIS_REPLICA_PORT=${SENSORMINE_STACK_REDIS_REPLICA_PORT:-56380}
REDIS_SENTINEL_PORTS="56381 56382 56383"
REDIS_MASTER_NAME=sensormine
ETCD_PORT=${SENSORMINE_STACK_ETCD_PORT:-52379}
ETCD_PEER_PORT=${SENSORMINE_STACK_ETCD_PEER_PORT:-52380}
PLAIN_PG_PORT=${SENSORMINE_STACK_PLAIN_PG_PORT:-55415}   # the host's PostgreSQL 15, no TimescaleDB
PLAIN_PG_DIR=/var/lib/sensormine-pg15
MQTT_ADMIN_USER=sensormine-admin
MQTT_ADMIN_PASSWORD=${SENSORMINE_STACK_MQTT_ADMIN_PASSWORD:-sensormine-dev-admin}

KAFKA_TOPICS="device.telemetry:6 device.telemetry.dlq:3 device.events:3 asset.updates:3 alerts.rules:3 alerts.triggered:3 metering.events:3 billing.quotas:3 telemetry.windows:6 telemetry.late:3 telemetry.inferences:3 platform.topology:1"
KAFKA_COMPACTED_TOPICS="alerts.rules billing.quotas platform.topology"   # cleanup.policy=compact: the latest value per key is the state

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# The Debian mirror this machine's apt uses, for debootstrap (the Debian 13 root, the image bases).
debian_mirror() {
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

log() { printf '\033[1m[stack]\033[0m %s\n' "$*"; }

# wait_for NAME SECONDS CMD...: retries CMD until it succeeds or the time runs out.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then log "$name did not answer within ${seconds}s"; return 1; fi
    sleep 0.3
  done
}
