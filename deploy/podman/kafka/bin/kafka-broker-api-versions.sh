#!/bin/bash
# Health check: the broker answers on --bootstrap-server (a Kafka ApiVersions round trip is
# what the real script does; an open listener is what Tansu offers to check without a client).
set -euo pipefail
server=localhost:9092
while [ $# -gt 0 ]; do case "$1" in --bootstrap-server) server=$2; shift 2 ;; *) shift ;; esac; done
exec 3<>"/dev/tcp/${server%:*}/${server##*:}"
