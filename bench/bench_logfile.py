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
Rows: full (records table + events) and events only (``logfile_records=False``); they time ``parse_batches()``
as the pipeline consumes it (the records table comes as one ``RowBatch``). The last row is the whole ``run_file``
into a case database (rows inserted, timeline built). Each measurement runs in a fresh process, now and at a
baseline git revision (``--baseline``, extracted with ``git archive``) alternately, so both see the same load.
"log records/s" counts the LFS records read (425,980 in the dense log), also for the events-only rows.
Run by hand: ``python bench/bench_logfile.py [--runs N] [--baseline REV]``; prints a table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def run(path: Path, records: bool = True, store: bool = False) -> tuple[float, float, dict[str, int], int, float]:
    """One parse (``parse_batches``, as the pipeline consumes it; ``store``: through ``run_file`` into a case
    database, timeline included): wall s, CPU s, rows per table, warnings, peak RSS MB."""
    options = {"logfile_records": records}
    counts: dict[str, int] = {}
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
        warns = res.warnings
    else:
        ctx = ParseContext("logfile", str(path), options=options)
        t0, c0 = time.perf_counter(), time.process_time()
        for item in logfile.parse_batches(path, ctx):
            counts[item.table] = counts.get(item.table, 0) + (len(item) if isinstance(item, RowBatch) else 1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        warns = ctx.warning_count
    return wall, cpu, counts, warns, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ROWS = (  # label, input, records table, into a case store
    ("ntfs20h1 (real, sparse), full", "real", True, False),
    ("dense, full", "dense", True, False),
    ("dense, events only", "dense", False, False),
    ("dense, full, into a case store (+ timeline)", "dense", True, True),
)


def child(src_dir: str | None, path: Path, records: bool, store: bool) -> tuple[float, float, dict[str, int], int,
                                                                                  float]:
    """``run`` in a fresh process, with ``src_dir`` (a baseline's ``src``) first on the path."""
    from _baseline import one_child

    env = dict(os.environ)
    if src_dir:
        env["PYTHONPATH"] = src_dir
    r: dict[str, Any] = one_child(__file__, ["--one", str(path), str(int(records)), str(int(store))], env)
    return r["wall"], r["cpu"], r["counts"], r["warnings"], r["rss"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1, help="runs per row; the one with the least CPU time is kept")
    ap.add_argument("--baseline", default="f9e32da", help="git revision to compare with, in the same run "
                    "(default: the start of session 3); '' for none")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        wall, cpu, counts, warns, rss = run(Path(args.one[0]), args.one[1] == "1", args.one[2] == "1")
        print(json.dumps({"wall": wall, "cpu": cpu, "counts": counts, "warnings": warns, "rss": rss}))
        return 0
    src = real_log()
    with tempfile.TemporaryDirectory() as d:
        paths = {"real": Path(d) / "ntfs20h1_LogFile", "dense": Path(d) / "dense_LogFile"}
        paths["real"].write_bytes(src)
        t0 = time.perf_counter()
        paths["dense"].write_bytes(build_dense(src))
        print(f"built dense 64 MiB log in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _baseline import git_src

        base_src = str(git_src(args.baseline, Path(d))) if args.baseline else None
        rows = []
        for label, which, full, store in ROWS:
            got: dict[str, tuple[float, float, dict[str, int], int, float]] = {}
            for _ in range(args.runs):  # now and baseline alternate, so both see the same load
                for tag, sd in (("now", None), ("base", base_src)):
                    if tag == "base" and sd is None:
                        continue
                    res = child(sd, paths[which], full, store)
                    if tag not in got or res[1] < got[tag][1]:
                        got[tag] = res
            print(f"{label}: {got['now'][0]:.2f} s wall", file=sys.stderr)
            rows.append((label, paths[which].stat().st_size / (1 << 20), got))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average at the end: {load:.1f} on {os.cpu_count()} cores; best of --runs {args.runs} by CPU time; "
          f"baseline {args.baseline or 'none'})")
    print("| input | MiB | wall s | CPU s | baseline wall / CPU s | CPU ratio | MB/s (wall) | log records/s (wall) "
          "| peak RSS MB | record rows | events | USN recovered | warnings |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    log_records = 0
    for label, mb, got in rows:
        wall, cpu, counts, warns, rss = got["now"]
        recs = counts.get("logfile_records", 0)
        log_records = recs or log_records
        b = got.get("base")
        base_txt = f"{b[0]:.2f} / {b[1]:.2f}" if b else "–"
        ratio = f"{cpu / b[1]:.2f}" if b else "–"
        print(f"| {label} | {mb:.0f} | {wall:.2f} | {cpu:.2f} | {base_txt} | {ratio} | {mb / wall:.1f} | "
              f"{log_records / wall:,.0f} | {rss:.0f} | {recs:,} | {counts.get('logfile_events', 0):,} | "
              f"{counts.get('logfile_usn', 0)} | {warns} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
