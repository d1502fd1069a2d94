#!/bin/bash
# The subset of kafka-topics.sh the Compose topic job uses:
#   --bootstrap-server HOST:PORT --create [--if-not-exists] --topic NAME --partitions N [--replication-factor N] [--config K=V]...
#   --bootstrap-server HOST:PORT --list
set -euo pipefail
server=localhost:9092 action="" topic="" partitions=1 if_not_exists=false configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server) server=$2; shift 2 ;;
    --create) action=create; shift ;;
    --list) action=list; shift ;;
    --if-not-exists) if_not_exists=true; shift ;;
    --topic) topic=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --replication-factor) shift 2 ;;  # one broker: always 1
    --config) configs+=(--config "$2"); shift 2 ;;
    *) echo "kafka-topics.sh: unsupported argument $1" >&2; exit 2 ;;
  esac
done
case "$action" in
  list) tansu topic list --broker "tcp://$server" | grep -o '"name":"[^"]*"' | cut -d'"' -f4 ;;
  create)
    [ -n "$topic" ] || { echo "kafka-topics.sh: --topic is required" >&2; exit 2; }
    if $if_not_exists && tansu topic list --broker "tcp://$server" 2>/dev/null | grep -qF "\"name\":\"$topic\""; then
      exit 0
    fi
    tansu topic create "$topic" --broker "tcp://$server" --partitions "$partitions" "${configs[@]}" >/dev/null
    echo "Created topic $topic."
    ;;
  *) echo "kafka-topics.sh: --create or --list is required" >&2; exit 2 ;;
esac
