"""A large clean EVTX log made from a real one's chunks (the EVTX tests' split case and ``bench/bench_evtx.py``)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def big_log(src: Path, dst: Path, copies: int) -> int:
    """One large clean log: ``copies`` copies of ``src``'s chunks, record numbers shifted per copy (chunk and
    record headers, checksums and the file header rewritten). Returns the number of chunks."""
    raw = src.read_bytes()
    hdr = bytearray(raw[:4096])
    chunks = [raw[4096 + i * 65536: 4096 + (i + 1) * 65536] for i in range((len(raw) - 4096) // 65536)]
    chunks = [c for c in chunks if c[:8] == b"ElfChnk\x00"]
    last = max(struct.unpack_from("<Q", c, 32)[0] for c in chunks)
    n = 0
    with open(dst, "wb") as out:
        out.write(b"\0" * 4096)
        for k in range(copies):
            for c0 in chunks:
                c = bytearray(c0)
                for o in (8, 16, 24, 32):
                    struct.pack_into("<Q", c, o, struct.unpack_from("<Q", c, o)[0] + k * last)
                free = struct.unpack_from("<I", c, 48)[0]
                o = 512
                while o + 24 <= free and c[o:o + 4] == b"**\0\0":
                    struct.pack_into("<Q", c, o + 8, struct.unpack_from("<Q", c, o + 8)[0] + k * last)
                    o += struct.unpack_from("<I", c, o + 4)[0]
                struct.pack_into("<I", c, 52, zlib.crc32(c[512:free]))
                struct.pack_into("<I", c, 124, zlib.crc32(c[:120] + c[128:512]))
                out.write(c)
                n += 1
        struct.pack_into("<QQQ", hdr, 8, 0, n - 1, copies * last + 1)
        struct.pack_into("<H", hdr, 42, n % 65536)
        struct.pack_into("<I", hdr, 120, 0)
        struct.pack_into("<I", hdr, 124, zlib.crc32(hdr[:120]))
        out.seek(0)
        out.write(hdr)
    return n
