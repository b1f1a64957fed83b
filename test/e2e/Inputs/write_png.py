"""Writes an RGB gradient PNG (width, height) with nothing but zlib and struct."""
import struct
import sys
import zlib

path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


raw = b"".join(b"\x00" + b"".join(bytes((x * 5 % 256, y * 3 % 256, (x + y) % 256)) for x in range(w))
               for y in range(h))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
    chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(path, "wb").write(png)
