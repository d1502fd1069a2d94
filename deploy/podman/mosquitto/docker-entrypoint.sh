#!/bin/sh
# As the public image: started as root, hand /mosquitto to the broker's user (it drops to it).
set -eu
if [ "$(id -u)" = 0 ] && [ -d /mosquitto ]; then chown -R mosquitto:mosquitto /mosquitto || true; fi
exec "$@"
