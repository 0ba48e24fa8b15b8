"""Benchmark: ``$LogFile`` parsing throughput (MB/s) on 64 MiB logs.

Two inputs, both 64 MiB:

1. ``ntfs20h1``: the real $LogFile of testdata ``ntfs/ntfs20h1.tgz`` (206 RCRD pages, the rest 0xFF).
2. ``dense``: built here from (1) so that EVERY page holds records. The circular area of the real log
   (pages 4..216, regular record pages only) is replicated back to back until the file is 64 MiB; in copy
   ``k`` every LSN (page header last-LSN and last-end-LSN, each record's this/previous/undo-next LSN) is
   moved by ``k * block_bytes / 8``, so each LSN still encodes its own file offset and all LSNs stay unique
   and increasing; pages are un-fixed-up before patching and re-protected with their update sequence after.
   The restart areas' current LSN is moved to the last copy's highest LSN.

NTFS Log Tracker (the peer) is Windows-only and closed source, so only our absolute figures are reported.
Run by hand: ``python bench/bench_logfile.py [--runs N]``; prints a table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

from wintriage.artifacts import logfile
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.logfile_lfs import SECTOR, LogFile, apply_fixup

TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"))
SIZE = 64 << 20
NONE_LSNS = (0, 0xFFFFFFFFFFFFFFFF)


def real_log() -> bytes:
    with gzip.open(TESTDATA / "logfile" / "derived" / "ntfs20h1_LogFile.bin.gz", "rb") as fh:
        return fh.read()


def _protect(page: bytearray) -> bytearray:
    usa_off, usa_count = struct.unpack_from("<HH", page, 4)
    usn = page[usa_off:usa_off + 2]
    for i in range(1, usa_count):
        end = i * SECTOR
        page[usa_off + 2 * i:usa_off + 2 * i + 2] = page[end - 2:end]
        page[end - 2:end] = usn
    return page


def build_dense(src: bytes, size: int = SIZE) -> bytes:
    lf = LogFile(src)
    ps = lf.page_size
    start = lf.log_start
    rcrd = [o for o in range(start, len(src), ps) if src[o:o + 4] == b"RCRD"]
    end = rcrd[-1] + ps
    block = end - start
    fixed = {o: apply_fixup(src[o:o + ps], o) for o in rcrd}
    headers: dict[int, list[int]] = {}
    for r in lf.records(include_unused=False):
        page = r.offset - r.offset % ps
        headers.setdefault(page, []).append(r.offset % ps)
    out = bytearray(src[:start])
    k = 0
    top = 0
    while len(out) + block <= size:
        delta = (k * block) >> 3
        for o in range(start, end, ps):
            if o not in fixed:
                out += b"\xff" * ps
                continue
            p = bytearray(fixed[o])
            for f in (8, 32):
                v = struct.unpack_from("<Q", p, f)[0]
                if v not in NONE_LSNS:
                    struct.pack_into("<Q", p, f, v + delta)
            for pos in headers.get(o, ()):
                for f in (0, 8, 16):
                    v = struct.unpack_from("<Q", p, pos + f)[0]
                    if v not in NONE_LSNS:
                        struct.pack_into("<Q", p, pos + f, v + delta)
                top = max(top, struct.unpack_from("<Q", p, pos)[0])
            out += _protect(p)
        k += 1
    out += b"\xff" * (size - len(out))
    for rp in lf.restart_pages:  # current LSN (restart area + 0) lies before the first sector end
        ra = struct.unpack_from("<H", out, rp.offset + 24)[0]
        struct.pack_into("<Q", out, rp.offset + ra, top)
    return bytes(out)


def run(path: Path, records: bool = True) -> tuple[float, float, dict[str, int], int]:
    ctx = ParseContext("logfile", str(path), options={"logfile_records": records})
    counts: dict[str, int] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for rec in logfile.parse(path, ctx):
        counts[rec.table] = counts.get(rec.table, 0) + 1
    return time.perf_counter() - t0, time.process_time() - c0, counts, ctx.warning_count


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    src = real_log()
    with tempfile.TemporaryDirectory() as d:
        real = Path(d) / "ntfs20h1_LogFile"
        real.write_bytes(src)
        dense = Path(d) / "dense_LogFile"
        t0 = time.perf_counter()
        dense.write_bytes(build_dense(src))
        print(f"built dense 64 MiB log in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rows = []
        for label, p, full in (("ntfs20h1 (real, sparse)", real, True), ("dense (replicated pages)", dense, True),
                               ("dense, events only", dense, False)):
            best: tuple[float, float, dict[str, int], int] | None = None
            for _ in range(args.runs):
                res = run(p, full)
                best = res if best is None or res[1] < best[1] else best
            assert best is not None
            wall, cpu, counts, warns = best
            mb = p.stat().st_size / (1 << 20)
            rows.append((label, mb, wall, cpu, counts.get("logfile_records", 0), counts.get("logfile_events", 0),
                         counts.get("logfile_usn", 0), warns))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average at the end: {load:.1f} on {os.cpu_count()} cores)")
    print("| input | MiB | wall s | CPU s | MB/s (CPU) | records | events | USN recovered | warnings |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, mb, wall, cpu, recs, evs, usn, warns in rows:
        print(f"| {label} | {mb:.0f} | {wall:.2f} | {cpu:.2f} | {mb / cpu:.1f} | {recs} | {evs} | {usn} | {warns} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
