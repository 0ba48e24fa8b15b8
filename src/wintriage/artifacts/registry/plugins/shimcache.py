"""ShimCache / AppCompatCache (SYSTEM): file paths the application-compatibility engine looked at.

``<ControlSet>\\Control\\Session Manager\\AppCompatCache\\AppCompatCache`` (XP:
``AppCompatibility\\AppCompatCache``). Every control set is reported (like AppCompatCacheParser), with
the entry position (0 = most recent). Formats:

- XP 32-bit: magic 0xDEADBEEF, 400-byte header, 552-byte entries (path[520], last modified, size, last update)
- 2003 / Vista / 2008 (magic 0xBADC0FEE, 8-byte header): 24-byte (32-bit) or 32-byte (64-bit) entries;
  Vista's carry insert flags (bit 0x2 = executed), 2003's a file size
- 7 / 2008 R2 (0xBADC0FEE, 128-byte header): 32-byte (32-bit) or 48-byte (64-bit) entries, insert flags
- 8.0 (``00ts``) and 8.1 (``10ts``) entries after a 128-byte header, insert flags (0x2 = executed)
- 10 / 11 (header size 0x30 or 0x34, ``10ts`` entries): path, last modified, data
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvColumn, CsvShape, ParseContext, bool_str, col, tcol
from . import _util as u

NAME = "shimcache"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_shimcache"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("format", "TEXT"),
        ("position", "INTEGER"),
        ("path", "TEXT"),
        ("last_modified", "INTEGER"),
        ("last_update", "INTEGER"),
        ("file_size", "INTEGER"),
        ("executed", "INTEGER"),  # 1/0, NULL where the format does not record it
        ("insert_flags", "INTEGER"),
        ("data_size", "INTEGER"),
        ("duplicate", "INTEGER"),
    )
}


def _executed(d: dict[str, Any], _tz: Any) -> str:
    v = d.get("executed")
    return "NA" if v is None else bool_str(v)


CSV = {
    TABLE: CsvShape(
        "AppCompatCache.csv",
        [
            col("ControlSet", "control_set"),
            col("CacheEntryPosition", "position"),
            col("Path", "path"),
            tcol("LastModifiedTimeUTC", "last_modified"),
            CsvColumn("Executed", _executed),
            CsvColumn("Duplicate", lambda d, _tz: bool_str(d.get("duplicate"))),
            col("SourceFile", "hive_path"),
        ],
    )
}

Entry = dict[str, Any]


def _path(blob: bytes, off: int, length: int) -> str:
    if off < 0 or length < 0 or off + length > len(blob):
        raise ValueError(f"path at {off} (+{length}) outside the {len(blob)}-byte value")
    return blob[off : off + length].decode("utf-16-le", "replace")


def _xp(blob: bytes) -> Iterator[Entry]:
    (count,) = struct.unpack_from("<I", blob, 4)
    off = 400
    for i in range(count):
        if off + 552 > len(blob):
            raise ValueError(f"XP entry {i} at {off} needs 552 bytes, {len(blob) - off} available")
        yield {
            "path": u.utf16z(blob[off : off + 520]),
            "last_modified": u.filetime_at(blob, off + 528),
            "file_size": struct.unpack_from("<Q", blob, off + 536)[0],
            "last_update": u.filetime_at(blob, off + 544),
            "_off": off,
        }
        off += 552


def _plausible(blob: bytes, off: int, is64: bool) -> bool:
    if off + (32 if is64 else 24) > len(blob):
        return False
    ln, mx = struct.unpack_from("<HH", blob, off)
    if is64:
        pad, poff = struct.unpack_from("<IQ", blob, off + 4)
        if pad != 0:
            return False
    else:
        (poff,) = struct.unpack_from("<I", blob, off + 4)
    return 0 < ln <= mx and ln % 2 == 0 and mx <= ln + 4 and 0 < poff < len(blob) and poff + ln <= len(blob)


def _badc0fee(blob: bytes) -> tuple[str, Iterator[Entry]]:
    (count,) = struct.unpack_from("<I", blob, 4)
    # Windows 7 / 2008 R2: 128-byte header
    if _plausible(blob, 128, True):
        return "Windows 7 64-bit", _nt6(blob, count, 128, 48, True, win7=True)
    if _plausible(blob, 128, False) and not _plausible(blob, 8, False):
        return "Windows 7 32-bit", _nt6(blob, count, 128, 32, False, win7=True)
    if _plausible(blob, 8, True):
        return "Windows Vista/2003 64-bit", _nt6(blob, count, 8, 32, True, win7=False)
    if _plausible(blob, 8, False):
        return "Windows Vista/2003 32-bit", _nt6(blob, count, 8, 24, False, win7=False)
    if count == 0:
        return "Windows 7", iter(())
    raise ValueError("0xBADC0FEE cache: no plausible first entry at offset 8 or 128")


def _nt6(blob: bytes, count: int, start: int, esize: int, is64: bool, win7: bool) -> Iterator[Entry]:
    off = start
    for i in range(count):
        if off + esize > len(blob):
            raise ValueError(f"entry {i} at {off} needs {esize} bytes, {len(blob) - off} available")
        ln, _mx = struct.unpack_from("<HH", blob, off)
        if is64:
            (poff,) = struct.unpack_from("<Q", blob, off + 8)
            rest = off + 16
        else:
            (poff,) = struct.unpack_from("<I", blob, off + 4)
            rest = off + 8
        e: Entry = {"_off": off, "last_modified": u.filetime_at(blob, rest)}
        if win7:
            flags, _shim = struct.unpack_from("<II", blob, rest + 8)
            e["insert_flags"] = flags
            e["executed"] = 1 if flags & 0x2 else 0
            dsize = struct.unpack_from("<Q" if is64 else "<I", blob, rest + 16)[0]
            e["data_size"] = dsize
        else:
            # Vista: insert flags + shim flags; 2003: file size. A size is usually > 0xFFFF or 0 in
            # the high dword, flags are small: report flags when the value looks like flags.
            (q,) = struct.unpack_from("<Q", blob, rest + 8)
            lo, hi = q & 0xFFFFFFFF, q >> 32
            if lo < 0x100 and hi < 0x100:
                e["insert_flags"] = lo
                e["executed"] = 1 if lo & 0x2 else 0
            else:
                e["file_size"] = q
        try:
            e["path"] = _path(blob, poff, ln)
        except ValueError as ex:
            e["_error"] = str(ex)
        yield e
        off += esize


def _win8(blob: bytes, start: int, sig: bytes) -> Iterator[Entry]:
    off = start
    while off + 12 <= len(blob):
        if blob[off : off + 4] != sig:
            raise ValueError(f"entry at {off}: signature {blob[off : off + 4]!r}, expected {sig!r}")
        (esize,) = struct.unpack_from("<I", blob, off + 8)
        body = off + 12
        end = body + esize
        if end > len(blob):
            raise ValueError(f"entry at {off} needs {esize} bytes, {len(blob) - body} available")
        p = body
        (pl,) = struct.unpack_from("<H", blob, p)
        path = _path(blob, p + 2, pl)
        p += 2 + pl
        e: Entry = {"_off": off, "path": path}
        if sig == b"10ts" and start == 128:  # 8.1: package name
            (kl,) = struct.unpack_from("<H", blob, p)
            p += 2 + kl
        if start == 128:
            flags, _shim = struct.unpack_from("<II", blob, p)
            e["insert_flags"] = flags
            e["executed"] = 1 if flags & 0x2 else 0
            p += 8
        e["last_modified"] = u.filetime_at(blob, p)
        if p + 12 <= end:
            e["data_size"] = struct.unpack_from("<I", blob, p + 8)[0]
        yield e
        off = end


def parse_cache(blob: bytes) -> tuple[str, Iterator[Entry]]:
    """Identify the format of an AppCompatCache blob; returns (format name, entry iterator).

    Raises ValueError for unknown/too-short data; the iterator raises ValueError at a corrupt entry.
    """
    if len(blob) < 8:
        raise ValueError(f"AppCompatCache needs at least 8 bytes, {len(blob)} available")
    (magic,) = struct.unpack_from("<I", blob, 0)
    if magic == 0xDEADBEEF:
        return "Windows XP", _xp(blob)
    if magic == 0xBADC0FEE:
        return _badc0fee(blob)
    if magic == 0x80 and len(blob) >= 132:
        sig = blob[128:132]
        if sig == b"00ts":
            return "Windows 8.0", _win8(blob, 128, b"00ts")
        if sig == b"10ts":
            return "Windows 8.1", _win8(blob, 128, b"10ts")
    if magic in (0x30, 0x34) and len(blob) >= magic + 4 and blob[magic : magic + 4] == b"10ts":
        return ("Windows 10" if magic == 0x30 else "Windows 10/11"), _win8(blob, magic, b"10ts")
    if magic in (0x30, 0x34) and len(blob) == magic:
        return "Windows 10/11", iter(())
    raise ValueError(f"unknown AppCompatCache signature 0x{magic:08X}")


KEYS = ("Control\\Session Manager\\AppCompatCache", "Control\\Session Manager\\AppCompatibility")


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for cs_name, cs in u.control_sets(root, hive, ctx):
        for rel in KEYS:
            key = u.subkey(cs, rel)
            v = u.value(key, "AppCompatCache")
            if v is None:
                continue
            blob = u.vdata(v)
            kp = f"{cs_name}\\{rel}"
            try:
                fmt_name, entries = parse_cache(blob)
            except (ValueError, struct.error) as e:
                ctx.warn(None, f"{kp}\\AppCompatCache: {e}")
                continue
            seen: set[str] = set()
            pos = 0
            try:
                for ent in entries:
                    if "_error" in ent:
                        ctx.warn(ent["_off"], f"{kp} entry {pos}: {ent['_error']}")
                        pos += 1
                        continue
                    path = ent.get("path") or ""
                    rec = u.common(hive, kp, key, control_set=cs_name, format=fmt_name, position=pos)
                    rec.update({k: v for k, v in ent.items() if not k.startswith("_")})
                    rec["duplicate"] = 1 if path.lower() in seen else 0
                    seen.add(path.lower())
                    yield Record(TABLE, rec)
                    pos += 1
            except (ValueError, struct.error) as e:
                ctx.warn(None, f"{kp} ({fmt_name}) stopped after {pos} entries: {e}")


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_modified"):
        ex = {1: ", executed", 0: ""}.get(d.get("executed"), "")  # type: ignore[arg-type]
        yield TimelineEvent(
            d["last_modified"], "ShimCache Last Modified", d.get("path") or "",
            f"ShimCache entry {d.get('position')} ({d.get('control_set')}){ex}: {d.get('path')}",
        )  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    ex = {1: "Executed", 0: "Not executed"}.get(d.get("executed"), "")  # type: ignore[arg-type]
    return (
        str(d.get("position")),
        d.get("path") or "",
        fmt(d.get("last_modified")),
        f"{d.get('control_set')} {ex}".strip(),
    )
