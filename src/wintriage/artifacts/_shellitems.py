"""Helpers shared by prefetch, LNK and jump lists: safe times, safe text, shell-item lists and LNK reading.

Shell items (ITEMIDLISTs in LNK target lists, ShellBags and OpenSave MRUs) are decoded here, once for every
artefact, from the format notes in the libfwsi documentation: item kind, names, file size, FAT times, the
0xbeef0004 extension block (created/accessed, NTFS file reference, long name) and 0xbeef0026 times.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..timeutil import from_datetime, from_filetime, from_unix

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




def filetime_at(data: bytes, off: int = 0) -> int | None:
    """A FILETIME at ``off`` as ticks; None when short, zero or out of range."""
    if off < 0 or len(data) < off + 8:
        return None
    return from_filetime(struct.unpack_from("<Q", data, off)[0])


def fat_datetime(date: int, time: int) -> int | None:
    """MS-DOS date + time (2-second resolution) as ticks; None for 0/invalid."""
    if date == 0:
        return None
    try:
        dt = datetime(
            1980 + (date >> 9), (date >> 5) & 0xF, date & 0x1F,
            time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2, tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    return from_datetime(dt)


def fat_at(data: bytes, off: int) -> int | None:
    """FAT date (u16) then time (u16) at ``off``."""
    if off < 0 or len(data) < off + 4:
        return None
    d, t = struct.unpack_from("<HH", data, off)
    return fat_datetime(d, t)


def guid_at(data: bytes, off: int = 0) -> str | None:
    """A little-endian GUID at ``off`` as ``{XXXXXXXX-...}`` upper case."""
    if off < 0 or len(data) < off + 16:
        return None
    return "{" + str(uuid.UUID(bytes_le=bytes(data[off : off + 16]))).upper() + "}"


SHELL_FOLDERS: dict[str, str] = {
    "{20D04FE0-3AEA-1069-A2D8-08002B30309D}": "My Computer",
    "{450D8FBA-AD25-11D0-98A8-0800361B1103}": "My Documents",
    "{59031A47-3F72-44A7-89C5-5595FE6B30EE}": "Users Files",
    "{F02C1A0D-BE21-4350-88B0-7367FC96EF3C}": "Network",
    "{208D2C60-3AEA-1069-A2D7-08002B30309D}": "My Network Places",
    "{645FF040-5081-101B-9F08-00AA002F954E}": "Recycle Bin",
    "{21EC2020-3AEA-1069-A2DD-08002B30309D}": "Control Panel",
    "{26EE0668-A00A-44D7-9371-BEB064C98683}": "Control Panel",
    "{5399E694-6CE5-4D6C-8FCE-1D8870FDCBA0}": "Control Panel",
    "{031E4825-7B94-4DC3-B131-E946B44C8DD5}": "Libraries",
    "{22877A6D-37A1-461A-91B0-DBDA5AAEBC99}": "Recent Places",
    "{04731B67-D933-450A-90E6-4ACD2E9408FE}": "Search Folder",
    "{9343812E-1C37-4A49-A12E-4B2D810D956B}": "Search Home",
    "{E17D4FC0-5564-11D1-83F2-00A0C90DC849}": "Search Results",
    "{679F85CB-0220-4080-B29B-5540CC05AAB6}": "Quick access",
    "{E31EA727-12ED-4702-820C-4B6445F28E1A}": "Dropbox",
    "{018D5C66-4533-4307-9B53-224DE2ED1FE6}": "OneDrive",
    "{A8CDFF1C-4878-43BE-B5FD-F8091C1C60D0}": "Documents",
    "{D3162B92-9365-467A-956B-92703ACA08AF}": "Documents",
    "{374DE290-123F-4565-9164-39C4925E467B}": "Downloads",
    "{088E3905-0323-4B02-9826-5D99428E115F}": "Downloads",
    "{3DFDF296-DBEC-4FB4-81D1-6A3438BCF4DE}": "Music",
    "{1CF1260C-4DD0-4EBB-811F-33C572699FDE}": "Music",
    "{24AD3AD4-A569-4530-98E1-AB02F9417AA8}": "Pictures",
    "{3ADD1653-EB32-4CB0-BBD7-DFA0ABB5ACCA}": "Pictures",
    "{A0953C92-50DC-43BF-BE83-3742FED03C9C}": "Videos",
    "{F86FA3AB-70D2-4FC7-9C99-FCBF05467F3A}": "Videos",
    "{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}": "Desktop",
    "{5E6C858F-0E22-4760-9AFE-EA3317B67173}": "User Profile",
    "{DFDF76A2-C82A-4D63-906A-5644AC457385}": "Public",
    "{4336A54D-038B-4685-AB02-99BB52D3FB8B}": "Public Folder",
    "{1F4DE370-D627-11D1-BA4F-00A0C91EEDBA}": "Network Computers",
    "{2227A280-3AEA-1069-A2DE-08002B30309D}": "Printers",
    "{7007ACC7-3202-11D1-AAD2-00805FC1270E}": "Network Connections",
    "{B155BDF8-02F0-451E-9A26-AE317CFD7779}": "Delegate Folder",
    "{0DB7E03F-FC29-4DC6-9020-FF41B59E513A}": "3D Objects",
    "{F3364BA0-65B9-11CE-A9BA-00AA004AE837}": "Shell File System Folder",
    "{35786D3C-B075-49B9-88DD-029876E11C01}": "Portable Devices",
    "{F8278C54-A712-415B-B593-B77A2BE0DDA9}": "Favorites",
    "{323CA680-C24D-4099-B94D-446DD2D7249E}": "Favorites",
    "{871C5380-42A0-1069-A2EA-08002B30309D}": "Internet Explorer",
    "{ED228FDF-9EA8-4870-83B1-96B02CFE0D52}": "My Games",
    "{1FA9085F-25A2-489B-85D4-86326EEDCD87}": "Manage Wireless Networks",
    "{ED7BA470-8E54-465E-825C-99712043E01C}": "All Tasks",
    "{D20EA4E1-3957-11D2-A40B-0C5020524153}": "Administrative Tools",
    "{DFFACDC5-679F-4156-8947-C5C76BC0B67F}": "Delegate Folder",
    "{025A5937-A6BE-4686-A844-36FE4BEC8B6D}": "Power Options",
    "{BB06C0E4-D293-4F75-8A90-CB05B6477EEE}": "System",
    "{7B81BE6A-CE2B-4676-A29E-EB907A5126C5}": "Programs and Features",
    "{BB64F8A7-BEE7-4E1A-AB8D-7D8273F7FDB6}": "Action Center",
    "{8E908FC9-BECC-40F6-915B-F4CA0E70D03D}": "Network and Sharing Center",
    "{60632754-C523-4B62-B45C-4172DA012619}": "User Accounts",
}


# ---------------------------------------------------------------- shell items


@dataclass(slots=True)
class ShellItem:
    """One decoded shell item (an element of an ITEMIDLIST)."""

    kind: str  # Root Folder | Volume | Directory | File | Network Location | URI | Control Panel | ...
    name: str
    class_type: int = 0
    size: int = 0
    file_size: int | None = None
    modified: int | None = None  # FAT time in the item (UTC, 2 s resolution)
    created: int | None = None  # from the 0xbeef0004 extension block
    accessed: int | None = None
    mft_entry: int | None = None
    mft_seq: int | None = None
    long_name: str = ""
    guid: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The fields that carry something (for JSON columns)."""
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in (None, "", {}, 0) or k == "kind"}


def _ascii_z(data: bytes, off: int) -> tuple[str, int]:
    end = data.find(b"\x00", off)
    if end < 0:
        end = len(data)
    return data[off:end].decode("cp1252", "replace"), end + 1


def _utf16_z(data: bytes, off: int) -> tuple[str, int]:
    """NUL-terminated UTF-16LE; a lone surrogate is kept visible as ``U+0000d800`` (see ``clean_text``)."""
    return utf16z(data, off)


def _beef0004(data: bytes, pos: int, item: ShellItem) -> None:
    """Decode a 0xbeef0004 extension block starting at ``pos`` (its size field)."""
    if len(data) < pos + 20:
        raise ValueError(f"extension block at {pos} needs 20 bytes, {len(data) - pos} available")
    size, version, _sig = struct.unpack_from("<HHI", data, pos)
    end = pos + size if size and pos + size <= len(data) else len(data)
    item.created = fat_at(data, pos + 8)
    item.accessed = fat_at(data, pos + 12)
    off = pos + 18
    if version >= 7:
        if end >= pos + 28:
            (ref,) = struct.unpack_from("<Q", data, pos + 20)
            entry, seq = ref & 0xFFFFFFFFFFFF, ref >> 48
            if entry:
                item.mft_entry, item.mft_seq = entry, seq
        off = pos + 36
    if version >= 3:
        off += 2  # long string size
    if version >= 9:
        off += 4
    if version >= 8:
        off += 4
    if off < end:
        item.long_name, _ = _utf16_z(data[:end], off)


def _scan_extension_blocks(data: bytes, item: ShellItem) -> None:
    i = data.find(b"\x04\x00\xef\xbe")
    if i >= 4:
        _beef0004(data, i - 4, item)
    j = data.find(b"\x26\x00\xef\xbe")
    if j >= 4 and len(data) >= j + 8 + 24:
        # 0xbeef0026: created / modified / accessed FILETIMEs after a 4-byte unknown
        item.created = item.created or filetime_at(data, j + 8)
        item.modified = item.modified or filetime_at(data, j + 16)
        item.accessed = item.accessed or filetime_at(data, j + 24)


CP_CATEGORIES = {
    0: "All Control Panel Items", 1: "Appearance and Personalization", 2: "Hardware and Sound",
    3: "Network and Internet", 4: "Sounds, Speech, and Audio Devices", 5: "System and Security",
    6: "Clock, Language, and Region", 7: "Ease of Access", 8: "Programs", 9: "User Accounts",
    10: "Security Center", 11: "Mobile PC",
}  # fmt: skip


def decode_shell_item(data: bytes) -> ShellItem:
    """Decode one shell item (including its leading size field). Raises ValueError on bad data."""
    if len(data) < 3:
        raise ValueError(f"shell item needs at least 3 bytes, {len(data)} available")
    size = struct.unpack_from("<H", data, 0)[0]
    if size < 3 or size > len(data):
        raise ValueError(f"shell item claims {size} bytes, {len(data)} available")
    data = data[:size]
    ct = data[2]
    item = ShellItem(kind="Unknown", name="", class_type=ct, size=size)
    if ct == 0x1F:  # root folder
        if len(data) < 20:
            raise ValueError(f"root folder shell item needs 20 bytes, {len(data)} available")
        item.kind = "Root Folder"
        for drive in range(4, min(len(data) - 3, 28)):
            # "This PC"-style item naming a drive: 0x2F then "X:\"
            if (
                data[drive] == 0x2F
                and data[drive + 2 : drive + 4] == b":\\"
                and 0x41 <= (data[drive + 1] & 0xDF) <= 0x5A
            ):
                item.kind, item.name = "Volume", data[drive + 1 : drive + 4].decode("ascii")
                return item
        g = guid_at(data, 4)
        item.guid = g or ""
        if len(data) > 20:
            _scan_extension_blocks(data[20:], item)
        known = SHELL_FOLDERS.get(g or "")
        if known:
            item.name = known
        elif item.long_name:
            item.kind, item.name = "Root Folder (property view)", item.long_name
        else:
            item.name = g or "Root folder"
    elif ct & 0x70 == 0x20:  # volume
        item.kind = "Volume"
        if ct == 0x2E and len(data) >= 20:
            g = guid_at(data, 4)
            item.kind, item.guid = "Shell Folder", g or ""
            item.name = SHELL_FOLDERS.get(g or "", g or "")
        else:
            item.name, _ = _ascii_z(data, 3)
            item.name = item.name.rstrip("\\") + "\\" if item.name else ""
    elif ct & 0x70 == 0x30:  # file entry
        if len(data) < 14:
            raise ValueError(f"file entry shell item needs 14 bytes, {len(data)} available")
        item.kind = "Directory" if ct & 0x01 else ("File" if ct & 0x02 else "File Entry")
        item.file_size = struct.unpack_from("<I", data, 4)[0]
        item.modified = fat_at(data, 8)
        if ct & 0x04:
            short, nxt = _utf16_z(data, 14)
        else:
            short, nxt = _ascii_z(data, 14)
            if nxt & 1:
                nxt += 1
        item.name = short
        item.extra["short_name"] = short
        if nxt < len(data):
            _scan_extension_blocks(data[nxt:], item)
        if item.long_name:
            item.name = item.long_name
    elif ct & 0x70 == 0x40:  # network location
        item.kind = "Network Location"
        if len(data) > 5:
            item.name, _ = _ascii_z(data, 5)
    elif ct == 0x61:  # URI: the layout varies by version; take the first URI-looking string
        item.kind = "URI"
        item.name = _find_uri(data)
    elif ct == 0x71:  # control panel item
        item.kind = "Control Panel"
        g = guid_at(data, 14)
        item.guid = g or ""
        item.name = SHELL_FOLDERS.get(g or "", g or "Control Panel item")
    elif ct == 0x74 and len(data) >= 14 and data[6:10] == b"CFSF":  # delegate (users files folder)
        item.kind = "Directory"
        sub_size = struct.unpack_from("<H", data, 10)[0]
        if sub_size >= 14 and 10 + sub_size <= len(data):
            inner = decode_shell_item(data[10 : 10 + sub_size])
            item.name, item.modified, item.file_size = inner.name, inner.modified, inner.file_size
            item.created, item.accessed, item.long_name = inner.created, inner.accessed, inner.long_name
            item.mft_entry, item.mft_seq = inner.mft_entry, inner.mft_seq
            item.extra["short_name"] = inner.extra.get("short_name", "")
        _scan_extension_blocks(data[10 + max(sub_size, 0) :], item)
        if item.long_name:
            item.name = item.long_name
    elif ct == 0x01 and len(data) >= 12 and data[4:8] == b"\x84\x21\xde\x39":  # control panel category
        item.kind = "Control Panel Category"
        cat = struct.unpack_from("<I", data, 8)[0]
        item.name = CP_CATEGORIES.get(cat, f"Control Panel category {cat}")
    elif ct == 0x00 and len(data) >= 10:  # users property view / variable items
        item.kind = "Variable"
        _scan_extension_blocks(data, item)
        item.name = item.long_name or _guess_name(data)
    else:
        item.kind = f"Unknown (0x{ct:02X})"
        _scan_extension_blocks(data, item)
        item.name = item.long_name or _guess_name(data)
    return item


def _find_uri(data: bytes) -> str:
    """The URL of a URI item: found by its scheme (UTF-16 when flag 0x80 is set, else ASCII), else the first
    string that looks like ``scheme://...``."""
    wide = bool(data[3] & 0x80) if len(data) > 3 else False
    for scheme in ("http", "ftp", "file", "res", "ms-"):
        needle = scheme.encode("utf-16-le") if wide else scheme.encode("ascii")
        i = data.find(needle, 4)
        if i >= 0:
            return utf16z(data, i)[0] if wide else _ascii_z(data, i)[0]
    for marker, width in (("://".encode("utf-16-le"), 2), (b"://", 1)):
        i = data.find(marker)
        if i < 0:
            continue
        start = i
        while start - width >= 0 and data[start - width] >= 0x21 and (width == 1 or data[start - 1] == 0):
            start -= width
        text, _ = _utf16_z(data, start) if width == 2 else _ascii_z(data, start)
        return text
    return ""


def _guess_name(data: bytes) -> str:
    """Best-effort label for item types we do not decode: a GUID-known folder, else empty."""
    for off in range(3, max(3, len(data) - 15)):
        g = guid_at(data, off)
        if g and g in SHELL_FOLDERS:
            return SHELL_FOLDERS[g]
    return ""


def split_idlist(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, item bytes) of each shell item in an ITEMIDLIST; stops at the 0 terminator.

    Raises ValueError when an item claims more bytes than remain.
    """
    off = 0
    while off + 2 <= len(data):
        (size,) = struct.unpack_from("<H", data, off)
        if size == 0:
            return
        if size < 3 or off + size > len(data):
            raise ValueError(f"shell item at {off} claims {size} bytes, {len(data) - off} available")
        yield off, data[off : off + size]
        off += size


def idlist_path(data: bytes) -> tuple[str, list[ShellItem]]:
    """Decode an ITEMIDLIST into a path string and its items (ValueError on corrupt lists)."""
    items = [decode_shell_item(b) for _, b in split_idlist(data)]
    return join_items(items), items


def join_items(items: list[ShellItem]) -> str:
    path = ""
    for it in items:
        path = join_name(path, it.name)
    return path


def join_name(parent: str, name: str) -> str:
    if not parent:
        return name
    if parent.endswith("\\"):
        return parent + name
    return parent + "\\" + name


def parse_shell_items(data: bytes | None) -> Iterator[ShellItem]:
    """Shell items of an ID list, leniently: stops quietly at the first malformed item (LNK targets)."""
    if not data:
        return
    try:
        for n, (_off, raw) in enumerate(split_idlist(data)):
            if n >= 256:
                return
            try:
                yield decode_shell_item(raw)
            except (ValueError, struct.error, IndexError):
                yield ShellItem(kind=f"Unknown (0x{raw[2]:02X})", name="", class_type=raw[2], size=len(raw))
    except ValueError:
        return


def shell_path(items: list[ShellItem]) -> str:
    """The file-system path an item list points at (root folders such as "My Computer" left out)."""
    parts = []
    for it in items:
        if it.kind.startswith("Root Folder") or it.kind in ("Shell Folder", "Control Panel", "Control Panel Category"):
            continue
        nm = it.long_name or it.name
        if nm:
            parts.append(nm.rstrip("\\") if it.kind == "Volume" else nm)
    return "\\".join(parts)
