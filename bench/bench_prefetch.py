"""Prefetch files/s: wintriage's parser vs the bare libyal calls (libfwnt + libscca) [+ plaso if installed].

Run by hand:  python bench/bench_prefetch.py [--copies 1000]
Builds a folder with N copies of the 8 shared test samples (all versions 17..31, MAM and plain).
"""

from __future__ import annotations

import argparse
import io
import shutil
import struct
import tempfile
import time
from pathlib import Path

from wintriage.artifacts import prefetch as P
from wintriage.artifacts.base import ParseContext

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "prefetch"


def make_folder(n: int) -> Path:
    d = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    samples = sorted(TESTDATA.glob("*.pf"))
    for i in range(n):
        s = samples[i % len(samples)]
        shutil.copyfile(s, d / f"{i:05d}-{s.name}")
    return d


def ours(files: list[Path]) -> int:
    rows = 0
    for f in files:
        ctx = ParseContext("prefetch", str(f))
        for _ in P.parse(f, ctx):
            rows += 1
    return rows


def ours_own_decoder(files: list[Path]) -> int:
    rows = 0
    for f in files:
        ctx = ParseContext("prefetch", str(f), options={"prefetch_own_decoder": True})
        for _ in P.parse(f, ctx):
            rows += 1
    return rows


def bare_libyal(files: list[Path]) -> int:
    import pyfwnt
    import pyscca

    rows = 0
    for f in files:
        data = f.read_bytes()
        if data[:3] == b"MAM":
            data = pyfwnt.lzxpress_huffman_decompress(data[8:], struct.unpack_from("<I", data, 4)[0])
        s = pyscca.file()
        s.open_file_object(io.BytesIO(data))
        _ = (s.executable_filename, s.prefetch_hash, s.run_count, s.format_version)
        for i in range(1 if s.format_version < 26 else 8):
            s.get_last_run_time_as_integer(i)
        for i in range(s.number_of_file_metrics_entries):
            _ = s.get_file_metrics_entry(i).filename
            rows += 1
        for i in range(s.number_of_volumes):
            v = s.get_volume_information(i)
            _ = (v.device_path, v.serial_number, v.get_creation_time_as_integer())
        s.close()
        rows += 1
    return rows


def plaso_parser(files: list[Path]) -> int | None:
    try:
        from plaso.parsers import winprefetch  # noqa: F401
    except ImportError:
        return None
    return None  # plaso's parser needs its mediator/storage plumbing; see docs/performance.md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    folder = make_folder(a.copies)
    files = sorted(folder.iterdir())
    try:
        results = []
        for name, fn in (("bare libfwnt+libscca", bare_libyal), ("wintriage prefetch.parse", ours),
                         ("wintriage, own decoder", ours_own_decoder)):
            best = float("inf")
            rows = 0
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                rows = fn(files)
                best = min(best, time.perf_counter() - t0)
            results.append((name, best, rows))
        base = results[0][1]
        print(f"{len(files)} prefetch files (8 samples, versions 17/23/26/30/30v2/31), best of {a.rounds}")
        print(f"{'parser':28} {'seconds':>8} {'files/s':>9} {'rows':>8} {'time vs bare':>12}")
        for name, secs, rows in results:
            print(f"{name:28} {secs:8.3f} {len(files) / secs:9.0f} {rows:8d} {secs / base:11.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
