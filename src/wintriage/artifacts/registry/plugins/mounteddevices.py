"""MountedDevices (SYSTEM): drive letters and volume GUIDs with the disk/partition or device behind them."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from ....model import Record, TimelineEvent
from ...base import CsvShape, ParseContext, col, tcol
from . import _util as u

NAME = "mounteddevices"
HIVE_TYPES = {"SYSTEM"}
TABLE = "reg_mounteddevices"
TABLES = {
    TABLE: u.table(
        ("value_name", "TEXT"),
        ("mount_point", "TEXT"),  # C: or Volume{...}
        ("mount_type", "TEXT"),  # drive_letter | volume_guid | other
        ("data_kind", "TEXT"),  # mbr | gpt | device
        ("disk_signature", "TEXT"),
        ("partition_offset", "INTEGER"),
        ("partition_guid", "TEXT"),
        ("device_path", "TEXT"),
    )
}
CSV = {
    TABLE: CsvShape(
        "RECmd_MountedDevices.csv",
        [
            col("ValueName", "value_name"),
            col("MountPoint", "mount_point"),
            col("MountType", "mount_type"),
            col("DiskSignature", "disk_signature"),
            col("PartitionOffset", "partition_offset"),
            col("PartitionGuid", "partition_guid"),
            col("DevicePath", "device_path"),
            tcol("LastWriteTimestamp", "last_write"),
        ],
    )
}


def decode_data(data: bytes) -> dict[str, Any]:
    if len(data) == 12:
        sig, off = struct.unpack_from("<IQ", data)
        return {"data_kind": "mbr", "disk_signature": f"{sig:08X}", "partition_offset": off}
    if len(data) >= 24 and data[:8] == b"DMIO:ID:":
        return {"data_kind": "gpt", "partition_guid": u.guid_at(data, 8)}
    if len(data) >= 4 and data[1] == 0 and data[3] == 0:
        return {"data_kind": "device", "device_path": u.utf16z(data)}
    return {"data_kind": "unknown"}


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    k = u.subkey(root, "MountedDevices")
    for v in u.values(k, ctx):
        name = u.vname(v)
        if name.lower().startswith("\\dosdevices\\"):
            mp, mt = name[12:], "drive_letter"
        elif name.lower().startswith("\\??\\volume"):
            mp, mt = name[4:], "volume_guid"
        else:
            mp, mt = name, "other"
        rec = u.common(hive, "MountedDevices", k, value_name=name, mount_point=mp, mount_type=mt)
        rec.update(decode_data(u.vdata(v)))
        yield Record(TABLE, rec)


def timeline(rec: Record) -> Iterator[TimelineEvent]:
    """One last-write time for the whole key says little about any one device: no timeline rows."""
    return iter(())


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    detail = (
        d.get("device_path")
        or d.get("partition_guid")
        or (
            f"Disk signature {d.get('disk_signature')}, offset {d.get('partition_offset')}"
            if d.get("disk_signature")
            else ""
        )
    )
    return (d.get("value_name") or "", d.get("mount_point") or "", detail, d.get("data_kind") or "")
