#!/usr/bin/env bash
# Starts the local stack as plain processes on fixed loopback ports, data under .stack/:
# PostgreSQL 17 + TimescaleDB (Debian 13 root), Redis, Mosquitto with dynamic security, and
# Tansu (Kafka protocol); and the host's PostgreSQL 15 without TimescaleDB, where tests check the
# native-partition path a managed PostgreSQL takes. Idempotent: a server that already answers is left alone.
set -euo pipefail
source "$(dirname "$0")/common.sh"
mkdir -p "$DATA" "$LOGS" "$PIDS"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL + TimescaleDB --------------------------------------------------------------
PG_BIN=/usr/lib/postgresql/17/bin
PG_DIR=/var/lib/sensormine/pg          # inside the Debian 13 root
as_postgres() { $SUDO chroot --userspec=postgres:postgres "$TRIXIE" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }
if ! port_open "$PG_PORT"; then
  if [ ! -f "$TRIXIE$PG_DIR/PG_VERSION" ]; then
    log "initialising PostgreSQL 17 + TimescaleDB data directory"
    $SUDO mkdir -p "$TRIXIE$PG_DIR" "$TRIXIE/tmp"
    $SUDO chmod 1777 "$TRIXIE/tmp"
    $SUDO chroot "$TRIXIE" chown -R postgres:postgres /var/lib/sensormine
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR" -A trust -U postgres -E UTF8 >"$LOGS/initdb.log" 2>&1 || { cat "$LOGS/initdb.log"; exit 1; }
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_postgres "$PG_BIN/pg_ctl" -w -t 60 -D "$PG_DIR" -l /var/lib/sensormine/postgres.log \
    -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c shared_preload_libraries=timescaledb -c dynamic_shared_memory_type=mmap -c max_connections=300 -c timescaledb.telemetry_level=off" \
    start >/dev/null || { tail -n 30 "$TRIXIE/var/lib/sensormine/postgres.log"; exit 1; }
fi
wait_for postgres 60 pg_isready -h 127.0.0.1 -p "$PG_PORT" -U postgres
psql_admin() { psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
psql_admin -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='sensormine'" | grep -q 1 \
  || psql_admin -d postgres -c "CREATE ROLE sensormine LOGIN PASSWORD 'sensormine'"
for db in sensormine_metadata sensormine_timeseries; do
  psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || psql_admin -d postgres -c "CREATE DATABASE $db OWNER sensormine"
done
psql_admin -d sensormine_timeseries -c "CREATE EXTENSION IF NOT EXISTS timescaledb" 2>/dev/null

# --- PostgreSQL 15 without TimescaleDB (the path of a managed PostgreSQL) ----------------------
PLAIN_PG_BIN=/usr/lib/postgresql/15/bin
as_host_postgres() { $SUDO runuser -u postgres -- "$@"; }
if ! port_open "$PLAIN_PG_PORT"; then
  if [ ! -f "$PLAIN_PG_DIR/PG_VERSION" ]; then
    log "initialising PostgreSQL 15 data directory"
    $SUDO mkdir -p "$PLAIN_PG_DIR"
    $SUDO chown postgres:postgres "$PLAIN_PG_DIR"
    as_host_postgres "$PLAIN_PG_BIN/initdb" -D "$PLAIN_PG_DIR" -A trust -U postgres -E UTF8 >"$LOGS/initdb-15.log" 2>&1 || { cat "$LOGS/initdb-15.log"; exit 1; }
  fi
  log "starting PostgreSQL 15 on 127.0.0.1:$PLAIN_PG_PORT"
  as_host_postgres "$PLAIN_PG_BIN/pg_ctl" -w -t 60 -D "$PLAIN_PG_DIR" -l "$PLAIN_PG_DIR/server.log" \
    -o "-p $PLAIN_PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=50" start >/dev/null \
    || { tail -n 30 "$PLAIN_PG_DIR/server.log"; exit 1; }
fi
wait_for postgres-15 60 pg_isready -h 127.0.0.1 -p "$PLAIN_PG_PORT" -U postgres

# --- Redis ----------------------------------------------------------------------------------
if ! port_open "$REDIS_PORT"; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$DATA/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$DATA/redis" --pidfile "$PIDS/redis.pid" --logfile "$LOGS/redis.log"
fi
wait_for redis 20 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping

# --- Mosquitto with dynamic security -------------------------------------------------------
MQTT_DIR="$DATA/mosquitto"
if ! port_open "$MQTT_PORT"; then
  mkdir -p "$MQTT_DIR"
  if [ ! -f "$MQTT_DIR/dynamic-security.json" ]; then
    mosquitto_ctrl dynsec init "$MQTT_DIR/dynamic-security.json" "$MQTT_ADMIN_USER" "$MQTT_ADMIN_PASSWORD" >/dev/null
  fi
  cat >"$MQTT_DIR/mosquitto.conf" <<CONF
per_listener_settings false
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
plugin_opt_config_file $MQTT_DIR/dynamic-security.json
persistence false
# Mosquitto acknowledges a QoS 1 publisher at once and silently drops what overflows a
# subscriber's queue, so these limits are chosen, not left at their defaults (queue 1000):
# a subscriber (EdgeGateway) may fall a million messages behind before the broker drops any,
# and each client may hold 1000 QoS 1 messages unacknowledged (also the receive maximum it
# announces to MQTT v5 publishers). Drops show in \$SYS/broker/publish/messages/dropped,
# published every 2 s; the burst test reads it.
max_queued_messages 1000000
max_inflight_messages 1000
sys_interval 2
pid_file $PIDS/mosquitto.pid
log_dest file $LOGS/mosquitto.log
user $(id -un)
CONF
  log "starting Mosquitto on 127.0.0.1:$MQTT_PORT"
  mosquitto -c "$MQTT_DIR/mosquitto.conf" -d
fi
wait_for mosquitto 20 port_open "$MQTT_PORT"
ctrl() { mosquitto_ctrl -h 127.0.0.1 -p "$MQTT_PORT" -u "$MQTT_ADMIN_USER" -P "$MQTT_ADMIN_PASSWORD" dynsec "$@" >/dev/null 2>&1 || true; }
# A service identity for platform components (EdgeGateway) and tests: full topic access.
if ! mosquitto_ctrl -h 127.0.0.1 -p "$MQTT_PORT" -u "$MQTT_ADMIN_USER" -P "$MQTT_ADMIN_PASSWORD" dynsec getClient sensormine-service 2>/dev/null | grep -q service; then
  ctrl createRole service
  for acl in publishClientSend publishClientReceive subscribePattern unsubscribePattern; do ctrl addRoleACL service "$acl" "#" allow 5; done
  ctrl createClient sensormine-service -p "${SENSORMINE_STACK_MQTT_SERVICE_PASSWORD:-sensormine-dev-service}"
  ctrl addClientRole sensormine-service service 5
fi

# --- Tansu (Kafka protocol) ------------------------------------------------------------------
if ! port_open "$KAFKA_PORT"; then
  # A broker stopped moments ago can leave the port unavailable for a while; Tansu then panics
  # with "Address in use" (and may linger without listening) instead of waiting: stop it and
  # retry for up to a minute and a half.
  for attempt in $(seq 1 45); do
    log "starting Tansu (Kafka protocol) on 127.0.0.1:$KAFKA_PORT"
    nohup "$STACK/tansu" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
      >"$LOGS/tansu.log" 2>&1 &
    echo $! >"$PIDS/tansu.pid"
    sleep 1
    grep -q "AddrInUse" "$LOGS/tansu.log" || break
    kill -KILL "$(cat "$PIDS/tansu.pid")" 2>/dev/null || true
    log "port $KAFKA_PORT is not free yet; retrying"
    sleep 1
  done
fi
wait_for tansu 30 port_open "$KAFKA_PORT"
for spec in $KAFKA_TOPICS; do
  config=()
  case " $KAFKA_COMPACTED_TOPICS " in *" ${spec%%:*} "*) config=(--config cleanup.policy=compact) ;; esac
  "$STACK/tansu" topic create "${spec%%:*}" --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions "${spec##*:}" "${config[@]}" >/dev/null 2>&1 || true
done

log "stack up: postgres 127.0.0.1:$PG_PORT  redis 127.0.0.1:$REDIS_PORT  mqtt 127.0.0.1:$MQTT_PORT  kafka 127.0.0.1:$KAFKA_PORT"
