"""Build a real-size scale case (folder evidence) from a real NTFS image plus synthesised records.

    python bench/make_scale_case.py [--image scenario/public-1.E01] [--mft-entries 131072]
                                    [--usn-records 1000000] [--dirs 400] -o /tmp/scale-1M

What it does (everything derives from the real C: volume of the image; nothing is invented from scratch):

1. ``wintriage extract IMAGE --triage`` collects the real triage set of the primary volume (``$MFT``,
   ``$Extend/$J``, ``$LogFile``, hives + logs, EVTX, prefetch, Chrome History, ...). That tree is copied to the
   output folder unchanged, except for ``$MFT`` and ``$Extend/$J``.
2. ``$MFT`` is grown to ``--mft-entries`` records by cloning real records, appended after the real ones:
   - ``--dirs`` directory records cloned from one real directory without ``$INDEX_ALLOCATION``
     (``/Users/Public/Documents`` when present), all children of that directory's real parent;
   - the rest are regular-file records cloned round-robin from real user files (Chrome's simple-cache
     entries ``f_xxxxxx``: base records, in use, no attribute list, no named stream, so no ADS or
     Zone.Identifier is duplicated), each placed in one of the cloned directories (round-robin).
   Each clone is un-fixed-up, patched, then re-protected: record number at header 0x2C; every ``$FILE_NAME``'s
   parent reference (file clones) and the last up-to-6 characters of its name stem replaced in place by the
   clone counter in hex (same length, so no attribute moves); the 4 ``$STANDARD_INFORMATION`` and 4
   ``$FILE_NAME`` times moved back by 60 days + (counter mod 1000) hours, so every clone predates the real
   system's activity and none falls near the incident; then the update sequence value is written back at the
   end of each 512-byte stride, with the real bytes in the update-sequence array.
3. ``$Extend/$J`` is grown to ``--usn-records`` records by replicating the real V2 records older than
   ``--template-before`` (default: the newest record minus 1 day, i.e. the background activity, not the
   incident). Copy *k* is shifted back in time by *k* times the template's time span, and the copies are written
   oldest first, then the whole real journal verbatim (its own layout, zero padding included), so timestamps
   grow with the offset and the real incident stays the most recent activity. Records are 8-byte aligned and
   never cross a 4 KiB page (zero-padded, as Windows does). Every record's USN is rewritten to
   ``first real USN + its offset in the new file`` (the real records' USNs move up by the size of the prepended
   part; ``$MFT`` ``$SI`` USN fields are not updated). File and parent references are kept, so the copies
   resolve to the real paths.

``bench/make_scale_image.py`` wraps the result into a raw disk image (the real disk with these two files put in).
The result is an extracted-volume folder that ``wintriage analyze DIR`` takes as evidence (a folder is used
in place as the primary volume). Run ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from wintriage.artifacts.mft import apply_fixups, build_resolver, detect_record_size  # noqa: E402

TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", HERE.parent.parent / "shared" / "testdata"))
DEFAULT_IMAGE = TESTDATA / "scenario" / "public-1.E01"
STRIDE = 512
HOUR = 36_000_000_000  # FILETIME ticks
DAY = 24 * HOUR
PAGE = 4096

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_USN_V2 = struct.Struct("<IHHQQqqIIIIHH")


# --- $MFT ----------------------------------------------------------------------------------------------
def unprotect(rec: bytes) -> bytearray:
    usa_off, usa_cnt = struct.unpack_from("<HH", rec, 4)
    fixed, status, problem = apply_fixups(rec, usa_off, usa_cnt)
    if status:
        raise ValueError(problem)
    return bytearray(fixed)


def protect(rec: bytearray) -> bytearray:
    """Re-apply the update sequence: real stride-end bytes go into the array, the USN value at each stride end."""
    usa_off, usa_cnt = struct.unpack_from("<HH", rec, 4)
    usn = bytes(rec[usa_off:usa_off + 2])
    for i in range(1, usa_cnt):
        end = i * STRIDE
        rec[usa_off + 2 * i:usa_off + 2 * i + 2] = rec[end - 2:end]
        rec[end - 2:end] = usn
    return rec


def attrs(rec: bytes | bytearray) -> list[tuple[int, int, int, int, int]]:
    """(type, attribute offset, non-resident, value offset, value length) of each attribute."""
    out = []
    pos = _U16.unpack_from(rec, 0x14)[0]
    used = min(_U32.unpack_from(rec, 0x18)[0], len(rec))
    while pos + 16 <= used:
        typ, ln = struct.unpack_from("<II", rec, pos)
        if typ == 0xFFFFFFFF or ln < 16 or pos + ln > used:
            break
        nonres = rec[pos + 8]
        if nonres:
            out.append((typ, pos, 1, 0, 0))
        else:
            vlen, voff = struct.unpack_from("<IH", rec, pos + 16)
            out.append((typ, pos, 0, pos + voff, vlen))
        pos += ln
    return out


def fn_name(rec: bytes | bytearray, voff: int) -> str:
    n = rec[voff + 0x40]
    return bytes(rec[voff + 0x42:voff + 0x42 + 2 * n]).decode("utf-16-le", "replace")


def record_info(rec: bytearray) -> dict[str, Any]:
    flags = _U16.unpack_from(rec, 0x16)[0]
    base = _U64.unpack_from(rec, 0x20)[0]
    at = attrs(rec)
    types = [a[0] for a in at]
    named_data = any(a[0] == 0x80 and rec[a[1] + 9] for a in at)
    names = [fn_name(rec, a[3]) for a in at if a[0] == 0x30 and not a[2]]
    return {"in_use": bool(flags & 1), "dir": bool(flags & 2), "base": base, "types": types,
            "named_data": named_data, "names": names}


def patch_clone(tpl: bytes, number: int, counter: int, parent: tuple[int, int] | None, shift: int) -> bytes:
    rec = unprotect(tpl)
    _U32.pack_into(rec, 0x2C, number)
    tag = f"{counter:06x}"
    for typ, _apos, nonres, voff, vlen in attrs(rec):
        if nonres:
            continue
        if typ == 0x10 and vlen >= 32:
            for k in range(4):
                t = _U64.unpack_from(rec, voff + 8 * k)[0]
                _U64.pack_into(rec, voff + 8 * k, max(t - shift, 1))
        elif typ == 0x30 and vlen >= 0x42:
            if parent is not None:
                _U64.pack_into(rec, voff, parent[0] | (parent[1] << 48))
            for k in range(4):
                t = _U64.unpack_from(rec, voff + 8 + 8 * k)[0]
                _U64.pack_into(rec, voff + 8 + 8 * k, max(t - shift, 1))
            name = fn_name(rec, voff)
            dot = name.rfind(".")
            stem_len = dot if dot > 0 else len(name)
            w = min(6, stem_len)
            new = name[:stem_len - w] + tag[-w:] + name[stem_len:]
            enc = new.encode("utf-16-le")
            rec[voff + 0x42:voff + 0x42 + len(enc)] = enc
    return bytes(protect(rec))


def grow_mft(src: Path, dst: Path, target: int, ndirs: int) -> dict[str, object]:
    data = src.read_bytes()
    with open(src, "rb") as fh:
        rs = detect_record_size(fh, len(data))
    n_real = len(data) // rs
    res = build_resolver(src)
    files: list[bytes] = []
    dir_tpl: tuple[int, bytes, int] | None = None  # (entry, record, parent entry)
    fallback_dir: tuple[int, bytes, int] | None = None
    for i in range(n_real):
        raw = data[i * rs:(i + 1) * rs]
        if raw[:4] != b"FILE":
            continue
        try:
            rec = unprotect(raw)
        except ValueError:
            continue
        info = record_info(rec)
        if not info["in_use"] or info["base"] or 0x20 in info["types"] or info["named_data"] or not info["names"]:
            continue
        path = res.path(i)
        if info["dir"]:
            if 0xA0 in info["types"] or i < 24:
                continue
            cand = (i, raw, res.parent[i] & 0xFFFFFFFFFFFF)
            if path.lower() == "/users/public/documents":
                dir_tpl = cand
            elif fallback_dir is None and path.count("/") >= 3:
                fallback_dir = cand
        elif "/cache/cache_data/" in path.lower() and any(len(n) == 8 and n.startswith("f_") for n in info["names"]):
            files.append(raw)
    dir_tpl = dir_tpl or fallback_dir
    if dir_tpl is None or not files:
        raise SystemExit("no template records found in the real $MFT")
    start = n_real
    dir_entries = []
    t0 = time.perf_counter()
    dir_seq = _U16.unpack_from(dir_tpl[1], 0x10)[0]
    with open(dst, "wb") as out:
        out.write(data[:n_real * rs])
        buf = bytearray()
        parent_seq = res.seq[dir_tpl[2]]
        for j in range(ndirs):
            num = start + j
            buf += patch_clone(dir_tpl[1], num, j, (dir_tpl[2], parent_seq), 60 * DAY + (j % 1000) * HOUR)
            dir_entries.append(num)
        out.write(buf)
        buf = bytearray()
        nfiles = max(0, target - start - ndirs)
        for c in range(nfiles):
            num = start + ndirs + c
            tpl = files[c % len(files)]
            parent = (dir_entries[c % ndirs], dir_seq)
            buf += patch_clone(tpl, num, c, parent, 60 * DAY + (c % 1000) * HOUR)
            if len(buf) >= 8 << 20:
                out.write(buf)
                buf = bytearray()
        out.write(buf)
    return {"record_size": rs, "real_entries": n_real, "dir_template": res.path(dir_tpl[0]),
            "file_templates": len(files), "cloned_dirs": ndirs, "cloned_files": nfiles,
            "entries": start + ndirs + nfiles, "bytes": dst.stat().st_size, "seconds": round(time.perf_counter() - t0, 1)}


# --- $J ------------------------------------------------------------------------------------------------
def real_records(j: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every V2 record in the real journal."""
    out = []
    pos = 0
    end = len(j)
    while pos + 8 <= end:
        ln, major = struct.unpack_from("<IH", j, pos)
        if ln == 0:
            pos += 8
            continue
        if major != 2 or ln < 60 or ln & 7 or pos + ln > end:
            pos += 8
            continue
        out.append((pos, ln))
        pos += ln
    return out


def grow_usn(src: Path, dst: Path, target: int, template_before: int | None) -> dict[str, object]:
    j = src.read_bytes()
    recs = real_records(j)
    ts_of = [struct.unpack_from("<q", j, o + 32)[0] for o, _ in recs]
    newest = max(ts_of)
    cutoff = template_before if template_before is not None else newest - DAY
    tpl = [(o, ln, t) for (o, ln), t in zip(recs, ts_of, strict=True) if 0 < t < cutoff]
    if not tpl:
        raise SystemExit("no journal records older than the template cutoff")
    span = max(t for *_x, t in tpl) - min(t for *_x, t in tpl) + 10_000_000
    need = max(0, target - len(recs))
    copies, part = divmod(need, len(tpl))
    first_usn = struct.unpack_from("<q", j, recs[0][0] + 24)[0]
    t0 = time.perf_counter()
    body = bytearray()

    def emit(o: int, ln: int, t: int, k: int) -> None:
        page_left = PAGE - (len(body) % PAGE)
        if ln > page_left:
            body.extend(bytes(page_left))
        r = bytearray(j[o:o + ln])
        _U64.pack_into(r, 24, first_usn + len(body))
        struct.pack_into("<q", r, 32, t - k * span)
        body.extend(r)

    # oldest first: the partial copy (latest `part` template records), then copies `copies`..1
    k_total = copies + (1 if part else 0)
    if part:
        for o, ln, t in tpl[len(tpl) - part:]:
            emit(o, ln, t, k_total)
    for k in range(copies, 0, -1):
        for o, ln, t in tpl:
            emit(o, ln, t, k)
    # the real journal, verbatim, from a page boundary
    if len(body) % PAGE:
        body.extend(bytes(PAGE - len(body) % PAGE))
    shift = len(body)
    real = bytearray(j)
    for o, _ln in recs:
        _U64.pack_into(real, o + 24, first_usn + shift + o)
    body.extend(real)
    dst.write_bytes(body)
    return {"real_records": len(recs), "template_records": len(tpl), "copies": copies, "partial_copy": part,
            "records": len(recs) + copies * len(tpl) + part, "span_days": round(span / DAY, 2),
            "oldest_shift_days": round(k_total * span / DAY, 1), "bytes": len(body),
            "seconds": round(time.perf_counter() - t0, 1)}


# --- main ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--triage", type=Path, help="an existing `extract --triage` folder (skips the extraction)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="the scale case folder (an extracted volume)")
    ap.add_argument("--mft-entries", type=int, default=131072)
    ap.add_argument("--usn-records", type=int, default=1_000_000)
    ap.add_argument("--dirs", type=int, default=400)
    ap.add_argument("--template-before", type=int, default=None, help="FILETIME; default newest $J record - 1 day")
    a = ap.parse_args(argv)

    triage = a.triage
    if triage is None:
        triage = a.out.with_name(a.out.name + ".triage")
        if not (triage / "C" / "$MFT").exists():
            subprocess.run([sys.executable, "-m", "wintriage.cli", "extract", str(a.image), "--triage",
                            "-o", str(triage)], check=True, stdout=subprocess.DEVNULL)
    vol = triage / "C" if (triage / "C" / "$MFT").exists() else triage
    if a.out.exists():
        for p in a.out.rglob("*"):
            if p.is_file():
                p.chmod(stat.S_IWUSR | stat.S_IRUSR)
        shutil.rmtree(a.out)
    shutil.copytree(vol, a.out, ignore=shutil.ignore_patterns("$MFT", "$J"))
    (a.out / "$Extend").mkdir(exist_ok=True)
    mft = grow_mft(vol / "$MFT", a.out / "$MFT", a.mft_entries, a.dirs)
    usn = grow_usn(vol / "$Extend" / "$J", a.out / "$Extend" / "$J", a.usn_records, a.template_before)
    print(f"$MFT: {mft}")
    print(f"$J:   {usn}")
    total = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file())
    print(f"scale case: {a.out} ({total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
