"""ComputerName (SYSTEM): the host name per control set, plus the TCP/IP Hostname and Domain."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "computername"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_computername"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("source", "TEXT"),  # ComputerName | ActiveComputerName | Tcpip
        ("name", "TEXT"),
        ("domain", "TEXT"),
        ("nv_hostname", "TEXT"),
        ("nv_domain", "TEXT"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_ComputerName.csv",
        [
            col("ControlSet", "control_set"),
            col("Source", "source"),
            col("ComputerName", "name"),
            col("Domain", "domain"),
            col("KeyPath", "key_path"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for cs_name, cs in u.control_sets(root, hive, ctx):
        for src in ("ComputerName", "ActiveComputerName"):
            rel = f"Control\\ComputerName\\{src}"
            k = u.subkey(cs, rel)
            if k is None:
                continue
            name = u.read_str(k, "ComputerName")
            if name is None:
                continue
            yield Record(
                TABLE, u.common(hive, f"{cs_name}\\{rel}", k, control_set=cs_name, source=src, name=name)
            )
        rel = "Services\\Tcpip\\Parameters"
        k = u.subkey(cs, rel)
        if k is not None and (u.value(k, "Hostname") is not None or u.value(k, "Domain") is not None):
            yield Record(
                TABLE,
                u.common(
                    hive, f"{cs_name}\\{rel}", k, control_set=cs_name, source="Tcpip",
                    name=u.read_str(k, "Hostname"), domain=u.read_str(k, "Domain") or u.read_str(k, "DhcpDomain"),
                    nv_hostname=u.read_str(k, "NV Hostname"), nv_domain=u.read_str(k, "NV Domain"),
                ),
            )  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_write") and d.get("source") == "ComputerName":
        yield TimelineEvent(d["last_write"], "Key Last Write", d["key_path"],
                            f"Computer name {d.get('name')} ({d.get('control_set')})")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return (d.get("source") or "", d.get("name") or "", d.get("domain") or "", d.get("control_set") or "")
