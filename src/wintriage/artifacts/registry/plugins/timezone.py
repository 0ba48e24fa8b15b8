"""TimeZoneInformation (SYSTEM): the system's time zone; feeds the case display zone.

``display_offset_minutes(record)`` gives the UTC offset (minutes east of UTC) to display times in:
``-ActiveTimeBias`` when present (the bias in force when the system last ran), else ``-Bias``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "timezone"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_timezone"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("time_zone_key_name", "TEXT"),
        ("bias", "INTEGER"),  # minutes; UTC = local + bias
        ("active_time_bias", "INTEGER"),
        ("standard_name", "TEXT"),
        ("standard_bias", "INTEGER"),
        ("daylight_name", "TEXT"),
        ("daylight_bias", "INTEGER"),
        ("dynamic_dst_disabled", "INTEGER"),
        ("offset_minutes", "INTEGER"),  # display offset east of UTC
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_TimeZoneInfo.csv",
        [
            col("ControlSet", "control_set"),
            col("TimeZoneKeyName", "time_zone_key_name"),
            col("Bias", "bias"),
            col("ActiveTimeBias", "active_time_bias"),
            col("StandardName", "standard_name"),
            col("DaylightName", "daylight_name"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}


def _signed(v: int | None) -> int | None:
    if v is None:
        return None
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def display_offset_minutes(record: Record | dict[str, Any]) -> int | None:
    """Minutes east of UTC for displaying times in the system's zone (e.g. 540 for KST)."""
    d = record.data if isinstance(record, Record) else record
    b = d.get("active_time_bias")
    if b is None:
        b = d.get("bias")
    return None if b is None else -int(b)


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for cs_name, cs in u.control_sets(root, hive, ctx):
        rel = "Control\\TimeZoneInformation"
        k = u.subkey(cs, rel)
        if k is None:
            continue
        rec = u.common(
            hive, f"{cs_name}\\{rel}", k, control_set=cs_name,
            time_zone_key_name=u.read_str(k, "TimeZoneKeyName"),
            bias=_signed(u.read_int(k, "Bias")),
            active_time_bias=_signed(u.read_int(k, "ActiveTimeBias")),
            standard_name=u.read_str(k, "StandardName"),
            standard_bias=_signed(u.read_int(k, "StandardBias")),
            daylight_name=u.read_str(k, "DaylightName"),
            daylight_bias=_signed(u.read_int(k, "DaylightBias")),
            dynamic_dst_disabled=u.read_int(k, "DynamicDaylightTimeDisabled"),
        )  # fmt: skip
        rec["offset_minutes"] = display_offset_minutes(rec)
        yield Record(TABLE, rec)


def timeline(rec: Record) -> Iterator[TimelineEvent]:
    """Time zone settings are context, not events: no timeline rows."""
    return iter(())


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return ("TimeZoneKeyName", d.get("time_zone_key_name") or "",
            f"Bias: {d.get('bias')} | ActiveTimeBias: {d.get('active_time_bias')}", f"UTC offset (min): {d.get('offset_minutes')}")  # fmt: skip
