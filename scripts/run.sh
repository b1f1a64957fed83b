#!/usr/bin/env bash
# The main job: installs what is missing, builds, then compiles every variant in
# models/ and prints its statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
for model in models/*.mlir; do
  echo "== ${model}"
  build/bin/cmt-opt "${model}" -cmt-graph=batch=1 -o /dev/null
  build/bin/cmt-opt "${model}" --cmt-print-stats -o /dev/null
done
