#!/usr/bin/env bash
# Runs docker-compose.yml with podman here (docker-compose.podman.yml on top): Debian's
# podman-compose 1.0.3 starts a service without waiting for its depends_on conditions and podman
# runs no health checks without systemd, so `up` starts one service at a time in dependency
# order (scripts/containers/compose-plan.py) and waits for what its dependants need: a one-shot
# job's exit 0, its health check passing (the file's command, run with `podman exec`), a
# platform service's /health/ready.
#   compose.sh up | down | ps | logs SERVICE
# SENSORMINE_COMPOSE_PROJECT names the project (default sensormine); SENSORMINE_IMAGE the platform
# image (default localhost/sensormine:0.1.0, from `make images`); SENSORMINE_PUBLISH_*_PORT
# the host ports (docker-compose.yml).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PROJECT=${SENSORMINE_COMPOSE_PROJECT:-sensormine}
compose() { podman-compose --no-ansi -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"; }
container() { echo "${PROJECT}_$1_1"; }

# wait_until SERVICE SECONDS DESCRIPTION CMD...: retries CMD; on timeout shows the service's log.
wait_until() {
  local service=$1 seconds=$2 what=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$service: not $what within ${seconds}s; its log:"
      podman logs --tail 200 "$(container "$service")" 2>&1 | awk '!seen[$0]++' | tail -n 25 | sed 's/^/    /'
      return 1
    fi
    sleep 0.5
  done
}
# Its report goes to fd 3 (the script's own stdout): wait_until silences the check's output.
exited_ok() {
  local state
  state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$(container "$1")")
  case "$state" in
    "exited 0") return 0 ;;
    exited*) { log "$1 failed ($state); its log:"; podman logs --tail 40 "$(container "$1")" 2>&1 | sed 's/^/    /'; } >&3 2>&3; exit 1 ;;
    *) return 1 ;;
  esac
}
ready() { podman exec "$(container "$1")" curl -fsS -o /dev/null http://127.0.0.1:8080/health/ready; }

up() {
  local plan step service wait check begun started=$SECONDS services=()
  plan=$(/usr/bin/python3 "$ROOT/scripts/containers/compose-plan.py" "$ROOT/docker-compose.yml" "$ROOT/docker-compose.podman.yml")
  mapfile -t plan <<<"$plan"
  for step in "${plan[@]}"; do services+=("${step%% *}"); done
  # podman-compose creates every container (networks, volumes, labels as Compose would); its own
  # `up SERVICE --no-deps` would also restart each dependency's container, re-running one-shot
  # jobs, so starting is done here, one service at a time.
  compose up --no-start --no-deps "${services[@]}" </dev/null >"$STACK/containers/compose-create.log" 2>&1 \
    || { tail -n 30 "$STACK/containers/compose-create.log"; exit 1; }
  printf '  %-24s %-8s %3ss\n' "(create all)" "" "$((SECONDS - started))"
  for step in "${plan[@]}"; do
    read -r service wait check <<<"$step"
    begun=$SECONDS
    podman start "$(container "$service")" >/dev/null 2>"$STACK/containers/start-$service.log" \
      || { cat "$STACK/containers/start-$service.log"; log "$service: could not start"; exit 1; }
    case "$wait" in
      exit) wait_until "$service" 180 "finished" exited_ok "$service" ;;
      healthy) eval "check=($check)"; wait_until "$service" 120 "healthy" podman exec "$(container "$service")" "${check[@]}" ;;
      ready) wait_until "$service" 120 "ready" ready "$service" ;;
    esac
    printf '  %-24s %-8s %3ss\n' "$service" "$wait" "$((SECONDS - begun))"
  done
  log "compose project $PROJECT up in $((SECONDS - started)) s"
}

down() {
  # Volumes too: a stopped project leaves nothing behind (data included).
  compose down -v >/dev/null 2>&1 || true
  podman pod rm -f "pod_$PROJECT" >/dev/null 2>&1 || true
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  podman network ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman network rm -f >/dev/null 2>&1 || true
}

mkdir -p "$STACK/containers"
exec 3>&1
case "${1:-}" in
  up) up ;;
  down) down ;;
  ps) podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}\t{{.Status}}' ;;
  logs) podman logs "$(container "${2:?service}")" ;;
  *) echo "usage: $0 up|down|ps|logs SERVICE" >&2; exit 2 ;;
esac
