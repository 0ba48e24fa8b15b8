"""Windows shortcut (``.lnk``) files with liblnk: target path and times, volume, network share,
distributed link tracker (machine id, droids, MAC) and the shell-item MFT reference of the target.

``lnk_fields(data)`` is shared with the jump list parser (jump lists embed LNK streams).
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..model import Record, TimelineEvent
from ._shellitems import clean_text, parse_shell_items, safe_ft, shell_path, source_times
from .base import CsvShape, ParseContext, col, group_times, tcol, user_from_path

NAME = "lnk"
CATEGORY = "user"
MAX_LNK = 16 << 20

LNK_COLUMNS: list[tuple[str, str]] = [
    ("target_created", "INTEGER"),
    ("target_modified", "INTEGER"),
    ("target_accessed", "INTEGER"),
    ("file_size", "INTEGER"),
    ("relative_path", "TEXT"),
    ("working_directory", "TEXT"),
    ("file_attributes", "TEXT"),
    ("file_attribute_flags", "INTEGER"),
    ("header_flags", "TEXT"),
    ("drive_type", "TEXT"),
    ("volume_serial", "TEXT"),
    ("volume_label", "TEXT"),
    ("local_path", "TEXT"),
    ("network_path", "TEXT"),
    ("arguments", "TEXT"),
    ("description", "TEXT"),
    ("icon_location", "TEXT"),
    ("env_location", "TEXT"),
    ("target_idlist_path", "TEXT"),
    ("target_mft_entry", "INTEGER"),
    ("target_mft_sequence", "INTEGER"),
    ("shell_items", "TEXT"),
    ("machine_id", "TEXT"),
    ("mac_address", "TEXT"),
    ("tracker_created", "INTEGER"),
    ("droid_volume", "TEXT"),
    ("droid_file", "TEXT"),
    ("birth_droid_volume", "TEXT"),
    ("birth_droid_file", "TEXT"),
    ("target_path", "TEXT"),
]

TABLES: dict[str, list[tuple[str, str]]] = {
    "lnk": [
        ("source_file", "TEXT"),
        ("source_created", "INTEGER"),
        ("source_modified", "INTEGER"),
        ("source_accessed", "INTEGER"),
        *LNK_COLUMNS,
    ]
}

LNK_CSV_COLUMNS = [
    tcol("TargetCreated", "target_created"),
    tcol("TargetModified", "target_modified"),
    tcol("TargetAccessed", "target_accessed"),
    col("FileSize", "file_size"),
    col("RelativePath", "relative_path"),
    col("WorkingDirectory", "working_directory"),
    col("FileAttributes", "file_attributes"),
    col("HeaderFlags", "header_flags"),
    col("DriveType", "drive_type"),
    col("VolumeSerialNumber", "volume_serial"),
    col("VolumeLabel", "volume_label"),
    col("LocalPath", "local_path"),
    col("NetworkPath", "network_path"),
    col("CommonPath", "common_path"),
    col("Arguments", "arguments"),
    col("TargetIDAbsolutePath", "target_idlist_path"),
    col("TargetMFTEntryNumber", "target_mft_entry"),
    col("TargetMFTSequenceNumber", "target_mft_sequence"),
    col("MachineID", "machine_id"),
    col("MachineMACAddress", "mac_address"),
    tcol("TrackerCreatedOn", "tracker_created"),
]

CSV = {
    "lnk": CsvShape(
        "LECmd_Output.csv",
        [
            col("SourceFile", "source_file"),
            tcol("SourceCreated", "source_created"),
            tcol("SourceModified", "source_modified"),
            tcol("SourceAccessed", "source_accessed"),
            *LNK_CSV_COLUMNS,
            col("Description", "description"),
        ],
    )
}

DRIVE_TYPES = {0: "Unknown", 1: "No root directory", 2: "Removable", 3: "Fixed storage media (Hard drive)",
               4: "Network", 5: "CD-ROM", 6: "RAM disk"}
HEADER_FLAGS = [
    (0x1, "HasTargetIdList"), (0x2, "HasLinkInfo"), (0x4, "HasName"), (0x8, "HasRelativePath"),
    (0x10, "HasWorkingDir"), (0x20, "HasArguments"), (0x40, "HasIconLocation"), (0x80, "IsUnicode"),
    (0x100, "ForceNoLinkInfo"), (0x200, "HasExpString"), (0x400, "RunInSeparateProcess"), (0x1000, "HasDarwinId"),
    (0x2000, "RunAsUser"), (0x4000, "HasExpIcon"), (0x8000, "NoPidlAlias"), (0x20000, "RunWithShimLayer"),
    (0x40000, "ForceNoLinkTrack"), (0x80000, "EnableTargetMetadata"), (0x100000, "DisableLinkPathTracking"),
    (0x200000, "DisableKnownFolderTracking"), (0x400000, "DisableKnownFolderAlias"), (0x800000, "AllowLinkToLink"),
    (0x1000000, "UnaliasOnSave"), (0x2000000, "PreferEnvironmentPath"), (0x4000000, "KeepLocalIdListForUncTarget"),
]
FILE_ATTRS = [
    (0x1, "FILE_ATTRIBUTE_READONLY"), (0x2, "FILE_ATTRIBUTE_HIDDEN"), (0x4, "FILE_ATTRIBUTE_SYSTEM"),
    (0x10, "FILE_ATTRIBUTE_DIRECTORY"), (0x20, "FILE_ATTRIBUTE_ARCHIVE"), (0x40, "FILE_ATTRIBUTE_DEVICE"),
    (0x80, "FILE_ATTRIBUTE_NORMAL"), (0x100, "FILE_ATTRIBUTE_TEMPORARY"), (0x200, "FILE_ATTRIBUTE_SPARSE_FILE"),
    (0x400, "FILE_ATTRIBUTE_REPARSE_POINT"), (0x800, "FILE_ATTRIBUTE_COMPRESSED"), (0x1000, "FILE_ATTRIBUTE_OFFLINE"),
    (0x2000, "FILE_ATTRIBUTE_NOT_CONTENT_INDEXED"), (0x4000, "FILE_ATTRIBUTE_ENCRYPTED"),
]
# UUID v1 timestamps count 100 ns from 1582-10-15; FILETIME from 1601-01-01
_UUID_TO_FILETIME = 5748192000000000


def flags_text(value: int | None, table: list[tuple[int, str]]) -> str:
    if value is None:
        return ""
    return "|".join(n for bit, n in table if value & bit)


def droid_info(droid: str | None) -> tuple[str, int | None]:
    """(MAC address, creation time) of a version-1 UUID droid."""
    if not droid:
        return "", None
    try:
        u = uuid.UUID(droid)
    except ValueError:
        return "", None
    if u.version != 1:
        return "", None
    mac = ":".join(f"{(u.node >> s) & 0xFF:02x}" for s in range(40, -8, -8))
    return mac, safe_ft(u.time - _UUID_TO_FILETIME)


def _get(obj: Any, attr: str, errors: list[str]) -> Any:
    try:
        return getattr(obj, attr)
    except (OSError, ValueError, UnicodeDecodeError, TypeError) as e:
        errors.append(f"{attr}: {e}")
        return None


def _time(obj: Any, getter: str, errors: list[str]) -> int | None:
    try:
        return safe_ft(getattr(obj, getter)())
    except (OSError, ValueError, OverflowError) as e:
        errors.append(f"{getter}: {e}")
        return None


def lnk_fields(data: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """Decode one LNK from bytes: (fields, problems). ``None`` when liblnk cannot open it at all."""
    import pylnk

    errors: list[str] = []
    f = pylnk.file()
    try:
        f.open_file_object(io.BytesIO(data))
    except (OSError, ValueError) as e:
        return None, [f"liblnk cannot open it: {e}"]
    try:
        d: dict[str, Any] = {
            "target_created": _time(f, "get_file_creation_time_as_integer", errors),
            "target_modified": _time(f, "get_file_modification_time_as_integer", errors),
            "target_accessed": _time(f, "get_file_access_time_as_integer", errors),
        }
        for key, attr in (("local_path", "local_path"), ("working_directory", "working_directory"),
                          ("relative_path", "relative_path"), ("arguments", "command_line_arguments"),
                          ("description", "description"), ("icon_location", "icon_location"),
                          ("env_location", "environment_variables_location"), ("volume_label", "volume_label"),
                          ("network_path", "network_path"), ("machine_id", "machine_identifier"),
                          ("droid_volume", "droid_volume_identifier"), ("droid_file", "droid_file_identifier"),
                          ("birth_droid_volume", "birth_droid_volume_identifier"),
                          ("birth_droid_file", "birth_droid_file_identifier")):
            v = _get(f, attr, errors)
            d[key] = clean_text(v) if isinstance(v, str) else None
        size = _get(f, "file_size", errors)
        d["file_size"] = size
        attrs = _get(f, "file_attribute_flags", errors)
        d["file_attribute_flags"] = attrs
        d["file_attributes"] = flags_text(attrs, FILE_ATTRS)
        d["header_flags"] = flags_text(_get(f, "data_flags", errors), HEADER_FLAGS)
        serial = _get(f, "drive_serial_number", errors)
        d["volume_serial"] = f"{serial:08X}" if isinstance(serial, int) else None
        dt = _get(f, "drive_type", errors)
        d["drive_type"] = DRIVE_TYPES.get(dt, str(dt)) if dt is not None else None
        d["mac_address"], d["tracker_created"] = droid_info(d["droid_file"])
        idl = _get(f, "link_target_identifier_data", errors)
    finally:
        f.close()
    items = list(parse_shell_items(idl)) if idl else []
    d["shell_items"] = [it.as_dict() for it in items] if items else None
    d["target_idlist_path"] = shell_path(items) if items else None
    last_file = next((it for it in reversed(items) if it.mft_entry is not None), None)
    d["target_mft_entry"] = last_file.mft_entry if last_file else None
    d["target_mft_sequence"] = last_file.mft_seq if last_file else None
    d["target_path"] = (d["local_path"] or d["network_path"] or d["target_idlist_path"] or d["env_location"]
                        or d["relative_path"] or "")
    return d, errors


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    try:
        st = os.stat(path)
        if st.st_size > MAX_LNK:
            ctx.warn(0, f"{st.st_size} bytes is too large for a shortcut (limit {MAX_LNK})")
            return
        data = path.read_bytes()
    except OSError as e:
        ctx.warn(None, f"cannot read: {e}")
        return
    if len(data) < 76 or data[:4] != b"\x4c\x00\x00\x00":
        ctx.warn(0, f"not a shell link: header needs 76 bytes starting 4C000000, got {len(data)} bytes {data[:4].hex()}")
        return
    fields, errors = lnk_fields(data)
    if fields is None:
        ctx.warn(0, "; ".join(errors))
        return
    for problem in errors:
        ctx.warn(None, f"field unreadable: {problem}", skipped=False)
    mod, acc = source_times(st)
    fields.update(source_file=ctx.source or str(path), source_created=None, source_modified=mod, source_accessed=acc)
    yield Record("lnk", fields)


def target_events(d: dict[str, Any], what: str) -> list[TimelineEvent]:
    target = d.get("target_path") or ""
    user = user_from_path((d.get("source_file") or "").replace("\\", "/"))
    out = []
    for ts, desc in group_times([("M", d.get("target_modified")), ("A", d.get("target_accessed")),
                                 ("B", d.get("target_created"))]):
        out.append(TimelineEvent(ts, f"Target {desc}", target, f"{what} -> {target}", user))
    return out


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    name = (d.get("source_file") or "").replace("\\", "/").rsplit("/", 1)[-1]
    out = target_events(d, f"shortcut {name}")
    if d.get("source_modified"):  # Windows rewrites a Recent shortcut each time its target is opened
        user = user_from_path((d.get("source_file") or "").replace("\\", "/"))
        out.append(TimelineEvent(d["source_modified"], "Shortcut Modified", d.get("target_path") or "",
                                 f"shortcut {name} updated (target opened) -> {d.get('target_path')}", user))
    return out
