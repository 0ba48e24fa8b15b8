"""$J -> CSV records/s on a synthetic >= 1M-record journal made from real records.

Usage: python bench/bench_usnjrnl.py [J] [--records N]   (default: /tmp/pub.J, 1,048,576 records)

Export the scenario journal first (``wintriage cat scenario/public-1.E01 '/$Extend/$UsnJrnl:$J' > /tmp/pub.J``).
The synthetic file keeps a 1 MiB sparse-like zero head, then repeats the real records (zero padding dropped)
with each record's USN patched to its new offset, until N records. There is no peer $J parser in Python to
run side by side (the `mft` wheel does not read $J); the table gives parse-only and full CSV rates.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from wintriage.artifacts import usnjrnl
from wintriage.artifacts.base import ParseContext
from wintriage.parsecmd import run_parse


def real_records(src: Path) -> list[bytes]:
    ctx = ParseContext("usnjrnl", str(src))
    data = src.read_bytes()
    return [data[r.data["offset"]:r.data["offset"] + r.data["record_length"]] for r in usnjrnl.parse(src, ctx)]


def synth(src: Path, dst: Path, n: int) -> Path:
    recs = real_records(src)
    head = 1 << 20
    with open(dst, "wb") as fo:
        fo.write(bytes(head))
        pos = head
        buf = bytearray()
        for i in range(n):
            r = bytearray(recs[i % len(recs)])
            r[24:32] = pos.to_bytes(8, "little")  # USN = offset, as Windows writes it
            buf += r
            pos += len(r)
            if len(buf) > 1 << 22:
                fo.write(buf)
                buf.clear()
        fo.write(buf)
    return dst


def main() -> None:
    argv = sys.argv[1:]
    n = 1 << 20
    if "--records" in argv:
        i = argv.index("--records")
        n = int(argv[i + 1])
        del argv[i:i + 2]
    args = argv
    src = Path(args[0]) if args else Path("/tmp/pub.J")
    dst = synth(src, Path(f"/tmp/synth_{n}.J"), n)
    print(f"synthetic $J: {dst} ({dst.stat().st_size:,} bytes, {n:,} records from {src.name})")
    t0 = time.perf_counter()
    c0 = time.process_time()
    ctx = ParseContext("usnjrnl", str(dst))
    got = sum(1 for _ in usnjrnl.parse(dst, ctx))
    t1, c1 = time.perf_counter() - t0, time.process_time() - c0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        c0 = time.process_time()
        out = run_parse("usnjrnl", [dst], csv_dir=Path(d), db=None, options={})
        t2, c2 = time.perf_counter() - t0, time.process_time() - c0
    print(f"{'step':32} {'records':>10} {'wall s':>8} {'rec/s wall':>11} {'cpu s':>8} {'rec/s cpu':>10}")
    print(f"{'parse() rows only':32} {got:10,d} {t1:8.2f} {got / t1:11,.0f} {c1:8.2f} {got / c1:10,.0f}")
    print(f"{'parse usnjrnl --csv (CLI path)':32} {out['records']:10,d} {t2:8.2f} {n / t2:11,.0f} {c2:8.2f} "
          f"{n / c2:10,.0f}")


if __name__ == "__main__":
    main()
