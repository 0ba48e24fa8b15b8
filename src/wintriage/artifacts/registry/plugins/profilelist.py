"""ProfileList (SOFTWARE): SID -> profile path -> user name. Used to attribute NTUSER/UsrClass data.

``user_map(records)`` builds ``{sid: user}`` for other plugins (e.g. BAM rows carry SIDs only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "profilelist"
HIVE_TYPES = {"SOFTWARE"}
TABLE = "reg_profilelist"
TABLES = {
    TABLE: u.table(
        ("profile_sid", "TEXT"),
        ("profile_path", "TEXT"),
        ("user_name", "TEXT"),
        ("state", "INTEGER"),
        ("flags", "INTEGER"),
        ("profile_load_time", "INTEGER"),
        ("profile_unload_time", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_ProfileList.csv",
        [
            col("SID", "profile_sid"),
            col("ProfileImagePath", "profile_path"),
            col("UserName", "user_name"),
            tcol("ProfileLoadTime", "profile_load_time"),
            tcol("ProfileUnloadTime", "profile_unload_time"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}
KEY = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList"


def _hilo(k: Any, hi: str, lo: str) -> int | None:
    h, lw = u.read_int(k, hi), u.read_int(k, lo)
    if h is None or lw is None:
        return None
    return u.filetime_at(((h & 0xFFFFFFFF) << 32 | (lw & 0xFFFFFFFF)).to_bytes(8, "little"))


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for sk in u.subkeys(u.subkey(root, KEY), ctx):
        sid = u.key_name(sk)
        path = u.read_str(sk, "ProfileImagePath")
        user = path.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1] if path else ""
        yield Record(
            TABLE,
            u.common(
                hive, f"{KEY}\\{sid}", sk, profile_sid=sid, profile_path=path, user_name=user,
                state=u.read_int(sk, "State"), flags=u.read_int(sk, "Flags"),
                profile_load_time=_hilo(sk, "LocalProfileLoadTimeHigh", "LocalProfileLoadTimeLow"),
                profile_unload_time=_hilo(sk, "LocalProfileUnloadTimeHigh", "LocalProfileUnloadTimeLow"),
            ),
        )  # fmt: skip


def user_map(records: Iterable[Record]) -> dict[str, str]:
    return {
        r.data["profile_sid"]: r.data["user_name"]
        for r in records
        if r.table == TABLE and r.data.get("user_name")
    }


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    for ts, what in (
        (d.get("profile_load_time"), "Profile Loaded"),
        (d.get("profile_unload_time"), "Profile Unloaded"),
    ):
        if ts:
            yield TimelineEvent(ts, what, d.get("profile_path") or "", f"{what}: {d.get('user_name')} ({d.get('profile_sid')})",
                                d.get("user_name") or "")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (
        d.get("profile_sid") or "",
        d.get("profile_path") or "",
        d.get("user_name") or "",
        fmt(d.get("profile_load_time")),
    )
