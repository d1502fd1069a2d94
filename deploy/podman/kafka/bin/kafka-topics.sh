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
# Like the real script's admin client, a request is retried while the broker is not answering yet
# (up to 60 s); the last failure's message is shown.
tansu_retrying() {
  local deadline=$((SECONDS + 60)) output
  until output=$(tansu "$@" --broker "tcp://$server" 2>&1); do
    if [ $SECONDS -ge $deadline ]; then echo "kafka-topics.sh: tansu $*: $output" >&2; return 1; fi
    sleep 1
  done
  printf '%s\n' "$output"
}
topic_names() {
  local listing
  listing=$(tansu_retrying topic list) || return 1
  grep -o '"name":"[^"]*"' <<<"$listing" | cut -d'"' -f4 || true
}
case "$action" in
  list) topic_names ;;
  create)
    [ -n "$topic" ] || { echo "kafka-topics.sh: --topic is required" >&2; exit 2; }
    existing=$(topic_names)
    if $if_not_exists && grep -qxF "$topic" <<<"$existing"; then exit 0; fi
    tansu_retrying topic create "$topic" --partitions "$partitions" "${configs[@]}" >/dev/null
    echo "Created topic $topic."
    ;;
  *) echo "kafka-topics.sh: --create or --list is required" >&2; exit 2 ;;
esac
