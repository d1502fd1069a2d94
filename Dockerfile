# syntax=docker/dockerfile:1
# One image holds every Sensormine service; the container's command picks one
# (`Ingestion serve`, `DeviceAPI migrate`, …). Why one image: see the README ("Deployment").
# The bases are build arguments so that machines without a registry can substitute local
# copies (scripts/containers/images.sh does, for podman); the defaults are the public images.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- build: the Swift toolchain and the C libraries' headers ---------------------------------
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpq-dev=15.* librdkafka-dev=2.0.* libmosquitto-dev=2.0.* libhiredis-dev=0.14.* libcurl4-openssl-dev=7.88.* libssl-dev=3.0.* \
      python3-venv=3.11.* \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifest first, so dependency resolution is cached while only sources change.
COPY Package.swift ./
RUN swift package resolve
# The ONNX Runtime C header (ADR 23): Debian 12 has none, so it is unpacked from Debian 13's
# libonnxruntime-dev, without installing it, where Package.swift looks for it.
ARG DEBIAN_MIRROR=http://deb.debian.org/debian
RUN echo "deb ${DEBIAN_MIRROR} trixie main" > /etc/apt/sources.list.d/trixie.list \
 && apt-get update \
 && apt-get download libonnxruntime-dev=1.21.* \
 && dpkg-deb -x libonnxruntime-dev_*.deb /tmp/onnxruntime-dev \
 && mkdir -p /src/.stack/onnxruntime/include \
 && cp /tmp/onnxruntime-dev/usr/include/onnxruntime/onnxruntime_c_api.h /src/.stack/onnxruntime/include/ \
 && rm -rf /etc/apt/sources.list.d/trixie.list /var/lib/apt/lists/* libonnxruntime-dev_*.deb /tmp/onnxruntime-dev
COPY Libraries Libraries
COPY Services Services
COPY Benchmarks Benchmarks
COPY Tests Tests
# Debug info is stripped, symbols kept (backtraces still name functions): 28% of each binary.
RUN for product in ApiGateway DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway StreamProcessing Alerts Billing FailoverOrchestrator Console; do \
      swift build -c release --static-swift-stdlib --product "$product" || exit 1; \
    done \
 && mkdir -p /out/bin \
 && for product in ApiGateway DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway StreamProcessing Alerts Billing FailoverOrchestrator Console; do \
      cp ".build/release/$product" /out/bin/; \
    done \
 && strip --strip-debug /out/bin/* \
 && cp -a Services/Console/Assets /out/console
# Debian 12's librdkafka (2.0.2) cannot talk to current brokers (ADR 2): the services load the
# current one that the confluent-kafka wheel ships.
# ONNX Runtime likewise: StreamProcessing loads the wheel's library at run time (it needs only glibc).
ARG CONFLUENT_KAFKA_VERSION=2.12.1
ARG ONNXRUNTIME_VERSION=1.32.0
RUN python3 -m venv /tmp/kafka \
 && /tmp/kafka/bin/pip install --no-cache-dir "confluent-kafka==${CONFLUENT_KAFKA_VERSION}" \
 && /tmp/kafka/bin/pip install --no-cache-dir --no-deps "onnxruntime==${ONNXRUNTIME_VERSION}" \
 && mkdir -p /out/lib \
 && cp /tmp/kafka/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 /out/lib/librdkafka.so.1 \
 && cp /tmp/kafka/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.* /out/lib/libonnxruntime.so.1

# --- runtime: only the shared libraries the binaries link (checked by `make lint-deploy`, and
# against what running containers load by the container smoke test) ------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# runtime-packages: libpq5 libmosquitto1 libhiredis0.14 libcurl4 libssl3 libxml2 zlib1g
# extra-packages: ca-certificates (TLS to brokers and APIs) curl (HEALTHCHECK) libjs-chart.js (the Console's charts)
# Versions are pinned to Debian 12's series (the soname the binaries were linked against),
# not to one build, so security updates still apply on rebuild.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpq5=15.* libmosquitto1=2.0.* libhiredis0.14=0.14.* libcurl4=7.88.* libssl3=3.0.* libxml2=2.9.* zlib1g=1:1.2.* \
      ca-certificates=2023* curl=7.88.* libjs-chart.js=3.9.* \
 && rm -rf /var/lib/apt/lists/*
ENV LD_LIBRARY_PATH=/usr/local/lib/sensormine \
    SENSORMINE_CONSOLE_ASSETS_DIR=/usr/share/sensormine/console \
    SENSORMINE_HTTP_PORT=8080 \
    SENSORMINE_LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin sensormine \
 && mkdir -p /var/lib/sensormine/edge-spool \
 && chown -R 10001:10001 /var/lib/sensormine
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
CMD ["ApiGateway", "serve"]

# --- prebuilt: the runtime with binaries built outside this file (`make test`'s container smoke
# test: the build context is a folder holding bin/ and lib/, no second Swift build) -------------
FROM runtime-base AS prebuilt
COPY lib/ /usr/local/lib/sensormine/
COPY bin/ /usr/local/bin/
COPY console/ /usr/share/sensormine/console/
USER 10001:10001

# --- runtime: the image (the default target) ---------------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /out/lib/librdkafka.so.1 /out/lib/libonnxruntime.so.1 /usr/local/lib/sensormine/
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/console/ /usr/share/sensormine/console/
USER 10001:10001
