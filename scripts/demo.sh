#!/usr/bin/env bash
# Sets everything up from a fresh clone and runs `meshota demo`: about 30 simulated nodes, each
# running the real node core in the emulator, refuse a tampered image and then install a
# signed one through TCP over Wi-Fi and ESP-NOW relays. Exits 0 only when every node runs the
# new version and none took the tampered image. Extra arguments go to `meshota demo`
# (for example: bash scripts/demo.sh --image path/to/app.bin --nodes 50).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S firmware/host -B firmware/host/build >/dev/null
cmake --build firmware/host/build -j2 --target meshota_emulator >/dev/null
pnpm turbo run build --filter=@meshota/cli... --output-logs=errors-only

if [ -z "${MESHOTA_EMULATOR:-}" ]; then
  for candidate in firmware/host/build/meshota_emulator firmware/host/build/emulator/meshota_emulator; do
    if [ -x "$candidate" ]; then
      export MESHOTA_EMULATOR="$PWD/$candidate"
      break
    fi
  done
fi

exec node packages/cli/dist/bin.js demo "$@"
