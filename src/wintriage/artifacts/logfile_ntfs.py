"""The NTFS client of ``$LogFile``: operation records, their redo/undo payloads and the restart tables.

Clean-room, from public descriptions (libfsntfs documentation, the linux-ntfs documentation pages,
Windows Internals, published $LogFile research). The NTFS log record header inside a client record is::

    0  redo operation (2)        2  undo operation (2)
    4  redo offset (2)           6  redo length (2)
    8  undo offset (2)          10  undo length (2)
   12  target attribute (2)     14  LCNs to follow (2)
   16  record offset (2)        18  attribute offset (2)
   20  cluster block offset (2, 512-byte units)   22  target block size (2, 512-byte units)
   24  target VCN (8)           32  LCN list (8 x LCNs to follow)

Redo/undo offsets are relative to the start of this header. The target attribute is a byte offset into
the open attribute table (built from ``OpenNonresidentAttribute`` records and table dumps).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ..timeutil import from_filetime
from .mft import decode_runs as _mft_runs

OPS: dict[int, str] = {
    0x00: "Noop",
    0x01: "CompensationLogRecord",
    0x02: "InitializeFileRecordSegment",
    0x03: "DeallocateFileRecordSegment",
    0x04: "WriteEndOfFileRecordSegment",
    0x05: "CreateAttribute",
    0x06: "DeleteAttribute",
    0x07: "UpdateResidentValue",
    0x08: "UpdateNonresidentValue",
    0x09: "UpdateMappingPairs",
    0x0A: "DeleteDirtyClusters",
    0x0B: "SetNewAttributeSizes",
    0x0C: "AddIndexEntryRoot",
    0x0D: "DeleteIndexEntryRoot",
    0x0E: "AddIndexEntryAllocation",
    0x0F: "DeleteIndexEntryAllocation",
    0x10: "WriteEndOfIndexBuffer",
    0x11: "SetIndexEntryVcnRoot",
    0x12: "SetIndexEntryVcnAllocation",
    0x13: "UpdateFileNameRoot",
    0x14: "UpdateFileNameAllocation",
    0x15: "SetBitsInNonresidentBitMap",
    0x16: "ClearBitsInNonresidentBitMap",
    0x17: "HotFix",
    0x18: "EndTopLevelAction",
    0x19: "PrepareTransaction",
    0x1A: "CommitTransaction",
    0x1B: "ForgetTransaction",
    0x1C: "OpenNonresidentAttribute",
    0x1D: "OpenAttributeTableDump",
    0x1E: "AttributeNamesDump",
    0x1F: "DirtyPageTableDump",
    0x20: "TransactionTableDump",
    0x21: "UpdateRecordDataRoot",
    0x22: "UpdateRecordDataAllocation",
    0x23: "UpdateRelativeDataInIndex",
    0x24: "UpdateRelativeDataInIndex2",
    0x25: "ZeroEndOfFileRecord",
}

# operations whose target is a file record segment ($MFT:$DATA)
MFT_OPS = {0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0B, 0x0C, 0x0D, 0x11, 0x13, 0x21, 0x25}
# operations whose target is an index buffer ($INDEX_ALLOCATION of a directory)
INDEX_ALLOC_OPS = {0x0E, 0x0F, 0x10, 0x12, 0x14, 0x22, 0x23, 0x24}

ATTR_TYPES: dict[int, str] = {
    0x10: "$STANDARD_INFORMATION", 0x20: "$ATTRIBUTE_LIST", 0x30: "$FILE_NAME", 0x40: "$OBJECT_ID",
    0x50: "$SECURITY_DESCRIPTOR", 0x60: "$VOLUME_NAME", 0x70: "$VOLUME_INFORMATION", 0x80: "$DATA",
    0x90: "$INDEX_ROOT", 0xA0: "$INDEX_ALLOCATION", 0xB0: "$BITMAP", 0xC0: "$REPARSE_POINT",
    0xD0: "$EA_INFORMATION", 0xE0: "$EA", 0x100: "$LOGGED_UTILITY_STREAM",
}

_HDR = struct.Struct("<HHHHHHHHHHHHq").unpack_from
NAMESPACES = {0: "POSIX", 1: "Win32", 2: "DOS", 3: "Win32&DOS"}


def op_name(code: int) -> str:
    return OPS.get(code) or f"Unknown{code:#04x}"


def split_ref(ref: int) -> tuple[int, int]:
    return ref & 0xFFFFFFFFFFFF, ref >> 48


@dataclass(slots=True)
class NtfsOp:
    redo_op: int
    undo_op: int
    redo: bytes
    undo: bytes
    target_attribute: int
    lcns: tuple[int, ...]
    record_offset: int
    attribute_offset: int
    cluster_index: int
    target_block_size: int
    target_vcn: int
    problems: list[str] = field(default_factory=list)


_Q1 = struct.Struct("<q").unpack_from
_NO_PROBLEMS: list[str] = []  # shared, never appended to: a record with problems gets its own list


def parse_op(data: bytes, hdr: tuple[int, ...] | None = None) -> NtfsOp | None:
    """The NTFS log record header and its redo/undo slices; None when the client data is too short.

    ``hdr``: the 13 header fields when the caller has unpacked them already."""
    n = len(data)
    if n < 32:
        return None
    (redo_op, undo_op, redo_off, redo_len, undo_off, undo_len, ta, n_lcn, rec_off, attr_off, cbo, tbs,
     vcn) = hdr or _HDR(data, 0)
    problems = _NO_PROBLEMS
    lcns: tuple[int, ...] = ()
    if n_lcn:
        if 32 + 8 * n_lcn <= n and n_lcn <= 512:
            lcns = _Q1(data, 32) if n_lcn == 1 else struct.unpack_from(f"<{n_lcn}q", data, 32)
        else:
            problems = [f"{n_lcn} LCNs announced, {max(0, (n - 32) // 8)} present"]
    redo = data[redo_off:redo_off + redo_len] if redo_len else b""
    if redo_len and redo_off + redo_len > n:
        problems = problems + [f"redo data {redo_off}+{redo_len} beyond {n} bytes of client data"]
    undo = data[undo_off:undo_off + undo_len] if undo_len else b""
    if undo_len and undo_off + undo_len > n:
        problems = problems + [f"undo data {undo_off}+{undo_len} beyond {n} bytes of client data"]
    return NtfsOp(redo_op, undo_op, redo, undo, ta, lcns, rec_off, attr_off, cbo, tbs, vcn, problems)


# --- embedded structures -------------------------------------------------------------------------
def _ft(v: int) -> int | None:
    return from_filetime(v)


def parse_file_name(buf: bytes, off: int = 0) -> dict[str, Any] | None:
    """A $FILE_NAME value (index key or attribute value) at ``off``."""
    if off + 66 > len(buf):
        return None
    parent, cr, mo, mft_mo, ac, alloc, size, flags, reparse, nlen, ns = struct.unpack_from(
        "<QqqqqqqIIBB", buf, off
    )
    if off + 66 + 2 * nlen > len(buf) or nlen == 0:
        return None
    try:
        name = buf[off + 66:off + 66 + 2 * nlen].decode("utf-16le")
    except UnicodeDecodeError:
        return None
    pe, ps = split_ref(parent)
    return {
        "name": name, "parent_entry": pe, "parent_seq": ps, "created": _ft(cr), "modified": _ft(mo),
        "mft_modified": _ft(mft_mo), "accessed": _ft(ac), "allocated_size": alloc, "size": size,
        "flags": flags, "namespace": NAMESPACES.get(ns, str(ns)),
    }


def parse_index_entry(buf: bytes, off: int = 0) -> dict[str, Any] | None:
    """An $I30 index entry: file reference, lengths, flags, $FILE_NAME key."""
    if off + 16 > len(buf):
        return None
    ref, elen, klen, flags = struct.unpack_from("<QHHI", buf, off)
    if klen < 66 or elen < 16 + klen:
        return None
    fn = parse_file_name(buf, off + 16)
    if fn is None:
        return None
    e, s = split_ref(ref)
    fn.update(entry=e, sequence=s, index_flags=flags)
    return fn


def parse_standard_information(value: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = ("created", "modified", "mft_modified", "accessed")
    for i, n in enumerate(names):
        if 8 * i + 8 <= len(value):
            out[n] = _ft(struct.unpack_from("<q", value, 8 * i)[0])
    if len(value) >= 36:
        out["attributes"] = struct.unpack_from("<I", value, 32)[0]
    return out


def parse_attribute(buf: bytes, off: int) -> dict[str, Any] | None:
    """One attribute record of a file record segment at ``off`` (type, name, resident value or runs)."""
    if off + 16 > len(buf):
        return None
    atype, alen, nonres, nlen, noff, flags, aid = struct.unpack_from("<IIBBHHH", buf, off)
    if atype == 0xFFFFFFFF or alen < 16 or off + alen > len(buf):
        return None
    name = ""
    if nlen and off + noff + 2 * nlen <= len(buf):
        name = buf[off + noff:off + noff + 2 * nlen].decode("utf-16le", "replace")
    a: dict[str, Any] = {"type": atype, "type_name": ATTR_TYPES.get(atype, hex(atype)), "name": name,
                         "length": alen, "resident": not nonres, "offset": off}
    if not nonres and alen >= 24:
        vlen, voff = struct.unpack_from("<IH", buf, off + 16)
        value = buf[off + voff:off + voff + vlen] if voff + vlen <= alen else b""
        a["value_length"] = vlen
        if atype == 0x10:
            a["si"] = parse_standard_information(value)
        elif atype == 0x30:
            a["fn"] = parse_file_name(value)
        elif atype == 0x80:
            a["data_head"] = value[:64].hex()
    elif nonres and alen >= 64:
        start_vcn, last_vcn, runs_off = struct.unpack_from("<qqH", buf, off + 16)
        alloc, real, valid = struct.unpack_from("<qqq", buf, off + 40)
        a.update(start_vcn=start_vcn, last_vcn=last_vcn, allocated_size=alloc, size=real, valid_size=valid)
        if runs_off < alen:
            a["runs_offset"] = runs_off
            a["runs_raw"] = bytes(buf[off + runs_off:off + alen])
            a["runs"] = decode_runs(a["runs_raw"])
    return a


def parse_file_record(buf: bytes) -> dict[str, Any] | None:
    """MFT record header (+ attributes) as logged by InitializeFileRecordSegment (no fixup applied)."""
    if len(buf) < 48 or buf[:4] not in (b"FILE", b"BAAD"):
        return None
    lsn, seq, links, first, flags, used, alloc, base, next_id = struct.unpack_from("<QHHHHIIQH", buf, 8)
    be, bs = split_ref(base)
    rec: dict[str, Any] = {
        "signature": buf[:4].decode("ascii"), "lsn": lsn, "sequence": seq, "link_count": links, "flags": flags,
        "in_use": bool(flags & 1), "directory": bool(flags & 2), "used_size": used, "allocated_size": alloc,
        "base_entry": be, "base_seq": bs, "next_attribute_id": next_id, "first_attribute": first,
    }
    if len(buf) >= 48:
        rec["entry"] = struct.unpack_from("<I", buf, 44)[0]
    attrs: list[dict[str, Any]] = []
    off = first
    while 0 < off < len(buf) and len(attrs) < 64:
        a = parse_attribute(buf, off)
        if a is None:
            break
        attrs.append(a)
        off += a["length"]
    rec["attributes"] = attrs
    return rec


def decode_runs(buf: bytes, limit: int = 256) -> list[tuple[int, int | None]]:
    """Mapping pairs -> [(length in clusters, LCN or None for sparse)], stopping at the terminator: the runs of
    ``mft.decode_runs`` the other way round, at most ``limit``."""
    return [(n, lcn) for lcn, n in _mft_runs(buf)[:limit]]


_V2 = b"\x02\x00\x00\x00"  # USN record major 2, minor 0
_V3 = b"\x03\x00\x00\x00"


def parse_usn_records(buf: bytes) -> list[dict[str, Any]]:
    """USN_RECORD_V2/V3 structures inside a buffer written to $J (8-byte aligned scan)."""
    out: list[dict[str, Any]] = []
    pos = 0
    n = len(buf)
    find = buf.find
    while pos + 60 <= n:
        # the next 8-aligned position whose version words read 2.0 or 3.0 (every other one is skipped anyway)
        nxt = n
        for pat in (_V2, _V3):
            i = find(pat, pos + 4)
            while i >= 0 and (i - 4) & 7:
                i = find(pat, i + 1)
            if 0 <= i < nxt:
                nxt = i
        pos = nxt - 4
        if pos + 60 > n:
            break
        rlen, major, minor = struct.unpack_from("<IHH", buf, pos)
        if major == 2 and minor == 0 and 64 <= rlen <= 1024 and rlen % 8 == 0 and pos + rlen <= n:
            (fref, pref, usn, ts, reason, src, sec, attrs, nlen, noff) = struct.unpack_from(
                "<QQqqIIIIHH", buf, pos + 8
            )
            if noff == 60 and 60 + nlen <= rlen and nlen % 2 == 0 and from_filetime(ts):
                try:
                    name = buf[pos + 60:pos + 60 + nlen].decode("utf-16le")
                except UnicodeDecodeError:
                    name = None
                if name:
                    fe, fs = split_ref(fref)
                    pe, ps = split_ref(pref)
                    out.append({"offset": pos, "major": 2, "usn": usn, "timestamp": ts, "name": name,
                                "entry": fe, "sequence": fs, "parent_entry": pe, "parent_sequence": ps,
                                "reasons": reason, "source_info": src, "security_id": sec, "attributes": attrs})
                    pos += rlen
                    continue
        elif major == 3 and minor == 0 and 76 <= rlen <= 1024 and rlen % 8 == 0 and pos + rlen <= n:
            fref = int.from_bytes(buf[pos + 8:pos + 24], "little")
            pref = int.from_bytes(buf[pos + 24:pos + 40], "little")
            usn, ts, reason, src, sec, attrs, nlen, noff = struct.unpack_from("<qqIIIIHH", buf, pos + 40)
            if noff == 76 and 76 + nlen <= rlen and from_filetime(ts):
                try:
                    name = buf[pos + 76:pos + 76 + nlen].decode("utf-16le")
                except UnicodeDecodeError:
                    name = None
                if name:
                    out.append({"offset": pos, "major": 3, "usn": usn, "timestamp": ts, "name": name,
                                "entry": fref & 0xFFFFFFFFFFFF, "sequence": (fref >> 48) & 0xFFFF,
                                "parent_entry": pref & 0xFFFFFFFFFFFF, "parent_sequence": (pref >> 48) & 0xFFFF,
                                "reasons": reason, "source_info": src, "security_id": sec, "attributes": attrs})
                    pos += rlen
                    continue
        pos += 8
    return out


# --- restart area and tables ---------------------------------------------------------------------
def parse_ntfs_restart(data: bytes) -> dict[str, Any] | None:
    """The NTFS restart area written as a client-restart record (record type 2)."""
    if len(data) < 64:
        return None
    major, minor, ckpt, oat, names, dpt, tt, oat_len, names_len, dpt_len, tt_len = struct.unpack_from(
        "<IIqqqqqIIII", data, 0
    )
    out: dict[str, Any] = {
        "major": major, "minor": minor, "version": f"{major}.{minor}", "start_of_checkpoint_lsn": ckpt,
        "open_attribute_table_lsn": oat, "attribute_names_lsn": names, "dirty_page_table_lsn": dpt,
        "transaction_table_lsn": tt, "open_attribute_table_length": oat_len, "attribute_names_length": names_len,
        "dirty_page_table_length": dpt_len, "transaction_table_length": tt_len,
    }
    if len(data) >= 84:
        out["unknown_lsn_64"], out["lowest_lsn"], out["bytes_per_cluster"] = struct.unpack_from("<qqI", data, 64)
    return out


def parse_restart_table(buf: bytes) -> tuple[dict[str, Any], list[tuple[int, bytes]]]:
    """RESTART_TABLE header and its allocated entries as (table offset, entry bytes)."""
    if len(buf) < 24:
        return {}, []
    esize, count, allocated, _r1, _r2, free_goal, first_free, last_free = struct.unpack_from(
        "<HHHHIIII", buf, 0
    )
    out: list[tuple[int, bytes]] = []
    hdr = {"entry_size": esize, "entries": count, "allocated": allocated, "first_free": first_free,
           "last_free": last_free}
    if esize < 8:
        return hdr, out
    for i in range(min(count, 65536)):
        off = 24 + i * esize
        if off + esize > len(buf):
            break
        if struct.unpack_from("<I", buf, off)[0] == 0xFFFFFFFF:
            out.append((off, buf[off:off + esize]))
    return hdr, out


def parse_open_attribute_entry(entry: bytes, restart_major: int | None) -> dict[str, Any] | None:
    """OPEN_ATTRIBUTE_ENTRY, 44 bytes (NTFS restart 0.x) or 40 bytes (1.x)."""
    if len(entry) >= 40 and (restart_major == 1 or (restart_major is None and len(entry) == 40)):
        bpib, atype, _dirty, fref, lsn = struct.unpack_from("<IIIQq", entry, 4)
        e, s = split_ref(fref)
        return {"entry": e, "sequence": s, "attr_type": atype, "lsn_of_open": lsn, "bytes_per_index_buffer": bpib}
    if len(entry) >= 44:
        fref, lsn, _dirty, _present, _r, atype = struct.unpack_from("<QqBBHI", entry, 8)
        bpib = struct.unpack_from("<I", entry, 40)[0]
        e, s = split_ref(fref)
        return {"entry": e, "sequence": s, "attr_type": atype, "lsn_of_open": lsn, "bytes_per_index_buffer": bpib}
    return None


def parse_attribute_names(buf: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    p = 0
    while p + 4 <= len(buf):
        idx, nlen = struct.unpack_from("<HH", buf, p)
        if idx == 0 and nlen == 0:
            break
        if p + 4 + nlen > len(buf):
            break
        out[idx] = buf[p + 4:p + 4 + nlen].decode("utf-16le", "replace")
        p += 4 + nlen + 2
    return out


def parse_dirty_pages(buf: bytes) -> list[dict[str, Any]]:
    _hdr, entries = parse_restart_table(buf)
    out = []
    for off, e in entries:
        if len(e) < 32:
            continue
        ta, length, n_lcn = struct.unpack_from("<III", e, 4)
        # v0: vcn at 16, oldest lsn at 24; v1 adds 4 reserved bytes before them
        base = 16 if len(e) - 32 >= 8 * n_lcn and (len(e) - 32) % 8 == 0 else 20
        if base + 16 > len(e):
            continue
        vcn, oldest = struct.unpack_from("<qq", e, base)
        out.append({"index": off, "target_attribute": ta, "length": length, "vcn": vcn, "oldest_lsn": oldest})
    return out


def parse_transactions(buf: bytes) -> list[dict[str, Any]]:
    _hdr, entries = parse_restart_table(buf)
    out = []
    for off, e in entries:
        if len(e) < 40:
            continue
        state = e[4]
        first, prev, undo_next, undo_records, undo_bytes = struct.unpack_from("<qqqiI", e, 8)
        out.append({"index": off, "state": state, "first_lsn": first, "previous_lsn": prev,
                    "undo_next_lsn": undo_next, "undo_records": undo_records, "undo_bytes": undo_bytes})
    return out
