"""verify speed: our EWF reader vs ``ewfverify`` (Debian ewf-tools) vs ``md5sum`` of the raw media, in one run.

    python bench/bench_verify.py [E01 ...]        (default: scenario/public-1.E01 and ewf/derived/ntfs-ptrn.E01)

The raw media is exported once with our reader (into $TMPDIR/wintriage-bench) and checked against the stored MD5;
``md5sum`` of it is the physical limit (one MD5 stream, file in page cache). Each tool runs once per image, after
one warm-up read of the segment files so that all three read from the page cache. Our verify computes MD5 and
SHA1; ewfverify is run with ``-d sha1`` so it does the same work. Wall-clock MB/s and ratios are the result;
CPU seconds (user + system, all threads) are printed too because they do not depend on the machine's load.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from wintriage.evidence.image import ewf_segments, open_image, verify_image  # noqa: E402

TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", REPO.parent / "shared" / "testdata"))
DEFAULT = ["scenario/public-1.E01", "ewf/derived/ntfs-ptrn.E01"]


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, output) of a command."""
    c0 = _child_cpu()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, _child_cpu() - c0, p.stdout + p.stderr


def _warm(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(8 << 20):
                pass


def export_raw(e01: Path, out: Path) -> None:
    if out.exists():
        return
    with open_image(e01) as img, open(out, "wb") as fo:
        pos = 0
        while pos < img.size:
            buf = img.read(pos, min(16 << 20, img.size - pos))
            fo.write(buf)
            pos += len(buf)


def main(args: list[str]) -> None:
    images = [Path(a) for a in args] or [TESTDATA / r for r in DEFAULT]
    work = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "wintriage-bench"
    work.mkdir(exist_ok=True)
    have_ewf = shutil.which("ewfverify") is not None
    rows = []
    for e01 in images:
        segs = ewf_segments(e01)
        raw = work / (e01.stem + ".raw")
        export_raw(e01, raw)
        size = raw.stat().st_size
        _warm(segs + [raw])
        t_md5, c_md5, out = _timed(["md5sum", str(raw)])
        raw_md5 = out.split()[0]
        if have_ewf:
            t_ewf, c_ewf, ewf_out = _timed(["ewfverify", "-q", "-d", "sha1", *map(str, segs)])
            ewf_ok = "SUCCESS" in ewf_out
        else:
            t_ewf, c_ewf, ewf_ok = float("nan"), float("nan"), False
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = verify_image(e01)
        t_ours = time.perf_counter() - t0
        c_ours = time.process_time() - c0
        assert res["computed"]["md5"] == raw_md5, "export and verify disagree"
        rows.append((e01.name, size, t_ours, t_ewf, t_md5, c_ours, c_ewf, c_md5, res["ok"], ewf_ok))
    mb = 1e6
    print(f"{'image':16} {'MB':>5} | {'wall MB/s: ours':>15} {'ewfverify':>9} {'md5sum':>7} | "
          f"{'ours/ewfverify':>14} {'ours/md5sum':>11} | {'CPU s: ours':>11} {'ewfverify':>9} {'md5sum':>7} | ok")
    for name, size, t_o, t_e, t_m, c_o, c_e, c_m, ok_o, ok_e in rows:
        print(f"{name:16} {size / mb:5.0f} | {size / t_o / mb:15.0f} {size / t_e / mb:9.0f} {size / t_m / mb:7.0f} | "
              f"{t_e / t_o:14.2f} {t_m / t_o:11.2f} | {c_o:11.2f} {c_e:9.2f} {c_m:7.2f} | {ok_o}, {ok_e}")
    print(f"(cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main(sys.argv[1:])
