#!/usr/bin/env sh
# Fuzz the node's decode + dispatch (firmware/host/fuzz/fuzz_dispatch.c) with libFuzzer under
# ASan/UBSan. Usage: bench/fuzz/run.sh [seconds, default 600] [build dir]
# CI runs it for about 60 s; longer runs keep their corpus in bench/fuzz/corpus (not committed).
set -eu
seconds=${1:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/firmware/host/build-fuzz}
corpus=$root/bench/fuzz/corpus
CC=clang cmake -S "$root/firmware/host" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMESHOTA_FUZZ=ON -DMESHOTA_SANITIZE=ON >/dev/null
cmake --build "$build" -j2 --target fuzz_dispatch >/dev/null
mkdir -p "$corpus"
if [ ! -f "$corpus/seed-transfer" ]; then
    # The harness writes a seed holding a whole valid transfer and an apply.
    empty=$(mktemp -d)
    MESHOTA_FUZZ_SEED_OUT="$corpus/seed-transfer" "$build/fuzz/fuzz_dispatch" -runs=1 "$empty" >/dev/null 2>&1
    rmdir "$empty"
fi
exec "$build/fuzz/fuzz_dispatch" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 "$corpus"
