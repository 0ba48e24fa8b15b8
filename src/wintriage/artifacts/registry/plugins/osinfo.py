"""OS information (SOFTWARE ``Microsoft\\Windows NT\\CurrentVersion``): product, build, install date, owner."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "osinfo"
HIVE_TYPES = {"SOFTWARE"}
TABLE = "reg_osinfo"
TABLES = {
    TABLE: u.table(
        ("product_name", "TEXT"),
        ("edition_id", "TEXT"),
        ("display_version", "TEXT"),
        ("release_id", "TEXT"),
        ("current_version", "TEXT"),
        ("current_build", "TEXT"),
        ("ubr", "INTEGER"),
        ("build_lab", "TEXT"),
        ("install_date", "INTEGER"),
        ("install_time", "INTEGER"),
        ("registered_owner", "TEXT"),
        ("registered_organization", "TEXT"),
        ("system_root", "TEXT"),
        ("product_id", "TEXT"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_OSInfo.csv",
        [col(h, k) for h, k in (
            ("ProductName", "product_name"), ("DisplayVersion", "display_version"), ("CurrentBuild", "current_build"),
            ("UBR", "ubr"), ("RegisteredOwner", "registered_owner"), ("RegisteredOrganization", "registered_organization"),
        )] + [tcol("InstallDate", "install_date"), tcol("LastWriteTimestamp", "last_write")],
    )
}  # fmt: skip
KEY = "Microsoft\\Windows NT\\CurrentVersion"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    k = u.subkey(root, KEY)
    if k is None:
        return
    yield Record(
        TABLE,
        u.common(
            hive, KEY, k, product_name=u.read_str(k, "ProductName"), edition_id=u.read_str(k, "EditionID"),
            display_version=u.read_str(k, "DisplayVersion"), release_id=u.read_str(k, "ReleaseId"),
            current_version=u.read_str(k, "CurrentVersion"), current_build=u.read_str(k, "CurrentBuild")
            or u.read_str(k, "CurrentBuildNumber"), ubr=u.read_int(k, "UBR"), build_lab=u.read_str(k, "BuildLab"),
            install_date=u.unix_to_ticks(u.read_int(k, "InstallDate")), install_time=u.read_filetime(k, "InstallTime"),
            registered_owner=u.read_str(k, "RegisteredOwner"),
            registered_organization=u.read_str(k, "RegisteredOrganization"),
            system_root=u.read_str(k, "SystemRoot"), product_id=u.read_str(k, "ProductId"),
        ),
    )  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    t = d.get("install_time") or d.get("install_date")
    if t:
        yield TimelineEvent(t, "OS Installed", d.get("system_root") or "",
                            f"{d.get('product_name')} {d.get('display_version') or ''} build {d.get('current_build')} installed")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    return ("ProductName", f"{d.get('product_name') or ''} {d.get('display_version') or ''}".strip(),
            f"Build {d.get('current_build')}.{d.get('ubr')}", f"Installed {fmt(d.get('install_time') or d.get('install_date'))}")  # fmt: skip
