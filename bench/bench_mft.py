"""$MFT -> CSV: wintriage's own decoder vs the `mft` wheel (Rust, PyMftParser), in one run.

Usage: python bench/bench_mft.py [MFT ...]   (default: /tmp/pub.mft and a synthetic 131,072-entry MFT)

Export the scenario $MFT first, e.g. ``wintriage cat scenario/public-1.E01 '/$MFT' > /tmp/pub.mft``.
The synthetic MFT replicates the real records of the first input until it holds 131,072 entries, patching
the record number (header offset 0x2C) of each copy; parent references keep pointing into the first copy, so
paths resolve like the real ones. Rates are MFT *records* (file slots) per second.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import mft as mft_wheel

from wintriage.artifacts import mft
from wintriage.artifacts.base import ParseContext
from wintriage.parsecmd import run_parse


def synth(src: Path, dst: Path, entries: int = 131072) -> Path:
    data = src.read_bytes()
    rs = 1024
    recs = [data[i:i + rs] for i in range(0, len(data) - len(data) % rs, rs)]
    with open(dst, "wb") as fo:
        for n in range(entries):
            r = bytearray(recs[n % len(recs)])
            if r[:4] == b"FILE":
                r[0x2C:0x30] = n.to_bytes(4, "little")
            fo.write(r)
    return dst


def timed(fn) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return time.perf_counter() - t0, time.process_time() - c0, n


def ours_parse(p: Path) -> int:
    ctx = ParseContext("mft", str(p))
    return sum(1 for _ in mft.parse(p, ctx))


def ours_csv(p: Path) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = run_parse("mft", [p], csv_dir=Path(d), db=None, options={})
        return int(out["records"])


def wheel_entries(p: Path) -> int:
    n = 0
    for e in mft_wheel.PyMftParser(str(p)).entries():
        if not isinstance(e, RuntimeError):
            _ = e.full_path
        n += 1
    return n


def wheel_csv(p: Path) -> int:
    n = 0
    with tempfile.TemporaryDirectory() as d, open(Path(d) / "w.csv", "wb") as fo:
        for line in mft_wheel.PyMftParser(str(p)).entries_csv():
            if isinstance(line, bytes):
                fo.write(line)
            n += 1
    return n


def main() -> None:
    inputs = [Path(a) for a in sys.argv[1:]] or [Path("/tmp/pub.mft")]
    if len(sys.argv) == 1:
        inputs.append(synth(inputs[0], Path("/tmp/synth_131072.mft")))
    print(f"{'input':20} {'records':>8} {'tool':32} {'wall s':>7} {'rec/s wall':>10} {'cpu s':>7} "
          f"{'rec/s cpu':>10} {'rows':>7} {'cpu vs wheel csv':>16}")
    for p in inputs:
        records = os.path.getsize(p) // 1024
        results = []
        for label, fn in (("wintriage parse() (rows only)", ours_parse),
                          ("wintriage parse mft --csv", ours_csv),
                          ("mft wheel entries()+full_path", wheel_entries),
                          ("mft wheel entries_csv()", wheel_csv)):
            secs, cpu, rows = timed(lambda fn=fn, p=p: fn(p))
            results.append((label, secs, cpu, rows))
        base = results[3][2]
        for label, secs, cpu, rows in results:
            print(f"{p.name:20} {records:8d} {label:32} {secs:7.2f} {records / secs:10,.0f} {cpu:7.2f} "
                  f"{records / cpu:10,.0f} {rows:7d} {base / cpu:15.2f}x")
    _ = csv


if __name__ == "__main__":
    main()
