"""TypedURLs (NTUSER): URLs typed into Internet Explorer / legacy Edge, with TypedURLsTime (Win8+)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u
from ._mru import MRU_COLS

NAME = "typedurls"
HIVE_TYPES = {"NTUSER"}
TABLE = "reg_typedurls"
TABLES = {TABLE: [*MRU_COLS, ("typed_time", "INTEGER")]}
CSV = {TABLE: CsvShape("RECmd_TypedURLs.csv", [col("ValueName", "value_name"), col("Url", "value"),
                                              tcol("Timestamp", "typed_time"), tcol("LastWriteTimestamp", "last_write")])}  # fmt: skip
KEY = "Software\\Microsoft\\Internet Explorer\\TypedURLs"
TIME_KEY = "Software\\Microsoft\\Internet Explorer\\TypedURLsTime"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    k = u.subkey(root, KEY)
    tk = u.subkey(root, TIME_KEY)
    for v in u.values(k, ctx):
        name = u.vname(v)
        pos = int(name[3:]) - 1 if name.lower().startswith("url") and name[3:].isdigit() else None
        t = u.read_filetime(tk, name) if tk is not None else None
        yield Record(
            TABLE, u.common(hive, KEY, k, value_name=name, mru_position=pos, value=u.as_str(v), typed_time=t)
        )


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    t = d.get("typed_time") or (d.get("last_write") if d.get("mru_position") == 0 else None)
    if t:
        yield TimelineEvent(
            t, "URL Typed", d.get("value") or "", f"TypedURLs: {d.get('value')}", d.get("user") or ""
        )


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("value_name") or "", d.get("value") or "", fmt(d.get("typed_time")), "")
