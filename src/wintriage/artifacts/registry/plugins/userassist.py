"""UserAssist (NTUSER): programs and shortcuts run through Explorer, with run counts and last run.

``Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{GUID}\\Count``; value names are
ROT13. Version 5 (Windows 7+) values are 72 bytes: session, run count, focus count, focus time (ms),
..., last run FILETIME at 60. Version 3 (XP/2003) values are 16 bytes: session, run count (XP starts
counting at 5, so 5 is subtracted), last run FILETIME at 8. The ``UEME_CTLSESSION`` value is a session
record, not a program, and is not reported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "userassist"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_userassist"
TABLES = {
    TABLE: u.table(
        ("guid", "TEXT"),
        ("value_name", "TEXT"),  # ROT13-decoded name as stored
        ("program_name", "TEXT"),  # known-folder GUID resolved
        ("format_version", "INTEGER"),
        ("session_id", "INTEGER"),
        ("run_count", "INTEGER"),
        ("focus_count", "INTEGER"),
        ("focus_time_ms", "INTEGER"),
        ("last_run", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_UserAssist.csv",
        [
            col("KeyPath", "key_path"),
            col("BatchValueName", "value_name"),
            col("ProgramName", "program_name"),
            col("RunCounter", "run_count"),
            col("FocusCount", "focus_count"),
            col("FocusTime", "focus_time_ms"),
            tcol("LastExecuted", "last_run"),
            col("User", "user"),
        ],
    )
}

KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist"
SKIP = {"UEME_CTLSESSION"}


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    ua = u.subkey(root, KEY)
    for gk in u.subkeys(ua, ctx):
        guid = u.key_name(gk)
        count = u.subkey(gk, "Count")
        if count is None:
            continue
        version = u.read_int(gk, "Version")
        kp = f"{KEY}\\{guid}\\Count"
        for v in u.values(count, ctx):
            raw = u.vname(v)
            name = u.rot13(raw)
            if name in SKIP:
                continue
            data = u.vdata(v)
            rec = u.common(hive, kp, count, guid=guid, value_name=name, program_name=name)
            if name.startswith("UEME_") and ":" in name:
                rec["program_name"] = name.split(":", 1)[1]
            else:
                rec["program_name"] = u.resolve_known_folder(name)
            if len(data) >= 72:
                sess, runs, focus, ftime = struct.unpack_from("<4I", data, 0)
                rec.update(
                    format_version=5, session_id=sess, run_count=runs, focus_count=focus,
                    focus_time_ms=ftime, last_run=u.filetime_at(data, 60),
                )  # fmt: skip
            elif len(data) >= 16:
                sess, runs = struct.unpack_from("<2I", data, 0)
                rec.update(
                    format_version=3, session_id=sess, run_count=runs - 5 if runs >= 5 else runs,
                    last_run=u.filetime_at(data, 8),
                )  # fmt: skip
            else:
                ctx.warn(u.key_offset(count), f"UserAssist value {name!r}: {len(data)} bytes, need 16 or 72")
                continue
            if version is not None and version not in (3, 5):
                rec["format_version"] = version
            yield Record(TABLE, rec)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_run"):
        yield TimelineEvent(
            d["last_run"], "Last Run", d.get("program_name") or "",
            f"UserAssist: {d.get('program_name')} run {d.get('run_count')} times", d.get("user") or "",
        )  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    """RECmd (plugin) columns: value name, ValueData, ValueData2, ValueData3."""
    d = rec.data
    return (
        d.get("value_name") or "",
        f"{d.get('program_name')} | Run count: {d.get('run_count')}"
        + (
            f" | Focus count: {d['focus_count']} | Focus time (ms): {d['focus_time_ms']}"
            if d.get("focus_count") is not None
            else ""
        ),
        fmt(d.get("last_run")),
        "",
    )
