#!/bin/sh
# As the public image: a redis-server started without a configuration file listens for other
# containers (protected mode off; the network is the boundary).
set -eu
if [ "${1:-}" = redis-server ]; then
  case "${2:-}" in
    *.conf) ;;
    *) set -- "$@" --bind 0.0.0.0 --protected-mode no ;;
  esac
fi
exec "$@"
