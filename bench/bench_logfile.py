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
Rows: full (records table + events) and events only (``logfile_records=False``), each with one process
(``logfile_workers=1``, the default) and with two (``logfile_workers=2``: a forked worker reads the second half of
the log's pages); they time ``parse_batches()`` as the pipeline consumes it (the records table comes as one
``RowBatch``). The last row is the whole ``run_file`` into a case database (rows inserted, timeline built).
"log records/s" counts the LFS records read (425,980 in the dense log), also for the events-only rows.
Run by hand: ``python bench/bench_logfile.py [--runs N]``; prints a table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path

from wintriage.artifacts import logfile
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.logfile_lfs import SECTOR, LogFile, apply_fixup
from wintriage.model import RowBatch
from wintriage.pipeline import run_file
from wintriage.sinks import StoreSink
from wintriage.store.case import CaseWriter

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


def run(path: Path, records: bool = True, workers: int = 2,
        store: bool = False) -> tuple[float, float, float, dict[str, int], int]:
    """One parse (``parse_batches``, as the pipeline consumes it; ``store``: through ``run_file`` into a case
    database, timeline included): wall s, CPU s of this process, CPU s of worker processes, rows per table,
    warnings."""
    options = {"logfile_records": records, "logfile_workers": workers}
    counts: dict[str, int] = {}
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if store:
        with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
            case = CaseWriter(Path(d) / "case.sqlite")
            t0, c0 = time.perf_counter(), time.process_time()
            res = run_file(logfile, path, StoreSink(case), options=options, hash_input=False)
            case.close()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            db = sqlite3.connect(Path(d) / "case.sqlite")
            for t in ("logfile_records", "logfile_events", "logfile_usn"):
                counts[t] = db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            db.close()
        ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
        return wall, cpu, child, counts, res.warnings
    ctx = ParseContext("logfile", str(path), options=options)
    t0, c0 = time.perf_counter(), time.process_time()
    for item in logfile.parse_batches(path, ctx):
        counts[item.table] = counts.get(item.table, 0) + (len(item) if isinstance(item, RowBatch) else 1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    return wall, cpu, child, counts, ctx.warning_count


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1, help="runs per row; the one with the least wall time is kept")
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
        for label, p, full, workers, store in (
            ("ntfs20h1 (real, sparse), full", real, True, 1, False),
            ("dense, full, 1 process", dense, True, 1, False),
            ("dense, full, 2 processes", dense, True, 2, False),
            ("dense, events only, 1 process", dense, False, 1, False),
            ("dense, events only, 2 processes", dense, False, 2, False),
            ("dense, full, into a case store (+ timeline)", dense, True, 1, True),
        ):
            best: tuple[float, float, float, dict[str, int], int] | None = None
            for _ in range(args.runs):
                res = run(p, full, workers, store)
                best = res if best is None or res[0] < best[0] else best
            assert best is not None
            wall, cpu, child, counts, warns = best
            mb = p.stat().st_size / (1 << 20)
            print(f"{label}: {wall:.2f} s wall", file=sys.stderr)
            rows.append((label, mb, wall, cpu, child, counts.get("logfile_records", 0),
                         counts.get("logfile_events", 0), counts.get("logfile_usn", 0), warns))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average at the end: {load:.1f} on {os.cpu_count()} cores)")
    print("(best of --runs by wall time; CPU s: user + system of the parsing process, and of its worker)")
    print("| input | MiB | wall s | CPU s main | CPU s worker | MB/s (wall) | log records/s (wall) | record rows "
          "| events | USN recovered | warnings |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    log_records = {True: 0}
    for label, mb, wall, cpu, child, recs, evs, usn, warns in rows:
        n = recs or log_records.get(True, 0)
        if recs:
            log_records[True] = recs
        print(f"| {label} | {mb:.0f} | {wall:.2f} | {cpu:.2f} | {child:.2f} | {mb / wall:.1f} | {n / wall:,.0f} | "
              f"{recs:,} | {evs:,} | {usn} | {warns} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
