#!/usr/bin/env bash
# Exit 0 where a CUDA driver and at least one device are present.
exec /usr/bin/python3 -c '
import ctypes, sys
try:
    cu = ctypes.CDLL("libcuda.so.1"); n = ctypes.c_int(0)
    sys.exit(0 if cu.cuInit(0) == 0 and cu.cuDeviceGetCount(ctypes.byref(n)) == 0 and n.value > 0 else 1)
except OSError:
    sys.exit(1)'
