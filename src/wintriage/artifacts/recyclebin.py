"""Recycle Bin ``$Recycle.Bin/<SID>/$I*`` index files, version 1 (Vista to 8.1: fixed 520-byte path) and
version 2 (Windows 10+: length-prefixed path). Each is linked to its ``$R`` twin (same suffix) and to the
user's SID (the folder name)."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..model import Record, TimelineEvent
from ._shellitems import safe_ft, utf16z
from .base import CsvShape, ParseContext, col, tcol

NAME = "recyclebin"
CATEGORY = "file"
MAX_I = 1 << 20
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)

TABLES: dict[str, list[tuple[str, str]]] = {
    "recyclebin": [
        ("source_name", "TEXT"),
        ("version", "INTEGER"),
        ("file_type", "TEXT"),
        ("original_path", "TEXT"),
        ("file_size", "INTEGER"),
        ("deleted_on", "INTEGER"),
        ("sid", "TEXT"),
        ("r_name", "TEXT"),
        ("r_present", "INTEGER"),
        ("r_is_directory", "INTEGER"),
    ]
}

CSV = {
    "recyclebin": CsvShape(
        "RBCmd_Output.csv",
        [
            col("SourceName", "source_name"),
            col("FileType", "file_type"),
            col("FileName", "original_path"),
            col("FileSize", "file_size"),
            tcol("DeletedOn", "deleted_on"),
            col("SID", "sid"),
            col("RFileName", "r_name"),
            col("RFilePresent", "r_present"),
        ],
    )
}


def decode_i(data: bytes) -> tuple[int, int, int | None, str]:
    """(version, size, deletion FILETIME, original path). Raises ValueError with the offset in the text."""
    if len(data) < 24:
        raise ValueError(f"offset 0: $I header needs 24 bytes, file has {len(data)}")
    version, size, deleted = struct.unpack_from("<QqQ", data, 0)
    if version == 1:
        if len(data) < 26:
            raise ValueError(f"offset 24: v1 path needs bytes, file has {len(data)}")
        path, _ = utf16z(data, 24, 24 + 520)
    elif version == 2:
        if len(data) < 28:
            raise ValueError(f"offset 24: v2 path length needs 4 bytes, file has {len(data)}")
        (nchars,) = struct.unpack_from("<I", data, 24)
        need = 28 + nchars * 2
        if nchars == 0 or nchars > 32768:
            raise ValueError(f"offset 24: v2 path length {nchars} out of range")
        if need > len(data):
            raise ValueError(f"offset 28: v2 path needs {nchars * 2} bytes, {len(data) - 28} available")
        path, _ = utf16z(data, 28, need)
    else:
        raise ValueError(f"offset 0: unknown $I version {version}")
    return version, size, safe_ft(deleted), path


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    name = path.name
    if not name.upper().startswith("$I"):
        if name.upper().startswith("$R") or name.lower() == "desktop.ini":
            return  # content files and folder settings are not index records
        ctx.warn(None, f"not a $I index file: {name}", skipped=False)
        return
    try:
        if path.stat().st_size > MAX_I:
            ctx.warn(0, f"{path.stat().st_size} bytes is too large for a $I file")
            return
        data = path.read_bytes()
    except OSError as e:
        ctx.warn(None, f"cannot read: {e}")
        return
    try:
        version, size, deleted, original = decode_i(data)
    except ValueError as e:
        text = str(e)
        m = re.match(r"offset (\d+)", text)
        ctx.warn(int(m.group(1)) if m else 0, text)
        return
    label = (ctx.source or str(path)).replace("\\", "/")
    parent = label.rsplit("/", 2)[-2] if label.count("/") >= 1 else path.parent.name
    sid = parent if _SID.match(parent or "") else (path.parent.name if _SID.match(path.parent.name) else "")
    r_name = "$R" + name[2:]
    r_path = path.parent / r_name
    yield Record("recyclebin", {
        "source_name": ctx.source or str(path), "version": version, "file_type": "$I", "original_path": original,
        "file_size": size, "deleted_on": deleted, "sid": sid, "r_name": r_name, "r_present": int(r_path.exists()),
        "r_is_directory": int(r_path.is_dir()),
    })


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if not d.get("deleted_on"):
        return ()
    return (TimelineEvent(d["deleted_on"], "Deleted", d.get("original_path") or "",
                          f"moved to Recycle Bin ({d.get('file_size')} bytes) as {d.get('r_name')}; SID {d.get('sid')}"),)
