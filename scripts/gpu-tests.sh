#!/usr/bin/env bash
# ctest's `gpu` test: the lit tests that run kernels (test/GPU), or a visible
# skip (exit 77) where this machine has no CUDA device.
set -euo pipefail
build=$1
if ! "$(dirname "$0")/has-cuda-device.sh"; then
  echo "skipped: no CUDA device"
  exit 77
fi
exec /usr/lib/llvm-22/bin/lit -sv "$build/test/GPU"
