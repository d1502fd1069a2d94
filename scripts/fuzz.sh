#!/usr/bin/env bash
# libFuzzer over the readers of untrusted bytes (JSON parser, schema compile + evaluate, telemetry
# envelope, spool framing), each for SECONDS. The corpus grows in .stack/fuzz-corpus/<target>,
# seeded from Tests/Fuzz/seeds/<target>; a crashing input is kept in .stack/fuzz-crashes/ and
# fails the run. Usage: scripts/fuzz.sh [SECONDS per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=.build/fuzz
# Its own build path: instrumentation flags differ from the normal build's, and mixing them
# would relink everything on every call.
swift build --build-path "$build" --product SensormineFuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING 2>&1 \
    | grep -Ev '^\[[0-9]+/[0-9]+\]|Cannot export local symbol' || true
binary="$build/debug/SensormineFuzz"
[ -x "$binary" ] || { echo "fuzz build failed" >&2; exit 1; }
mkdir -p .stack/fuzz-crashes
status=0
for target in json schema envelope spool; do
    corpus=".stack/fuzz-corpus/$target"
    mkdir -p "$corpus"
    log=".stack/fuzz-$target.log"
    if SENSORMINE_FUZZ_TARGET="$target" ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix=".stack/fuzz-crashes/$target-" "$corpus" "Tests/Fuzz/seeds/$target" >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        size=$(ls "$corpus" | wc -l)
        printf 'fuzz %-9s %8s inputs in %ss, corpus %s, no crash\n' "$target" "$runs" "$seconds" "$size"
    else
        status=1
        echo "fuzz $target: CRASH — input kept in .stack/fuzz-crashes/; last lines of $log:" >&2
        tail -n 30 "$log" >&2
    fi
done
exit $status
