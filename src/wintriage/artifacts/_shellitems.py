"""Helpers shared by prefetch, LNK and jump lists: safe times, safe text, shell-item lists and LNK reading.

Shell items (the LNK "link target identifier" list) are decoded here from the format notes in the
libfwsi documentation: only what analysts use (item kind, names, file size, DOS times and the NTFS
file reference of file-entry items carried in the 0xbeef0004 extension block).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..timeutil import from_datetime, from_unix

# FILETIME values past 9999-12-31 cannot be shown as dates: treat them as not set
FILETIME_LAST = 2650467743999999999


def safe_ft(v: int | None) -> int | None:
    """A FILETIME that can be rendered (0, negative and beyond year 9999 -> None)."""
    if v is None or v <= 0 or v > FILETIME_LAST:
        return None
    return int(v)


def source_times(st: os.stat_result) -> tuple[int | None, int | None]:
    """(modified, accessed) of a loose evidence file, only when they predate its inode change time.

    Extraction or copying sets times to "now"; a time that was restored (``cp -p``, the triage collector's
    ``utime``) is older than the ctime that the restore itself set. Anything else is our own activity, not evidence.
    """
    limit = st.st_ctime - 1.0
    mod = from_unix(st.st_mtime) if st.st_mtime < limit else None
    acc = from_unix(st.st_atime) if st.st_atime < limit else None
    return mod, acc


def clean_text(s: str | None) -> str:
    """Lone UTF-16 surrogates become ``\\Udddddddd`` escapes (as plaso shows them); never a crash later
    when the text is written as UTF-8."""
    if not s:
        return ""
    try:
        s.encode("utf-8")  # fast path: C code rejects lone surrogates
        return s
    except UnicodeEncodeError:
        pass
    return "".join(f"\\U{ord(ch):08x}" if "\ud800" <= ch <= "\udfff" else ch for ch in s)


def utf16(raw: bytes) -> str:
    return clean_text(raw.decode("utf-16-le", "surrogatepass"))


def utf16z(buf: bytes, off: int, limit: int | None = None) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at ``off``: (text, offset after the terminator)."""
    end = len(buf) if limit is None else min(len(buf), limit)
    i = off
    while i + 1 < end:
        if buf[i] == 0 and buf[i + 1] == 0:
            return utf16(buf[off:i]), i + 2
        i += 2
    return utf16(buf[off:end]), end


def dos_datetime(v: int) -> int | None:
    """FAT date (high 16 bits) + time (low 16 bits) as stored in shell items -> FILETIME ticks (UTC
    assumed; shell items store local time on older Windows)."""
    date, time = v & 0xFFFF, v >> 16
    # shell items store date first (low word) then time (high word)
    day, month, year = date & 0x1F, (date >> 5) & 0x0F, ((date >> 9) & 0x7F) + 1980
    sec, minute, hour = (time & 0x1F) * 2, (time >> 5) & 0x3F, (time >> 11) & 0x1F
    if not v:
        return None
    try:
        return from_datetime(datetime(year, month, day, hour, minute, sec, tzinfo=UTC))
    except ValueError:
        return None


@dataclass
class ShellItem:
    kind: str  # root, volume, file, directory, network, uri, unknown
    class_type: int
    name: str = ""
    long_name: str = ""
    file_size: int | None = None
    modified: int | None = None
    created: int | None = None
    accessed: int | None = None
    mft_entry: int | None = None
    mft_sequence: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, "", {})}
        return d


_GUIDS = {
    "20d04fe0-3aea-1069-a2d8-08002b30309d": "My Computer",
    "59031a47-3f72-44a7-89c5-5595fe6b30ee": "Users",
    "450d8fba-ad25-11d0-98a8-0800361b1103": "My Documents",
    "208d2c60-3aea-1069-a2d7-08002b30309d": "My Network Places",
    "871c5380-42a0-1069-a2ea-08002b30309d": "Internet Explorer",
    "645ff040-5081-101b-9f08-00aa002f954e": "Recycle Bin",
    "21ec2020-3aea-1069-a2dd-08002b30309d": "Control Panel",
    "374de290-123f-4565-9164-39c4925e467b": "Downloads",
    "f02c1a0d-be21-4350-88b0-7367fc96ef3c": "Network",
}


def _guid(b: bytes) -> str:
    a, b2, c = struct.unpack_from("<IHH", b, 0)
    rest = b[8:16].hex()
    return f"{a:08x}-{b2:04x}-{c:04x}-{rest[:4]}-{rest[4:]}"


def _file_entry(item: bytes, ct: int) -> ShellItem:
    si = ShellItem("directory" if ct & 0x01 else "file", ct)
    if len(item) < 14:
        return si
    size, mod, _attrs = struct.unpack_from("<IIH", item, 4)
    si.file_size = size
    si.modified = dos_datetime(mod)
    unicode = bool(ct & 0x04)
    pos = 14
    if unicode:
        si.name, pos = utf16z(item, pos)
    else:
        end = item.find(b"\x00", pos)
        end = len(item) if end < 0 else end
        si.name = item[pos:end].decode("cp1252", "replace")
        pos = end + 1
        if pos % 2:
            pos += 1
    # extension blocks: size(2) version(2) signature(4)
    while pos + 8 <= len(item):
        bsize, version, sig = struct.unpack_from("<HHI", item, pos)
        if bsize < 8 or pos + bsize > len(item):
            break
        if sig == 0xBEEF0004 and bsize >= 18:
            blk = item[pos: pos + bsize]
            c, a = struct.unpack_from("<II", blk, 8)
            si.created, si.accessed = dos_datetime(c), dos_datetime(a)
            p = 18
            if version >= 7 and len(blk) >= p + 18:
                p += 2
                ref = struct.unpack_from("<Q", blk, p)[0]
                if ref:
                    si.mft_entry, si.mft_sequence = ref & 0xFFFFFFFFFFFF, ref >> 48
                p += 16
            if version >= 3:
                p += 2  # long string size
            if version >= 9:
                p += 4
            if version >= 8:
                p += 4
            if p < len(blk) - 2:
                si.long_name, _ = utf16z(blk, p, len(blk) - 2)
        pos += bsize
    return si


def _uri(item: bytes) -> str:
    """The URL of a URI shell item (0x61): UTF-16 when flag 0x80 is set, else ASCII; found by its scheme."""
    wide = bool(item[3] & 0x80) if len(item) > 3 else False
    for scheme in ("http", "ftp", "file", "res", "ms-"):
        needle = scheme.encode("utf-16-le") if wide else scheme.encode("ascii")
        i = item.find(needle, 4)
        if i >= 0:
            if wide:
                return utf16z(item, i)[0]
            return item[i:].split(b"\x00", 1)[0].decode("cp1252", "replace")
    return ""


def parse_shell_items(data: bytes | None) -> Iterator[ShellItem]:
    """Shell items of an ID list (stops quietly at the first malformed item)."""
    if not data:
        return
    pos = 0
    n = 0
    while pos + 2 <= len(data) and n < 256:
        (size,) = struct.unpack_from("<H", data, pos)
        if size == 0:
            return
        if size < 3 or pos + size > len(data):
            return
        item = data[pos: pos + size]
        ct = item[2]
        try:
            if ct == 0x1F and size >= 20:
                g = _guid(item[4:20])
                yield ShellItem("root", ct, name=_GUIDS.get(g, "{" + g + "}"))
            elif ct & 0x70 == 0x20:
                yield ShellItem("volume", ct, name=item[3:].split(b"\x00", 1)[0].decode("ascii", "replace"))
            elif ct & 0x70 == 0x30:
                yield _file_entry(item, ct)
            elif ct & 0x70 == 0x40:
                yield ShellItem("network", ct, name=item[5:].split(b"\x00", 1)[0].decode("cp1252", "replace"))
            elif ct == 0x61:
                yield ShellItem("uri", ct, name=_uri(item))
            else:
                yield ShellItem("unknown", ct)
        except (struct.error, ValueError, IndexError):
            yield ShellItem("unknown", ct)
        pos += size
        n += 1


def shell_path(items: list[ShellItem]) -> str:
    parts = []
    for it in items:
        if it.kind == "root":
            continue
        nm = it.long_name or it.name
        if nm:
            parts.append(nm.rstrip("\\") if it.kind == "volume" else nm)
    return "\\".join(parts)
