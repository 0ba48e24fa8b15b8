"""WordWheelQuery (NTUSER): terms searched in the Explorer / Start search box, most recent first."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u
from ._mru import MRU_COLS, batch_row, mru_records

__all__ = ["NAME", "HIVE_TYPES", "TABLES", "CSV", "run", "timeline", "batch_row"]

NAME = "wordwheelquery"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_wordwheelquery"
TABLES = {TABLE: list(MRU_COLS)}
CSV = {TABLE: CsvShape("RECmd_WordWheelQuery.csv", [col("ValueName", "value_name"), col("MruPosition", "mru_position"),
                                                   col("SearchTerm", "value"), tcol("LastWriteTimestamp", "last_write")])}  # fmt: skip
KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\WordWheelQuery"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    yield from mru_records(TABLE, root, KEY, hive, ctx)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("mru_position") == 0 and d.get("last_write"):
        yield TimelineEvent(
            d["last_write"],
            "Searched",
            d.get("value") or "",
            f"Search: {d.get('value')}",
            d.get("user") or "",
        )
