"""A generic MRU-of-strings plugin body shared by RunMRU, TypedPaths, TypedURLs and WordWheelQuery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ....model import Record
from ...base import ParseContext
from . import _util as u

MRU_COLS = u.table(("value_name", "TEXT"), ("mru_position", "INTEGER"), ("value", "TEXT"))


def text_of(v: Any) -> str:
    t = u.vtype(v)
    if t == u.REG_BINARY or t == u.REG_NONE:
        return u.utf16z(u.vdata(v))
    s = u.as_str(v) or ""
    return s


def mru_records(table: str, root: Any, key_path: str, hive: u.HiveLike, ctx: ParseContext,
                strip: str = "") -> Iterator[Record]:  # fmt: skip
    k = u.subkey(root, key_path)
    if k is None:
        return
    for name, pos, v in u.mru_entries(k, ctx):
        s = text_of(v)
        if strip and s.endswith(strip):
            s = s[: -len(strip)]
        rec = u.common(hive, key_path, k, value_name=name, mru_position=pos, value=s)
        yield Record(table, rec)


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    pos = d.get("mru_position")
    return (d.get("value_name") or "", d.get("value") or "", "" if pos is None else f"MRU position {pos}", "")
