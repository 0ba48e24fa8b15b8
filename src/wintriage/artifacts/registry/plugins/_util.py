"""Shared helpers for the registry plugins: key/value access on libregf keys, value decoding,
control sets, ROT13, known-folder GUIDs, MRU lists and shell items (ShellBags, OpenSave MRU).

Everything here is defensive: evidence values may have the wrong type, be short or be corrupt, so
readers return ``None`` rather than raise, and binary decoders raise only ``ValueError`` (which the
plugins turn into ``ctx.warn``).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from ....timeutil import from_datetime
from ..._shellitems import (  # noqa: F401 - the shell-item decoder is shared with LNK; re-exported here
    CP_CATEGORIES,
    SHELL_FOLDERS,
    ShellItem,
    decode_shell_item,
    fat_at,
    fat_datetime,
    filetime_at,
    guid_at,
    idlist_path,
    join_items,
    join_name,
    split_idlist,
)
from ...base import ParseContext
from ..hive import LIBREGF_ERRORS, iter_subkeys, key_name, key_offset, key_time  # noqa: F401 - one implementation, re-exported for plugins

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


def subkey(key: Any, path: str) -> Any | None:
    """A sub key by relative ``\\``-separated path, case-insensitively; None when absent/unreadable."""
    if key is None:
        return None
    try:
        return key.get_sub_key_by_path(path) if "\\" in path else key.get_sub_key_by_name(path)
    except LIBREGF_ERRORS:
        return None


def subkeys(key: Any, ctx: ParseContext | None = None) -> Iterator[Any]:
    """Sub keys; an unreadable one is warned about (when ``ctx`` is given) and skipped (an unreadable count: none)."""
    return iter_subkeys(key, ctx, warn_count=False)


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
def resolve_known_folder(name: str) -> str:
    """``{F38BF404-...}\\explorer.exe`` -> ``C:\\Windows\\explorer.exe`` (unknown GUIDs kept)."""
    if name.startswith("{") and len(name) >= 38 and name[37] == "}":
        base = KNOWN_FOLDERS.get(name[:38].upper())
        if base is not None:
            return base + name[38:]
    return name


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
