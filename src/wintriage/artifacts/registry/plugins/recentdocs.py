"""RecentDocs (NTUSER): files and folders the user opened, overall and per extension, in MRU order.

Each value holds the target name (UTF-16, NUL-terminated) followed by a shell item naming the
``.lnk`` in the Recent folder. The key's last-write time is when its most recent entry (position 0)
was opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "recentdocs"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_recentdocs"
TABLES = {
    TABLE: u.table(
        ("extension", "TEXT"),  # subkey (e.g. .docx, Folder) or '' for the main key
        ("value_name", "TEXT"),
        ("mru_position", "INTEGER"),
        ("target_name", "TEXT"),
        ("lnk_name", "TEXT"),
        ("opened", "INTEGER"),  # key last write, only for position 0
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_RecentDocs.csv",
        [
            col("KeyPath", "key_path"),
            col("Extension", "extension"),
            col("ValueName", "value_name"),
            col("MruPosition", "mru_position"),
            col("TargetName", "target_name"),
            col("LnkName", "lnk_name"),
            tcol("OpenedOn", "opened"),
            tcol("ExtensionLastOpened", "last_write"),
        ],
    )
}
KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs"


def decode_entry(data: bytes) -> tuple[str, str]:
    target = u.utf16z(data)
    off = len(target.encode("utf-16-le")) + 2
    lnk = ""
    if off + 3 <= len(data):
        try:
            item = u.decode_shell_item(data[off:])
            lnk = item.long_name or item.extra.get("short_name") or item.name
        except (ValueError, IndexError) as e:
            raise ValueError(f"shell item after the target name: {e}") from e
    return target, lnk


def _key(k: Any, kp: str, ext: str, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for name, pos, v in u.mru_entries(k, ctx):
        data = u.vdata(v)
        try:
            target, lnk = decode_entry(data)
        except (ValueError, IndexError) as e:
            ctx.warn(u.key_offset(k), f"{kp} value {name}: {e}", skipped=False)
            target, lnk = u.utf16z(data), ""
        rec = u.common(hive, kp, k, extension=ext, value_name=name, mru_position=pos, target_name=target,
                       lnk_name=lnk)  # fmt: skip
        rec["opened"] = rec["last_write"] if pos == 0 else None
        yield Record(TABLE, rec)


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    base = u.subkey(root, KEY)
    if base is None:
        return
    yield from _key(base, KEY, "", hive, ctx)
    for sk in u.subkeys(base, ctx):
        ext = u.key_name(sk)
        yield from _key(sk, f"{KEY}\\{ext}", ext, hive, ctx)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("opened"):
        yield TimelineEvent(d["opened"], "Opened", d.get("target_name") or "",
                            f"RecentDocs{(' ' + d['extension']) if d.get('extension') else ''}: {d.get('target_name')}",
                            d.get("user") or "")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("value_name") or "", d.get("target_name") or "", d.get("lnk_name") or "",
            f"MRU position {d.get('mru_position')}" + (f", opened {fmt(d['opened'])}" if d.get("opened") else ""))  # fmt: skip
