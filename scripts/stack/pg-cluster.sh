#!/usr/bin/env bash
# PostgreSQL 17 + TimescaleDB nodes in the Debian 13 root: the local stack's primary and replica,
# and the scratch clusters the failover drills kill. DIR is a path inside the root.
#
#   pg-cluster.sh primary DIR PORT            initialise (if new) and start a primary
#   pg-cluster.sh replica DIR PORT FROM SLOT  clone the server on port FROM (pg_basebackup, a
#                                             replication slot SLOT, standby.signal) and start it;
#                                             SLOT is also its application_name, the name
#                                             synchronous_standby_names lists
#   pg-cluster.sh start DIR PORT              start an existing node (primary or standby)
#   pg-cluster.sh stop DIR                    fast shutdown
#   pg-cluster.sh kill DIR                    SIGKILL the postmaster: a lost node, as a drill wants it
#   pg-cluster.sh pause DIR | resume DIR      SIGSTOP / SIGCONT every process of the node: a hung machine
#   pg-cluster.sh rewind DIR PORT FROM SLOT   make a stopped former primary a standby of FROM (pg_rewind)
#   pg-cluster.sh destroy DIR                 stop and delete
set -euo pipefail
source "$(dirname "$0")/common.sh"

PG_BIN=/usr/lib/postgresql/17/bin
as_postgres() { $SUDO chroot --userspec=postgres:postgres "$TRIXIE" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }

# Every node runs with the same settings, so a standby can become the primary as it is.
# wal_log_hints: pg_rewind needs it to bring a failed primary back as a standby.
# wal_receiver_status_interval 1 s and wal_sender_timeout 5 s: lag figures and a dead
# standby's detection in seconds, not the defaults' tens of seconds. wal_keep_size: a former
# primary keeps the WAL back to the last common checkpoint, which pg_rewind reads from it.
server_options() {
  echo "-p $1 -k /tmp -c listen_addresses=127.0.0.1 -c shared_preload_libraries=timescaledb -c dynamic_shared_memory_type=mmap" \
       "-c max_connections=300 -c timescaledb.telemetry_level=off -c wal_log_hints=on -c max_wal_senders=10" \
       "-c max_replication_slots=10 -c wal_receiver_status_interval=1s -c wal_sender_timeout=5s -c hot_standby_feedback=on -c wal_keep_size=256MB"
}

# A postmaster killed with SIGKILL leaves postmaster.pid and its socket's lock file behind, and
# until its parent reaps it (these machines' PID 1 never does) the process lingers as a zombie
# that PostgreSQL takes for a running server: such files are stale.
clear_stale_lock_files() {
  local dir=$1 port=${2:-} file pid state
  for file in "$TRIXIE$dir/postmaster.pid" ${port:+"$TRIXIE/tmp/.s.PGSQL.$port.lock"}; do
    [ -f "$file" ] || continue
    pid=$(head -n 1 "$file" | tr -d ' -')
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    case "$state" in
      ""|Z*) $SUDO rm -f "$file" ;;
    esac
  done
}

start_node() {
  local dir=$1 port=$2 output attempt
  clear_stale_lock_files "$dir" "$port"
  # A port still held by a closing socket is retried for a few seconds (up.sh reserves the
  # stack's ports, so no client connection is given one).
  for attempt in 1 2 3 4 5 6; do
    output=$(as_postgres "$PG_BIN/pg_ctl" -w -t 60 -D "$dir" -l "$dir.log" -o "$(server_options "$port")" start 2>&1) && return 0
    tail -n 10 "$TRIXIE$dir.log" | grep -q "Address already in use" || break
    sleep 1
  done
  tail -n 30 "$TRIXIE$dir.log"; echo "$output"; ps -eo pid,ppid,stat,args | grep "[p]ostgres -D $dir " || true; exit 1
}

prepare_root() {
  $SUDO mkdir -p "$TRIXIE$(dirname "$1")" "$TRIXIE/tmp"
  $SUDO chmod 1777 "$TRIXIE/tmp"
  $SUDO chroot "$TRIXIE" chown postgres:postgres "$(dirname "$1")"
}

command=${1:?usage: pg-cluster.sh primary|replica|start|stop|kill|pause|resume|rewind|destroy DIR ...}
dir=${2:?DIR}
case "$command" in
  primary)
    port=${3:?PORT}
    if [ ! -f "$TRIXIE$dir/PG_VERSION" ]; then
      prepare_root "$dir"
      as_postgres "$PG_BIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 >"$LOGS/initdb-$(basename "$dir").log" 2>&1 \
        || { cat "$LOGS/initdb-$(basename "$dir").log"; exit 1; }
      # WAL archiving on from the start (archive_mode needs a restart; the command only a reload):
      # discarded until scripts/stack/backup.sh points it at pgBackRest (ADR 28). Standbys made
      # from this node copy the file.
      printf '%s\n' "archive_mode = on" "archive_command = 'true'" "archive_timeout = 60" | $SUDO tee -a "$TRIXIE$dir/postgresql.conf" >/dev/null
    fi
    start_node "$dir" "$port"
    ;;
  replica)
    port=${3:?PORT} from=${4:?FROM} slot=${5:?SLOT}
    if [ ! -f "$TRIXIE$dir/PG_VERSION" ]; then
      prepare_root "$dir"
      psql -q -h 127.0.0.1 -p "$from" -U postgres -d postgres -tAc \
        "SELECT pg_create_physical_replication_slot('$slot') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')" >/dev/null
      as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$from" -U postgres -D "$dir" -X stream -S "$slot" -R -c fast \
        >"$LOGS/basebackup-$(basename "$dir").log" 2>&1 || { cat "$LOGS/basebackup-$(basename "$dir").log"; exit 1; }
      # The name the primary's synchronous_standby_names and pg_stat_replication know it by.
      echo "primary_conninfo = 'host=127.0.0.1 port=$from user=postgres application_name=$slot'" \
        | $SUDO tee -a "$TRIXIE$dir/postgresql.auto.conf" >/dev/null
    fi
    start_node "$dir" "$port"
    ;;
  start)
    start_node "$dir" "${3:?PORT}"
    ;;
  stop)
    [ -f "$TRIXIE$dir/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  kill)
    if [ -f "$TRIXIE$dir/postmaster.pid" ]; then
      pid=$(head -n 1 "$TRIXIE$dir/postmaster.pid")
      ps -o args= -p "$pid" 2>/dev/null | grep -q "postgres -D $dir " || exit 0
      kill -KILL "$pid" 2>/dev/null || true
      # Its backends notice the postmaster is gone and exit; a lost machine takes them at once.
      pkill -KILL -P "$pid" 2>/dev/null || true
    fi
    ;;
  pause|resume)
    signal=STOP; [ "$command" = resume ] && signal=CONT
    if [ -f "$TRIXIE$dir/postmaster.pid" ]; then
      pid=$(head -n 1 "$TRIXIE$dir/postmaster.pid")
      ps -o args= -p "$pid" 2>/dev/null | grep -q "postgres -D $dir " || exit 0
      kill -$signal "$pid"
      pkill -$signal -P "$pid" 2>/dev/null || true
    fi
    ;;
  rewind)
    port=${3:?PORT} from=${4:?FROM} slot=${5:?SLOT}
    clear_stale_lock_files "$dir" "$port"
    psql -q -h 127.0.0.1 -p "$from" -U postgres -d postgres -tAc \
      "SELECT pg_create_physical_replication_slot('$slot') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')" >/dev/null
    as_postgres "$PG_BIN/pg_rewind" -D "$dir" --source-server="host=127.0.0.1 port=$from user=postgres dbname=postgres" -R \
      >"$LOGS/rewind-$(basename "$dir").log" 2>&1 || { cat "$LOGS/rewind-$(basename "$dir").log"; exit 1; }
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=%s'\nprimary_slot_name = '%s'\n" "$from" "$slot" "$slot" \
      | $SUDO tee -a "$TRIXIE$dir/postgresql.auto.conf" >/dev/null
    start_node "$dir" "$port"
    ;;
  destroy)
    # Scratch data: no shutdown needed, and pg_ctl would wait a minute for a zombie's pid file.
    if [ -f "$TRIXIE$dir/postmaster.pid" ]; then
      pid=$(head -n 1 "$TRIXIE$dir/postmaster.pid")
      if [ -n "$pid" ] && ps -o args= -p "$pid" 2>/dev/null | grep -q "postgres -D $dir "; then
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    $SUDO rm -rf "${TRIXIE:?}$dir" "$TRIXIE$dir.log"
    ;;
  *) echo "unknown command $command" >&2; exit 2 ;;
esac
