"""Writes small data sets for the training driver's tests, with the standard library alone.

  make_dataset.py idx DIR --train N --val M [--classes C] [--size S] [--truncate]
      Fashion-MNIST's layout: gzip IDX files train-/t10k-images-idx3-ubyte.gz and
      -labels-idx1-ubyte.gz; class c is a bright band at row 2c + noise, so it can be learnt.
  make_dataset.py folder DIR [--classes C] [--per-class K] [--bad]
      An ImageFolder: DIR/class_XX/img_Y.png of varied sizes (and, with --bad, one
      truncated JPEG in class_00).
"""
import argparse
import gzip
import os
import random
import struct
import sys
import zlib


def idx(path, dims, data, truncate=False):
    head = struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    body = bytes(data)
    with gzip.open(path, "wb") as f:
        f.write(head + (body[: len(body) // 2] if truncate else body))


def png(path, w, h, rng, colour):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"".join(bytes(min(255, c + rng.randrange(40)) for c in colour) for _ in range(w))
                   for _ in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["idx", "folder"])
    ap.add_argument("dir")
    ap.add_argument("--train", type=int, default=64)
    ap.add_argument("--val", type=int, default=16)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--truncate", action="store_true")
    ap.add_argument("--bad", action="store_true")
    a = ap.parse_args()
    rng = random.Random(0)
    os.makedirs(a.dir, exist_ok=True)
    if a.kind == "idx":
        s = a.size
        for prefix, n in (("train", a.train), ("t10k", a.val)):
            labels = [i % a.classes for i in range(n)]
            rng.shuffle(labels)
            pixels = []
            for c in labels:
                for y in range(s):
                    for x in range(s):
                        pixels.append(min(255, (200 if y // 2 == c % (s // 2) else 0) + rng.randrange(50)))
            idx(os.path.join(a.dir, f"{prefix}-images-idx3-ubyte.gz"), [n, s, s], pixels, a.truncate)
            idx(os.path.join(a.dir, f"{prefix}-labels-idx1-ubyte.gz"), [n], labels)
    else:
        for c in range(a.classes):
            d = os.path.join(a.dir, f"class_{c:02d}")
            os.makedirs(d, exist_ok=True)
            colour = ((c * 97) % 200, (c * 57) % 200, (c * 31) % 200)
            for k in range(a.per_class):
                png(os.path.join(d, f"img_{k}.png"), 20 + 7 * k + c, 30 - 3 * k + c, rng, colour)
        if a.bad:
            with open(os.path.join(a.dir, "class_00", "bad.jpg"), "wb") as f:
                f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
