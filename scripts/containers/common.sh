# Shared settings for the container scripts (podman here; see the README's "Containers").
# Sourced, never executed.
source "$(dirname "${BASH_SOURCE[0]}")/../stack/common.sh"

# Local stand-ins for the public images the Dockerfile and docker-compose.yml name: no registry
# is reachable from these machines, so every base is made here and kept between runs.
BASE_IMAGE=localhost/debian:bookworm-slim            # debian:bookworm-slim
SWIFT_BUILDER_IMAGE=localhost/swift:6.3-bookworm     # swift:6.3-bookworm
PLATFORM_IMAGE=localhost/sensormine:0.1.0            # `make images`: the Dockerfile, both stages
SMOKE_IMAGE=localhost/sensormine:smoke               # runtime stage + binaries `make test` built
IMAGE_SOURCES="$ROOT/deploy/podman"
COMPOSE_FILES=(-f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.podman.yml")
SERVICE_BINARIES="ApiGateway DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway StreamProcessing Alerts Billing FailoverOrchestrator Console"

# The fingerprint of what an image is built from: its sources and arguments. An image whose
# label matches is current and is not built again.
fingerprint() { { for path in "$@"; do if [ -e "$path" ]; then find "$path" -type f -print0 | sort -z | xargs -0 sha256sum; else echo "$path"; fi; done; } | sha256sum | cut -c1-16; }
image_fingerprint() { podman image inspect --format '{{index .Labels "sensormine.fingerprint"}}' "$1" 2>/dev/null || true; }

# podman_build IMAGE FINGERPRINT ARGS...: builds unless IMAGE carries FINGERPRINT already.
# --format docker keeps HEALTHCHECK (buildah's OCI format drops it); --network host reaches the
# Debian mirror and PyPI as the machine does.
podman_build() {
  local image=$1 print=$2; shift 2
  if [ "$(image_fingerprint "$image")" = "$print" ]; then return 0; fi
  local build_log="$STACK/containers/build-${image//[\/:]/_}.log"
  log "building $image (log: $build_log)"
  mkdir -p "$STACK/containers"
  podman build --format docker --network host --label "sensormine.fingerprint=$print" -t "$image" "$@" >"$build_log" 2>&1 \
    || { tail -n 40 "$build_log"; log "building $image failed"; return 1; }
}
