#!/usr/bin/env bash
# The container smoke test (part of `make test`): the runtime image with the binaries this
# machine built, the whole Compose stack in podman, the first user journey against it, the
# libraries the running services load against the Dockerfile's list, the containers' user and
# read-only root; then everything is stopped and removed, also on failure.
set -euo pipefail
source "$(dirname "$0")/common.sh"
started=$SECONDS
export SENSORMINE_COMPOSE_PROJECT=sensormine-smoke SENSORMINE_IMAGE="$SMOKE_IMAGE"
export SENSORMINE_PUBLISH_HTTP_PORT=${SMOKE_HTTP_PORT:-58080} SENSORMINE_PUBLISH_MQTT_PORT=${SMOKE_MQTT_PORT:-51884}
export SENSORMINE_PUBLISH_PROMETHEUS_PORT=${SMOKE_PROMETHEUS_PORT:-59090}
compose_sh="$ROOT/scripts/containers/compose.sh"

log "container smoke test: images"
bash "$ROOT/scripts/containers/images.sh" infrastructure
bash "$ROOT/scripts/containers/images.sh" prebuilt
images_done=$SECONDS
[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$SMOKE_IMAGE" | grep -v '<nil>')" ] \
  || { log "$SMOKE_IMAGE lost the Dockerfile's HEALTHCHECK"; exit 1; }

bash "$compose_sh" down
trap 'bash "$compose_sh" down' EXIT
log "container smoke test: the Compose stack"
bash "$compose_sh" up

log "container smoke test: journey through the containerised gateway and broker"
SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD=sensormine-admin-dev ONNX_PYTHON="$VENV/bin/python" \
  bash "$ROOT/scripts/containers/journey.sh" "http://127.0.0.1:$SENSORMINE_PUBLISH_HTTP_PORT" 127.0.0.1 "$SENSORMINE_PUBLISH_MQTT_PORT"

platform=()
while read -r service wait _; do
  [ "$wait" = ready ] && platform+=("${SENSORMINE_COMPOSE_PROJECT}_${service}_1")
done < <(/usr/bin/python3 "$ROOT/scripts/containers/compose-plan.py" "$ROOT/docker-compose.yml" "$ROOT/docker-compose.podman.yml")

log "container smoke test: libraries the running services load vs the Dockerfile's runtime packages"
python3 "$ROOT/scripts/containers/loaded-libraries.py" "$SENSORMINE_COMPOSE_PROJECT" "$ROOT/Dockerfile" "$BASE_IMAGE" "${platform[@]}"

log "container smoke test: non-root, read-only root file system"
for name in "${platform[@]}"; do
  uid=$(podman exec "$name" id -u)
  readonly_root=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")
  # /var/lib/sensormine belongs to the service's user: only the read-only root stops this write.
  if podman exec "$name" touch /var/lib/sensormine/written 2>/dev/null; then writable=yes; else writable=no; fi
  printf '  %-40s uid %s, read-only root %s, root writable: %s\n' "$name" "$uid" "$readonly_root" "$writable"
  [ "$uid" != 0 ] && [ "$readonly_root" = true ] && [ "$writable" = no ] || { log "$name runs as root or on a writable root"; exit 1; }
done
log "container smoke test passed in $((SECONDS - started)) s (images $((images_done - started)) s)"
