"""USB devices (SYSTEM): ``Enum\\USBSTOR`` (mass storage) and ``Enum\\USB`` (all USB devices).

Per device instance: vendor/product/revision, serial (instance id), friendly name, container id, and
the device property times under ``Properties\\{83da6326-97a6-4088-9453-a1923f573b29}``:
0064 DEVPKEY_Device_InstallDate (last install), 0065 DEVPKEY_Device_FirstInstallDate, 0066 last arrival
(connect), 0067 last removal. Windows 7 stores them as
``00000064\\00000000\\Data``; Windows 8+ as the default value of ``0064``. All control sets are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt
from ...base import CsvShape, ParseContext, col, group_times, tcol
from . import _util as u

NAME = "usb"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_usb"
TABLES = {
    TABLE: u.table(
        ("control_set", "TEXT"),
        ("bus", "TEXT"),  # USBSTOR | USB
        ("device_key", "TEXT"),  # Disk&Ven_..&Prod_..&Rev_..  or VID_xxxx&PID_xxxx
        ("vendor", "TEXT"),
        ("product", "TEXT"),
        ("revision", "TEXT"),
        ("vid", "TEXT"),
        ("pid", "TEXT"),
        ("serial", "TEXT"),  # instance id
        ("friendly_name", "TEXT"),
        ("device_desc", "TEXT"),
        ("manufacturer", "TEXT"),
        ("service", "TEXT"),
        ("class", "TEXT"),
        ("class_guid", "TEXT"),
        ("driver", "TEXT"),
        ("container_id", "TEXT"),
        ("hardware_id", "TEXT"),
        ("first_install", "INTEGER"),
        ("last_install", "INTEGER"),
        ("last_connected", "INTEGER"),
        ("last_removed", "INTEGER"),
        ("mounted_as", "TEXT"),  # MountedDevices names whose device path holds this serial (E:, Volume{...})
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_USB.csv",
        [
            col("ControlSet", "control_set"),
            col("Bus", "bus"),
            col("KeyName", "device_key"),
            col("Vendor", "vendor"),
            col("Product", "product"),
            col("Revision", "revision"),
            col("SerialNumber", "serial"),
            col("FriendlyName", "friendly_name"),
            col("ContainerId", "container_id"),
            tcol("FirstInstalled", "first_install"),
            tcol("LastInstalled", "last_install"),
            tcol("LastConnected", "last_connected"),
            tcol("LastRemoved", "last_removed"),
            col("MountedAs", "mounted_as"),
            tcol("KeyLastWriteTimestamp", "last_write"),
        ],
    )
}

PROPS = "Properties\\{83da6326-97a6-4088-9453-a1923f573b29}"
TIMES = {"0065": "first_install", "0064": "last_install", "0066": "last_connected", "0067": "last_removed"}


def _prop_time(inst: Any, pid: str) -> int | None:
    k = u.subkey(inst, f"{PROPS}\\{pid}")
    if k is not None:
        t = u.filetime_at(u.read_bytes(k, "") or b"")
        if t:
            return t
    k = u.subkey(inst, f"{PROPS}\\0000{pid}\\00000000")
    if k is not None:
        return u.filetime_at(u.read_bytes(k, "Data") or b"")
    return None


def _split(device_key: str, bus: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if bus == "USBSTOR":
        for part in device_key.split("&"):
            for pre, f in (("Ven_", "vendor"), ("Prod_", "product"), ("Rev_", "revision")):
                if part.startswith(pre):
                    d[f] = part[len(pre) :]
    else:
        m = re.search(r"VID_([0-9A-Fa-f]{4})", device_key)
        d["vid"] = m.group(1) if m else None
        m = re.search(r"PID_([0-9A-Fa-f]{4})", device_key)
        d["pid"] = m.group(1) if m else None
    return d


def mounted_map(root: Any) -> dict[str, list[str]]:
    """USB serial (lower case) -> mount points from MountedDevices (``E:``, ``Volume{...}``)."""
    out: dict[str, list[str]] = {}
    for v in u.values(u.subkey(root, "MountedDevices")):
        data = u.vdata(v)
        if len(data) < 16 or data[1] != 0:
            continue
        dev = u.utf16z(data)
        parts = dev.split("#")
        if len(parts) >= 3 and "usbstor" in parts[0].lower():
            name = u.vname(v)
            mp = name[12:] if name.lower().startswith("\\dosdevices\\") else name.removeprefix("\\??\\")
            out.setdefault(parts[2].lower(), []).append(mp)
    return out


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    mounts = mounted_map(root)
    for cs_name, cs in u.control_sets(root, hive, ctx):
        for bus in ("USBSTOR", "USB"):
            base = u.subkey(cs, f"Enum\\{bus}")
            for dk in u.subkeys(base, ctx):
                dname = u.key_name(dk)
                for inst in u.subkeys(dk, ctx):
                    iname = u.key_name(inst)
                    vv = u.Vals(inst, ctx)
                    kp = f"{cs_name}\\Enum\\{bus}\\{dname}\\{iname}"
                    hwv = vv.get("HardwareID")
                    hw = (
                        u.decode_multi_sz(u.vdata(hwv))
                        if hwv is not None and u.vtype(hwv) == u.REG_MULTI_SZ
                        else None
                    )
                    rec = u.common(
                        hive, kp, inst, control_set=cs_name, bus=bus, device_key=dname, serial=iname,
                        friendly_name=vv.text("FriendlyName"),
                        device_desc=_strip_inf(vv.text("DeviceDesc")),
                        manufacturer=_strip_inf(vv.text("Mfg")),
                        service=vv.text("Service"), **{"class": vv.text("Class")},
                        class_guid=vv.text("ClassGUID"), driver=vv.text("Driver"),
                        container_id=vv.text("ContainerID"),
                        hardware_id="|".join(hw) if hw else None,
                    )  # fmt: skip
                    rec.update(_split(dname, bus))
                    for pid, field in TIMES.items():
                        rec[field] = _prop_time(inst, pid)
                    m = mounts.get(iname.lower())
                    rec["mounted_as"] = ", ".join(sorted(m)) if m else None
                    yield Record(TABLE, rec)


def _strip_inf(s: str | None) -> str | None:
    """``@disk.inf,%disk_devdesc%;Disk drive`` -> ``Disk drive``."""
    if s and s.startswith("@") and ";" in s:
        return s.rsplit(";", 1)[1]
    return s


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    label = d.get("friendly_name") or d.get("device_key") or ""
    what = {"first_install": "First Install", "last_install": "Last Install",
            "last_connected": "Last Connected", "last_removed": "Last Removed"}  # fmt: skip
    for ts, desc in group_times((what[f], d.get(f)) for f in TIMES.values()):
        yield TimelineEvent(
            ts, desc, d.get("key_path") or "", f"USB {label} serial {d.get('serial')}: {desc}"
        )


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    times = [f"{n}: {fmt(d[k])}" for n, k in (("First install", "first_install"), ("Last install", "last_install"),
                                                ("Last connected", "last_connected"), ("Last removed", "last_removed")) if d.get(k)]  # fmt: skip
    return (d.get("serial") or "", d.get("friendly_name") or d.get("device_desc") or d.get("device_key") or "",
            " | ".join(times[:2]), " | ".join(times[2:]))  # fmt: skip
