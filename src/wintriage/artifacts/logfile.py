"""NTFS ``$LogFile``: every log record, the file-system events NTFS Log Tracker (NLT) reports, and the
USN records that the log shows being written to ``$J``.

Layers: ``logfile_lfs`` (restart pages, record pages, records spanning pages), ``logfile_ntfs`` (NTFS
operations and their payloads), and this module (state tracking, events, tables, CSV shapes).

Events are rebuilt from the operations, in LSN order:
- ``File Creation``: an index entry is added for a file record that was just initialised;
- ``File Deletion``: an index entry is removed and the file record deallocated;
- ``File Renaming`` / ``File Moving``: one file's index entry removed and another added (same or another
  parent directory);
- ``Time Change``: ``$STANDARD_INFORMATION`` times rewritten (old -> new; ``reversal`` when a time goes back,
  which is what timestomping tools leave behind);
- ``Resident Data Write``: the value of a resident ``$DATA`` attribute rewritten;
- ``Non-resident Data Write``: a file's cluster runs (mapping pairs) updated, with the runs;
- ``Index Entry Added`` / ``Index Entry Deleted``: what is left unpaired (hard links, partial history).
The log holds no clock: an event's time comes from the ``$FILE_NAME``/``$STANDARD_INFORMATION`` values it
carries, else from the USN record of the same file nearest in LSN (recovered from the log), else from ``$J``
(``ctx.resources["usn_path"]``, ``--usn``). Paths come from names learnt in the log, then the ``$MFT`` resolver
(``ctx.resources["mft"]``).

Tables: ``logfile_restart`` (both restart pages; ``empty=1`` for an unused log), ``logfile_records`` (every
record, in LSN order; ``page_kind`` "log" for the circular area, "tail" for records only found in the v1.x tail
pages / v2.0 buffer pages; ``stale`` when the LSN lies beyond the restart area's current LSN), ``logfile_events``
(NLT's shape) and ``logfile_usn`` (USN records written to ``$J`` as logged); ``parse_batches()`` gives the records
table as one column batch (``RowBatch``), ``parse()`` the same rows one by one. ``ctx.options["logfile_records"] =
False`` skips the records table (events only, faster). The LFS layer finds the record headers of all fixed-up pages
at once and builds a record only for the operations decoded one by one (``LogFile.record_table``).
"""

from __future__ import annotations

import bisect
import gc
import struct
from collections.abc import Callable, Iterable, Iterator
from datetime import timezone
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..model import Record, RowBatch, TimelineEvent
from ..timeutil import MAX_SANE, MIN_SANE, fmt
from .base import CsvColumn, CsvShape, ParseContext, col, flatten, tcol, to_json
from .logfile_lfs import LogFile, LogRecord, RecordTable
from .logfile_ntfs import (
    ATTR_TYPES,
    INDEX_ALLOC_OPS,
    MFT_OPS,
    decode_runs,
    op_name,
    parse_attribute,
    parse_attribute_names,
    parse_file_record,
    parse_index_entry,
    parse_ntfs_restart,
    parse_op,
    parse_open_attribute_entry,
    parse_restart_table,
    parse_transactions,
    parse_usn_records,
)

NAME = "logfile"
CATEGORY = "file"

TABLES: dict[str, list[tuple[str, str]]] = {
    "logfile_restart": [
        ("page_offset", "INTEGER"), ("current", "INTEGER"), ("version", "TEXT"), ("current_lsn", "INTEGER"),
        ("chkdsk_lsn", "INTEGER"), ("system_page_size", "INTEGER"), ("log_page_size", "INTEGER"),
        ("seq_number_bits", "INTEGER"), ("file_size", "INTEGER"), ("flags", "INTEGER"), ("clean", "INTEGER"),
        ("identical", "INTEGER"), ("clients", "TEXT"), ("empty", "INTEGER"),
    ],
    "logfile_records": [
        ("lsn", "INTEGER"), ("prev_lsn", "INTEGER"), ("undo_next_lsn", "INTEGER"), ("client", "INTEGER"),
        ("record_type", "INTEGER"), ("transaction_id", "INTEGER"), ("redo_op", "TEXT"), ("undo_op", "TEXT"),
        ("target_attribute", "INTEGER"), ("target", "TEXT"), ("target_vcn", "INTEGER"),
        ("cluster_index", "INTEGER"), ("target_block_size", "INTEGER"), ("mft_entry", "INTEGER"),
        ("lcns", "TEXT"), ("stale", "INTEGER"), ("page_kind", "TEXT"), ("page_offset", "INTEGER"),
        ("redo_length", "INTEGER"), ("undo_length", "INTEGER"), ("detail", "TEXT"),
    ],
    "logfile_events": [
        ("lsn", "INTEGER"), ("event_time", "INTEGER"), ("time_source", "TEXT"), ("event", "TEXT"),
        ("detail", "TEXT"), ("name", "TEXT"), ("full_path", "TEXT"), ("created", "INTEGER"),
        ("modified", "INTEGER"), ("mft_modified", "INTEGER"), ("accessed", "INTEGER"), ("redo", "TEXT"),
        ("target_vcn", "INTEGER"), ("cluster_index", "INTEGER"), ("mft_entry", "INTEGER"),
        ("sequence", "INTEGER"), ("parent_entry", "INTEGER"), ("old_name", "TEXT"), ("old_parent_entry", "INTEGER"),
        ("stale", "INTEGER"), ("old_created", "INTEGER"), ("old_modified", "INTEGER"),
        ("old_mft_modified", "INTEGER"), ("old_accessed", "INTEGER"),
    ],
    "logfile_usn": [
        ("lsn", "INTEGER"), ("usn", "INTEGER"), ("timestamp", "INTEGER"), ("name", "TEXT"),
        ("parent_path", "TEXT"), ("reasons", "INTEGER"), ("source_info", "INTEGER"), ("attributes", "INTEGER"),
        ("carved", "INTEGER"), ("entry", "INTEGER"), ("sequence", "INTEGER"), ("parent_entry", "INTEGER"),
        ("parent_sequence", "INTEGER"), ("security_id", "INTEGER"),
    ],
}

USN_REASONS: list[tuple[int, str]] = [
    (0x1, "Data_Overwrite"), (0x2, "Data_Extend"), (0x4, "Data_Truncation"), (0x10, "Named_Data_Overwrite"),
    (0x20, "Named_Data_Extend"), (0x40, "Named_Data_Truncation"), (0x100, "File_Created"),
    (0x200, "File_Deleted"), (0x400, "Extended_Attribute_Change"), (0x800, "Security_Change"),
    (0x1000, "File_Renamed_Old"), (0x2000, "File_Renamed_New"), (0x4000, "Indexable_Change"),
    (0x8000, "Basic_Info_Changed"), (0x10000, "Hard_Link_Change"), (0x20000, "Compression_Change"),
    (0x40000, "Encryption_Change"), (0x80000, "Object_ID_Change"), (0x100000, "Reparse_Point_Change"),
    (0x200000, "Stream_Change"), (0x400000, "Transacted_Change"), (0x800000, "Integrity_Change"),
    (0x80000000, "File_Closed"),
]
FILE_ATTRS: list[tuple[int, str]] = [
    (0x1, "ReadOnly"), (0x2, "Hidden"), (0x4, "System"), (0x10, "Directory"), (0x20, "Archive"),
    (0x40, "Device"), (0x80, "Normal"), (0x100, "Temporary"), (0x200, "Sparse"), (0x400, "Reparse_Point"),
    (0x800, "Compressed"), (0x1000, "Offline"), (0x2000, "Not_Content_Indexed"), (0x4000, "Encrypted"),
]


def flag_text(v: Any, table: list[tuple[int, str]]) -> str:
    if v is None or v == "":
        return ""
    v = int(v)
    return " / ".join(n for b, n in table if v & b)


def _time_col(header: str, key: str) -> CsvColumn:
    """NLT's time columns keep their bare names; values are rendered in the export zone."""

    def get(d: dict[str, Any], tz: timezone) -> Any:
        return fmt(d.get(key), tz, 7)

    return CsvColumn(header, get)


def _full_usn_path(d: dict[str, Any]) -> str:
    parent = (d.get("parent_path") or "").replace("/", "\\")
    name = d.get("name") or ""
    if not parent:
        return name
    return parent.rstrip("\\") + "\\" + name


def _flags_of(d: dict[str, Any], int_key: str, key: str, table: list[tuple[int, str]]) -> str:
    """``usnjrnl`` keeps flags as int (``reason_flags``/``attr_flags``) + text; ``logfile_usn`` as int."""
    v = d.get(int_key)
    if v is None:
        v = d.get(key)
    if isinstance(v, str):
        return v
    return flag_text(v, table)


def _ref(entry_key: str, seq_key: str) -> Any:
    def get(d: dict[str, Any], _tz: timezone) -> Any:
        e, s = d.get(entry_key), d.get(seq_key)
        if e is None:
            return ""
        return f"0x{((int(s or 0) & 0xFFFF) << 48) | (int(e) & 0xFFFFFFFFFFFF):016X}"

    return get


def _usn_shape(filename: str, reads: tuple[str, ...] = ()) -> CsvShape:
    from .usnjrnl import StoreShape, nlt_csv_batch  # the same cells by column; from the store by chunks

    return StoreShape(filename, [
        tcol("Time Stamp({tz})", "timestamp"),
        col("USN", "usn"),
        col("File/Directory Name", "name"),
        CsvColumn("Full Path", lambda d, _tz: _full_usn_path(d)),
        CsvColumn("Event Info", lambda d, _tz: _flags_of(d, "reason_flags", "reasons", USN_REASONS)),
        col("Source Info", "source_info"),
        CsvColumn("File Attribute", lambda d, _tz: _flags_of(d, "attr_flags", "attributes", FILE_ATTRS)),
        CsvColumn("Carving Flag", lambda d, _tz: "Carved" if d.get("carved") else ""),
        CsvColumn("File Reference Number", _ref("entry", "sequence")),
        CsvColumn("Parent File Reference Number", _ref("parent_entry", "parent_sequence")),
    ], batch=nlt_csv_batch, batch_reads=reads)


# NLT's $J CSV; the export applies it to the ``usnjrnl`` table (artifacts/usnjrnl.py)
NLT_USNJRNL_CSV = _usn_shape("NLT_UsnJrnl.csv", (
    "timestamp", "usn", "name", "parent_path", "reason_flags", "reasons", "source_info", "attr_flags", "attributes",
    "carved", "entry", "sequence", "parent_entry", "parent_sequence"))
NLT_LOGFILE_CSV = CsvShape("NLT_LogFile.csv", [
    col("LSN", "lsn"),
    tcol("EventTime({tz})", "event_time"),
    col("Event", "event"),
    col("Detail", "detail"),
    col("File/Directory Name", "name"),
    col("Full Path", "full_path"),
    _time_col("Create Time", "created"),
    _time_col("Modified Time", "modified"),
    _time_col("MFT_Modified Time", "mft_modified"),
    _time_col("Access Time", "accessed"),
    col("Redo", "redo"),
    col("Target VCN", "target_vcn"),
    col("Cluster Index", "cluster_index"),
])
CSV: dict[str, CsvShape] = {
    "logfile_events": NLT_LOGFILE_CSV,
    "logfile_usn": _usn_shape("NLT_LogFile_UsnJrnl.csv"),
}
# extra shapes other tables can be exported with (``parse ntfs`` / ``analyze``): table -> shape
EXTRA_CSV: dict[str, CsvShape] = {"usnjrnl": NLT_USNJRNL_CSV}

_NTFS_HDR = struct.Struct("<HHHHHHHHHHHHq").unpack_from
_Q = struct.Struct("<q").unpack_from
_U16 = struct.Struct("<H").unpack_from
_II = struct.Struct("<II").unpack_from
_QQQ = struct.Struct("<qqq").unpack_from
_QQQQ = struct.Struct("<qqqq").unpack_from
_U32 = struct.Struct("<I").unpack_from
_RT_HDR = struct.Struct("<HHHHIIII").unpack_from
# redo operations that feed events, names, attribute layouts or recovered USN records
EVENT_OPS = {0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x0F}
_OP_NAMES = tuple(op_name(i) for i in range(0x26))
_QUIET_OPS = {0x00, 0x01, 0x18, 0x19, 0x1A, 0x1B}  # no payload worth decoding
PAIR_WINDOW = 400  # records: an index delete and add of the same file this close are one rename
SI_VALUE_OFFSET = 0x18  # value offset of a resident $STANDARD_INFORMATION attribute
FIRST_ATTR_OFFSET = 0x38
# operations whose target attribute is an open non-resident attribute (not a file record)
ATTR_OPS = INDEX_ALLOC_OPS | {0x08, 0x0A, 0x15, 0x16, 0x1C}


def _count_dirty_pages(buf: bytes) -> int:
    """``len(parse_dirty_pages(buf))`` without building the entries."""
    n = 0
    for _off, e in parse_restart_table(buf)[1]:
        if len(e) < 32:
            continue
        n_lcn = _U32(e, 12)[0]
        base = 16 if len(e) - 32 >= 8 * n_lcn and (len(e) - 32) % 8 == 0 else 20
        if base + 16 <= len(e):
            n += 1
    return n


class _Paths:
    """Names learnt from the log ($FILE_NAME in index entries and file records), then the $MFT resolver."""

    def __init__(self, resolver: Any) -> None:
        self.resolver = resolver
        self.names: dict[int, tuple[str, int]] = {}
        self._cache: dict[tuple[int, int], str | None] = {}
        self._dirs: dict[int, str] = {}  # directory paths, valid until a name changes

    def learn(self, entry: int, name: str, parent: int, namespace: str = "Win32") -> None:
        if namespace == "DOS" and entry in self.names:
            return
        if self.names.get(entry) != (name, parent):
            self.names[entry] = (name, parent)
            if self._dirs:
                self._dirs.clear()

    def _resolve(self, entry: int, seq: int) -> str | None:
        if self.resolver is None:
            return None
        key = (entry, seq)
        if key in self._cache:
            return self._cache[key]
        out: str | None = None
        try:
            res = self.resolver.resolve(entry, seq)
        except (KeyError, ValueError, LookupError, OSError, TypeError):
            res = None
        if isinstance(res, str):
            out = res
        elif res is not None:
            for attr in ("full_path", "path"):
                v = getattr(res, attr, None)
                if isinstance(v, str):
                    out = v
                    break
        if out is not None:
            out = out.replace("/", "\\")
            if not out.startswith("\\"):
                out = "\\" + out
        self._cache[key] = out
        return out

    def directory(self, entry: int) -> str:
        """Path of a directory (``""`` for the root)."""
        d = self._dirs.get(entry)
        if d is None:
            d = self._dirs[entry] = self._directory(entry)
        return d

    def _directory(self, entry: int) -> str:
        parts: list[str] = []
        cur = entry
        for _ in range(64):
            if cur == 5:
                break
            known = self.names.get(cur)
            if known is None:
                r = self._resolve(cur, 0)
                if r is not None:
                    return (r.rstrip("\\") + ("\\" + "\\".join(reversed(parts)) if parts else "")).rstrip("\\")
                parts.append(f"<{cur}>")
                break
            parts.append(known[0])
            cur = known[1]
        return ("\\" + "\\".join(reversed(parts))) if parts else ""

    def full(self, entry: int | None, seq: int | None, name: str | None, parent: int | None) -> str:
        if entry == 5:
            return "\\"
        if name and parent is not None:
            return self.directory(parent) + "\\" + name
        if entry is not None:
            r = self._resolve(entry, seq or 0)
            if r:
                return r
            known = self.names.get(entry)
            if known:
                return self.directory(known[1]) + "\\" + known[0]
        return ""


class _OpenAttributes:
    """Target-attribute index -> (file entry, attribute type, name), over LSN."""

    def __init__(self) -> None:
        # index -> (LSNs ascending, infos in the same order); equal LSNs keep their insertion order
        self._by_index: dict[int, tuple[list[int], list[dict[str, Any]]]] = {}

    def add(self, index: int, lsn: int, info: dict[str, Any]) -> None:
        got = self._by_index.get(index)
        if got is None:
            self._by_index[index] = ([lsn], [info])
            return
        keys, infos = got
        i = bisect.bisect_right(keys, lsn)
        keys.insert(i, lsn)
        infos.insert(i, info)

    def name(self, index: int, lsn: int, name: str) -> None:
        info = self.get(index, lsn)
        if info is not None and not info.get("name"):
            info["name"] = name

    def get(self, index: int, lsn: int) -> dict[str, Any] | None:
        got = self._by_index.get(index)
        if got is None:
            return None
        keys, infos = got
        if len(keys) == 1:
            return infos[0]
        i = bisect.bisect_right(keys, lsn)
        return infos[i - 1] if i else infos[0]


_FMT_MEMO: dict[int | None, str] = {}


def _fmt_utc(t: int | None) -> str:
    """``fmt(t)``, remembered (an $SI update's old time is usually the previous update's new one)."""
    got = _FMT_MEMO.get(t)
    if got is None:
        if len(_FMT_MEMO) >= 65536:
            _FMT_MEMO.clear()
        got = _FMT_MEMO[t] = fmt(t)
    return got


def _jn(v: int | None) -> str:
    return "null" if v is None else str(v)


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    d = info.get("_desc")
    if d is not None:
        return str(d)
    t = int(info.get("attr_type") or 0)
    name = info.get("name") or ""
    label = name or ATTR_TYPES.get(t, hex(t))
    if name and t:
        label = f"{ATTR_TYPES.get(t, hex(t))}:{name}"
    out = f"{label} of {info.get('entry')}"
    info["_desc"] = out
    return out


_SI_NAMES = ("created", "modified", "mft_modified", "accessed")


def _si_changes(op_redo: bytes, op_undo: bytes, rec_off: int) -> dict[str, tuple[int | None, int | None]]:
    """Times in an $SI value update: field -> (old, new). The redo/undo bytes start ``rec_off - 0x18`` bytes
    into the value; a field they do not cover is absent (new) or unknown (old); an old value that is not a
    sane time counts as unknown."""
    start = rec_off - SI_VALUE_OFFSET
    if start < 0 or start % 8:
        return {}
    out: dict[str, tuple[int | None, int | None]] = {}
    nr, nu = len(op_redo), len(op_undo)
    for k in range(start >> 3, 4):  # fields before ``start`` read as zero on both sides: never a change
        pos = 8 * k - start
        if pos + 8 > nr:
            break
        v = _Q(op_redo, pos)[0]
        new = v if v > 0 else None
        o: int | None = None
        if pos + 8 <= nu:
            v = _Q(op_undo, pos)[0]
            if MIN_SANE <= v <= MAX_SANE:
                o = v
        if o != new:
            out[_SI_NAMES[k]] = (o, new)
    return out


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_HDR_DT = np.dtype([("ro", "<u2"), ("uo", "<u2"), ("roff", "<u2"), ("rlen", "<u2"), ("uoff", "<u2"), ("ulen", "<u2"),
                    ("ta", "<u2"), ("nl", "<u2"), ("rec_off", "<u2"), ("attr_off", "<u2"), ("cbo", "<u2"),
                    ("tbs", "<u2"), ("vcn", "<i8"), ("lcn0", "<i8")])
_Z40 = bytes(40)
_DATA = itemgetter(11)
_RTYPE = itemgetter(6)
_QUIET_ARR = np.array(sorted(_QUIET_OPS), np.uint16)
_EVENT_ARR = np.array(sorted(EVENT_OPS), np.uint16)
_OP_LUT = np.array(_OP_NAMES, object)


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), object)
    out[:] = items
    return out


class _Heads:
    """Every record's NTFS header (the first 32 bytes of its client data, and the first LCN after them) decoded
    at once: the selections and most record-table cells come from here."""

    def __init__(self, t: RecordTable) -> None:
        self.t = t
        self.n = len(t)
        self.lens = lens = t.lens
        self.rtype = rtype = t.rtype
        # valid where ``lens >= 32`` (the first LCN where ``lens >= 40``); the selections below check
        self.hdr = t.heads(40).view(_HDR_DT).reshape(-1)
        self.has_hdr = (rtype != 2) & (lens >= 32)

    def prescan_index(self) -> list[int]:
        """Client restarts and the operations 0x1C..0x1E (what ``_Builder.prescan`` reads)."""
        ro = self.hdr["ro"]
        return np.flatnonzero((self.rtype == 2) | ((self.lens >= 32) & (ro >= 0x1C) & (ro <= 0x1E))).tolist()

    def event_index(self) -> list[int]:
        """Records whose operation makes events or carries USN records (events-only mode)."""
        return np.flatnonzero((self.rtype == 1) & (self.lens >= 32) & np.isin(self.hdr["ro"], _EVENT_ARR)).tolist()


def _open_attributes(buf: bytes, major: int | None) -> list[tuple[int, dict[str, Any]]]:
    """The entries of an open attribute table dump: (table offset, entry)."""
    return [(o, i) for o, e in parse_restart_table(buf)[1] if (i := parse_open_attribute_entry(e, major)) is not None]


def _detail_json(d: dict[str, Any]) -> str:
    """``to_json(d)`` for an operation's detail, by orjson: the decoders put only str keys, integers, str, bool,
    None, lists and dicts there, which both write alike (compact, non-ASCII as it is, the same escapes); a value
    orjson refuses (a non-str key, an integer past 64 bits, a lone surrogate) goes to ``to_json``."""
    try:
        return orjson.dumps(d, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return to_json(d)


class _Builder:
    def __init__(self, ctx: ParseContext, lf: LogFile) -> None:
        self.ctx = ctx
        self.lf = lf
        self.current_lsn = lf.current.current_lsn if lf.current else 0
        self.bpc = 4096
        self.restart_major: int | None = None
        self.paths = _Paths(ctx.resources.get("mft"))
        self.oat = _OpenAttributes()
        self.layout: dict[int, dict[int, int]] = {}  # mft entry -> attribute offset -> type
        self.runlists: dict[tuple[int, int], tuple[int, bytearray]] = {}  # (entry, attr offset) -> mapping pairs
        self.inits: dict[int, tuple[int, int]] = {}  # entry -> (record index, lsn)
        self.pending_del: dict[int, tuple[int, dict[str, Any], LogRecord]] = {}
        self.pending_add: dict[int, tuple[int, dict[str, Any], LogRecord]] = {}
        self.events: list[dict[str, Any]] = []
        self.usn: list[dict[str, Any]] = []
        self._desc_cache: dict[int, tuple[int, int, str]] = {}
        self._runs_memo: dict[bytes, tuple[str, str]] = {}
        # checkpoints dump the same tables again and again: each distinct dump is decoded once
        self._dump_memo: dict[tuple[Any, bytes], Any] = {}

    def _dump(self, kind: Any, buf: bytes, fn: Callable[[bytes], Any]) -> Any:
        """``fn(buf)`` for a table dump (``kind``: its operation), memoised by content; callers copy what
        they change."""
        key = (kind, buf)
        got = self._dump_memo.get(key)
        if got is None:
            if len(self._dump_memo) >= 1024:
                self._dump_memo.clear()
            got = self._dump_memo[key] = fn(buf)
        return got

    # --- pass 1: open attribute table, cluster size -------------------------------------------------
    def prescan(self, recs: list[LogRecord]) -> None:
        names: list[tuple[int, bytes]] = []
        # client restarts and the operations 0x1C..0x1E (little-endian u16: low byte 0x1C..0x1E, high byte 0)
        wanted = [r for r in recs if r[6] == 2 or (len(r[11]) >= 32 and 0x1C <= r[11][0] <= 0x1E and not r[11][1])]
        for r in wanted:
            if r.record_type == 2:
                ra = parse_ntfs_restart(r.data)
                if ra:
                    self.restart_major = ra["major"]
                    bpc = ra.get("bytes_per_cluster") or 0
                    if 512 <= bpc <= (1 << 21) and bpc & (bpc - 1) == 0:
                        self.bpc = bpc
                continue
            if len(r.data) < 32:
                continue
            redo_op = _U16(r.data, 0)[0]
            if redo_op < 0x1C or redo_op > 0x1E:
                continue
            if redo_op == 0x1C:
                op = parse_op(r.data)
                if op is None:
                    continue
                info = parse_open_attribute_entry(op.redo, self.restart_major)
                if info:
                    if op.undo:
                        info["name"] = op.undo.decode("utf-16le", "replace")
                    self.oat.add(op.target_attribute, r.lsn, info)
            elif redo_op == 0x1D:
                op = parse_op(r.data)
                if op is None:
                    continue
                major = self.restart_major
                for off, info in self._dump((0x1D, major), op.redo, partial(_open_attributes, major=major)):
                    self.oat.add(off, r.lsn, dict(info))
            elif redo_op == 0x1E:
                op = parse_op(r.data)
                if op is not None:
                    names.append((r.lsn, op.redo))
        for lsn, buf in names:
            for idx, nm in self._dump(0x1E, buf, parse_attribute_names).items():
                self.oat.name(idx, lsn, nm)

    # --- pass 2 ---------------------------------------------------------------------------------
    def mft_entry(self, op: Any) -> int | None:
        size = op.target_block_size * 512 if op.target_block_size else 1024
        if size <= 0:
            return None
        return (op.target_vcn * self.bpc + op.cluster_index * 512) // size

    def _odd_entry(self, r: LogRecord, entry: int) -> None:
        """A record number no 64-bit column can hold (a corrupt target VCN): warned, kept in the target text
        only, and the operation decoded as one without a file record (no names, layouts or events from it)."""
        self.ctx.warn(r[9], f"log record LSN {r[0]:#x}: MFT record number {entry} out of range (corrupt target VCN)")

    def row(self, r: LogRecord, i: int) -> dict[str, Any]:
        lsn, prev, undo_next, _dlen, _cseq, client, rtype, tid, rflags, offset, kind, data, _tr, _ct = r
        cur = self.current_lsn
        stale = 1 if lsn > cur > 0 else 0
        n = len(data)
        if rtype == 2 or n < 32:
            base: dict[str, Any] = {
                "lsn": lsn, "prev_lsn": prev, "undo_next_lsn": undo_next, "client": client,
                "record_type": rtype, "transaction_id": tid, "stale": stale,
                "page_kind": kind, "page_offset": offset,
            }
            if rtype == 2:
                ra = parse_ntfs_restart(data)
                base["redo_op"] = "ClientRestart"
                base["detail"] = to_json(ra) if ra else None
            else:
                self.ctx.warn(offset, f"log record LSN {lsn:#x}: {n} bytes of client data, "
                              "need 32 for the NTFS header")
            return base
        hdr = _NTFS_HDR(data, 0)
        (redo_op, undo_op, redo_off, redo_len, _undo_off, undo_len, ta, n_lcn, _rec_off, _attr_off, cbo, tbs,
         vcn) = hdr
        base = {
            "lsn": lsn, "prev_lsn": prev, "undo_next_lsn": undo_next, "client": client,
            "record_type": rtype, "transaction_id": tid, "stale": stale,
            "page_kind": kind, "page_offset": offset,
            "redo_op": _OP_NAMES[redo_op] if redo_op < 0x26 else op_name(redo_op),
            "undo_op": _OP_NAMES[undo_op] if undo_op < 0x26 else op_name(undo_op),
            "target_attribute": ta, "target_vcn": vcn, "cluster_index": cbo, "target_block_size": tbs,
            "redo_length": redo_len, "undo_length": undo_len,
        }
        if n_lcn:
            base["lcns"] = (str(_Q(data, 32)[0]) if n_lcn == 1 else
                            ",".join(map(str, struct.unpack_from(f"<{n_lcn}q", data, 32)))) \
                if 32 + 8 * n_lcn <= n and n_lcn <= 512 else None
        if redo_op in _QUIET_OPS and undo_op in _QUIET_OPS:
            return base
        if (redo_op == 0x15 or redo_op == 0x16) and redo_len >= 8 and redo_off + 8 <= n:
            base["target"] = self.describe(ta, lsn)
            boff, nbits = _II(data, redo_off)
            base["detail"] = f'{{"bitmap":{{"offset":{boff},"bits":{nbits}}}}}'
            return base
        if redo_op == 0x0B and redo_len >= 24 and redo_off + redo_len <= n and \
                (not undo_len or _undo_off + undo_len <= n) and (not n_lcn or (32 + 8 * n_lcn <= n and n_lcn <= 512)):
            # SetNewAttributeSizes, well-formed: what mft_entry() and decode() give, without building the op
            rec_no = (vcn * self.bpc + cbo * 512) // (tbs * 512 if tbs else 1024)
            base["target"] = f"MFT record {rec_no}"
            base["mft_entry"] = rec_no
            alloc, valid, size = _QQQ(data, redo_off)
            base["detail"] = f'{{"sizes":{{"allocated":{alloc},"valid":{valid},"size":{size}}}}}'
            return base
        target, entry, detail = self.rest(r, i, hdr, stale)
        if target is not None:
            base["target"] = target
        if entry is not None:
            base["mft_entry"] = entry
        if detail is not None:
            base["detail"] = detail
        return base

    def rest(self, r: LogRecord, i: int, hdr: tuple[int, ...], stale: int) -> tuple[str | None, int | None, str | None]:
        """A record's target, MFT entry and detail past the fast paths: the operation decoded, with its effects
        on the state (names, layouts, run lists, pending index entries, events)."""
        data = r[11]
        if hdr[0] == 0x09:
            got = self._mapping_pairs(r, hdr, stale)
            if got is not None:
                return got
        op = parse_op(data, hdr)
        if op is None:
            return None, None, None
        redo_op, undo_op = op.redo_op, op.undo_op
        if op.problems:
            if r[8] & 0x6 and len(data) <= 48:  # newer LFS: record flag 0x2/0x4, redo/undo payload left out
                return None, None, to_json({"payload_elided": True, "record_flags": r[8]})
            for p in op.problems:
                self.ctx.warn(r[9], f"log record LSN {r[0]:#x}: {p}", skipped=False)
        entry: int | None = None
        info = None
        target: str | None = None
        if redo_op in MFT_OPS or undo_op in MFT_OPS:
            entry = self.mft_entry(op)
            target = f"MFT record {entry}"
            if entry is not None and not _I64_MIN <= entry <= _I64_MAX:
                self._odd_entry(r, entry)
                entry = None
        elif redo_op in ATTR_OPS or undo_op in ATTR_OPS:
            info = self.oat.get(op.target_attribute, r[0])
            target = _describe(info)
        d = self.decode(r, i, op, entry, info, stale)
        detail: str | None = None
        if d:
            pre = d.get("_json")
            detail = pre if pre is not None and len(d) == 1 else _detail_json(d)
        return target, entry, detail

    def _mapping_pairs(self, r: LogRecord, hdr: tuple[int, ...], stale: int) -> tuple[str, int, str] | None:
        """UpdateMappingPairs (a third of a busy log's operations), well-formed: what ``parse_op()`` + ``decode()``
        give, without building the operation unless it makes an event. None: take the general path."""
        data = r[11]
        n = len(data)
        (_ro, undo_op, redo_off, redo_len, undo_off, undo_len, _ta, n_lcn, rec_off, attr_off, cbo, tbs, vcn) = hdr
        if redo_off + redo_len > n or undo_off + undo_len > n or (n_lcn and (32 + 8 * n_lcn > n or n_lcn > 512)):
            return None
        entry = (vcn * self.bpc + cbo * 512) // (tbs * 512 if tbs else 1024)
        if not _I64_MIN <= entry <= _I64_MAX:
            return None
        redo = data[redo_off:redo_off + redo_len] if redo_len else b""
        mp = self.runlists.get((entry, rec_off))
        if mp is not None and attr_off >= mp[0]:
            rel = attr_off - mp[0]
            buf = mp[1]
            end = rel + len(redo)
            if len(buf) < end:
                buf.extend(bytes(end - len(buf)))
            buf[rel:end] = redo
            jruns, txt = self._runs_text(bytes(buf))
            how = "full"
        elif attr_off == 0x40 or attr_off == 0x48:  # the update starts at the first run
            jruns, txt = self._runs_text(redo)
            how = "from the first run"
        else:
            jruns, txt, how = "", "", "partial update"
        if txt:  # the event ``event()`` makes for an operation on a file record, with no name or time of its own
            paths = self.paths
            known = paths.names.get(entry)
            name, parent = known if known is not None else (None, None)
            if entry == 5 and not name:
                name = "."
            self.events.append({
                "lsn": r[0], "event_time": None, "time_source": "", "event": "Non-resident Data Write",
                "detail": f"cluster runs (clusters@LCN): {txt}", "name": name or "",
                "full_path": paths.full(entry, None, name, parent), "created": None, "modified": None,
                "mft_modified": None, "accessed": None, "redo": "UpdateMappingPairs", "target_vcn": vcn,
                "cluster_index": cbo, "mft_entry": entry, "sequence": None, "parent_entry": parent, "old_name": None,
                "old_parent_entry": None, "stale": stale,
            })
        return (f"MFT record {entry}", entry,
                '{"runs":[' + jruns + f'],"runs_known":"{how}","offset":{attr_off}}}')

    def columns(self, t: RecordTable, h: _Heads) -> dict[str, list[Any]]:
        """The ``logfile_records`` table by column: the same cells ``row()`` gives record by record, with the
        header cells, the quiet operations, the bitmap and the SetNewAttributeSizes rows (two in three records
        of a busy log) decoded in bulk; the other operations go through ``rest()`` in LSN order, as before."""
        n = h.n
        cols: dict[int, list[Any]] = {0: t.lsn.tolist(), 1: t.prev.tolist(), 2: t.undo.tolist(),
                                      5: t.client.tolist(), 7: t.tid.tolist(), 9: t.offset.tolist(), 10: t.kinds}
        cur = self.current_lsn
        lsn_u = t.lsn
        stale = (lsn_u > np.uint64(cur)).astype(np.int64) if cur > 0 else np.zeros(n, np.int64)
        hdr = h.hdr
        has = h.has_hdr
        missing = np.flatnonzero(~has).tolist()  # client restarts and short records: no NTFS header cells

        def header_column(values: list[Any]) -> list[Any]:
            for i in missing:
                values[i] = None
            return values

        def empty() -> np.ndarray:
            return np.full(n, None, object)

        lcns_c, target_c, entry_c, detail_c = (empty() for _ in range(4))
        op_cols: list[list[Any]] = []
        for f in ("ro", "uo"):
            ops = hdr[f]
            names = _OP_LUT[np.minimum(ops, len(_OP_NAMES) - 1)].tolist()
            for i in np.flatnonzero(ops >= len(_OP_NAMES)).tolist():
                names[i] = op_name(int(ops[i]))
            op_cols.append(header_column(names))
        redo_l, undo_l = op_cols
        ta_l, vcn_l, cbo_l, tbs_l, rlen_l, ulen_l = (header_column(hdr[f].tolist())
                                                     for f in ("ta", "vcn", "cbo", "tbs", "rlen", "ulen"))
        lens = h.lens
        nl = hdr["nl"].astype(np.int64)
        lcn_ok = has & (nl > 0) & (32 + 8 * nl <= lens) & (nl <= 512)
        one = np.flatnonzero(lcn_ok & (nl == 1))
        if len(one):
            uniq, inv = np.unique(hdr["lcn0"][one], return_inverse=True)  # each distinct LCN formatted once
            lcns_c[one] = _objects(list(map(str, uniq.tolist())))[inv.reshape(-1)]
        data = t.data
        for i in np.flatnonzero(lcn_ok & (nl > 1)).tolist():
            k = int(nl[i])
            lcns_c[i] = ",".join(map(str, struct.unpack_from(f"<{k}q", data(i), 32)))
        # client restarts
        for i in np.flatnonzero(h.rtype == 2).tolist():
            ra = parse_ntfs_restart(data(i))
            redo_l[i] = "ClientRestart"
            detail_c[i] = to_json(ra) if ra else None
        ro = hdr["ro"]
        roff = hdr["roff"].astype(np.int64)
        rlen = hdr["rlen"].astype(np.int64)
        uoff = hdr["uoff"].astype(np.int64)
        ulen = hdr["ulen"].astype(np.int64)
        quiet = has & np.isin(ro, _QUIET_ARR) & np.isin(hdr["uo"], _QUIET_ARR)
        bitmap = has & ~quiet & ((ro == 0x15) | (ro == 0x16)) & (rlen >= 8) & (roff + 8 <= lens)
        sizes = (has & ~quiet & ~bitmap & (ro == 0x0B) & (rlen >= 24) & (roff + rlen <= lens)
                 & ((ulen == 0) | (uoff + ulen <= lens)) & ((nl == 0) | ((32 + 8 * nl <= lens) & (nl <= 512))))
        # SetBits/ClearBitsInNonresidentBitMap: the open attribute and the bit range
        bi = np.flatnonzero(bitmap)
        if len(bi):
            target_c[bi] = self.describe_many(hdr["ta"][bi], lsn_u[bi])
            bits = t.take(bi, roff[bi], 8).view("<u4")
            uniq, inv = np.unique(bits.copy().view("<u8")[:, 0], return_inverse=True)  # distinct (offset, bits)
            texts = [f'{{"bitmap":{{"offset":{k & 0xFFFFFFFF},"bits":{k >> 32}}}}}' for k in uniq.tolist()]
            detail_c[bi] = _objects(texts)[inv.reshape(-1)]
        # SetNewAttributeSizes, well-formed: what mft_entry() and decode() give, without building the op
        si = np.flatnonzero(sizes)
        if len(si):
            bpc = self.bpc
            recs_no = [(v * bpc + c * 512) // (t * 512 if t else 1024) for v, c, t in
                       zip(hdr["vcn"][si].tolist(), hdr["cbo"][si].tolist(), hdr["tbs"][si].tolist(), strict=True)]
            if min(recs_no) < _I64_MIN or max(recs_no) > _I64_MAX:  # corrupt: rest() warns about them in order
                keep = [_I64_MIN <= e <= _I64_MAX for e in recs_no]
                sizes[si[~np.array(keep)]] = False
                si = si[np.array(keep)]
                recs_no = [e for e, k in zip(recs_no, keep, strict=True) if k]
            entry_c[si] = recs_no
            target_c[si] = _objects([f"MFT record {e}" for e in recs_no])
            q = t.take(si, roff[si], 24).view("<i8")
            detail_c[si] = _objects([f'{{"sizes":{{"allocated":{a},"valid":{v},"size":{z}}}}}' for a, v, z in
                                     zip(q[:, 0].tolist(), q[:, 1].tolist(), q[:, 2].tolist(), strict=True)])
        # the rest, in LSN order: short records (a warning each) and the operations decoded one by one
        short = (h.rtype != 2) & (lens < 32)
        stale_l = stale.tolist()
        flush_at = 0  # pending index entries are flushed before every 64th record, as in ``row()``'s loop
        warn = self.ctx.warn
        rest = self.rest
        mapping_pairs = self._mapping_pairs
        flush = self._flush_pending
        slow = np.flatnonzero(short | (has & ~quiet & ~bitmap & ~sizes)).tolist()
        got: list[tuple[str | None, int | None, str | None]] = []
        done: list[int] = []
        for i, r in zip(slow, t.records(slow), strict=True):
            if flush_at <= i:
                while flush_at <= i:
                    flush(flush_at)
                    flush_at += 64
            data = r[11]
            if len(data) < 32:
                warn(r[9], f"log record LSN {r[0]:#x}: {len(data)} bytes of client data, need 32 for the NTFS header")
                continue
            hd = _NTFS_HDR(data, 0)
            got.append((hd[0] == 0x09 and mapping_pairs(r, hd, stale_l[i])) or rest(r, i, hd, stale_l[i]))
            done.append(i)
        while flush_at < n:
            flush(flush_at)
            flush_at += 64
        if done:
            t3 = list(zip(*got, strict=True))
            target_c[done] = _objects(list(t3[0]))
            entry_c[done] = _objects(list(t3[1]))
            detail_c[done] = _objects(list(t3[2]))
        lsns = []
        for k, name in ((0, "LSN"), (1, "previous LSN"), (2, "undo-next LSN")):
            vals = cols[k]
            if n and max(vals) > _I64_MAX:  # corrupt: no 64-bit column holds it
                vals = list(vals)
                for i in np.flatnonzero(np.fromiter(vals, np.uint64, n) > _I64_MAX).tolist():
                    warn(cols[9][i], f"log record LSN {cols[0][i]:#x}: {name} {vals[i]:#x} beyond 63 bits, not stored")
                    vals[i] = None
            lsns.append(vals)
        return {
            "lsn": lsns[0], "prev_lsn": lsns[1], "undo_next_lsn": lsns[2], "client": cols[5],
            "record_type": h.rtype.tolist(), "transaction_id": cols[7], "redo_op": redo_l,
            "undo_op": undo_l, "target_attribute": ta_l, "target": target_c.tolist(),
            "target_vcn": vcn_l, "cluster_index": cbo_l, "target_block_size": tbs_l,
            "mft_entry": entry_c.tolist(), "lcns": lcns_c.tolist(), "stale": stale_l, "page_kind": cols[10],
            "page_offset": cols[9], "redo_length": rlen_l, "undo_length": ulen_l,
            "detail": detail_c.tolist(),
        }

    def describe_many(self, tas: np.ndarray, lsns: np.ndarray) -> np.ndarray:
        """``describe(ta, lsn)`` for many records at once (the open attribute table is complete after prescan)."""
        out = np.empty(len(tas), object)
        order = np.argsort(tas, kind="stable")
        sorted_tas = tas[order]
        bounds = np.flatnonzero(np.diff(sorted_tas)) + 1
        for grp in np.split(order, bounds):
            if not len(grp):
                continue
            got = self.oat._by_index.get(int(tas[grp[0]]))
            if got is None:
                out[grp] = ""
                continue
            keys, infos = got
            if len(keys) == 1:
                out[grp] = _describe(infos[0])
                continue
            j = np.searchsorted(np.array(keys, np.uint64), lsns[grp], side="right")
            descs = _objects([_describe(infos[0])] + [_describe(x) for x in infos])  # j == 0: the first one
            out[grp] = descs[j]
        return out

    def _runs_text(self, mapping_pairs: bytes) -> tuple[str, str]:
        """Decoded runs as JSON array items and as ``clusters@LCN`` text (both empty when no run); memoised,
        because the same run list is logged over and over while a file grows."""
        got = self._runs_memo.get(mapping_pairs)
        if got is None:
            runs = decode_runs(mapping_pairs)
            got = (",".join(f"[{n},{'null' if lcn is None else lcn}]" for n, lcn in runs),
                   ", ".join(f"{n}@{lcn}" if lcn is not None else f"{n}@sparse" for n, lcn in runs))
            if len(self._runs_memo) >= 4096:
                self._runs_memo.clear()
            self._runs_memo[mapping_pairs] = got
        return got

    def describe(self, ta: int, lsn: int) -> str:
        """``_describe(self.oat.get(ta, lsn))``, remembered per target attribute for the LSN range it holds for."""
        c = self._desc_cache.get(ta)
        if c is not None and c[0] <= lsn < c[1]:
            return c[2]
        got = self.oat._by_index.get(ta)
        if got is None:
            lo, hi, info = -1, 1 << 64, None
        else:
            keys, infos = got
            if len(keys) == 1:
                lo, hi, info = -1, 1 << 64, infos[0]
            else:
                j = bisect.bisect_right(keys, lsn)
                lo = keys[j - 1] if j else -1
                hi = keys[j] if j < len(keys) else 1 << 64
                info = infos[j - 1] if j else infos[0]
        d = _describe(info)
        self._desc_cache[ta] = (lo, hi, d)
        return d

    def feed(self, r: LogRecord, i: int) -> None:
        """Events-only: the stateful decoding of one operation record, without building its row."""
        data = r[11]
        if data[0] == 0x09 and data[1] == 0 and len(data) >= 32 and self._mapping_pairs(
                r, _NTFS_HDR(data, 0), 1 if r[0] > self.current_lsn > 0 else 0) is not None:
            return
        op = parse_op(data)
        if op is None or (op.problems and r.flags & 0x6):
            return
        entry: int | None = None
        info = None
        if op.redo_op in MFT_OPS or op.undo_op in MFT_OPS:
            entry = self.mft_entry(op)
            if entry is not None and not _I64_MIN <= entry <= _I64_MAX:
                entry = None  # a corrupt target VCN (the records table warns about it)
        elif op.redo_op in ATTR_OPS or op.undo_op in ATTR_OPS:
            info = self.oat.get(op.target_attribute, r.lsn)
        self.decode(r, i, op, entry, info, 1 if r.lsn > self.current_lsn > 0 else 0)

    def event(self, r: LogRecord, op: Any, ev: str, detail: str, *, fn: dict[str, Any] | None = None,
              entry: int | None = None, seq: int | None = None, time: int | None = None, tsrc: str = "",
              old: dict[str, Any] | None = None, stale: int = 0, name: str | None = None,
              parent: int | None = None) -> None:
        if fn is not None:
            name = fn.get("name")
            parent = fn.get("parent_entry")
            entry = fn.get("entry", entry)
            seq = fn.get("sequence", seq)
        if name is None and entry is not None and entry in self.paths.names:
            name, parent = self.paths.names[entry]
        if entry == 5 and not name:
            name = "."
        e = {
            "lsn": r.lsn, "event_time": time, "time_source": tsrc if time else "", "event": ev, "detail": detail,
            "name": name or "", "full_path": self.paths.full(entry, seq, name, parent),
            "created": fn.get("created") if fn else None, "modified": fn.get("modified") if fn else None,
            "mft_modified": fn.get("mft_modified") if fn else None, "accessed": fn.get("accessed") if fn else None,
            "redo": _OP_NAMES[op.redo_op] if op.redo_op < 0x26 else op_name(op.redo_op), "target_vcn": op.target_vcn,
            "cluster_index": op.cluster_index,
            "mft_entry": entry, "sequence": seq, "parent_entry": parent, "old_name": old.get("name") if old else None,
            "old_parent_entry": old.get("parent_entry") if old else None, "stale": stale,
        }
        self.events.append(e)

    def _flush_pending(self, i: int, final: bool = False) -> None:
        for store, label in ((self.pending_del, "Index Entry Deleted"), (self.pending_add, "Index Entry Added")):
            for entry in [k for k, v in store.items() if final or i - v[0] > PAIR_WINDOW]:
                _j, fn, rec = store.pop(entry)
                op = parse_op(rec.data)
                if op is None:
                    continue
                t = fn.get("mft_modified") if label == "Index Entry Added" else None
                self.event(rec, op, label, f"directory {fn.get('parent_entry')}", fn=fn, time=t,
                           tsrc="$FN MFT_Modified" if t else "",
                           stale=1 if self.current_lsn and rec.lsn > self.current_lsn else 0)

    def _created(self, r: LogRecord, ie: dict[str, Any], stale: int) -> None:
        op = parse_op(r.data)
        if op is None:
            return
        kind = "directory" if ie["flags"] & 0x10000000 else "file"
        self.event(r, op, "File Creation", f"{kind} created", fn=ie, time=ie.get("created"), tsrc="$FN Create",
                   stale=stale)

    def _renamed(self, r: LogRecord, op: Any, old: dict[str, Any], new: dict[str, Any], stale: int) -> None:
        if (old.get("name"), old.get("parent_entry")) == (new.get("name"), new.get("parent_entry")):
            return  # the same name removed and put back (index rebalancing, attribute updates)
        moved = old.get("parent_entry") != new.get("parent_entry")
        if moved:
            det = (f"{self.paths.directory(old.get('parent_entry') or 5)}\\{old.get('name')} -> "
                   f"{self.paths.directory(new['parent_entry'])}\\{new['name']}")
        else:
            det = f"{old.get('name')} -> {new.get('name')}"
        # the new $FILE_NAME keeps the old times; the USN record of the rename (if logged) dates it exactly
        self.event(r, op, "File Moving" if moved else "File Renaming", det, fn=new, old=old, stale=stale)
        self.events[-1]["_fallback"] = new.get("mft_modified")

    def decode(self, r: LogRecord, i: int, op: Any, entry: int | None, info: dict[str, Any] | None,
               stale: int) -> dict[str, Any]:
        d: dict[str, Any] = {}
        ro = op.redo_op
        if ro == 0x02:  # InitializeFileRecordSegment
            fr = parse_file_record(op.redo)
            if fr:
                d["record"] = {k: fr[k] for k in ("sequence", "link_count", "flags", "in_use", "directory",
                                                     "base_entry", "used_size")}
                d["attributes"] = [a["type_name"] + (":" + a["name"] if a["name"] else "") for a in fr["attributes"]]
                lay = self.layout.setdefault(entry if entry is not None else -1, {})
                lay.clear()
                for a in fr["attributes"]:
                    lay[a["offset"]] = a["type"]
                    if "runs_raw" in a and entry is not None:
                        self.runlists[(entry, a["offset"])] = (a["runs_offset"], bytearray(a.pop("runs_raw")))
                    fn = a.get("fn")
                    if fn and entry is not None:
                        self.paths.learn(entry, fn["name"], fn["parent_entry"], fn["namespace"])
                        d.setdefault("names", []).append(fn["name"])
                    if a.get("si"):
                        d["si"] = a["si"]
                if entry is not None:
                    pend = self.pending_add.get(entry)
                    if pend is not None and i - pend[0] <= PAIR_WINDOW:
                        self.pending_add.pop(entry)
                        self._created(pend[2], pend[1], stale)
                    else:
                        self.inits[entry] = (i, r.lsn)
        elif ro == 0x03:  # DeallocateFileRecordSegment
            old = parse_file_record(op.undo) if op.undo_op == 0x02 else None
            if old and entry is not None:
                for a in old["attributes"]:
                    fn = a.get("fn")
                    if fn and fn["namespace"] != "DOS":
                        self.paths.learn(entry, fn["name"], fn["parent_entry"], fn["namespace"])
            if entry is not None:
                pend = self.pending_del.pop(entry, None)
                fn = pend[1] if pend else None
                self.event(r, op, "File Deletion", "file record deallocated", fn=fn, entry=entry, stale=stale,
                           seq=fn.get("sequence") if fn else None)
        elif ro in (0x0C, 0x0E):  # AddIndexEntryRoot / Allocation
            ie = parse_index_entry(op.redo)
            if ie:
                d["index_entry"] = ie
                fe = ie["entry"]
                self.paths.learn(fe, ie["name"], ie["parent_entry"], ie["namespace"])
                if ie["namespace"] != "DOS":
                    if fe in self.pending_del:
                        _j, old, _rec = self.pending_del.pop(fe)
                        self._renamed(r, op, old, ie, stale)
                    elif fe in self.inits and i - self.inits[fe][0] <= PAIR_WINDOW:
                        self.inits.pop(fe)
                        self._created(r, ie, stale)
                    else:
                        self.pending_add[fe] = (i, ie, r)
        elif ro in (0x0D, 0x0F):  # DeleteIndexEntryRoot / Allocation
            ie = parse_index_entry(op.undo)
            if ie:
                d["index_entry"] = ie
                fe = ie["entry"]
                self.paths.learn(fe, ie["name"], ie["parent_entry"], ie["namespace"])
                if ie["namespace"] != "DOS":
                    pa = self.pending_add.get(fe)
                    if pa is not None and (pa[1]["name"], pa[1]["parent_entry"]) != (ie["name"], ie["parent_entry"]):
                        _j, new, rec = self.pending_add.pop(fe)
                        self._renamed(rec, parse_op(rec.data) or op, ie, new, stale)
                    else:
                        self.pending_del[fe] = (i, ie, r)
        elif ro == 0x07 and entry is not None:  # UpdateResidentValue
            # record_offset: the attribute's offset in the file record; attribute_offset: offset inside it
            atype = self.layout.get(entry, {}).get(op.record_offset)
            if atype is None and op.record_offset == FIRST_ATTR_OFFSET and op.attribute_offset >= SI_VALUE_OFFSET:
                atype = 0x10
            d["attribute"] = ATTR_TYPES.get(atype, "") if atype else ""
            if atype == 0x10:
                ch = _si_changes(op.redo, op.undo, op.attribute_offset)
                if ch:
                    d["si_changes"] = {k: [o, n] for k, (o, n) in ch.items()}
                    back = [k for k, (o, n) in ch.items() if o and n and n < o]
                    parts = [f"{k}: {_fmt_utc(o)} -> {_fmt_utc(n)}" for k, (o, n) in ch.items()]
                    det = "; ".join(parts) + " (UTC)" + ("; reversal: " + ",".join(back) if back else "")
                    new = {k: n for k, (_o, n) in ch.items()}
                    t = new.get("mft_modified") or new.get("modified") or max(v for v in new.values() if v) \
                        if any(new.values()) else None
                    fn = {"entry": entry, "created": new.get("created"), "modified": new.get("modified"),
                          "mft_modified": new.get("mft_modified"), "accessed": new.get("accessed")}
                    known = self.paths.names.get(entry)
                    if known:
                        fn["name"], fn["parent_entry"] = known
                    self.event(r, op, "Time Change", det, fn=fn, entry=entry, time=t, tsrc="$SI new value",
                               stale=stale)
                    for k, (o, _n) in ch.items():  # the values before: timestomp evidence without the records
                        self.events[-1]["old_" + k] = o
            elif atype == 0x80:
                head = op.redo[:32]
                where = (f"at data offset {op.attribute_offset - SI_VALUE_OFFSET}"
                         if op.attribute_offset >= SI_VALUE_OFFSET else f"at attribute offset {op.attribute_offset}")
                self.event(r, op, "Resident Data Write", f"{len(op.redo)} bytes {where}: {head.hex()}", entry=entry,
                           stale=stale)
            sc = d.get("si_changes")  # the detail as to_json() writes it, without its cost
            d = {"_json": '{"attribute":"' + str(d["attribute"]) + '"' + (
                ',"si_changes":{' + ",".join(f'"{k}":[{_jn(o)},{_jn(n)}]' for k, (o, n) in sc.items()) + "}"
                if sc else "") + "}"}
        elif ro == 0x05 and entry is not None:  # CreateAttribute
            a = parse_attribute(op.redo, 0)
            if a:
                self.layout.setdefault(entry, {})[op.record_offset] = a["type"]
                if "runs_raw" in a:
                    self.runlists[(entry, op.record_offset)] = (a["runs_offset"], bytearray(a.pop("runs_raw")))
                d["attribute"] = {k: v for k, v in a.items() if k not in ("si",)}
                if a.get("fn"):
                    fn = a["fn"]
                    self.paths.learn(entry, fn["name"], fn["parent_entry"], fn["namespace"])
                if a["type"] == 0x80 and a["resident"] and a.get("value_length"):
                    stream = f" (stream {a['name']})" if a["name"] else ""
                    self.event(r, op, "Resident Data Write",
                               f"attribute created with {a['value_length']} bytes{stream}: {a.get('data_head', '')}",
                               entry=entry, stale=stale)
        elif ro == 0x06 and entry is not None:  # DeleteAttribute: the undo data is the attribute
            a = parse_attribute(op.undo, 0) if op.undo_op == 0x05 else None
            if a:
                self.layout.get(entry, {}).pop(op.record_offset, None)
                d["attribute"] = {k: v for k, v in a.items() if k not in ("si",)}
        elif ro in (0x04, 0x25):  # WriteEndOfFileRecordSegment / ZeroEndOfFileRecord
            d["end"] = {"record_offset": op.record_offset, "attribute_offset": op.attribute_offset,
                        "bytes": len(op.redo)}
        elif ro in (0x11, 0x12) and len(op.redo) >= 8:  # SetIndexEntryVcnRoot / Allocation
            d["index_vcn"] = struct.unpack_from("<q", op.redo, 0)[0]
        elif ro in (0x21, 0x22, 0x23, 0x24):  # UpdateRecordData*, UpdateRelativeDataInIndex*
            d["data"] = {"offset": op.attribute_offset, "bytes": len(op.redo), "head": op.redo[:32].hex()}
        elif ro == 0x09 and entry is not None:  # UpdateMappingPairs
            # the redo bytes replace part of the mapping pairs; absolute LCNs need the whole list, known when
            # the attribute was seen earlier in the log (file record image or CreateAttribute)
            mp = self.runlists.get((entry, op.record_offset))
            how = ""
            if mp is not None and op.attribute_offset >= mp[0]:
                rel = op.attribute_offset - mp[0]
                buf = mp[1]
                if len(buf) < rel + len(op.redo):
                    buf.extend(bytes(rel + len(op.redo) - len(buf)))
                buf[rel:rel + len(op.redo)] = op.redo
                jruns, txt = self._runs_text(bytes(buf))
                how = "full"
            elif op.attribute_offset in (0x40, 0x48):  # the update starts at the first run
                jruns, txt = self._runs_text(op.redo)
                how = "from the first run"
            else:
                jruns, txt = "", ""
            d["_json"] = ('{"runs":[' + jruns
                          + f'],"runs_known":"{how or "partial update"}","offset":{op.attribute_offset}}}')
            if txt:
                self.event(r, op, "Non-resident Data Write", f"cluster runs (clusters@LCN): {txt}", entry=entry,
                           stale=stale)
        elif ro == 0x0B:  # SetNewAttributeSizes
            if len(op.redo) >= 24:
                alloc, valid, size = struct.unpack_from("<qqq", op.redo, 0)
                d["_json"] = f'{{"sizes":{{"allocated":{alloc},"valid":{valid},"size":{size}}}}}'
        elif ro == 0x08:  # UpdateNonresidentValue
            is_j = bool(info and info.get("name") == "$J")
            found = parse_usn_records(op.redo) if (is_j or info is None or len(op.redo) >= 64) else []
            if found:
                d["_json"] = f'{{"usn_records":{len(found)}}}'
                for u in found:
                    u["lsn"] = r.lsn
                    self.usn.append(u)
            else:
                d["_json"] = (f'{{"write":{{"vcn":{op.target_vcn},"offset":{op.attribute_offset},'
                              f'"bytes":{len(op.redo)}}}}}')
        elif ro in (0x15, 0x16):
            if len(op.redo) >= 8:
                boff, nbits = struct.unpack_from("<II", op.redo, 0)
                d["bitmap"] = {"offset": boff, "bits": nbits}
        elif ro == 0x1C:
            oe = parse_open_attribute_entry(op.redo, self.restart_major)
            if oe:
                oe["name"] = op.undo.decode("utf-16le", "replace") if op.undo else ""
                d["open_attribute"] = oe
        elif ro == 0x1D:  # the table's header (the entries were read by prescan)
            if len(op.redo) < 24:
                return {"_json": '{"open_attribute_table":{}}'}
            esize, count, allocated, _r1, _r2, _goal, first_free, last_free = _RT_HDR(op.redo, 0)
            return {"_json": f'{{"open_attribute_table":{{"entry_size":{esize},"entries":{count},'
                             f'"allocated":{allocated},"first_free":{first_free},"last_free":{last_free}}}}}'}
        elif ro == 0x1E:
            return {"_json": self._dump("names json", op.redo, lambda b: to_json(
                {"attribute_names": {str(k): v for k, v in self._dump(0x1E, b, parse_attribute_names).items()}}))}
        elif ro == 0x1F:
            return {"_json": self._dump(0x1F, op.redo, lambda b: f'{{"dirty_pages":{_count_dirty_pages(b)}}}')}
        elif ro == 0x20:
            d["transactions"] = parse_transactions(op.redo)
        elif ro in (0x13, 0x14) and len(op.redo) >= 32:  # UpdateFileName*: the four times, as to_json() writes them
            c, m, mm, a = _QQQQ(op.redo, 0)
            js = (f'{{"times":{{"created":{c if c > 0 else "null"},"modified":{m if m > 0 else "null"},'
                  f'"mft_modified":{mm if mm > 0 else "null"},"accessed":{a if a > 0 else "null"}}}')
            if ro == 0x14 and info:
                ent = info.get("entry")
                js += f',"directory":{"null" if ent is None else ent}'
            return {"_json": js + "}"}
        if op.redo_op in INDEX_ALLOC_OPS and info:
            d.setdefault("directory", info.get("entry"))
        return d


def _load_usn(path: Path, ctx: ParseContext) -> dict[int, list[dict[str, Any]]]:
    by_entry: dict[int, list[dict[str, Any]]] = {}
    try:
        buf = path.read_bytes()
    except OSError as e:
        ctx.warn(None, f"--usn {path}: cannot read: {e}", skipped=False)
        return by_entry
    for u in parse_usn_records(buf):
        by_entry.setdefault(u["entry"], []).append(u)
    return by_entry


_REASON_FOR = {"File Creation": 0x100, "File Deletion": 0x200, "File Renaming": 0x2000, "File Moving": 0x2000,
               "Resident Data Write": 0x3, "Non-resident Data Write": 0x3, "Index Entry Deleted": 0x200}


def _date_events(events: list[dict[str, Any]], usn_log: list[dict[str, Any]],
                 usn_j: dict[int, list[dict[str, Any]]]) -> None:
    """Give timeless events the time of the USN record of the same file: the one nearest in LSN among those
    recovered from the log (preferring the matching reason), else the matching one in $J."""
    by_entry: dict[int, list[tuple[int, int, int]]] = {}
    for u in usn_log:
        by_entry.setdefault(u["entry"], []).append((u["lsn"], u["timestamp"], u["reasons"]))
    for lst in by_entry.values():
        lst.sort()
    pools: dict[tuple[int, int], tuple[list[int], list[tuple[int, int, int]]]] = {}
    for e in events:
        fallback = e.pop("_fallback", None)
        if not e["event_time"] and e["mft_entry"] is not None:
            _date_one(e, by_entry, pools, usn_j)
        if not e["event_time"] and fallback:
            e["event_time"], e["time_source"] = fallback, "$FN MFT_Modified"


def _date_one(e: dict[str, Any], by_entry: dict[int, list[tuple[int, int, int]]],
              pools: dict[tuple[int, int], tuple[list[int], list[tuple[int, int, int]]]],
              usn_j: dict[int, list[dict[str, Any]]]) -> None:
    want = _REASON_FOR.get(e["event"], 0)
    entry = e["mft_entry"]
    near = by_entry.get(entry)
    if near:
        # the USN record nearest in LSN among those with the wanted reason (all when none has it); on a tie
        # the earlier one (the list is sorted by LSN): the same choice as min() over the pool, by bisection
        pk = (entry, want)
        got = pools.get(pk)
        if got is None:
            pool = [x for x in near if x[2] & want] or near
            got = pools[pk] = ([x[0] for x in pool], pool)
        keys, pool = got
        lsn = e["lsn"]
        i = bisect.bisect_left(keys, lsn)
        if i == len(keys):
            j = bisect.bisect_left(keys, keys[i - 1])
        elif i == 0:
            j = 0
        else:
            left = keys[i - 1]
            j = bisect.bisect_left(keys, left) if lsn - left <= keys[i] - lsn else i
        best = pool[j]
        e["event_time"], e["time_source"] = best[1], "USN record in $LogFile"
        return
    js = [u for u in usn_j.get(entry, []) if u["reasons"] & want] if want else []
    if e.get("name"):
        js = [u for u in js if u["name"] == e["name"]] or js
    if js:
        e["event_time"], e["time_source"] = js[-1]["timestamp"], "$J"


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    return flatten(parse_batches(path, ctx))


def parse_batches(path: Path, ctx: ParseContext) -> Iterator[Record | RowBatch]:
    """The tables: ``logfile_records`` as one ``RowBatch`` (columns built in bulk), the rest as ``Record``s."""
    # hundreds of thousands of small acyclic objects: the cycle collector would rescan them over and over
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield from _parse(path, ctx)
    finally:
        if was_enabled:
            gc.enable()


def _parse(path: Path, ctx: ParseContext) -> Iterator[Record | RowBatch]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        ctx.warn(None, f"cannot read $LogFile: {e}")
        return
    lf = LogFile(data, ctx.warn)
    if lf.empty:
        ctx.warn(0, f"$LogFile is empty ({len(data)} bytes, no restart or record pages: all 0xFF/zero)",
                 skipped=False)
        yield Record("logfile_restart", {"empty": 1, "file_size": len(data)})
        return
    if not lf.restart_pages:
        ctx.warn(0, "no usable restart page (RSTR) at 0 or 4096: cannot locate log records")
        return
    cur = lf.current
    identical = int(lf.restart_pages_identical())
    for rp in lf.restart_pages:
        yield Record("logfile_restart", {
            "page_offset": rp.offset, "current": int(rp is cur), "version": rp.version,
            "current_lsn": rp.current_lsn, "chkdsk_lsn": rp.chkdsk_lsn, "system_page_size": rp.system_page_size,
            "log_page_size": rp.log_page_size, "seq_number_bits": rp.seq_number_bits, "file_size": rp.file_size,
            "flags": rp.flags, "clean": int(rp.clean), "identical": identical,
            "clients": to_json([{"name": c.name, "oldest_lsn": c.oldest_lsn,
                                 "client_restart_lsn": c.client_restart_lsn, "seq": c.seq_number}
                                for c in rp.clients]),
            "empty": 0,
        })
    recs = lf.record_table(include_unused=True)
    b = _Builder(ctx, lf)
    heads = _Heads(recs)
    b.prescan(recs.records(heads.prescan_index()))
    if ctx.options.get("logfile_records", True):
        cols = b.columns(recs, heads)
        if len(recs):
            yield RowBatch("logfile_records", cols)
    else:  # events only (NLT's view): decode just the operations that make events or carry USN records
        flush_at = 0  # pending index entries are flushed before every 64th record, as in the full pass
        idx = heads.event_index()
        for i, r in zip(idx, recs.records(idx), strict=True):
            while flush_at <= i:
                b._flush_pending(flush_at)
                flush_at += 64
            b.feed(r, i)
        while flush_at < len(recs):
            b._flush_pending(flush_at)
            flush_at += 64
    b._flush_pending(len(recs), final=True)
    usn_j: dict[int, list[dict[str, Any]]] = {}
    usn_path = ctx.resources.get("usn_path")
    if not usn_path:  # a triage folder keeps $J next to $LogFile (KAPE: $Extend/$J)
        here = Path(path).parent
        usn_path = next((p for p in (here / "$Extend" / "$J", here / "$Extend" / "$UsnJrnl:$J", here / "$J")
                         if p.is_file()), None)
    if usn_path:
        usn_j = _load_usn(Path(usn_path), ctx)
    _date_events(b.events, b.usn, usn_j)
    b.events.sort(key=lambda ev: ev["lsn"])
    for ev in b.events:
        yield Record("logfile_events", ev)
    seen: set[tuple[int, int]] = set()
    for u in b.usn:
        key = (u["usn"], u["entry"])
        if key in seen:
            continue
        seen.add(key)
        yield Record("logfile_usn", {
            "lsn": u["lsn"], "usn": u["usn"], "timestamp": u["timestamp"], "name": u["name"],
            "parent_path": b.paths.directory(u["parent_entry"]), "reasons": u["reasons"],
            "source_info": u["source_info"], "attributes": u["attributes"], "carved": 1, "entry": u["entry"],
            "sequence": u["sequence"], "parent_entry": u["parent_entry"], "parent_sequence": u["parent_sequence"],
            "security_id": u["security_id"],
        })


# the tables timeline() makes events for (the pipeline builds no Record per row of the records table's batch)
TIMELINE_TABLES = frozenset({"logfile_events", "logfile_usn"})


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if rec.table == "logfile_events":
        t = d.get("event_time")
        if t:
            name = d.get("name") or (f"MFT record {d['mft_entry']}" if d.get("mft_entry") is not None else "")
            yield TimelineEvent(t, f"$LogFile {d.get('event')}", d.get("full_path") or name,
                                f"{d.get('event')}: {name} ({d.get('detail')})"[:300])
    elif rec.table == "logfile_usn":
        t = d.get("timestamp")
        if t:
            yield TimelineEvent(t, "$LogFile USN", _full_usn_path(d),
                                f"USN in $LogFile: {d.get('name')} {flag_text(d.get('reasons'), USN_REASONS)}")
