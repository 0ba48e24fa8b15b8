"""Deleted keys and values: ``nk``/``vk`` records left in unallocated (free) cells.

A freed cell keeps its bytes until it is reused; neighbouring free cells are merged, so an old record may
sit inside a larger free cell at any 8-byte boundary. We look for the ``nk``/``vk`` signatures at cell
boundaries inside free space, validate each record (sizes, names, timestamps, offsets inside the hive
bins) and rebuild the path of a deleted key from its parent offset (a live key, or another deleted one).
Values reached through a deleted key's value list are attached to it; the remaining ones are reported
as unassociated, as RECmd does.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .replay import BASE_BLOCK_SIZE

MIN_TS = 119600064000000000  # 1980-01-01
MAX_TS = 157766400000000000  # 2100-01-01
_SIG = re.compile(rb"nk|vk")

Warn = Callable[[int | None, str], None]


@dataclass
class DeletedValue:
    offset: int  # file offset of the vk record
    name: str
    vtype: int
    data: bytes
    data_ok: bool  # the data cell could be read (it may have been reused since)
    associated: bool = False


@dataclass
class DeletedKey:
    offset: int  # file offset of the nk record
    name: str
    last_written: int
    parent: int  # hive-bins offset of the parent's cell
    values_count: int
    values_list: int
    path: str = ""  # relative to the root, "" when the parent chain is lost
    values: list[DeletedValue] = field(default_factory=list)


@dataclass
class Recovered:
    keys: list[DeletedKey] = field(default_factory=list)
    values: list[DeletedValue] = field(default_factory=list)  # unassociated

    @property
    def value_count(self) -> int:
        return sum(len(k.values) for k in self.keys) + len(self.values)


def _free_regions(data: bytes | bytearray, end: int, warn: Warn) -> list[tuple[int, int]]:
    """(start, end) file offsets of free cells, walking every hive bin."""
    out: list[tuple[int, int]] = []
    add = out.append
    i32 = int32_view(data)
    off = BASE_BLOCK_SIZE
    while off + 32 <= end:
        if data[off:off + 4] != b"hbin":
            warn(off, f"hive bin signature expected at offset {off} while scanning for deleted cells")
            break
        (size,) = struct.unpack_from("<I", data, off + 8)
        if size < 4096 or size % 4096 or off + size > end:
            warn(off, f"hive bin at offset {off} has size {size}; deleted-cell scan stops")
            break
        c = off + 32
        bend = off + size
        while c + 4 <= bend:
            cs = i32[c >> 2]  # cells are 8-byte aligned: the size is one element of the int32 view
            n = cs if cs > 0 else -cs
            if n < 8 or n & 7 or c + n > bend:
                warn(c, f"cell at offset {c} has size {cs}; rest of the hive bin skipped")
                break
            if cs > 0:
                add((c, c + n))
            c += n
        off += size
    return out


def int32_view(data: bytes | bytearray, signed: bool = True) -> Sequence[int]:
    """The buffer as little-endian 32-bit integers (element ``off >> 2`` is the one at the 4-aligned offset
    ``off``): a cast memoryview (no copy, no tuple per read), or a byte-swapped copy on a big-endian machine."""
    import array

    n = len(data) & ~3
    code: Literal["i", "I"] = "i" if signed else "I"
    if sys.byteorder == "little":
        return memoryview(data)[:n].cast(code)
    a = array.array(code, bytes(data[:n]))
    a.byteswap()
    return a


def _parse_nk(data: bytes | bytearray, p: int, limit: int) -> DeletedKey | None:
    """nk record at file offset ``p`` (the signature), inside [p, limit)."""
    if p + 76 > limit:
        return None
    flags, ts, _spare, parent, nsub, _nvsub, _sublist, _vsub, nval, vlist, _sec, _cls = struct.unpack_from(
        "<HQIIIIIIIIII", data, p + 2
    )
    name_len, _cls_len = struct.unpack_from("<HH", data, p + 72)
    if not (MIN_TS <= ts <= MAX_TS) or name_len == 0 or p + 76 + name_len > limit or nval > 100000:
        return None
    raw = bytes(data[p + 76:p + 76 + name_len])
    try:
        name = raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    if not name or any(ord(ch) < 32 for ch in name):
        return None
    return DeletedKey(p, name, ts, parent, nval, vlist)


def _cell(data: bytes | bytearray, rel: int, end: int) -> tuple[int, int] | None:
    """(start of the cell data, length) for a hive-bins offset, or None when out of bounds."""
    if rel == 0xFFFFFFFF:
        return None
    c = BASE_BLOCK_SIZE + rel
    if c + 4 > end:
        return None
    (cs,) = struct.unpack_from("<i", data, c)
    n = abs(cs)
    if n < 8 or c + n > end:
        return None
    return c + 4, n - 4


def _parse_vk(data: bytes | bytearray, p: int, limit: int, end: int) -> DeletedValue | None:
    if p + 20 > limit:
        return None
    name_len, dsize, doff, vtype, flags = struct.unpack_from("<HIIIH", data, p + 2)
    if p + 20 + name_len > limit or vtype > 0xFFFF:
        return None
    raw = bytes(data[p + 20:p + 20 + name_len])
    try:
        name = raw.decode("latin-1") if flags & 1 else raw.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 for ch in name):
        return None
    inline = bool(dsize & 0x80000000)
    size = dsize & 0x7FFFFFFF
    if inline:
        return DeletedValue(p, name, vtype, struct.pack("<I", doff)[: min(size, 4)], True)
    if size == 0:
        return DeletedValue(p, name, vtype, b"", True)
    cell = _cell(data, doff, end)
    if cell is None:
        return DeletedValue(p, name, vtype, b"", False)
    start, n = cell
    if size > n and n >= 8 and data[start:start + 2] == b"db":
        (nseg, lst) = struct.unpack_from("<HI", data, start + 2)
        segs = _cell(data, lst, end)
        if segs is None:
            return DeletedValue(p, name, vtype, b"", False)
        out = bytearray()
        for i in range(min(nseg, segs[1] // 4)):
            (so,) = struct.unpack_from("<I", data, segs[0] + 4 * i)
            seg = _cell(data, so, end)
            if seg is None:
                return DeletedValue(p, name, vtype, bytes(out), False)
            out += data[seg[0]:seg[0] + min(seg[1], 16344)]
        return DeletedValue(p, name, vtype, bytes(out[:size]), len(out) >= size)
    if size > n:
        return DeletedValue(p, name, vtype, bytes(data[start:start + n]), False)
    return DeletedValue(p, name, vtype, bytes(data[start:start + size]), True)


def recover_deleted(
    data: bytes | bytearray, live_paths: dict[int, str], warn: Warn, *, hbins_size: int | None = None
) -> Recovered:
    """Scan the free cells of a hive. ``live_paths``: file offset of each live nk record -> its path."""
    if hbins_size is None:
        (hbins_size,) = struct.unpack_from("<I", data, 40)
    end = min(len(data), BASE_BLOCK_SIZE + hbins_size)
    keys: dict[int, DeletedKey] = {}
    vals: dict[int, DeletedValue] = {}
    for start, stop in _free_regions(data, end, warn):
        pos = start
        region = bytes(data[start:stop])
        for m in _SIG.finditer(region):
            p = start + m.start()
            if (p - 4 - BASE_BLOCK_SIZE) % 8 or p < pos:
                continue
            # the old cell's size field sits 4 bytes before the signature
            (cs,) = struct.unpack_from("<i", data, p - 4)
            n = abs(cs)
            if n < 8 or p - 4 + n > stop:
                n = stop - (p - 4)
            limit = p - 4 + n
            if m.group() == b"nk":
                k = _parse_nk(data, p, limit)
                if k is not None:
                    keys[p] = k
                    pos = limit
            else:
                v = _parse_vk(data, p, limit, end)
                if v is not None:
                    vals[p] = v
                    pos = limit
    # attach values through each deleted key's values list
    for k in keys.values():
        if not k.values_count:
            continue
        lst = _cell(data, k.values_list, end)
        if lst is None:
            continue
        for i in range(min(k.values_count, lst[1] // 4)):
            (vo,) = struct.unpack_from("<I", data, lst[0] + 4 * i)
            vp = BASE_BLOCK_SIZE + vo + 4
            v = vals.get(vp)
            if v is not None and not v.associated:
                v.associated = True
                k.values.append(v)
    # paths
    resolving: set[int] = set()

    def path_of(k: DeletedKey) -> str:
        if k.path or k.offset in resolving:
            return k.path
        resolving.add(k.offset)
        parent_rec = BASE_BLOCK_SIZE + k.parent + 4
        if parent_rec in live_paths:
            pp = live_paths[parent_rec]
            k.path = f"{pp}\\{k.name}" if pp else k.name
        elif parent_rec in keys:
            pp = path_of(keys[parent_rec])
            k.path = f"{pp}\\{k.name}" if pp else ""
        return k.path

    for k in keys.values():
        path_of(k)
    return Recovered(sorted(keys.values(), key=lambda k: k.offset),
                     [v for v in sorted(vals.values(), key=lambda v: v.offset) if not v.associated])
