#!/usr/bin/env bash
# Sets everything up and runs every test: generated-code check, firmware host build with
# cmocka tests (plain and under ASan/UBSan), the fuzzer smoke run, TypeScript build, lint and
# vitest suites. Ends with one line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
