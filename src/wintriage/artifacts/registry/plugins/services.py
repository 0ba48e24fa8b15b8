"""Services (SYSTEM): every service and driver per control set, with its image path and start type.

``suspicious_path`` flags image paths an ordinary user could write to (user profiles, Temp,
ProgramData, Public, Downloads, AppData, Recycle Bin), a classic persistence/escalation sign.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "services"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_services"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("name", "TEXT"),
        ("display_name", "TEXT"),
        ("description", "TEXT"),
        ("image_path", "TEXT"),
        ("service_dll", "TEXT"),
        ("start", "INTEGER"),
        ("start_name", "TEXT"),
        ("type", "INTEGER"),
        ("type_name", "TEXT"),
        ("object_name", "TEXT"),
        ("group_name", "TEXT"),
        ("user_writable_path", "INTEGER"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_Services.csv",
        [
            col("ControlSet", "control_set"),
            col("Name", "name"),
            col("DisplayName", "display_name"),
            col("ImagePath", "image_path"),
            col("ServiceDll", "service_dll"),
            col("StartMode", "start_name"),
            col("ServiceType", "type_name"),
            col("ObjectName", "object_name"),
            col("Group", "group_name"),
            col("Description", "description"),
            col("UserWritablePath", "user_writable_path"),
            tcol("NameKeyLastWrite", "last_write"),
        ],
    )
}

START = {0: "Boot", 1: "System", 2: "Automatic", 3: "Manual", 4: "Disabled"}
TYPES = {
    0x1: "Kernel driver", 0x2: "File system driver", 0x4: "Adapter", 0x8: "Recognizer driver",
    0x10: "Own process", 0x20: "Share process", 0x50: "User own process", 0x60: "User share process",
    0x110: "Own process (interactive)", 0x120: "Share process (interactive)",
}  # fmt: skip
_WRITABLE = re.compile(
    r"\\users\\(?!default\\)[^\\]+\\|\\temp\\|\\tmp\\|\\programdata\\|\\users\\public\\|\\appdata\\|"
    r"\\downloads\\|\$recycle\.bin|\\windows\\tasks\\|\\windows\\debug\\|\\perflogs\\",
    re.IGNORECASE,
)


def user_writable(path: str | None) -> bool:
    return bool(path) and bool(_WRITABLE.search(path or ""))


def type_name(t: int | None) -> str | None:
    if t is None:
        return None
    if t in TYPES:
        return TYPES[t]
    names = [n for bit, n in TYPES.items() if bit < 0x10 and t & bit]
    return ", ".join(names) or f"0x{t:X}"


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    for cs_name, cs in u.control_sets(root, hive, ctx):
        for sk in u.subkeys(u.subkey(cs, "Services"), ctx):
            name = u.key_name(sk)
            vv = u.Vals(sk, ctx)
            start = vv.integer("Start")
            typ = vv.integer("Type")
            image = vv.text("ImagePath")
            dll = u.read_str(u.subkey(sk, "Parameters"), "ServiceDll")
            yield Record(
                TABLE,
                u.common(
                    hive, f"{cs_name}\\Services\\{name}", sk, control_set=cs_name, name=name,
                    display_name=vv.text("DisplayName"), description=vv.text("Description"),
                    image_path=image, service_dll=dll, start=start,
                    start_name=START.get(start, str(start)) if start is not None else None,
                    type=typ, type_name=type_name(typ), object_name=vv.text("ObjectName"),
                    group_name=vv.text("Group"),
                    user_writable_path=1 if user_writable(image) or user_writable(dll) else 0,
                ),
            )  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if d.get("last_write") and d.get("image_path"):
        flag = " [user-writable path]" if d.get("user_writable_path") else ""
        yield TimelineEvent(d["last_write"], "Service Key Last Write", d.get("image_path") or "",
                            f"Service {d.get('name')} ({d.get('start_name')}): {d.get('image_path')}{flag}")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    flag = " | USER-WRITABLE PATH" if d.get("user_writable_path") else ""
    return (d.get("name") or "", d.get("image_path") or d.get("service_dll") or "",
            f"Start: {d.get('start_name')} | Type: {d.get('type_name')}{flag}", d.get("display_name") or "")  # fmt: skip
