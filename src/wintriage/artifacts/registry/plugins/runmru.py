"""RunMRU (NTUSER): commands typed in the Run dialog (Win+R), most recent first. ``\\1`` suffix stripped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u
from ._mru import MRU_COLS, batch_row, mru_records

__all__ = ["NAME", "HIVE_TYPES", "TABLES", "CSV", "run", "timeline", "batch_row"]

NAME = "runmru"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_runmru"
TABLES = {TABLE: list(MRU_COLS)}
CSV = {TABLE: CsvShape("RECmd_RunMRU.csv", [col("ValueName", "value_name"), col("MruPosition", "mru_position"),
                                            col("Executable", "value"), tcol("OpenedOn", "last_write")])}  # fmt: skip
KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    yield from mru_records(TABLE, root, KEY, hive, ctx, strip="\\1")


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("mru_position") == 0 and d.get("last_write"):
        yield TimelineEvent(
            d["last_write"],
            "Run Dialog",
            d.get("value") or "",
            f"RunMRU: {d.get('value')}",
            d.get("user") or "",
        )
