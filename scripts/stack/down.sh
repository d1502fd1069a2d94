#!/usr/bin/env bash
# Stops the services started by `make run`, then the local stack. Data stays under .stack/data.
set -uo pipefail
source "$(dirname "$0")/common.sh"

stop_pid_file() {
  local file=$1 name pid
  name=$(basename "$file" .pid)
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 20 s; killing"; kill -KILL "$pid" 2>/dev/null; }
    log "stopped $name"
  fi
  rm -f "$file"
}

for file in "$PIDS"/services/*.pid; do [ -e "$file" ] && stop_pid_file "$file"; done
stop_pid_file "$PIDS/tansu.pid"
stop_pid_file "$PIDS/mosquitto.pid"
stop_pid_file "$PIDS/etcd.pid"
for port in $REDIS_SENTINEL_PORTS; do stop_pid_file "$PIDS/sentinel-$port.pid"; done
stop_pid_file "$PIDS/redis-replica.pid"
stop_pid_file "$PIDS/redis.pid"
# The replica first: with synchronous replication a primary stopping after its standby still
# finishes (a shutdown writes no commit that waits for it).
for dir in /var/lib/sensormine/pg-replica /var/lib/sensormine/pg; do
  [ -f "$TRIXIE$dir/postmaster.pid" ] && bash "$ROOT/scripts/stack/pg-cluster.sh" stop "$dir" && log "stopped postgres ($(basename "$dir"))"
done
if [ -f "$PLAIN_PG_DIR/postmaster.pid" ]; then
  $SUDO runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PLAIN_PG_DIR" -m fast stop >/dev/null 2>&1 && log "stopped postgres-15"
fi
exit 0
