"""BAM / DAM (SYSTEM, Windows 10 1709+): last execution time of programs per user SID.

``Services\\bam\\State\\UserSettings\\<SID>`` (1809+) and ``Services\\bam\\UserSettings\\<SID>`` (1709),
likewise ``dam``. Each value name is an executable (``\\Device\\HarddiskVolumeN\\...``) or an app id;
its data starts with the last-execution FILETIME. ``SequenceNumber`` and ``Version`` are metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "bam"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_bam"
TABLES = {
    TABLE: u.table(("control_set", "TEXT"), ("service", "TEXT"), ("program", "TEXT"), ("last_run", "INTEGER"))
}
CSV = {
    TABLE: CsvShape(
        "RECmd_BamDam.csv",
        [
            col("ControlSet", "control_set"),
            col("Service", "service"),
            col("SID", "sid"),
            col("User", "user"),
            col("Program", "program"),
            tcol("ExecutionTime", "last_run"),
        ],
    )
}
META = {"sequencenumber", "version"}


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    res = ctx.resources if isinstance(ctx.resources, dict) else {}
    # SID -> user: "sid_users", or the registry artefact's ProfileList map (profile name -> SID) inverted
    users: dict[str, str] = {sid: name for name, sid in (res.get("registry_profile_sids") or {}).items()}
    users.update(res.get("sid_users") or {})
    for cs_name, cs in u.control_sets(root, hive, ctx):
        for svc in ("bam", "dam"):
            for rel in (f"Services\\{svc}\\State\\UserSettings", f"Services\\{svc}\\UserSettings"):
                base = u.subkey(cs, rel)
                for sk in u.subkeys(base, ctx):
                    sid = u.key_name(sk)
                    kp = f"{cs_name}\\{rel}\\{sid}"
                    for v in u.values(sk, ctx):
                        name = u.vname(v)
                        if name.lower() in META:
                            continue
                        data = u.vdata(v)
                        if len(data) < 8:
                            ctx.warn(u.key_offset(sk), f"{kp} value {name!r}: {len(data)} bytes, need 8")
                            continue
                        rec = u.common(hive, kp, sk, control_set=cs_name, service=svc, program=name,
                                       last_run=u.filetime_at(data, 0))  # fmt: skip
                        rec["sid"], rec["user"] = sid, users.get(sid, "")
                        yield Record(TABLE, rec)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_run"):
        yield TimelineEvent(d["last_run"], "Last Run", d.get("program") or "",
                            f"{str(d.get('service')).upper()}: {d.get('program')} ({d.get('sid')})",
                            d.get("user") or "")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("program") or "", d.get("program") or "", fmt(d.get("last_run")), d.get("sid") or "")
