"""TypedPaths (NTUSER): paths typed into the Explorer address bar (url1 = most recent)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u
from ._mru import MRU_COLS, batch_row

__all__ = ["NAME", "HIVE_TYPES", "TABLES", "CSV", "run", "timeline", "batch_row"]

NAME = "typedpaths"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_typedpaths"
TABLES = {TABLE: list(MRU_COLS)}
CSV = {TABLE: CsvShape("RECmd_TypedPaths.csv", [col("ValueName", "value_name"), col("Url", "value"),
                                               tcol("LastWriteTimestamp", "last_write")])}  # fmt: skip
KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\TypedPaths"


def _pos(name: str) -> int | None:
    return int(name[3:]) - 1 if name.lower().startswith("url") and name[3:].isdigit() else None


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    k = u.subkey(root, KEY)
    for v in u.values(k, ctx):
        name = u.vname(v)
        yield Record(
            TABLE, u.common(hive, KEY, k, value_name=name, mru_position=_pos(name), value=u.as_str(v))
        )


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("mru_position") == 0 and d.get("last_write"):
        yield TimelineEvent(
            d["last_write"],
            "Typed Path",
            d.get("value") or "",
            f"TypedPaths: {d.get('value')}",
            d.get("user") or "",
        )
