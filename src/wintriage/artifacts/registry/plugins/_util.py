"""Shared helpers for the registry plugins: key/value access on libregf keys, value decoding,
control sets, ROT13, known-folder GUIDs, MRU lists and shell items (ShellBags, OpenSave MRU).

Everything here is defensive: evidence values may have the wrong type, be short or be corrupt, so
readers return ``None`` rather than raise, and binary decoders raise only ``ValueError`` (which the
plugins turn into ``ctx.warn``).
"""

from __future__ import annotations

import codecs
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ....timeutil import from_datetime, from_filetime
from ...base import ParseContext

# libregf raises IOError/OSError for unreadable cells, ValueError/TypeError for bad arguments
LIBREGF_ERRORS: tuple[type[Exception], ...] = (IOError, OSError, ValueError, TypeError, MemoryError)

REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_DWORD_BE, REG_LINK, REG_MULTI_SZ = range(8)
REG_QWORD = 11
TYPE_NAMES = {
    0: "RegNone", 1: "RegSz", 2: "RegExpandSz", 3: "RegBinary", 4: "RegDword", 5: "RegDwordBigEndian",
    6: "RegLink", 7: "RegMultiSz", 8: "RegResourceList", 9: "RegFullResourceDescriptor",
    10: "RegResourceRequirementsList", 11: "RegQword",
}  # fmt: skip


class HiveLike(Protocol):
    """What plugins need of ``registry.hive.HiveInfo`` (structural, so tests can use a stand-in)."""

    path: str
    hive_type: str
    user: str
    sid: str
    control_sets: list[str]
    current_control_set: str


# ---------------------------------------------------------------- keys and values


def key_time(key: Any) -> int | None:
    """Last-write time of a key in FILETIME ticks (None when unreadable or zero)."""
    try:
        return from_filetime(int(key.get_last_written_time_as_integer()))
    except LIBREGF_ERRORS:
        return None


def key_name(key: Any) -> str:
    try:
        return key.name or ""
    except LIBREGF_ERRORS:
        return ""


def key_offset(key: Any) -> int | None:
    try:
        return int(key.offset)
    except (AttributeError, OSError, ValueError, TypeError):
        return None


def subkey(key: Any, path: str) -> Any | None:
    """A sub key by relative ``\\``-separated path, case-insensitively; None when absent/unreadable."""
    if key is None:
        return None
    try:
        return key.get_sub_key_by_path(path) if "\\" in path else key.get_sub_key_by_name(path)
    except LIBREGF_ERRORS:
        return None


def subkeys(key: Any, ctx: ParseContext | None = None) -> Iterator[Any]:
    """Sub keys; an unreadable one is warned about (when ``ctx`` is given) and skipped."""
    if key is None:
        return
    try:
        n = int(key.number_of_sub_keys)
    except LIBREGF_ERRORS:
        return
    for i in range(n):
        try:
            yield key.get_sub_key(i)
        except LIBREGF_ERRORS as e:
            if ctx is not None:
                ctx.warn(key_offset(key), f"sub key {i} of {key_name(key)!r} unreadable: {e}")


def values(key: Any, ctx: ParseContext | None = None) -> Iterator[Any]:
    if key is None:
        return
    try:
        n = int(key.number_of_values)
    except LIBREGF_ERRORS:
        return
    for i in range(n):
        try:
            yield key.get_value(i)
        except LIBREGF_ERRORS as e:
            if ctx is not None:
                ctx.warn(key_offset(key), f"value {i} of {key_name(key)!r} unreadable: {e}")


def value(key: Any, name: str) -> Any | None:
    """A value by name (case-insensitive; ``""`` is the default value); None when absent."""
    if key is None:
        return None
    try:
        return key.get_value_by_name(name)
    except LIBREGF_ERRORS:
        return None


def vname(v: Any) -> str:
    try:
        return v.name or ""
    except LIBREGF_ERRORS:
        return ""


def vtype(v: Any) -> int:
    try:
        return int(v.type)
    except LIBREGF_ERRORS:
        return -1


def vdata(v: Any) -> bytes:
    """Raw value bytes (b'' when absent/unreadable)."""
    if v is None:
        return b""
    try:
        d = v.data
    except LIBREGF_ERRORS:
        return b""
    return bytes(d) if d else b""


def utf16z(data: bytes) -> str:
    """UTF-16LE up to the first NUL (decode errors replaced)."""
    t = data[: len(data) - (len(data) & 1)].decode("utf-16-le", "replace")
    i = t.find("\x00")
    return t if i < 0 else t[:i]


def decode_sz(data: bytes) -> str:
    return utf16z(data)


def decode_multi_sz(data: bytes) -> list[str]:
    n = len(data) - (len(data) & 1)
    text = data[:n].decode("utf-16-le", "replace")
    parts = text.split("\x00")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def as_str(v: Any) -> str | None:
    """A value as text whatever its type: strings decoded, integers in decimal, binary as hex."""
    if v is None:
        return None
    t, d = vtype(v), vdata(v)
    if t in (REG_SZ, REG_EXPAND_SZ, REG_LINK):
        return decode_sz(d)
    if t == REG_MULTI_SZ:
        return "|".join(decode_multi_sz(d))
    if t == REG_DWORD and len(d) >= 4:
        return str(struct.unpack_from("<I", d)[0])
    if t == REG_DWORD_BE and len(d) >= 4:
        return str(struct.unpack_from(">I", d)[0])
    if t == REG_QWORD and len(d) >= 8:
        return str(struct.unpack_from("<Q", d)[0])
    return d.hex() if d else ""


def as_int(v: Any) -> int | None:
    """DWORD/QWORD (or a short binary / decimal string holding one) as int."""
    if v is None:
        return None
    t, d = vtype(v), vdata(v)
    if t == REG_DWORD_BE and len(d) >= 4:
        return int(struct.unpack_from(">I", d)[0])
    if t in (REG_SZ, REG_EXPAND_SZ):
        s = decode_sz(d).strip()
        try:
            return int(s, 16) if s.lower().startswith("0x") else int(s)
        except ValueError:
            return None
    if len(d) >= 8 and t == REG_QWORD:
        return int(struct.unpack_from("<Q", d)[0])
    if len(d) >= 4:
        return int(struct.unpack_from("<I", d)[0])
    return None


def read_str(key: Any, name: str) -> str | None:
    return as_str(value(key, name))


def read_int(key: Any, name: str) -> int | None:
    return as_int(value(key, name))


def read_bytes(key: Any, name: str) -> bytes | None:
    v = value(key, name)
    return None if v is None else vdata(v)


def read_multi(key: Any, name: str) -> list[str] | None:
    v = value(key, name)
    if v is None:
        return None
    if vtype(v) == REG_MULTI_SZ:
        return decode_multi_sz(vdata(v))
    s = as_str(v)
    return [s] if s else []


def decode_value(v: Any) -> Any:
    """Python form of any value: str, list[str], int, or bytes."""
    t, d = vtype(v), vdata(v)
    if t in (REG_SZ, REG_EXPAND_SZ, REG_LINK):
        return decode_sz(d)
    if t == REG_MULTI_SZ:
        return decode_multi_sz(d)
    if t in (REG_DWORD, REG_DWORD_BE, REG_QWORD):
        i = as_int(v)
        return i if i is not None else d
    return d


# ---------------------------------------------------------------- times


def filetime_at(data: bytes, off: int = 0) -> int | None:
    """A FILETIME at ``off`` as ticks; None when short, zero or out of range."""
    if off < 0 or len(data) < off + 8:
        return None
    return from_filetime(struct.unpack_from("<Q", data, off)[0])


def read_filetime(key: Any, name: str) -> int | None:
    """A FILETIME stored as REG_QWORD or REG_BINARY."""
    d = read_bytes(key, name)
    return filetime_at(d) if d else None


def systemtime_at(data: bytes, off: int = 0) -> int | None:
    """A SYSTEMTIME (16 bytes: year, month, weekday, day, hour, minute, second, ms) as ticks."""
    if off < 0 or len(data) < off + 16:
        return None
    y, mo, _wd, d, h, mi, s, ms = struct.unpack_from("<8H", data, off)
    try:
        return from_datetime(datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC))
    except ValueError:
        return None


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


def unix_to_ticks(secs: int | None) -> int | None:
    if not secs or secs < 0:
        return None
    return 116444736000000000 + secs * 10_000_000


# ---------------------------------------------------------------- control sets


def control_sets(root: Any, hive: HiveLike, ctx: ParseContext | None = None) -> Iterator[tuple[str, Any]]:
    """(name, key) for every control set, the current one first.

    Uses ``hive.control_sets`` when the hive layer filled it, otherwise ``Select\\Current`` and the
    ``ControlSetNNN`` keys found under the root.
    """
    names: list[str] = list(getattr(hive, "control_sets", None) or [])
    if not names:
        cur = read_int(subkey(root, "Select"), "Current")
        found = [key_name(k) for k in subkeys(root) if key_name(k).lower().startswith("controlset")]
        cur_name = f"ControlSet{cur:03d}" if cur is not None and 0 < cur < 1000 else ""
        names = ([cur_name] if any(n.lower() == cur_name.lower() for n in found) else []) + sorted(
            n for n in found if n.lower() != cur_name.lower()
        )
    for n in names:
        k = subkey(root, n)
        if k is not None:
            yield n, k
        elif ctx is not None:
            ctx.warn(None, f"control set {n} listed but missing", skipped=False)


def current_control_set(root: Any, hive: HiveLike) -> tuple[str, Any] | tuple[None, None]:
    for n, k in control_sets(root, hive):
        return n, k
    return None, None


# ---------------------------------------------------------------- misc decoders


def rot13(s: str) -> str:
    return codecs.decode(s, "rot_13")


def guid_at(data: bytes, off: int = 0) -> str | None:
    """A little-endian GUID at ``off`` as ``{XXXXXXXX-...}`` upper case."""
    if off < 0 or len(data) < off + 16:
        return None
    return "{" + str(uuid.UUID(bytes_le=bytes(data[off : off + 16]))).upper() + "}"


def mru_listex(data: bytes) -> list[int]:
    """MRUListEx: little-endian uint32 slot numbers, 0xFFFFFFFF terminated."""
    out: list[int] = []
    for i in range(0, len(data) - 3, 4):
        (n,) = struct.unpack_from("<I", data, i)
        if n == 0xFFFFFFFF:
            break
        out.append(n)
    return out


def mru_list(text: str | None) -> list[str]:
    """Legacy MRUList: a string of letters, most recent first."""
    return [c for c in (text or "") if c.isalnum()]


def sid_from_bytes(data: bytes) -> str | None:
    if len(data) < 8:
        return None
    rev, n = data[0], data[1]
    if len(data) < 8 + 4 * n:
        return None
    auth = int.from_bytes(data[2:8], "big")
    subs = struct.unpack_from(f"<{n}I", data, 8)
    return f"S-{rev}-{auth}" + "".join(f"-{s}" for s in subs)


# KNOWNFOLDERID GUIDs seen in UserAssist names and shell items -> default absolute paths
# (the defaults of a C:\ install; user-relative folders keep an environment-style prefix).
KNOWN_FOLDERS: dict[str, str] = {
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}": "C:\\Windows\\System32",
    "{D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27}": "C:\\Windows\\SysWOW64",
    "{F38BF404-1D43-42F2-9305-67DE0B28FC23}": "C:\\Windows",
    "{6D809377-6AF0-444B-8957-A3773F02200E}": "C:\\Program Files",
    "{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}": "C:\\Program Files (x86)",
    "{905E63B6-C1BF-494E-B29C-65B732D3D21A}": "C:\\Program Files",
    "{F7F1ED05-9F6D-47A2-AAAE-29D317C6F066}": "C:\\Program Files\\Common Files",
    "{DE974D24-D9C6-4D3E-BF91-F4455120B917}": "C:\\Program Files (x86)\\Common Files",
    "{62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}": "C:\\ProgramData",
    "{0139D44E-6AFE-49F2-8690-3DAFCAE6FFB8}": "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs",
    "{A4115719-D62E-491D-AA7C-E74B8BE3B067}": "C:\\ProgramData\\Microsoft\\Windows\\Start Menu",
    "{82A5EA35-D9CD-47C5-9629-E15D2F714E6E}": "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp",
    "{C4AA340D-F20F-4863-AFEF-F87EF2E6BA25}": "C:\\Users\\Public\\Desktop",
    "{DFDF76A2-C82A-4D63-906A-5644AC457385}": "C:\\Users\\Public",
    "{A77F5D77-2E2B-44C3-A6A2-ABA601054A51}": "%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{625B53C3-AB48-4EC1-BA1F-A1EF4146FC19}": "%APPDATA%\\Microsoft\\Windows\\Start Menu",
    "{B97D20BB-F46A-4C97-BA10-5E3608430854}": "%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp",
    "{9E3995AB-1F9C-4F13-B827-48B24B6C7174}": "%APPDATA%\\Microsoft\\Internet Explorer\\Quick Launch\\User Pinned",
    "{3EB685DB-65F9-4CF6-A03A-E3EF65729F3D}": "%APPDATA%",
    "{F1B32785-6FBA-4FCF-9D55-7B8E7F157091}": "%LOCALAPPDATA%",
    "{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}": "%USERPROFILE%\\Desktop",
    "{FDD39AD0-238F-46AF-ADB4-6C85480369C7}": "%USERPROFILE%\\Documents",
    "{374DE290-123F-4565-9164-39C4925E467B}": "%USERPROFILE%\\Downloads",
    "{5E6C858F-0E22-4760-9AFE-EA3317B67173}": "%USERPROFILE%",
    "{4BD8D571-6D19-48D3-BE97-422220080E43}": "%USERPROFILE%\\Music",
    "{33E28130-4E1E-4676-835A-98395C3BC3BB}": "%USERPROFILE%\\Pictures",
    "{18989B1D-99B5-455B-841C-AB7C74E4DDFC}": "%USERPROFILE%\\Videos",
    "{0762D272-C50A-4BB0-A382-697DCD729B80}": "C:\\Users",
}

# Shell folder (root folder item) GUIDs -> display names
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


def resolve_known_folder(name: str) -> str:
    """``{F38BF404-...}\\explorer.exe`` -> ``C:\\Windows\\explorer.exe`` (unknown GUIDs kept)."""
    if name.startswith("{") and len(name) >= 38 and name[37] == "}":
        base = KNOWN_FOLDERS.get(name[:38].upper())
        if base is not None:
            return base + name[38:]
    return name


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


def _ascii_z(data: bytes, off: int) -> tuple[str, int]:
    end = data.find(b"\x00", off)
    if end < 0:
        end = len(data)
    return data[off:end].decode("cp1252", "replace"), end + 1


def _utf16_z(data: bytes, off: int) -> tuple[str, int]:
    i = off
    while i + 1 < len(data):
        if data[i] == 0 and data[i + 1] == 0:
            break
        i += 2
    return data[off:i].decode("utf-16-le", "replace"), i + 2


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
    """The first UTF-16 or ASCII string in ``data`` that looks like a URI (``scheme://...``)."""
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


# ---------------------------------------------------------------- record helpers

COMMON_COLS: list[tuple[str, str]] = [
    ("hive_path", "TEXT"),
    ("key_path", "TEXT"),
    ("last_write", "INTEGER"),
    ("user", "TEXT"),
    ("sid", "TEXT"),
]


def common(hive: HiveLike, key_path: str, key: Any, **extra: Any) -> dict[str, Any]:
    """The columns every plugin row carries: hive, key path, key last-write, user and SID."""
    d: dict[str, Any] = {
        "hive_path": getattr(hive, "path", "") or "",
        "key_path": key_path,
        "last_write": key_time(key) if key is not None else None,
        "user": getattr(hive, "user", "") or "",
        "sid": getattr(hive, "sid", "") or "",
    }
    d.update(extra)
    return d


def table(*cols: tuple[str, str]) -> list[tuple[str, str]]:
    return COMMON_COLS + list(cols)


def mru_entries(key: Any, ctx: ParseContext | None = None) -> list[tuple[str, int | None, Any]]:
    """Entries of an MRU key: (value name, MRU position or None, value), most recent first.

    Handles ``MRUListEx`` (binary slot numbers) and legacy ``MRUList`` (letters); values not listed in
    the MRU list follow with position None. The list values themselves are not returned.
    """
    vals: dict[str, Any] = {}
    for v in values(key, ctx):
        vals[vname(v)] = v
    order: list[str] = []
    lx = next((v for n, v in vals.items() if n.lower() == "mrulistex"), None)
    if lx is not None:
        order = [str(n) for n in mru_listex(vdata(lx))]
    else:
        ll = next((v for n, v in vals.items() if n.lower() == "mrulist"), None)
        if ll is not None:
            order = mru_list(as_str(ll))
    out: list[tuple[str, int | None, Any]] = []
    seen: set[str] = set()
    for pos, name in enumerate(order):
        if name in vals and name not in seen:
            out.append((name, pos, vals[name]))
            seen.add(name)
    for name, v in vals.items():
        if name in seen or name.lower() in ("mrulistex", "mrulist", "nodeslot", "nodeslots", "viewstream"):
            continue
        out.append((name, None, v))
    return out


class Vals:
    """All values of a key read once, looked up by name case-insensitively (faster than repeated
    ``get_value_by_name`` when many values of one key are read)."""

    __slots__ = ("_m",)

    def __init__(self, key: Any, ctx: ParseContext | None = None) -> None:
        self._m: dict[str, Any] = {vname(v).lower(): v for v in values(key, ctx)}

    def get(self, name: str) -> Any | None:
        return self._m.get(name.lower())

    def text(self, name: str) -> str | None:
        return as_str(self._m.get(name.lower()))

    def integer(self, name: str) -> int | None:
        return as_int(self._m.get(name.lower()))

    def filetime(self, name: str) -> int | None:
        v = self._m.get(name.lower())
        return filetime_at(vdata(v)) if v is not None else None
