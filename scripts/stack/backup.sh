#!/usr/bin/env bash
# Backups and point-in-time restore (ADR 28): pgBackRest (Debian 13's, in the same root as
# PostgreSQL 17) with continuous WAL archiving, Redis RDB snapshots and the edge spool's files.
#
# The local stack (`make backup`, `make restore`):
#   backup.sh stack-backup [full|diff|incr]   a pgBackRest backup of whichever node is the primary
#                                             (full when none exists yet), a Redis snapshot and a
#                                             copy of the edge spool, under .stack/backup/
#   backup.sh stack-restore [TIME]            stop the database nodes and Redis, restore the
#                                             primary to TIME (default: the end of the archive),
#                                             make a new replica from it, load the newest Redis
#                                             snapshot taken at or before TIME; the services must
#                                             be stopped, and the orchestrator relearns the topology
# One stanza (any cluster made by pg-cluster.sh; tests use scratch stanzas):
#   backup.sh pg-stanza STANZA DIR PORT       archive every WAL segment of the node at DIR into the
#                                             repository (archive_mode needs a restart), create it
#   backup.sh pg-backup STANZA DIR PORT [TYPE]
#   backup.sh pg-restore STANZA DIR PORT [TIME]  restore into DIR (must not run) and start it as a
#                                             primary at TIME, without archiving into the stanza
#   backup.sh pg-info STANZA | pg-drop STANZA
# TIME is what PostgreSQL's recovery_target_time takes, e.g. "2026-12-05 08:15:00+00".
set -euo pipefail
source "$(dirname "$0")/common.sh"

PG_BIN=/usr/lib/postgresql/17/bin
REPOSITORY=/var/lib/pgbackrest                      # inside the Debian 13 root
BACKUP="$STACK/backup"
as_postgres() { $SUDO chroot --userspec=postgres:postgres "$TRIXIE" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }
pgbackrest() { as_postgres pgbackrest "$@"; }
psql_at() { psql -v ON_ERROR_STOP=1 -qtAX -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"; }

ensure_installed() {
  [ -x "$TRIXIE/usr/bin/pgbackrest" ] || bash "$ROOT/scripts/stack/deps.sh" >/dev/null
  $SUDO mkdir -p "$TRIXIE/etc/pgbackrest/conf.d" "$TRIXIE$REPOSITORY" "$TRIXIE/var/log/pgbackrest"
  $SUDO chroot "$TRIXIE" chown postgres:postgres "$REPOSITORY" /var/log/pgbackrest
  # lz4: fast enough that compression is not what a backup waits for on two cores.
  printf '%s\n' "[global]" "repo1-path=$REPOSITORY" "repo1-retention-full=2" "compress-type=lz4" "process-max=2" \
    "start-fast=y" "archive-timeout=60" "lock-path=/tmp/pgbackrest" "log-path=/var/log/pgbackrest" \
    "log-level-console=warn" "log-level-file=info" | $SUDO tee "$TRIXIE/etc/pgbackrest/pgbackrest.conf" >/dev/null
}

# A stanza names one node; a backup or check names the primary explicitly (after a failover it
# is the other node), so its pg1-path and port are passed on each call.
write_stanza() {
  local stanza=$1 dir=$2 port=$3
  printf '%s\n' "[$stanza]" "pg1-path=$dir" "pg1-port=$port" "pg1-socket-path=/tmp" "pg1-user=postgres" \
    | $SUDO tee "$TRIXIE/etc/pgbackrest/conf.d/$stanza.conf" >/dev/null
}

# Every node archives through the same command; the data directory is the one archive_command
# runs in, so a standby made by pg_basebackup (which copies postgresql.auto.conf) archives its
# own WAL once promoted. A standby does not archive (archive_mode on, not always).
enable_archiving() {
  local stanza=$1 dir=$2 port=$3
  local command="pgbackrest --stanza=$stanza --pg1-path=\"\$(pwd -P)\" archive-push %p"
  if [ "$(psql_at "$port" "SHOW archive_command")" != "$command" ]; then
    psql_at "$port" "ALTER SYSTEM SET archive_command = '$command'" >/dev/null
    psql_at "$port" "SELECT pg_reload_conf()" >/dev/null
  fi
  if [ "$(psql_at "$port" "SHOW archive_mode")" != on ]; then
    psql_at "$port" "ALTER SYSTEM SET archive_mode = on" >/dev/null
    log "restarting PostgreSQL on $port to turn WAL archiving on"
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 restart >/dev/null
    wait_for postgres 60 pg_isready -h 127.0.0.1 -p "$port" -U postgres
  fi
}

pg_stanza() {
  local stanza=$1 dir=$2 port=$3
  ensure_installed
  write_stanza "$stanza" "$dir" "$port"
  enable_archiving "$stanza" "$dir" "$port"
  pgbackrest --stanza="$stanza" stanza-create >/dev/null
  pgbackrest --stanza="$stanza" check
}

pg_backup() {
  local stanza=$1 dir=$2 port=$3 type=${4:-}
  ensure_installed
  # The first backup of a stanza is full whatever was asked; later ones incremental unless asked.
  if ! pgbackrest --stanza="$stanza" info --output=json | grep -q '"label"'; then type=full; fi
  type=${type:-incr}
  pgbackrest --stanza="$stanza" --pg1-path="$dir" --pg1-port="$port" --type="$type" backup
}

pg_restore() {
  local stanza=$1 dir=$2 port=$3 time=${4:-}
  ensure_installed
  [ -f "$TRIXIE$dir/postmaster.pid" ] && { log "$dir is running: stop it first"; exit 1; }
  $SUDO mkdir -p "$TRIXIE$dir" && $SUDO chroot "$TRIXIE" chown postgres:postgres "$dir" && $SUDO chmod 700 "$TRIXIE$dir"
  local target=(--type=default)
  [ -n "$time" ] && target=(--type=time "--target=$time" --target-action=promote)
  # --delta reuses what is already in DIR; a restore elsewhere must not archive into the stanza,
  # and the stack's restore turns archiving back on once its primary runs.
  pgbackrest --stanza="$stanza" --pg1-path="$dir" --delta --archive-mode=off "${target[@]}" restore
  bash "$ROOT/scripts/stack/pg-cluster.sh" start "$dir" "$port"
  # Recovery replays the archive up to TIME, then promotes.
  wait_for "recovery of $dir" 600 sh -c "[ \"\$(psql -qtAX -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT pg_is_in_recovery()')\" = f ]"
  # pgBackRest wrote the recovery settings into postgresql.auto.conf, which pg_basebackup would
  # copy to a standby made from this node: that standby would stop at TIME and promote itself.
  local setting
  for setting in restore_command recovery_target recovery_target_time recovery_target_xid recovery_target_lsn recovery_target_name \
                 recovery_target_action recovery_target_inclusive recovery_target_timeline; do
    psql_at "$port" "ALTER SYSTEM RESET $setting" >/dev/null
  done
  psql_at "$port" "SELECT pg_reload_conf()" >/dev/null
}

# --- the local stack ------------------------------------------------------------------------
STACK_STANZA=sensormine
PG_DIR=/var/lib/sensormine/pg
PG_REPLICA_DIR=/var/lib/sensormine/pg-replica

# The node that accepts writes: "DIR PORT".
stack_primary() {
  local port
  for port in "$PG_PORT" "$PG_REPLICA_PORT"; do
    if [ "$(psql_at "$port" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; then
      [ "$port" = "$PG_PORT" ] && echo "$PG_DIR $port" || echo "$PG_REPLICA_DIR $port"
      return 0
    fi
  done
  log "no PostgreSQL node of the stack accepts writes (is the stack up?)"; return 1
}

stack_backup() {
  local type=${1:-} primary stamp master
  read -r -a primary <<<"$(stack_primary)"
  [ -f "$TRIXIE/etc/pgbackrest/conf.d/$STACK_STANZA.conf" ] || pg_stanza "$STACK_STANZA" "${primary[@]}"
  # Both nodes: the standby archives once it is promoted.
  enable_archiving "$STACK_STANZA" "$PG_DIR" "$PG_PORT"
  enable_archiving "$STACK_STANZA" "$PG_REPLICA_DIR" "$PG_REPLICA_PORT"
  pg_backup "$STACK_STANZA" "${primary[@]}" "$type"
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$BACKUP/redis" "$BACKUP/edge-spool"
  # Redis: a snapshot of the master the Sentinels name, its RDB file copied once BGSAVE is done.
  master=$(redis-cli -p "${REDIS_SENTINEL_PORTS%% *}" SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" | tail -n 1)
  local before dir
  before=$(redis-cli -p "$master" LASTSAVE)
  redis-cli -p "$master" BGSAVE >/dev/null
  wait_for "the Redis snapshot" 120 sh -c "[ \"\$(redis-cli -p $master LASTSAVE)\" != $before ]"
  dir=$(redis-cli -p "$master" CONFIG GET dir | tail -n 1)
  # Moved, not copied: the stack's Redis runs without persistence and must not load it on a restart.
  mv "$dir/$(redis-cli -p "$master" CONFIG GET dbfilename | tail -n 1)" "$BACKUP/redis/$stamp.rdb"
  # The edge spool: records not yet confirmed by Kafka, each framed with a CRC (a segment being
  # appended to is copied up to its last whole record's worth of usefulness).
  local spool=${SENSORMINE_EDGE_SPOOL_DIR:-$DATA/edge-spool} copied=""
  if [ -d "$spool" ]; then tar -C "$spool" -czf "$BACKUP/edge-spool/$stamp.tar.gz" . && copied=", edge spool $BACKUP/edge-spool/$stamp.tar.gz"; fi
  # The last seven of each are kept.
  find "$BACKUP/redis" "$BACKUP/edge-spool" -type f -printf '%h %f\n' | sort | awk '{ n[$1]++; line[$1, n[$1]] = $1 "/" $2 }
    END { for (dir in n) for (i = 1; i <= n[dir] - 7; i++) print line[dir, i] }' | xargs -r rm -f
  pgbackrest --stanza="$STACK_STANZA" info
  log "backup done: PostgreSQL in $TRIXIE$REPOSITORY, Redis $BACKUP/redis/$stamp.rdb$copied"
}

# Seconds since the epoch of a file's stamp (20261205T081500Z).
stamp_epoch() { date -u -d "$(echo "$1" | sed 's/\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z/\1-\2-\3 \4:\5:\6Z/')" +%s; }

stack_restore() {
  local time=${1:-} snapshot="" epoch file
  [ -f "$TRIXIE/etc/pgbackrest/conf.d/$STACK_STANZA.conf" ] || { log "no backup of the stack yet (make backup)"; exit 1; }
  if ls "$PIDS"/services/*.pid >/dev/null 2>&1; then log "services started by make run are running: stop them first (make down; make up restarts the stack)"; exit 1; fi
  log "stopping the database nodes"
  bash "$ROOT/scripts/stack/pg-cluster.sh" stop "$PG_REPLICA_DIR"
  bash "$ROOT/scripts/stack/pg-cluster.sh" stop "$PG_DIR"
  log "restoring PostgreSQL${time:+ to $time}"
  pg_restore "$STACK_STANZA" "$PG_DIR" "$PG_PORT" "$time"
  # A new timeline: archiving back on, a new replica made from it (up.sh), a backup to base the
  # new timeline's recovery on, and the orchestrator's record forgotten so it learns the primary.
  enable_archiving "$STACK_STANZA" "$PG_DIR" "$PG_PORT"
  bash "$ROOT/scripts/stack/pg-cluster.sh" destroy "$PG_REPLICA_DIR"
  # Redis: the newest snapshot at or before TIME, into a master started afresh with its replica.
  epoch=$(date -u -d "${time:-now}" +%s)
  for file in $(ls -1 "$BACKUP/redis"/*.rdb 2>/dev/null | sort); do
    [ "$(stamp_epoch "$(basename "$file" .rdb)")" -le "$epoch" ] && snapshot=$file
  done
  if [ -n "$snapshot" ]; then
    log "loading Redis snapshot $(basename "$snapshot")"
    for port in $REDIS_SENTINEL_PORTS; do redis-cli -p "$port" SHUTDOWN >/dev/null 2>&1 || true; rm -f "$DATA/sentinel-$port/sentinel.conf"; done
    redis-cli -p "$REDIS_REPLICA_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    rm -rf "$DATA/redis-replica" && mkdir -p "$DATA/redis"
    cp "$snapshot" "$DATA/redis/dump.rdb"
  fi
  # The edge spool: only into an empty one (a live spool holds what Kafka has not confirmed yet;
  # replayed records are stored once, by their message ids).
  local spool=${SENSORMINE_EDGE_SPOOL_DIR:-$DATA/edge-spool} archive="" restored_spool=""
  for file in $(ls -1 "$BACKUP/edge-spool"/*.tar.gz 2>/dev/null | sort); do
    [ "$(stamp_epoch "$(basename "$file" .tar.gz)")" -le "$epoch" ] && archive=$file
  done
  if [ -n "$archive" ] && [ -z "$(ls -A "$spool" 2>/dev/null)" ]; then
    mkdir -p "$spool" && tar -C "$spool" -xzf "$archive" && restored_spool=", edge spool from $(basename "$archive")"
  fi
  bash "$ROOT/scripts/stack/up.sh"
  etcdctl --endpoints "http://127.0.0.1:$ETCD_PORT" del --prefix /sensormine/failover/sensormine/ >/dev/null
  enable_archiving "$STACK_STANZA" "$PG_REPLICA_DIR" "$PG_REPLICA_PORT"
  pg_backup "$STACK_STANZA" "$PG_DIR" "$PG_PORT" full
  log "restored: PostgreSQL${time:+ to $time}${snapshot:+, Redis from $(basename "$snapshot")}$restored_spool; start the services (make run)"
}

command=${1:?usage: backup.sh stack-backup|stack-restore|pg-stanza|pg-backup|pg-restore|pg-info|pg-drop ...}
shift
case "$command" in
  stack-backup) stack_backup "$@" ;;
  stack-restore) stack_restore "$@" ;;
  pg-stanza) pg_stanza "${1:?STANZA}" "${2:?DIR}" "${3:?PORT}" ;;
  pg-backup) pg_backup "${1:?STANZA}" "${2:?DIR}" "${3:?PORT}" "${4:-}" ;;
  pg-restore) pg_restore "${1:?STANZA}" "${2:?DIR}" "${3:?PORT}" "${4:-}" ;;
  pg-info) ensure_installed; pgbackrest --stanza="${1:?STANZA}" info ;;
  pg-drop)
    stanza=${1:?STANZA}
    $SUDO rm -rf "${TRIXIE:?}$REPOSITORY/archive/$stanza" "${TRIXIE:?}$REPOSITORY/backup/$stanza" "$TRIXIE/etc/pgbackrest/conf.d/$stanza.conf"
    ;;
  *) echo "unknown command $command" >&2; exit 2 ;;
esac
