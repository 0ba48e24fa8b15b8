"""Benchmark: NTFS listing, export and triage collection, side by side with The Sleuth Kit (fls, tsk_recover).

Inputs (testdata): ``scenario/public-1.E01`` (C: at byte 105906176, 1,851 MFT entries, ~40 MB of live data) and
``ntfs/ntfs20h1.tgz`` (raw, NTFS at byte 1048576; 64 MiB $LogFile).

Rows, each timed as the best of ``--runs``:
- list: every name and stream of C: (``NtfsFS.walk``) vs ``fls -r -p -o <sector>``;
- export: every live file and stream of C:, hashed MD5+SHA-256 and recorded in the manifest (``extract_paths``)
  vs ``tsk_recover -a`` (allocated files only, no hashes, no streams);
- triage: ``collect_evidence`` on the whole E01 (both NTFS volumes, KAPE tree, REGA copies); TSK has no
  equivalent, so only our figure;
- $LogFile: ``cat`` of the 64 MiB $LogFile of ntfs20h1 (raw) vs ``icat``.
Run by hand: ``python bench/bench_ntfs.py [--runs N]``; prints a table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wintriage.evidence.collect import collect_evidence, extract_paths
from wintriage.evidence.ntfs import open_fs

TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"))
PUBLIC = TESTDATA / "scenario" / "public-1.E01"
C_SECTOR = 105906176 // 512


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children: independent of machine load."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def best(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, result)."""
    out: object = None
    runs_: list[tuple[float, float]] = []
    for _ in range(runs):
        t, c = time.perf_counter(), _cpu()
        out = fn()
        runs_.append((time.perf_counter() - t, _cpu() - c))
    wall, cpu = min(runs_)
    return wall, cpu, out


def sh(*cmd: str) -> Callable[[], int]:
    def run() -> int:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return r.returncode

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmp", default=None, help="Output folder parent (e.g. /dev/shm: file creation on a busy disk "
                    "dominates both tools' export times).")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ntfs_", dir=a.tmp))
    rows: list[tuple[str, str, float, float, float | None, float | None, str]] = []
    try:
        def walk() -> int:
            with open_fs(PUBLIC) as fs:
                return sum(1 for _ in fs.walk("/"))

        t_ours, c_ours, n = best(walk, a.runs)
        t_tsk, c_tsk, _ = best(sh("fls", "-r", "-p", "-o", str(C_SECTOR), str(PUBLIC)), a.runs)
        rows.append(("list C: (walk vs fls -r)", f"{n} rows", t_ours, c_ours, t_tsk, c_tsk, ""))

        def export() -> dict[str, object]:
            out = tmp / "export"
            shutil.rmtree(out, ignore_errors=True)
            with open_fs(PUBLIC) as fs:
                return extract_paths(fs, ["/"], out)

        def tsk_export() -> int:
            out = tmp / "tsk"
            shutil.rmtree(out, ignore_errors=True)
            return sh("tsk_recover", "-a", "-o", str(C_SECTOR), str(PUBLIC), str(out))()

        t_ours, c_ours, res = best(export, a.runs)
        t_tsk, c_tsk, _ = best(tsk_export, a.runs)
        mb = res["bytes"] / 1e6  # type: ignore[index]
        rows.append(("export C: (+MD5/SHA-256) vs tsk_recover -a", f"{res['files']} files, {mb:.1f} MB",  # type: ignore[index]
                     t_ours, c_ours, t_tsk, c_tsk, f"{mb / t_ours:.0f} MB/s"))

        def triage() -> int:
            out = tmp / "triage"
            shutil.rmtree(out, ignore_errors=True)
            vols = collect_evidence(PUBLIC, out)
            return sum(v.info["files"] for v in vols)

        t_ours, c_ours, n = best(triage, a.runs)
        rows.append(("triage collect public-1.E01 (2 volumes)", f"{n} files", t_ours, c_ours, None, None, ""))

        with tarfile.open(TESTDATA / "ntfs" / "ntfs20h1.tgz") as tf:
            tf.extractall(tmp, filter="data")
        raw = tmp / "ntfs.raw"

        def cat_ours() -> int:
            with open_fs(raw) as fs:
                return sum(len(c) for c in fs.read_chunks("/$LogFile"))

        t_ours, c_ours, nb = best(cat_ours, a.runs)
        t_tsk, c_tsk, _ = best(sh("icat", "-o", "2048", str(raw), "2"), a.runs)
        mb = int(nb) / 1e6  # type: ignore[call-overload]
        rows.append(("cat $LogFile 64 MiB (raw) vs icat", f"{nb} bytes", t_ours, c_ours, t_tsk, c_tsk,
                     f"{mb / t_ours:.0f} MB/s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"best of {a.runs} runs; load average {os.getloadavg()[0]:.1f}")
    print("| task | size | wintriage s | TSK s | TSK/wintriage | CPU s wintriage | CPU s TSK | throughput |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for task, size, ours, cpu, peer, peer_cpu, extra in rows:
        if peer is None or peer_cpu is None:
            print(f"| {task} | {size} | {ours:.3f} | - | - | {cpu:.3f} | - | {extra} |")
        else:
            print(f"| {task} | {size} | {ours:.3f} | {peer:.3f} | {peer / ours:.2f} | {cpu:.3f} | {peer_cpu:.3f} | {extra} |")


if __name__ == "__main__":
    main()
