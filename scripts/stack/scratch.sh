#!/usr/bin/env bash
# Throwaway servers for tests that stop and restart a server (so they never disturb the shared
# stack other tests use): scratch.sh start|stop KIND PORT, KIND one of redis, mosquitto, kafka,
# postgres. Data lives under .stack/scratch/KIND-PORT and is kept across stop/start.
set -euo pipefail
# Close every inherited descriptor above stderr: a daemonised server would otherwise hold the
# caller's (e.g. Foundation.Process's) monitoring pipe open and the caller would never see us exit.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
source "$(dirname "$0")/common.sh"
action=$1 kind=$2 port=$3
dir="$STACK/scratch/$kind-$port"
mkdir -p "$dir"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
stop_pid() {
  local pid
  # The listener on the port is the server, whatever pid file it did or did not leave.
  pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
  [ -n "$pid" ] || pid=$(cat "$dir/pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # Started from a Swift test, a server inherits libdispatch's blocked-signal mask and may never
  # see SIGTERM: these are throwaway servers, so a hard stop is fine.
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/pid"
}
# A server left running by an interrupted test run is reused rather than fought over.
if [ "$action" = start ] && port_open "$port"; then exit 0; fi
case "$kind:$action" in
  redis:start)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --daemonize yes --dir "$dir" --pidfile "$dir/pid" --logfile "$dir/log"
    wait_for redis 10 port_open "$port" ;;
  mosquitto:start)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\npid_file %s/pid\nuser %s\n' "$port" "$dir" "$(id -un)" >"$dir/conf"
    mosquitto -c "$dir/conf" -d 2>/dev/null
    wait_for mosquitto 10 port_open "$port" ;;
  kafka:start)
    nohup "$STACK/tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    wait_for tansu 10 port_open "$port" ;;
  postgres:start)
    rel="/var/lib/sensormine/scratch-$port"
    as_postgres() { $SUDO chroot --userspec=postgres:postgres "$TRIXIE" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }
    if [ ! -f "$TRIXIE$rel/PG_VERSION" ]; then
      $SUDO mkdir -p "$TRIXIE$rel"; $SUDO chroot "$TRIXIE" chown postgres:postgres "$rel"
      as_postgres /usr/lib/postgresql/17/bin/initdb -D "$rel" -A trust -U postgres >/dev/null
    fi
    as_postgres /usr/lib/postgresql/17/bin/pg_ctl -w -D "$rel" -l "$rel.log" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c dynamic_shared_memory_type=mmap" start >/dev/null ;;
  postgres:stop)
    $SUDO chroot --userspec=postgres:postgres "$TRIXIE" /usr/lib/postgresql/17/bin/pg_ctl -D "/var/lib/sensormine/scratch-$port" -m fast stop >>"$dir/stop.log" 2>&1 || true ;;
  redis:stop) redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; stop_pid ;;
  *:stop) stop_pid ;;
  *) echo "usage: scratch.sh start|stop redis|mosquitto|kafka|postgres PORT" >&2; exit 2 ;;
esac
