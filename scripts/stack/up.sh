#!/usr/bin/env bash
# Starts the local stack as plain processes on fixed loopback ports, data under .stack/:
# PostgreSQL 17 + TimescaleDB (Debian 13 root), Redis, Mosquitto with dynamic security, and
# Tansu (Kafka protocol); and the host's PostgreSQL 15 without TimescaleDB, where tests check the
# native-partition path a managed PostgreSQL takes. Idempotent: a server that already answers is left alone.
set -euo pipefail
source "$(dirname "$0")/common.sh"
mkdir -p "$DATA" "$LOGS" "$PIDS"

# The stack's and the tests' fixed ports lie inside Linux's ephemeral range (32768-60999): a
# client connection given one of them as its local port makes a server started on it later fail
# with "Address already in use" (seen once: a drill's replica). Reserved, the kernel never hands
# them out to clients.
RESERVED_PORTS="51883,52379-52380,55400-55499,56379-56399,59092"
reserved=$(cat /proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null || true)
case ",$reserved," in
  *",55400-55499,"*) ;;
  *) $SUDO sysctl -q -w net.ipv4.ip_local_reserved_ports="${reserved:+$reserved,}$RESERVED_PORTS" 2>/dev/null \
       || log "could not reserve the stack's ports ($RESERVED_PORTS) in net.ipv4.ip_local_reserved_ports; a server may rarely find its port taken" ;;
esac

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A fault test stops the broker with SIGSTOP (a hang) and resumes it; a test run killed in
# between leaves it stopped, its port open but answering nothing ("CreateTopics got no answer"),
# and the checks below would leave it alone. Resume the stack's servers found stopped (only
# these: the drills pause scratch PostgreSQL clusters of their own, on purpose).
for pid in $(pgrep -x 'tansu|redis-server|mosquitto|etcd' || true); do
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  if [ "$state" = T ]; then
    log "resuming $(cat "/proc/$pid/comm" 2>/dev/null || echo process) $pid, left stopped (SIGSTOP) by an interrupted test"
    $SUDO kill -CONT "$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null || true
  fi
done

# --- PostgreSQL + TimescaleDB: a primary and its streaming replica ----------------------------
# Both run in the Debian 13 root (scripts/stack/pg-cluster.sh), the replica made by pg_basebackup
# with a replication slot. Replication is synchronous unless SENSORMINE_STACK_PG_SYNC=off: a
# commit is acknowledged once the replica has it, so losing the primary loses no acknowledged write.
PG_DIR=/var/lib/sensormine/pg                  # inside the Debian 13 root
PG_REPLICA_DIR=/var/lib/sensormine/pg-replica
if ! port_open "$PG_PORT"; then
  log "starting PostgreSQL (primary) on 127.0.0.1:$PG_PORT"
  bash "$ROOT/scripts/stack/pg-cluster.sh" primary "$PG_DIR" "$PG_PORT"
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
if ! port_open "$PG_REPLICA_PORT"; then
  log "starting PostgreSQL (streaming replica) on 127.0.0.1:$PG_REPLICA_PORT"
  bash "$ROOT/scripts/stack/pg-cluster.sh" replica "$PG_REPLICA_DIR" "$PG_REPLICA_PORT" "$PG_PORT" "$PG_REPLICA_SLOT"
fi
wait_for postgres-replica 60 pg_isready -h 127.0.0.1 -p "$PG_REPLICA_PORT" -U postgres
wait_for "the replica's stream" 60 sh -c "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres -tAc \"SELECT 1 FROM pg_stat_replication WHERE application_name = '$PG_REPLICA_SLOT' AND state = 'streaming'\" | grep -q 1"
if [ "${SENSORMINE_STACK_PG_SYNC:-on}" = off ]; then sync_names=""; else sync_names="FIRST 1 ($PG_REPLICA_SLOT)"; fi
if [ "$(psql_admin -d postgres -tAc 'SHOW synchronous_standby_names')" != "$sync_names" ]; then
  psql_admin -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '$sync_names'" -c "SELECT pg_reload_conf()" >/dev/null
fi

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
# A replica, and three Sentinels that watch the master and promote the replica when it is lost
# (a quorum of two). Sentinel rewrites its configuration file, so each gets its own under data/.
if ! port_open "$REDIS_REPLICA_PORT"; then
  log "starting Redis replica on 127.0.0.1:$REDIS_REPLICA_PORT"
  mkdir -p "$DATA/redis-replica"
  redis-server --port "$REDIS_REPLICA_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --replicaof 127.0.0.1 "$REDIS_PORT" --dir "$DATA/redis-replica" --pidfile "$PIDS/redis-replica.pid" --logfile "$LOGS/redis-replica.log"
fi
wait_for redis-replica 20 redis-cli -h 127.0.0.1 -p "$REDIS_REPLICA_PORT" ping
for port in $REDIS_SENTINEL_PORTS; do
  port_open "$port" && continue
  mkdir -p "$DATA/sentinel-$port"
  cat >"$DATA/sentinel-$port/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
pidfile $PIDS/sentinel-$port.pid
logfile $LOGS/sentinel-$port.log
dir $DATA/sentinel-$port
sentinel monitor $REDIS_MASTER_NAME 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds $REDIS_MASTER_NAME ${SENSORMINE_STACK_SENTINEL_DOWN_AFTER_MS:-2000}
sentinel failover-timeout $REDIS_MASTER_NAME 10000
sentinel parallel-syncs $REDIS_MASTER_NAME 1
CONF
  log "starting Redis Sentinel on 127.0.0.1:$port"
  redis-sentinel "$DATA/sentinel-$port/sentinel.conf"
done
for port in $REDIS_SENTINEL_PORTS; do wait_for "sentinel $port" 20 redis-cli -h 127.0.0.1 -p "$port" ping; done

# --- etcd: where the FailoverOrchestrator's replicas elect their leader ------------------------
# One member locally (three in the chart's production values). A 50 ms heartbeat and a 250 ms
# election timeout let it grant one-second leases: etcd refuses a TTL below 1.5 election timeouts.
if ! port_open "$ETCD_PORT"; then
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  mkdir -p "$DATA/etcd"
  nohup etcd --name sensormine --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "sensormine=http://127.0.0.1:$ETCD_PEER_PORT" --heartbeat-interval 50 --election-timeout 250 \
    >"$LOGS/etcd.log" 2>&1 &
  echo $! >"$PIDS/etcd.pid"
fi
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

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

log "stack up: postgres 127.0.0.1:$PG_PORT (replica $PG_REPLICA_PORT)  redis 127.0.0.1:$REDIS_PORT  mqtt 127.0.0.1:$MQTT_PORT  kafka 127.0.0.1:$KAFKA_PORT  etcd 127.0.0.1:$ETCD_PORT"
