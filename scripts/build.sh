#!/usr/bin/env bash
# Configures and builds everything into build/ (tools in build/bin). Two jobs:
# each MLIR translation unit needs ~1.2 GB and these machines have 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/install-deps.sh"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "${CMT_JOBS:-2}"
