"""Open/Save dialog MRUs (NTUSER ``Explorer\\ComDlg32``).

- ``OpenSavePidlMRU\\<ext>|*``: PIDLs (shell item lists) of files chosen in Open/Save dialogs (Vista+)
- ``LastVisitedPidlMRU``: program name (UTF-16) + PIDL of the folder it last used (Vista+)
- ``OpenSaveMRU`` / ``LastVisitedMRU`` (XP): plain strings (program\\0folder for LastVisitedMRU)

The key's last-write time is when its most recent entry (position 0) was used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "opensavemru"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_opensavemru"
TABLES = {
    TABLE: u.table(
        (
            "mru_type",
            "TEXT",
        ),  # OpenSavePidlMRU | LastVisitedPidlMRU | OpenSaveMRU | LastVisitedMRU | CIDSizeMRU
        ("extension", "TEXT"),
        ("value_name", "TEXT"),
        ("mru_position", "INTEGER"),
        ("program", "TEXT"),
        ("path", "TEXT"),
        ("mft_entry", "INTEGER"),
        ("mft_seq", "INTEGER"),
        ("opened", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_OpenSaveMRU.csv",
        [
            col("MruType", "mru_type"),
            col("Extension", "extension"),
            col("ValueName", "value_name"),
            col("MruPosition", "mru_position"),
            col("Executable", "program"),
            col("AbsolutePath", "path"),
            tcol("OpenedOn", "opened"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}
KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32"


def _pidl(data: bytes) -> tuple[str, int | None, int | None]:
    path, items = u.idlist_path(data)
    last = items[-1] if items else None
    return path, (last.mft_entry if last else None), (last.mft_seq if last else None)


def _rec(hive: u.HiveLike, kp: str, k: Any, pos: int | None, **kw: Any) -> Record:
    rec = u.common(hive, kp, k, mru_position=pos, **kw)
    rec["opened"] = rec["last_write"] if pos == 0 else None
    return Record(TABLE, rec)


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    base = u.subkey(root, KEY)
    if base is None:
        return
    for mt in ("OpenSavePidlMRU", "OpenSaveMRU"):
        mk = u.subkey(base, mt)
        for ek in u.subkeys(mk, ctx):
            ext = u.key_name(ek)
            kp = f"{KEY}\\{mt}\\{ext}"
            for name, pos, v in u.mru_entries(ek, ctx):
                data = u.vdata(v)
                if mt == "OpenSaveMRU":
                    yield _rec(
                        hive, kp, ek, pos, mru_type=mt, extension=ext, value_name=name, path=u.as_str(v)
                    )
                    continue
                try:
                    path, ent, seq = _pidl(data)
                except (ValueError, IndexError) as e:
                    ctx.warn(u.key_offset(ek), f"{kp} value {name}: PIDL: {e}", skipped=False)
                    path, ent, seq = "", None, None
                yield _rec(hive, kp, ek, pos, mru_type=mt, extension=ext, value_name=name, path=path,
                           mft_entry=ent, mft_seq=seq)  # fmt: skip
    for mt in ("LastVisitedPidlMRU", "LastVisitedPidlMRULegacy", "CIDSizeMRU", "LastVisitedMRU"):
        mk = u.subkey(base, mt)
        if mk is None:
            continue
        kp = f"{KEY}\\{mt}"
        for name, pos, v in u.mru_entries(mk, ctx):
            data = u.vdata(v)
            if u.vtype(v) in (u.REG_SZ, u.REG_EXPAND_SZ):  # XP LastVisitedMRU: "prog.exe" only / OpenSave
                yield _rec(hive, kp, mk, pos, mru_type=mt, value_name=name, program=u.as_str(v))
                continue
            prog = u.utf16z(data)
            off = len(prog.encode("utf-16-le")) + 2
            folder: str | None = None
            ent = seq = None
            if mt == "LastVisitedMRU":
                folder = u.utf16z(data[off:])
            elif mt != "CIDSizeMRU" and off < len(data):
                try:
                    folder, ent, seq = _pidl(data[off:])
                except (ValueError, IndexError) as e:
                    ctx.warn(u.key_offset(mk), f"{kp} value {name}: PIDL: {e}", skipped=False)
            yield _rec(hive, kp, mk, pos, mru_type=mt, value_name=name, program=prog, path=folder,
                       mft_entry=ent, mft_seq=seq)  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("opened"):
        what = d.get("path") or d.get("program") or ""
        yield TimelineEvent(d["opened"], "Opened/Saved", what,
                            f"{d.get('mru_type')}: {d.get('program') or ''} {what}".strip(), d.get("user") or "")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("value_name") or "", d.get("path") or d.get("program") or "", d.get("program") or d.get("extension") or "",
            fmt(d.get("opened")))  # fmt: skip
