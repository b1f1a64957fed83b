#!/usr/bin/env bash
# ctest's `gpu` test: the lit tests that run kernels (test/GPU), or a visible
# skip (exit 77) where this machine has no CUDA device.
set -euo pipefail
build=$1
if ! /usr/bin/python3 -c '
import ctypes, sys
try:
    cu = ctypes.CDLL("libcuda.so.1"); n = ctypes.c_int(0)
    sys.exit(0 if cu.cuInit(0) == 0 and cu.cuDeviceGetCount(ctypes.byref(n)) == 0 and n.value > 0 else 1)
except OSError:
    sys.exit(1)'; then
  echo "skipped: no CUDA device"
  exit 77
fi
exec /usr/lib/llvm-22/bin/lit -sv "$build/test/GPU"
