"""Hive access: open a registry hive (after transaction-log replay) with libregf, detect its type
from content, and describe it to the plugins.

``HiveInfo`` is the contract between the registry artefact and its plugins (``registry/plugins``).
``open_hive()`` reads a hive file plus its ``.LOG``/``.LOG1``/``.LOG2`` companions, replays them in memory
when the hive is dirty (``replay.py``), repairs a bad base-block checksum in the in-memory copy (libregf
refuses such hives) and opens the result with libregf-python.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyregf

from ...timeutil import from_filetime
from ..base import ParseContext
from .replay import (
    BASE_BLOCK_SIZE,
    BaseBlock,
    ReplayResult,
    check_bins,
    parse_base_block,
    replay,
    set_checksum,
    xor32,
)


@dataclass(frozen=True)
class HiveInfo:
    """What a plugin knows about the hive it runs on.

    ``path``                 source label (path in the image or the local file)
    ``hive_type``            SYSTEM, SOFTWARE, SAM, SECURITY, NTUSER, USRCLASS, AMCACHE, DEFAULT, BCD or ""
    ``user``                 profile name for NTUSER/USRCLASS (REGA ``<user>.NTUSER.DAT`` or ``Users/<user>/``)
    ``sid``                  the user's SID when known, else ""
    ``control_sets``         SYSTEM: ``ControlSet00N`` names, the current one first
    ``current_control_set``  SYSTEM: the current ``ControlSet00N`` name, else ""
    """

    path: str
    hive_type: str
    user: str = ""
    sid: str = ""
    control_sets: list[str] = field(default_factory=list)
    current_control_set: str = ""


# libregf raises IOError/OSError for unreadable cells; MemoryError for absurd sizes in corrupt cells
LIBREGF_ERRORS: tuple[type[Exception], ...] = (IOError, OSError, ValueError, TypeError, MemoryError)

# value type names as RECmd / Registry Explorer print them
TYPE_NAMES: dict[int, str] = {
    0: "RegNone", 1: "RegSz", 2: "RegExpandSz", 3: "RegBinary", 4: "RegDword", 5: "RegDwordBigEndian",
    6: "RegLink", 7: "RegMultiSz", 8: "RegResourceList", 9: "RegFullResourceDescriptor",
    10: "RegResourceRequirementsList", 11: "RegQword",
}  # fmt: skip

HIVE_TYPES = ("SYSTEM", "SOFTWARE", "SAM", "SECURITY", "NTUSER", "USRCLASS", "AMCACHE", "DEFAULT", "BCD")
LOG_SUFFIXES = (".LOG1", ".LOG2", ".LOG")
MAX_DEPTH = 512  # Windows limits key paths to 512 levels


def type_name(t: int) -> str:
    return TYPE_NAMES.get(t, f"RegUnknown({t})" if t >= 0 else "RegUnknown")


def hexdash(b: bytes) -> str:
    """Bytes the way .NET's BitConverter.ToString prints them (RECmd): ``01-AB-FF``."""
    return b.hex("-").upper()


def value_text(vtype: int, data: bytes) -> str:
    """Value data as text, RECmd style: strings to the first NUL, MULTI_SZ joined by spaces, DWORD/QWORD in
    decimal, everything else as dashed hex."""
    if vtype in (1, 2, 6):
        return utf16_text(data)
    if vtype == 7:
        parts = _utf16(data).split("\x00")
        while parts and parts[-1] == "":
            parts.pop()
        return " ".join(parts)
    if vtype == 4 and len(data) >= 4:
        return str(struct.unpack_from("<I", data)[0])
    if vtype == 5 and len(data) >= 4:
        return str(struct.unpack_from(">I", data)[0])
    if vtype == 11 and len(data) >= 8:
        return str(struct.unpack_from("<Q", data)[0])
    return hexdash(data)


def _utf16(data: bytes) -> str:
    return data[: len(data) & ~1].decode("utf-16-le", "replace")


def utf16_text(data: bytes) -> str:
    return _utf16(data).split("\x00", 1)[0]


def sid_text(b: bytes, off: int = 0) -> str | None:
    """A binary SID at ``off`` as ``S-1-5-...``; None when malformed."""
    if len(b) < off + 8:
        return None
    rev, count = b[off], b[off + 1]
    if rev != 1 or count > 15 or len(b) < off + 8 + 4 * count:
        return None
    auth = int.from_bytes(b[off + 2:off + 8], "big")
    subs = struct.unpack_from(f"<{count}I", b, off + 8)
    return f"S-{rev}-{auth}" + "".join(f"-{x}" for x in subs)


# --- detection ---------------------------------------------------------------------------------
def detect_type(root: Any, base_name: str = "") -> str:
    """The hive type from its content: the root key's sub keys, then the base block's file name."""
    names: set[str] = set()
    try:
        for i in range(root.number_of_sub_keys):
            try:
                names.add((root.get_sub_key(i).name or "").lower())
            except LIBREGF_ERRORS:
                continue
    except LIBREGF_ERRORS:
        pass
    fname = base_name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    if {"objects", "description"} <= names:
        return "BCD"
    if "root" in names and len(names) <= 3:
        try:
            sub = root.get_sub_key_by_name("Root")
            subs = {(sub.get_sub_key(i).name or "").lower() for i in range(sub.number_of_sub_keys)}
        except LIBREGF_ERRORS:
            subs = set()
        if subs & {"file", "inventoryapplicationfile", "programs", "inventoryapplication", "inventorydriverbinary"}:
            return "AMCACHE"
    if "amcache.hve" in fname:
        return "AMCACHE"
    if any(re.fullmatch(r"controlset\d{3}", n) for n in names) or {"select", "mounteddevices"} & names:
        return "SYSTEM"
    if {"policy", "rxact"} & names and "sam" not in fname:
        return "SECURITY"
    if names == {"sam"} or ("sam" in names and "domains" in _sub_names(root, "SAM")):
        return "SAM"
    if fname.endswith("usrclass.dat") or ("local settings" in names and "control panel" not in names
                                          and ("clsid" in names or any(n.startswith(".") for n in names))):
        return "USRCLASS"
    if "control panel" in names or {"software", "environment"} <= names:
        if fname == "default" or fname.endswith("\\default"):
            return "DEFAULT"
        return "NTUSER"
    if "microsoft" in names and ({"classes", "policies", "wow6432node", "clients", "setup"} & names):
        return "SOFTWARE"
    for t, pat in (("SYSTEM", "system"), ("SOFTWARE", "software"), ("SAM", "sam"), ("SECURITY", "security"),
                   ("NTUSER", "ntuser.dat"), ("DEFAULT", "default"), ("BCD", "bcd")):
        if fname == pat or fname.endswith(pat):
            return t
    return ""


def _sub_names(root: Any, name: str) -> set[str]:
    try:
        k = root.get_sub_key_by_name(name)
        return {(k.get_sub_key(i).name or "").lower() for i in range(k.number_of_sub_keys)} if k else set()
    except LIBREGF_ERRORS:
        return set()


_REGA = re.compile(r"^(?P<user>.+)\.(ntuser\.dat|usrclass\.dat)$", re.IGNORECASE)


def user_for(label: str, hive_type: str) -> str:
    """The profile a user hive belongs to: REGA ``<user>.NTUSER.DAT`` names, else ``.../Users/<user>/...``."""
    if hive_type not in ("NTUSER", "USRCLASS"):
        return ""
    parts = [p for p in label.replace("\\", "/").split("/") if p]
    if parts:
        m = _REGA.match(parts[-1])
        if m:
            return m.group("user")
    for i, p in enumerate(parts[:-1]):
        if p.lower() in ("users", "documents and settings") and i + 1 < len(parts) - 1:
            return parts[i + 1]
    return ""


def find_logs(path: Path) -> list[Path]:
    """``.LOG1``, ``.LOG2`` and ``.LOG`` files next to a hive (names compared case-insensitively)."""
    try:
        siblings = {p.name.lower(): p for p in path.parent.iterdir() if p.is_file()}
    except OSError:
        return []
    out = []
    for suf in LOG_SUFFIXES:
        p = siblings.get((path.name + suf).lower())
        if p is not None:
            out.append(p)
    return out


# --- the hive ----------------------------------------------------------------------------------
@dataclass
class Hive:
    label: str
    data: bytearray  # replayed, checksum-repaired copy
    base: BaseBlock
    file: Any  # pyregf.file
    root: Any  # pyregf.key
    root_name: str
    hive_type: str
    info: HiveInfo
    replay: ReplayResult | None
    checksum_fixed: bool = False
    original_base: BaseBlock | None = None
    _fobj: Any = None

    def close(self) -> None:
        try:
            self.file.close()
        except LIBREGF_ERRORS:
            pass

    def get_key(self, path: str) -> Any | None:
        """A key by path relative to the root (``\\``-separated, case-insensitive); ``""`` is the root.
        A leading root-key name or ``ROOT`` is accepted."""
        path = path.strip("\\")
        if not path:
            return self.root
        first, _, rest = path.partition("\\")
        if first.lower() in ("root", self.root_name.lower()) and self._child(self.root, first) is None:
            path = rest
            if not path:
                return self.root
        try:
            return self.root.get_sub_key_by_path(path)
        except LIBREGF_ERRORS:
            return None

    @staticmethod
    def _child(key: Any, name: str) -> Any | None:
        try:
            return key.get_sub_key_by_name(name)
        except LIBREGF_ERRORS:
            return None

    def expand(self, pattern: str) -> list[tuple[str, Any]]:
        """Keys matching a path with ``*``/``?`` wildcards in any segment: [(path, key)]."""
        segs = [s for s in pattern.strip("\\").split("\\") if s != ""]
        found: list[tuple[str, Any]] = [("", self.root)]
        for seg in segs:
            nxt: list[tuple[str, Any]] = []
            if "*" in seg or "?" in seg:
                rx = re.compile(_glob_to_re(seg), re.IGNORECASE | re.DOTALL)
                for p, k in found:
                    for sk in iter_subkeys(k):
                        n = key_name(sk)
                        if rx.fullmatch(n):
                            nxt.append((f"{p}\\{n}" if p else n, sk))
            else:
                for p, k in found:
                    sk = self._child(k, seg)
                    if sk is not None:
                        n = key_name(sk)
                        nxt.append((f"{p}\\{n}" if p else n, sk))
            found = nxt
            if not found:
                break
        return found

    def walk(self, ctx: ParseContext | None = None) -> Iterator[tuple[str, Any]]:
        """Every key, depth first: (path relative to the root, key). A key reached twice (a cycle in a
        corrupt key tree) or deeper than ``MAX_DEPTH`` is skipped, with a warning when ``ctx`` is given."""
        stack: list[tuple[str, Any, int]] = [("", self.root, 0)]
        seen: set[int] = set()
        while stack:
            p, k, depth = stack.pop()
            off = key_offset(k)
            if off is not None:
                if off in seen:
                    if ctx is not None:
                        ctx.warn(off, f"key {p!r} at offset {off} reached twice (cycle in the key tree); skipped")
                    continue
                seen.add(off)
            if depth > MAX_DEPTH:
                if ctx is not None:
                    ctx.warn(off, f"key {p[:200]!r} deeper than {MAX_DEPTH} levels; not descended")
                continue
            yield p, k
            subs = list(iter_subkeys(k, ctx))
            for sk in reversed(subs):
                n = key_name(sk)
                stack.append((f"{p}\\{n}" if p else n, sk, depth + 1))

    def owner_sid(self, key: Any) -> str:
        """Owner SID of a key's security descriptor (read from the ``sk`` cell)."""
        sd = self.security_descriptor(key)
        if len(sd) < 20:
            return ""
        (owner,) = struct.unpack_from("<I", sd, 4)
        return sid_text(sd, owner) or "" if owner else ""

    def security_info(self, key: Any) -> dict[str, Any]:
        """Owner, group and DACL entries ((type, mask, SID), allowed/denied ACEs) of a key."""
        sd = self.security_descriptor(key)
        out: dict[str, Any] = {"owner": "", "group": "", "dacl": []}
        if len(sd) < 20:
            return out
        owner, group, _sacl, dacl = struct.unpack_from("<IIII", sd, 4)
        out["owner"] = (sid_text(sd, owner) or "") if owner else ""
        out["group"] = (sid_text(sd, group) or "") if group else ""
        if dacl and dacl + 8 <= len(sd):
            (count,) = struct.unpack_from("<H", sd, dacl + 4)
            p = dacl + 8
            for _ in range(count):
                if p + 8 > len(sd):
                    break
                atype, _flags, size = struct.unpack_from("<BBH", sd, p)
                (mask,) = struct.unpack_from("<I", sd, p + 4)
                if size < 8:
                    break
                if atype in (0, 1):
                    out["dacl"].append((atype, mask, sid_text(sd, p + 8) or ""))
                p += size
        return out

    def security_descriptor(self, key: Any) -> bytes:
        off = key_offset(key)
        d = self.data
        if off is None or off + 48 > len(d) or d[off:off + 2] != b"nk":
            return b""
        (sk,) = struct.unpack_from("<I", d, off + 44)
        p = BASE_BLOCK_SIZE + sk + 4
        if sk == 0xFFFFFFFF or p + 20 > len(d) or d[p:p + 2] != b"sk":
            return b""
        (size,) = struct.unpack_from("<I", d, p + 16)
        return bytes(d[p + 20:p + 20 + size])


def _glob_to_re(seg: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in seg)


def key_name(key: Any) -> str:
    try:
        return key.name or ""
    except LIBREGF_ERRORS:
        return ""


def key_offset(key: Any) -> int | None:
    try:
        return int(key.offset)
    except LIBREGF_ERRORS:
        return None


def key_time(key: Any) -> int | None:
    """Last-write time of a key in FILETIME ticks (None when unreadable, zero or out of range)."""
    try:
        return from_filetime(int(key.get_last_written_time_as_integer()))
    except LIBREGF_ERRORS:
        return None


def iter_subkeys(key: Any, ctx: ParseContext | None = None, *, warn_count: bool = True) -> Iterator[Any]:
    """Sub keys of ``key`` (none for None); an unreadable one is warned about (when ``ctx`` is given) and skipped,
    as is an unreadable sub key count (unless ``warn_count`` is False)."""
    if key is None:
        return
    try:
        n = int(key.number_of_sub_keys)
    except LIBREGF_ERRORS as e:
        if ctx is not None and warn_count:
            ctx.warn(key_offset(key), f"sub keys of {key_name(key)!r} unreadable: {e}")
        return
    for i in range(n):
        try:
            yield key.get_sub_key(i)
        except LIBREGF_ERRORS as e:
            if ctx is not None:
                ctx.warn(key_offset(key), f"sub key {i} of {key_name(key)!r} unreadable: {e}")


def iter_values(key: Any, ctx: ParseContext | None = None) -> Iterator[tuple[str, int, bytes]]:
    """(name, type, raw data) of each value; unreadable values are warned about and skipped."""
    try:
        n = key.number_of_values
    except LIBREGF_ERRORS as e:
        if ctx is not None:
            ctx.warn(key_offset(key), f"values of {key_name(key)!r} unreadable: {e}")
        return
    for i in range(n):
        try:
            v = key.get_value(i)
            name = v.name or ""
            t = int(v.type)
        except LIBREGF_ERRORS as e:
            if ctx is not None:
                ctx.warn(key_offset(key), f"value {i} of {key_name(key)!r} unreadable: {e}")
            continue
        try:
            data = v.data or b""
        except LIBREGF_ERRORS as e:
            if ctx is not None:
                ctx.warn(key_offset(key), f"data of value {name!r} of {key_name(key)!r} unreadable: {e}")
            data = b""
        yield name, t, bytes(data)


def control_sets(root: Any) -> tuple[list[str], str]:
    """SYSTEM: (ControlSet00N names with the current one first, current name)."""
    names = sorted(n for n in (key_name(k) for k in iter_subkeys(root)) if re.fullmatch(r"(?i)controlset\d{3}", n))
    current = ""
    try:
        sel = root.get_sub_key_by_name("Select")
        v = sel.get_value_by_name("Current") if sel is not None else None
        if v is not None and v.data and len(v.data) >= 4:
            cur = f"ControlSet{struct.unpack_from('<I', v.data)[0]:03d}"
            current = next((n for n in names if n.lower() == cur.lower()), "")
    except LIBREGF_ERRORS:
        pass
    if not current and names:
        current = names[0]
    if current:
        names = [current] + [n for n in names if n != current]
    return names, current


def open_hive(
    path: Path,
    ctx: ParseContext,
    *,
    label: str | None = None,
    logs: list[Path] | None = None,
    do_replay: bool = True,
    sid_for_user: dict[str, str] | None = None,
) -> Hive | None:
    """Read, replay (when dirty), repair and open one hive. Problems go to ``ctx.warn``; None when the
    file is not a readable hive."""
    label = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        ctx.warn(None, f"cannot read hive: {e}")
        return None
    log_data: list[tuple[str, bytes]] = []
    for lp in find_logs(path) if logs is None else logs:
        try:
            log_data.append((lp.name, lp.read_bytes()))
        except OSError as e:
            ctx.warn(None, f"cannot read transaction log {lp.name}: {e}", skipped=False)
    return open_hive_bytes(raw, ctx, label=label, logs=log_data, do_replay=do_replay, sid_for_user=sid_for_user)


def open_hive_bytes(
    raw: bytes,
    ctx: ParseContext,
    *,
    label: str,
    logs: list[tuple[str, bytes]] | None = None,
    do_replay: bool = True,
    sid_for_user: dict[str, str] | None = None,
) -> Hive | None:
    if len(raw) < BASE_BLOCK_SIZE + 32:
        ctx.warn(0, f"not a registry hive: {len(raw)} bytes, a base block and one hive bin need {BASE_BLOCK_SIZE + 32}")
        return None
    base0 = parse_base_block(raw)
    if base0 is None:
        ctx.warn(0, f"not a registry hive: signature {raw[:4]!r}, expected b'regf'")
        return None
    rep: ReplayResult | None = None
    if do_replay and base0.dirty:

        def warn(off: int | None, reason: str) -> None:
            ctx.warn(off, reason, skipped=False)

        rep = replay(raw, logs or [], warn)
        data = rep.data
        if rep.replayed:
            check_bins(data, warn)  # pages from the logs must leave well-formed hive bins
    else:
        data = bytearray(raw)
        if base0.dirty:
            ctx.warn(4, f"hive is dirty (sequence {base0.primary_seq}/{base0.secondary_seq}); replay disabled",
                     skipped=False)
    fixed = False
    if xor32(data) != struct.unpack_from("<I", data, 508)[0]:
        ctx.warn(508, f"base block checksum 0x{struct.unpack_from('<I', data, 508)[0]:08x} is wrong "
                      f"(computed 0x{xor32(data):08x}); repaired in the in-memory copy to open the hive",
                 skipped=False)
        set_checksum(data)
        fixed = True
    base = parse_base_block(data) or base0
    (hbins,) = struct.unpack_from("<I", data, 40)
    if BASE_BLOCK_SIZE + hbins > len(data) or hbins == 0 or hbins % 4096:
        # libregf trusts this field; a truncated hive keeps what is there
        usable = ((len(data) - BASE_BLOCK_SIZE) // 4096) * 4096
        ctx.warn(40, f"hive bins data size {hbins} does not fit the file ({len(data)} bytes); using {usable}",
                 skipped=False)
        struct.pack_into("<I", data, 40, usable)
        set_checksum(data)
    fobj = io.BytesIO(bytes(data))
    f = pyregf.file()
    try:
        f.open_file_object(fobj)
        root = f.get_root_key()
    except LIBREGF_ERRORS as e:
        ctx.warn(BASE_BLOCK_SIZE + base.root_cell, f"libregf cannot open the hive: {e}")
        return None
    if root is None:
        ctx.warn(BASE_BLOCK_SIZE + base.root_cell, "hive has no root key")
        return None
    root_name = key_name(root)
    htype = detect_type(root, base.file_name)
    user = user_for(label, htype) or (ctx.user if htype in ("NTUSER", "USRCLASS") else "")
    sid = (sid_for_user or {}).get(user.lower(), "") if user else ""
    m = re.fullmatch(r"(S-1-[0-9-]+)_Classes", root_name, re.IGNORECASE)
    if m and htype == "USRCLASS" and not sid:
        sid = m.group(1)  # the root key of a UsrClass hive is named <SID>_Classes (ProfileList wins when known)
    cs, cur = control_sets(root) if htype == "SYSTEM" else ([], "")
    info = HiveInfo(path=label, hive_type=htype, user=user, sid=sid, control_sets=cs, current_control_set=cur)
    return Hive(label, data, base, f, root, root_name, htype, info, rep, fixed, base0, fobj)


def scan_key_tree(data: bytes | bytearray, root_cell: int, warn: Any = None) -> tuple[int, int, dict[int, str]]:
    """Walk the key tree straight from the hive bins: (keys, values, {nk record offset: path}).

    The same keys as ``Hive.walk`` (reachable from the root through subkey lists lf/lh/li/ri, cycle- and
    depth-guarded), several times faster than creating a libregf object per key. Offsets are file offsets of
    the nk record (after the cell size), as libregf's ``key.offset``; paths are relative to the root.
    """
    from .recover import int32_view

    u32 = int32_view(data, signed=False)  # nk records and subkey lists are 4-aligned: fields are elements
    size = len(data)

    def record(cell: int) -> int | None:
        p = BASE_BLOCK_SIZE + cell + 4
        return p if 0 <= cell < 0xFFFFFFFF and p + 0x4C <= size else None

    def children(list_cell: int, depth: int = 0) -> list[int]:
        p = record(list_cell)
        if p is None or depth > 8:
            return []
        sig = bytes(data[p:p + 2])
        n = u32[p >> 2] >> 16
        if sig in (b"lf", b"lh"):
            step = 2
        elif sig in (b"li", b"ri"):
            step = 1
        else:
            if warn:
                warn(p, f"subkey list at {p} has signature {sig!r}, not lf/lh/li/ri")
            return []
        n = min(n, (size - p - 4) // (4 * step))
        a = (p + 4) >> 2
        cells = list(u32[a:a + n * step:step])
        if sig == b"ri":
            return [c for sub in cells for c in children(sub, depth + 1)]
        return cells

    root = record(root_cell)
    live: dict[int, str] = {}
    nkeys = nvals = 0
    stack: list[tuple[int, str, int]] = [(root, "", 0)] if root is not None else []
    while stack:
        p, path, depth = stack.pop()
        if p in live:
            if warn:
                warn(p, f"key {path!r} at offset {p} reached twice (cycle in the key tree); skipped")
            continue
        if data[p:p + 2] != b"nk":
            if warn:
                warn(p, f"key record at {p} is not an nk cell")
            continue
        live[p] = path
        nkeys += 1
        w = p >> 2
        nsub = u32[w + 5]  # 0x14
        nvals += u32[w + 9]  # 0x24
        if depth >= MAX_DEPTH:
            if warn:
                warn(p, f"key {path[:200]!r} deeper than {MAX_DEPTH} levels; not descended")
            continue
        if not nsub:
            continue
        for c in children(u32[w + 7]):  # 0x1C: the subkey list
            q = record(c)
            if q is None or data[q:q + 2] != b"nk":
                continue
            nlen = u32[(q >> 2) + 18] & 0xFFFF  # 0x48
            raw = bytes(data[q + 0x4C:q + 0x4C + nlen])
            name = raw.decode("latin-1") if (u32[q >> 2] >> 16) & 0x20 else raw.decode("utf-16-le", "replace")
            stack.append((q, f"{path}\\{name}" if path else name, depth + 1))
    return nkeys, nvals, live
