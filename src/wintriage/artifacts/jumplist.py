"""Jump lists: ``*.automaticDestinations-ms`` (OLE compound file: DestList v1/v3/v4 + one LNK stream per
entry) and ``*.customDestinations-ms`` (LNKs one after another, each behind the shell-link CLSID).
The AppID in the file name maps to an application name through ``data/jumplist_appids.yaml``.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..model import Record, TimelineEvent
from ._shellitems import safe_ft, source_times, utf16
from .base import CsvShape, ParseContext, col, tcol, user_from_path
from .lnk import LNK_COLUMNS, LNK_CSV_COLUMNS, droid_info, lnk_fields, target_events

NAME = "jumplist"
CATEGORY = "user"
MAX_JL = 64 << 20

_SRC = [
    ("source_file", "TEXT"), ("source_created", "INTEGER"), ("source_modified", "INTEGER"),
    ("source_accessed", "INTEGER"), ("app_id", "TEXT"), ("app_name", "TEXT"),
]
TABLES: dict[str, list[tuple[str, str]]] = {
    "jumplist_auto": [
        *_SRC,
        ("destlist_version", "INTEGER"),
        ("last_used_entry_number", "INTEGER"),
        ("mru", "INTEGER"),
        ("entry_number", "INTEGER"),
        ("entry_offset", "INTEGER"),
        ("creation_time", "INTEGER"),
        ("last_modified", "INTEGER"),
        ("hostname", "TEXT"),
        ("mac_address", "TEXT"),
        ("path", "TEXT"),
        ("interaction_count", "INTEGER"),
        ("pinned", "INTEGER"),
        ("pin_status", "INTEGER"),
        ("file_birth_droid", "TEXT"),
        ("file_droid", "TEXT"),
        ("volume_birth_droid", "TEXT"),
        ("volume_droid", "TEXT"),
        ("has_lnk", "INTEGER"),
        *[(c, t) for c, t in LNK_COLUMNS if c not in ("mac_address",)],
        ("lnk_mac_address", "TEXT"),
    ],
    "jumplist_custom": [
        *_SRC,
        ("entry_index", "INTEGER"),
        ("entry_offset", "INTEGER"),
        *LNK_COLUMNS,
    ],
}

_HEAD = [col("SourceFile", "source_file"), tcol("SourceCreated", "source_created"),
         tcol("SourceModified", "source_modified"), tcol("SourceAccessed", "source_accessed"),
         col("AppId", "app_id"), col("AppIdDescription", "app_name")]
CSV = {
    "jumplist_auto": CsvShape(
        "JLECmd_AutomaticDestinations.csv",
        [
            *_HEAD,
            col("DestListVersion", "destlist_version"),
            col("LastUsedEntryNumber", "last_used_entry_number"),
            col("MRU", "mru"),
            col("EntryNumber", "entry_number"),
            tcol("CreationTime", "creation_time"),
            tcol("LastModified", "last_modified"),
            col("Hostname", "hostname"),
            col("MacAddress", "mac_address"),
            col("Path", "path"),
            col("InteractionCount", "interaction_count"),
            col("PinStatus", "pin_status"),
            col("FileBirthDroid", "file_birth_droid"),
            col("FileDroid", "file_droid"),
            col("VolumeBirthDroid", "volume_birth_droid"),
            col("VolumeDroid", "volume_droid"),
            *[c if c.header != "MachineMACAddress" else col("MachineMACAddress", "lnk_mac_address")
              for c in LNK_CSV_COLUMNS],
        ],
    ),
    "jumplist_custom": CsvShape(
        "JLECmd_CustomDestinations.csv",
        [*_HEAD, col("EntryNumber", "entry_index"), *LNK_CSV_COLUMNS],
    ),
}

LNK_HEADER = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
CUSTOM_FOOTER = 0xBABFFBAB


@lru_cache(maxsize=1)
def app_ids() -> dict[str, str]:
    from .. import yamlsafe

    text = resources.files("wintriage.data").joinpath("jumplist_appids.yaml").read_text(encoding="utf-8")
    data = yamlsafe.load(text) or {}
    return {str(k).lower(): str(v) for k, v in (data.get("appids") or {}).items()}


def app_name(app_id: str) -> str:
    ids = app_ids()
    a = app_id.lower()
    return ids.get(a) or ids.get(a.lstrip("0")) or ""


def _source(path: Path, ctx: ParseContext) -> dict[str, Any] | None:
    try:
        st = os.stat(path)
    except OSError as e:
        ctx.warn(None, f"cannot stat: {e}")
        return None
    app = path.name.split(".", 1)[0].lower()
    mod, acc = source_times(st)
    return {"source_file": ctx.source or str(path), "source_created": None, "source_modified": mod,
            "source_accessed": acc, "app_id": app, "app_name": app_name(app)}


def _guid(b: bytes) -> str:
    return str(uuid.UUID(bytes_le=b)) if any(b) else ""


def parse_destlist(b: bytes, ctx: ParseContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DestList header + entries. Header 32 bytes; entry v1: 114 + 2n bytes; v3/v4: 130 + 2n + 4."""
    if len(b) < 32:
        ctx.warn(0, f"DestList header needs 32 bytes, stream has {len(b)}")
        return {}, []
    version, count, pinned, _f, last_entry, _u, revision, _u2 = struct.unpack_from("<IIIfIIII", b, 0)
    head = {"version": version, "count": count, "pinned": pinned, "last_entry": last_entry, "revision": revision}
    if version not in (1, 2, 3, 4, 5, 6):
        ctx.warn(0, f"DestList version {version} unknown")
        return head, []
    new = version >= 3
    fixed = 130 if new else 114
    out = []
    pos = 32
    for i in range(min(count, 100000)):
        if pos + fixed > len(b):
            ctx.warn(pos, f"DestList entry {i}: needs {fixed} bytes, {len(b) - pos} left")
            break
        e = b[pos: pos + fixed]
        vol_droid, file_droid, bvol_droid, bfile_droid = (_guid(e[8 + 16 * k: 24 + 16 * k]) for k in range(4))
        host = e[72:88].split(b"\x00", 1)[0].decode("ascii", "replace")
        entry_no = struct.unpack_from("<I", e, 88)[0]
        mtime = safe_ft(struct.unpack_from("<Q", e, 100)[0])
        pin = struct.unpack_from("<i", e, 108)[0]
        if new:
            access = struct.unpack_from("<I", e, 116)[0]
            nchars = struct.unpack_from("<H", e, 128)[0]
        else:
            fval = struct.unpack_from("<f", e, 96)[0]
            access = int(fval) if 0 <= fval < 1e9 else None
            nchars = struct.unpack_from("<H", e, 112)[0]
        end = pos + fixed + nchars * 2
        if end > len(b):
            ctx.warn(pos, f"DestList entry {i}: path of {nchars} chars runs past the stream end {len(b)}")
            break
        mac, created = droid_info(file_droid)
        out.append({
            "entry_number": entry_no, "entry_offset": pos, "last_modified": mtime, "hostname": host,
            "path": utf16(b[pos + fixed: end]), "interaction_count": access, "pin_status": pin,
            "pinned": int(pin != -1), "file_droid": file_droid, "volume_droid": vol_droid,
            "file_birth_droid": bfile_droid, "volume_birth_droid": bvol_droid, "mac_address": mac,
            "creation_time": created,
        })
        pos = end + (4 if new else 0)
    return head, out


def _empty_lnk() -> dict[str, Any]:
    return {c: None for c, _ in LNK_COLUMNS}


def parse_auto(path: Path, ctx: ParseContext, base: dict[str, Any]) -> Iterator[Record]:
    import pyolecf

    f = pyolecf.file()
    try:
        f.open(str(path))
    except (OSError, ValueError) as e:
        ctx.warn(0, f"not an OLE compound file (libolecf: {e})")
        return
    try:
        try:
            root = f.root_item
            nitems = root.number_of_sub_items
        except (OSError, ValueError) as e:
            ctx.warn(None, f"OLE root directory unreadable: {e}")
            return
        streams: dict[str, Any] = {}
        for i in range(nitems):
            try:
                it = root.get_sub_item(i)
                if hasattr(it, "read"):  # streams only; storages have no data
                    streams[it.name] = it
            except (OSError, ValueError) as e:
                ctx.warn(None, f"OLE item {i} unreadable: {e}")
        head: dict[str, Any] = {}
        entries: list[dict[str, Any]] = []
        if "DestList" in streams:
            try:
                data = streams["DestList"].read()
                head, entries = parse_destlist(data, ctx)
            except (OSError, ValueError) as e:
                ctx.warn(None, f"DestList stream unreadable: {e}")
        else:
            ctx.warn(None, "no DestList stream", skipped=False)
        seen: set[str] = set()
        mru = {e["entry_number"]: n for n, e in enumerate(sorted(entries, key=lambda x: -(x["last_modified"] or 0)))}
        for ent in entries:
            sname = f"{ent['entry_number']:x}"
            seen.add(sname)
            row = {**base, **_empty_lnk(), "destlist_version": head.get("version"),
                   "last_used_entry_number": head.get("last_entry"), "mru": mru.get(ent["entry_number"]), **ent}
            row.update(_lnk_from_stream(streams.get(sname), sname, ctx))
            yield Record("jumplist_auto", row)
        for sname, item in streams.items():  # LNK streams without a DestList entry (DestList damaged)
            if sname == "DestList" or sname in seen:
                continue
            row = {**base, **_empty_lnk(), "destlist_version": head.get("version"), "path": None}
            try:
                row["entry_number"] = int(sname, 16)
            except ValueError:
                row["entry_number"] = None
            row.update(_lnk_from_stream(item, sname, ctx))
            if row.get("has_lnk"):
                row["path"] = row.get("target_path")
                yield Record("jumplist_auto", row)
    finally:
        f.close()


def _lnk_from_stream(item: Any, sname: str, ctx: ParseContext) -> dict[str, Any]:
    if item is None:
        return {"has_lnk": 0}
    try:
        data = item.read()
    except (OSError, ValueError) as e:
        ctx.warn(None, f"stream {sname}: unreadable: {e}", skipped=False)
        return {"has_lnk": 0}
    fields, errors = lnk_fields(data)
    if fields is None:
        ctx.warn(None, f"stream {sname}: {'; '.join(errors)}", skipped=False)
        return {"has_lnk": 0}
    for problem in errors:
        ctx.warn(None, f"stream {sname}: {problem}", skipped=False)
    fields["lnk_mac_address"] = fields.pop("mac_address")
    fields["has_lnk"] = 1
    return fields


def parse_custom(path: Path, ctx: ParseContext, base: dict[str, Any]) -> Iterator[Record]:
    try:
        if path.stat().st_size > MAX_JL:
            ctx.warn(0, f"file too large for a jump list (limit {MAX_JL})")
            return
        data = path.read_bytes()
    except OSError as e:
        ctx.warn(None, f"cannot read: {e}")
        return
    if len(data) < 12:
        ctx.warn(0, f"customDestinations header needs 12 bytes, file has {len(data)}")
        return
    version = struct.unpack_from("<I", data, 0)[0]
    if version != 2:
        ctx.warn(0, f"customDestinations version {version} (expected 2); scanning for shortcuts anyway", skipped=False)
    starts = []
    pos = data.find(LNK_HEADER)
    while pos >= 0:
        starts.append(pos)
        pos = data.find(LNK_HEADER, pos + len(LNK_HEADER))
    if not starts:
        ctx.warn(12, "no shell link found in customDestinations file")
        return
    if len(data) >= 4 and struct.unpack_from("<I", data, len(data) - 4)[0] != CUSTOM_FOOTER:
        ctx.warn(len(data) - 4, "footer 0xBABFFBAB missing (file truncated?)", skipped=False)
    for idx, off in enumerate(starts):
        end = starts[idx + 1] if idx + 1 < len(starts) else len(data)
        fields, errors = lnk_fields(data[off:end])
        if fields is None:
            ctx.warn(off, f"entry {idx}: {'; '.join(errors)}")
            continue
        for problem in errors:
            ctx.warn(off, f"entry {idx}: {problem}", skipped=False)
        yield Record("jumplist_custom", {**base, **fields, "entry_index": idx, "entry_offset": off})


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    base = _source(path, ctx)
    if base is None:
        return
    name = path.name.lower()
    if name.endswith(".customdestinations-ms"):
        yield from parse_custom(path, ctx, base)
        return
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as e:
        ctx.warn(None, f"cannot read: {e}")
        return
    if magic == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        yield from parse_auto(path, ctx, base)
    elif name.endswith(".automaticdestinations-ms"):
        ctx.warn(0, f"not an OLE compound file (signature {magic.hex()})")
    else:
        yield from parse_custom(path, ctx, base)


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    app = d.get("app_name") or d.get("app_id") or ""
    user = user_from_path((d.get("source_file") or "").replace("\\", "/"))
    out: list[TimelineEvent] = []
    if rec.table == "jumplist_auto" and d.get("last_modified"):
        out.append(TimelineEvent(d["last_modified"], "Last Used", d.get("path") or "",
                                 f"jump list {app}: {d.get('path')} (entry {d.get('entry_number')})", user))
    if d.get("has_lnk") or rec.table == "jumplist_custom":
        out += target_events(d, f"jump list {app}")
    return out
