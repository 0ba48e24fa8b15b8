"""Amcache.hve: executables seen on the system, with SHA1, path and times.

Two layouts:

- Windows 8 / early 10 ``Root\\File\\{volume GUID}\\{file reference}`` with numbered values
  (0 product, 1 company, 5 version, 6 size, c description, f link time (Unix), 11 last modified,
  12 created, 15 full path, 17 last modified (2), 100 program id, 101 SHA1 with a ``0000`` prefix).
  The key name is the NTFS file reference as ``(sequence << 32) | entry`` in hex.
- Windows 10+ ``Root\\InventoryApplicationFile\\<name|hash>`` (LowerCaseLongPath, FileId = ``0000`` +
  SHA1, LinkDate, ProductName, ...) and ``Root\\InventoryApplication`` (installed programs).

Both file layouts go to one table (``layout`` tells them apart), as AmcacheParser lists both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from ....model import Record, TimelineEvent
from ....timeutil import fmt, from_datetime
from ...base import CsvColumn, CsvShape, ParseContext, bool_str, col, tcol
from . import _util as u

NAME = "amcache"
HIVE_TYPES = {"AMCACHE"}
FILES = "reg_amcache_file"
APPS = "reg_amcache_application"
TABLES = {
    FILES: u.table(
        ("layout", "TEXT"),
        ("volume_id", "TEXT"),
        ("file_id", "TEXT"),  # old layout key name / new layout FileId value
        ("full_path", "TEXT"),
        ("name", "TEXT"),
        ("extension", "TEXT"),
        ("sha1", "TEXT"),
        ("size", "INTEGER"),
        ("product_name", "TEXT"),
        ("company_name", "TEXT"),
        ("version", "TEXT"),
        ("product_version", "TEXT"),
        ("description", "TEXT"),
        ("binary_type", "TEXT"),
        ("is_pe", "INTEGER"),
        ("is_os_component", "INTEGER"),
        ("program_id", "TEXT"),
        ("application_name", "TEXT"),  # the InventoryApplication / Programs entry with this ProgramId
        ("long_path_hash", "TEXT"),
        ("language", "INTEGER"),
        ("usn", "INTEGER"),
        ("mft_entry", "INTEGER"),
        ("mft_seq", "INTEGER"),
        ("link_time", "INTEGER"),
        ("created", "INTEGER"),
        ("last_modified", "INTEGER"),
        ("last_modified2", "INTEGER"),
    ),
    APPS: u.table(
        ("program_id", "TEXT"),
        ("name", "TEXT"),
        ("version", "TEXT"),
        ("publisher", "TEXT"),
        ("language", "INTEGER"),
        ("source", "TEXT"),
        ("install_date", "INTEGER"),
        ("root_dir_path", "TEXT"),
        ("uninstall_string", "TEXT"),
        ("registry_key_path", "TEXT"),
        ("package_full_name", "TEXT"),
        ("msi_product_code", "TEXT"),
    ),
}
CSV = {
    FILES: CsvShape(
        "Amcache_UnassociatedFileEntries.csv",
        [
            col("ApplicationName", "application_name", "Unassociated"),
            col("ProgramId", "program_id"),
            tcol("FileKeyLastWriteTimestamp", "last_write"),
            col("SHA1", "sha1"),
            col("IsOsComponent", "is_os_component"),
            col("FullPath", "full_path"),
            col("Name", "name"),
            col("FileExtension", "extension"),
            tcol("LinkDate", "link_time"),
            col("ProductName", "product_name"),
            col("Size", "size"),
            col("Version", "version"),
            col("ProductVersion", "product_version"),
            col("LongPathHash", "long_path_hash"),
            col("BinaryType", "binary_type"),
            CsvColumn("IsPeFile", lambda d, _tz: bool_str(d.get("is_pe"))),
            col("Usn", "usn"),
            col("Language", "language"),
            col("Description", "description"),
            col("VolumeID", "volume_id"),
            col("FileID", "file_id"),
            col("MFTEntryNumber", "mft_entry"),
            col("MFTSequenceNumber", "mft_seq"),
            tcol("Created", "created"),
            tcol("LastModified", "last_modified"),
            tcol("LastModified2", "last_modified2"),
        ],
    ),
    APPS: CsvShape(
        "Amcache_ProgramEntries.csv",
        [
            col("ProgramId", "program_id"),
            tcol("KeyLastWriteTimestamp", "last_write"),
            col("Name", "name"),
            col("Version", "version"),
            col("Publisher", "publisher"),
            tcol("InstallDate", "install_date"),
            col("Language", "language"),
            col("Source", "source"),
            col("RootDirPath", "root_dir_path"),
            col("UninstallString", "uninstall_string"),
            col("RegistryKeyPath", "registry_key_path"),
            col("PackageFullName", "package_full_name"),
            col("MsiProductCode", "msi_product_code"),
        ],
    ),
}

_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})")


def parse_us_date(s: str | None) -> int | None:
    """``MM/DD/YYYY HH:MM:SS`` (Amcache LinkDate/InstallDate, UTC) -> ticks."""
    m = _DATE.fullmatch((s or "").strip())
    if not m:
        return None
    mo, d, y, h, mi, sec = (int(x) for x in m.groups())
    try:
        return from_datetime(datetime(y, mo, d, h, mi, sec, tzinfo=UTC))
    except ValueError:
        return None


def _sha1(s: str | None) -> str | None:
    if not s:
        return None
    s = s.strip().lower()
    if len(s) == 44 and s.startswith("0000"):
        s = s[4:]
    return s or None


def _ext(path: str | None) -> str | None:
    if not path:
        return None
    base = path.replace("/", "\\").rsplit("\\", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else None


def _old_file(hive: u.HiveLike, vol: str, key: Any, kp: str) -> dict[str, Any]:
    fid = u.key_name(key)
    vv = u.Vals(key)
    rec = u.common(hive, kp, key, layout="File", volume_id=vol, file_id=fid)
    path = vv.text("15")
    rec.update(
        full_path=path,
        name=path.replace("/", "\\").rsplit("\\", 1)[-1] if path else None,
        extension=_ext(path),
        sha1=_sha1(vv.text("101")),
        product_name=vv.text("0"),
        company_name=vv.text("1"),
        version=vv.text("5"),
        size=vv.integer("6"),
        description=vv.text("c"),
        language=vv.integer("3"),
        program_id=vv.text("100"),
        link_time=u.unix_to_ticks(vv.integer("f")),
        last_modified=vv.filetime("11"),
        created=vv.filetime("12"),
        last_modified2=vv.filetime("17"),
    )
    try:
        # the key name is (sequence << 32) | entry, written in hex without leading zeros
        ref = int(fid, 16)
        rec["mft_entry"], rec["mft_seq"] = ref & 0xFFFFFFFF, (ref >> 32) & 0xFFFF
    except ValueError:
        pass
    return rec


def _new_file(hive: u.HiveLike, key: Any, kp: str) -> dict[str, Any]:
    vv = u.Vals(key)
    path = vv.text("LowerCaseLongPath")
    fid = vv.text("FileId")
    name = vv.text("Name") or (path.rsplit("\\", 1)[-1] if path else None)
    is_pe = vv.text("IsPeFile")
    is_os = vv.text("IsOsComponent")
    return u.common(
        hive, kp, key,
        layout="InventoryApplicationFile",
        file_id=fid,
        sha1=_sha1(fid),
        full_path=path,
        name=name,
        extension=_ext(path),
        product_name=vv.text("ProductName"),
        company_name=vv.text("Publisher"),
        version=vv.text("Version"),
        product_version=vv.text("ProductVersion"),
        size=vv.integer("Size"),
        binary_type=vv.text("BinaryType"),
        is_pe=_boolish(is_pe),
        is_os_component=_boolish(is_os),
        program_id=vv.text("ProgramId"),
        long_path_hash=vv.text("LongPathHash"),
        language=vv.integer("Language"),
        usn=vv.integer("Usn"),
        link_time=parse_us_date(vv.text("LinkDate")),
    )  # fmt: skip


def _boolish(s: str | None) -> int | None:
    if s is None or s == "":
        return None
    return 1 if s.strip().lower() in ("1", "true") else 0


def run(root: Any, hive: u.HiveLike, ctx: ParseContext) -> Iterator[Record]:
    base = u.subkey(root, "Root")
    if base is None:
        ctx.warn(None, "Amcache: no Root key", skipped=False)
        return
    apps: dict[str, str] = {}
    for pk in u.subkeys(u.subkey(base, "Programs"), ctx):  # old layout: Programs\<program id>, value 0 = name
        apps[u.key_name(pk).lower()] = u.read_str(pk, "0") or ""
    for ak in u.subkeys(u.subkey(base, "InventoryApplication"), ctx):
        apps[(u.read_str(ak, "ProgramId") or u.key_name(ak)).lower()] = u.read_str(ak, "Name") or ""

    def app_of(rec: dict[str, Any]) -> dict[str, Any]:
        pid = (rec.get("program_id") or "").lower()
        rec["application_name"] = apps.get(pid) or apps.get(
            pid[4:] if pid.startswith("0000") else "0000" + pid
        )
        return rec

    for vol in u.subkeys(u.subkey(base, "File"), ctx):
        vname = u.key_name(vol)
        for fk in u.subkeys(vol, ctx):
            yield Record(FILES, app_of(_old_file(hive, vname, fk, f"Root\\File\\{vname}\\{u.key_name(fk)}")))
    for fk in u.subkeys(u.subkey(base, "InventoryApplicationFile"), ctx):
        yield Record(FILES, app_of(_new_file(hive, fk, f"Root\\InventoryApplicationFile\\{u.key_name(fk)}")))
    for ak in u.subkeys(u.subkey(base, "InventoryApplication"), ctx):
        kp = f"Root\\InventoryApplication\\{u.key_name(ak)}"
        yield Record(
            APPS,
            u.common(
                hive, kp, ak,
                program_id=u.read_str(ak, "ProgramId") or u.key_name(ak),
                name=u.read_str(ak, "Name"),
                version=u.read_str(ak, "Version"),
                publisher=u.read_str(ak, "Publisher"),
                language=u.read_int(ak, "Language"),
                source=u.read_str(ak, "Source"),
                install_date=parse_us_date(u.read_str(ak, "InstallDate")),
                root_dir_path=u.read_str(ak, "RootDirPath"),
                uninstall_string=u.read_str(ak, "UninstallString"),
                registry_key_path=u.read_str(ak, "RegistryKeyPath"),
                package_full_name=u.read_str(ak, "PackageFullName"),
                msi_product_code=u.read_str(ak, "MsiProductCode"),
            ),
        )  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if rec.table == FILES:
        path = d.get("full_path") or ""
        sha = f" SHA1 {d['sha1']}" if d.get("sha1") else ""
        if d.get("last_write"):
            yield TimelineEvent(d["last_write"], "Amcache Key Last Write", path, f"Amcache: {path}{sha}")
        if d.get("link_time"):
            yield TimelineEvent(d["link_time"], "PE Link Time", path, f"Amcache: {path} compiled")
    elif d.get("install_date"):
        yield TimelineEvent(d["install_date"], "Installed", d.get("root_dir_path") or "",
                            f"Amcache: {d.get('name')} {d.get('version') or ''} installed")  # fmt: skip


def batch_row(rec: Record) -> tuple[str, str, str, str]:
    d = rec.data
    if rec.table == FILES:
        return (
            d.get("name") or "",
            d.get("full_path") or "",
            f"SHA1: {d.get('sha1') or ''}",
            fmt(d.get("link_time")),
        )
    return (
        d.get("name") or "",
        f"{d.get('publisher') or ''} {d.get('version') or ''}".strip(),
        fmt(d.get("install_date")),
        d.get("root_dir_path") or "",
    )
