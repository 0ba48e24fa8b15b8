"""Run keys (SOFTWARE and NTUSER): programs started at logon/boot.

Run, RunOnce, RunOnceEx (incl. its numbered subkeys), RunServices(Once), Policies\\Explorer\\Run, the
Wow6432Node variants, and Winlogon Shell / Userinit / Taskman (SOFTWARE and NTUSER).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "runkeys"
HIVE_TYPES = {"SOFTWARE", "NTUSER", "DEFAULT"}
TABLE = "reg_runkeys"
TABLES = {
    TABLE: u.table(("hive_type", "TEXT"), ("location", "TEXT"), ("value_name", "TEXT"), ("command", "TEXT"))
}
CSV = {
    TABLE: CsvShape(
        "RECmd_RunKeys.csv",
        [
            col("HiveType", "hive_type"),
            col("KeyPath", "key_path"),
            col("ValueName", "value_name"),
            col("ValueData", "command"),
            col("User", "user"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}

_CV = "Microsoft\\Windows\\CurrentVersion"
_RUN = ["Run", "RunOnce", "RunOnceEx", "RunServices", "RunServicesOnce", "Policies\\Explorer\\Run"]
WINLOGON_VALUES = ("Shell", "Userinit", "Taskman", "AppSetup")


def _locations(hive_type: str) -> list[str]:
    prefixes = ["", "Wow6432Node\\"]
    if hive_type in ("NTUSER", "DEFAULT"):
        prefixes = ["Software\\" + p for p in prefixes]
    out = [f"{p}{_CV}\\{r}" for p in prefixes for r in _RUN]
    return out


def _winlogon(hive_type: str) -> list[str]:
    p = "Software\\" if hive_type in ("NTUSER", "DEFAULT") else ""
    return [
        f"{p}Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
        f"{p}Wow6432Node\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
    ]


def _guess_type(root: Any) -> str:
    return "SOFTWARE" if u.subkey(root, "Microsoft\\Windows\\CurrentVersion") is not None else "NTUSER"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    ht = (getattr(hive, "hive_type", "") or "").upper() or _guess_type(root)
    for loc in _locations(ht):
        k = u.subkey(root, loc)
        if k is None:
            continue
        yield from _values(k, loc, ht, hive, ctx)
        if loc.endswith("RunOnceEx"):
            for sk in u.subkeys(k, ctx):
                yield from _values(sk, f"{loc}\\{u.key_name(sk)}", ht, hive, ctx)
    for loc in _winlogon(ht):
        k = u.subkey(root, loc)
        for name in WINLOGON_VALUES:
            v = u.value(k, name)
            if v is not None:
                yield Record(TABLE, u.common(hive, loc, k, hive_type=ht, location="Winlogon", value_name=name,
                                             command=u.as_str(v)))  # fmt: skip


def _values(k: Any, loc: str, ht: str, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    location = loc.rsplit("CurrentVersion\\", 1)[-1]
    for v in u.values(k, ctx):
        name = u.vname(v)
        yield Record(TABLE, u.common(hive, loc, k, hive_type=ht, location=location, value_name=name,
                                     command=u.as_str(v)))  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_write"):
        yield TimelineEvent(d["last_write"], "Run Key Last Write", d.get("command") or "",
                            f"{d.get('location')} {d.get('value_name')}: {d.get('command')}", d.get("user") or "")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("value_name") or "", d.get("command") or "", d.get("location") or "", "")
