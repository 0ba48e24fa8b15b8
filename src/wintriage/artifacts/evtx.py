"""Windows event logs (EVTX) on the ``evtx`` Rust wheel, with gap accounting and record recovery.

How a file is read:

1. Our own pass over the file layout (cheap: one read of each 64 KiB chunk): the file header (dirty/full
   flags, header CRC32), every chunk slot (``ElfChnk\\0`` magic, header and records CRC32, the first/last
   record numbers in the chunk header) and a walk of the record headers (``**\\0\\0``, size, record id,
   written time) inside each chunk's allocated area. This is the ground truth of what should be decoded.
2. The wheel decodes records (``records_json``, ``skip_errors=True``). Its recoverable errors are
   ``RuntimeWarning``s; each becomes a warning with the chunk number and file offset.
3. Per chunk, the record ids the wheel produced are compared with the ids the record walk found, so a
   record the parser dropped silently is reported (chunk, offset, how many).
4. Records in slack space and unallocated chunks come from libevtx's recovered records (``pyevtx``), and a
   truncated last chunk is re-read padded to full size; both are flagged ``recovered=1`` (EvtxECmd's
   ``HiddenRecord``) and deduplicated against the records already produced.

EvtxECmd maps (``evtx_maps``) fill ``map_description``, ``user_name``, ``remote_host``,
``executable_info`` and ``payload1..6``; ``--maps DIR`` adds user maps that override ours.
"""

from __future__ import annotations

import bisect
import functools
import io
import itertools
import json
import re
import struct
import sys
import warnings
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import evtx as _evtx_wheel
import numpy as np

from ..model import Record, RowBatch, TimelineEvent
from ..timecols import fmt_many
from .base import CsvColumn, CsvShape, ParseContext, bool_str, col, flatten, tcol
from .evtx_maps import MapSet, load_maps

_loads: Callable[[str], Any]

try:  # orjson is ~3x faster than json here; json is the fallback
    import orjson

    _loads = orjson.loads  # no wrapper: called once per record

    def _dumps(o: Any) -> str:
        return orjson.dumps(o, default=str).decode()

except ImportError:  # pragma: no cover - orjson is a declared dependency
    _loads = json.loads

    def _dumps(o: Any) -> str:
        return json.dumps(o, ensure_ascii=False, separators=(",", ":"), default=str)


NAME = "evtx"
CATEGORY = "event"

FILE_HEADER = 4096
CHUNK = 65536
CHUNK_HEADER = 512
CHUNK_MAGIC = b"ElfChnk\x00"
FILE_MAGIC = b"ElfFile\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
FLAG_DIRTY = 0x1
FLAG_FULL = 0x2

TABLES: dict[str, list[tuple[str, str]]] = {
    "evtx": [
        ("record_number", "INTEGER"),
        ("event_record_id", "INTEGER"),
        ("time_created", "INTEGER"),
        ("event_id", "INTEGER"),
        ("version", "INTEGER"),
        ("level", "INTEGER"),
        ("provider", "TEXT"),
        ("provider_guid", "TEXT"),
        ("channel", "TEXT"),
        ("computer", "TEXT"),
        ("process_id", "INTEGER"),
        ("thread_id", "INTEGER"),
        ("user_id", "TEXT"),
        ("keywords", "TEXT"),
        ("task", "INTEGER"),
        ("opcode", "INTEGER"),
        ("activity_id", "TEXT"),
        ("event_data", "TEXT"),
        ("map_description", "TEXT"),
        ("user_name", "TEXT"),
        ("remote_host", "TEXT"),
        ("executable_info", "TEXT"),
        ("payload1", "TEXT"),
        ("payload2", "TEXT"),
        ("payload3", "TEXT"),
        ("payload4", "TEXT"),
        ("payload5", "TEXT"),
        ("payload6", "TEXT"),
        ("recovered", "INTEGER"),
        ("chunk", "INTEGER"),
        ("source_file", "TEXT"),
    ]
}
COLUMNS = [c for c, _ in TABLES["evtx"]]

LEVELS = {0: "LogAlways", 1: "Critical", 2: "Error", 3: "Warning", 4: "Info", 5: "Verbose"}


def _level_text(d: dict[str, Any], _tz: Any) -> Any:
    v = d.get("level")
    if v is None:
        return ""
    return LEVELS.get(v, str(v)) if isinstance(v, int) else v


def _hidden(d: dict[str, Any], _tz: Any) -> Any:
    return bool_str(bool(d.get("recovered")))


def _zero(d: dict[str, Any], _tz: Any) -> Any:
    return 0


def _strs(col: list[Any]) -> list[str]:
    return ["" if v is None else v if type(v) is str else str(v) for v in col]


def _csv_batch(c: dict[str, list[Any]], tz: Any) -> list[list[str]]:
    """``CSV["evtx"]``'s cells for a whole ``RowBatch`` at once (the same strings ``row()`` gives)."""
    n = len(c["record_number"])
    level = ["" if v is None else (LEVELS.get(v, str(v)) if type(v) is int else v if type(v) is str else str(v))
             for v in c["level"]]
    return [
        _strs(c["record_number"]), _strs(c["event_record_id"]), fmt_many(c["time_created"], tz), _strs(c["event_id"]),
        level, _strs(c["provider"]), _strs(c["channel"]), _strs(c["process_id"]), _strs(c["thread_id"]),
        _strs(c["computer"]), _strs(c["chunk"]), _strs(c["user_id"]), _strs(c["map_description"]),
        _strs(c["user_name"]), _strs(c["remote_host"]), *(_strs(c[f"payload{i}"]) for i in range(1, 7)),
        _strs(c["executable_info"]), ["True" if v else "False" for v in c["recovered"]], _strs(c["source_file"]),
        _strs(c["keywords"]), ["0"] * n, _strs(c["event_data"]),
    ]


# EvtxECmd's CSV, column for column (Timeline Explorer loads it as an EvtxECmd file)
CSV = {
    "evtx": CsvShape(
        "EvtxECmd_Output.csv",
        [
            col("RecordNumber", "record_number"),
            col("EventRecordId", "event_record_id"),
            tcol("TimeCreated", "time_created"),
            col("EventId", "event_id"),
            CsvColumn("Level", _level_text),
            col("Provider", "provider"),
            col("Channel", "channel"),
            col("ProcessId", "process_id"),
            col("ThreadId", "thread_id"),
            col("Computer", "computer"),
            col("ChunkNumber", "chunk"),
            col("UserId", "user_id"),
            col("MapDescription", "map_description"),
            col("UserName", "user_name"),
            col("RemoteHost", "remote_host"),
            col("PayloadData1", "payload1"),
            col("PayloadData2", "payload2"),
            col("PayloadData3", "payload3"),
            col("PayloadData4", "payload4"),
            col("PayloadData5", "payload5"),
            col("PayloadData6", "payload6"),
            col("ExecutableInfo", "executable_info"),
            CsvColumn("HiddenRecord", _hidden),
            col("SourceFile", "source_file"),
            col("Keywords", "keywords"),
            CsvColumn("ExtraDataOffset", _zero),
            col("Payload", "event_data"),
        ],
        batch=_csv_batch,
    )
}


# --- file layout ----------------------------------------------------------------------------------
@dataclass
class ChunkInfo:
    index: int
    offset: int
    size: int  # bytes present in the file (< CHUNK for a truncated last chunk)
    status: str  # ok | zero | bad | short
    first_id: int = 0
    last_id: int = 0
    free_offset: int = 0
    header_crc_ok: bool = True
    data_crc_ok: bool = True
    # record ids found by walking record headers, and their file offsets (8 bytes each: a log of millions of
    # records keeps its layout in tens of MB)
    ids: array[int] = field(default_factory=lambda: array("Q"))
    offs: array[int] = field(default_factory=lambda: array("Q"))
    walk_error: str = ""
    slack_signatures: int = 0  # record signatures beyond the allocated area (or in a chunk without header)

    @property
    def id_offsets(self) -> dict[int, int]:
        """record id -> file offset (the last record header with that id)."""
        return dict(zip(self.ids, self.offs, strict=True))


@dataclass
class Layout:
    size: int
    header_ok: bool = False
    header_crc_ok: bool = True
    flags: int = 0
    chunk_count: int = 0
    next_record: int = 0
    version: str = ""
    chunks: list[ChunkInfo] = field(default_factory=list)

    @property
    def dirty(self) -> bool:
        return bool(self.flags & FLAG_DIRTY)


_HEAD = struct.Struct("<4sIQ")  # record signature, size, record id
_U32 = struct.Struct("<I")


def _record_at(data: bytes, o: int) -> tuple[int, int] | None:
    """(size, record id) of a plausible record header at ``o`` (signature, size, size copy), else None."""
    if data[o : o + 4] != RECORD_MAGIC or o + 24 > len(data):
        return None
    size, rid = struct.unpack_from("<IQ", data, o + 4)
    if size < 28 or size > CHUNK - CHUNK_HEADER or o + size > len(data):
        return None
    if struct.unpack_from("<I", data, o + size - 4)[0] != size:
        return None
    return size, rid


def _walk_records(ci: ChunkInfo, data: bytes) -> None:
    """Record headers in the allocated area [512, free_offset): ids and offsets. After a damaged record the
    walk resynchronises on the next valid record signature, so records behind the damage are still counted."""
    end = min(ci.free_offset, len(data)) if CHUNK_HEADER <= ci.free_offset <= CHUNK else len(data)
    o = CHUNK_HEADER
    n = len(data)
    ids, offs, head, u32 = ci.ids, ci.offs, _HEAD.unpack_from, _U32.unpack_from
    while o + 24 <= end:
        magic, size, rid = head(data, o)  # _record_at's checks, inlined (o + 24 <= end <= n)
        if magic == RECORD_MAGIC and 28 <= size <= CHUNK - CHUNK_HEADER and o + size <= n and \
                u32(data, o + size - 4)[0] == size:
            ids.append(rid)
            offs.append(ci.offset + o)
            o += size
            continue
        if not ci.walk_error:
            left = n - o
            if magic != RECORD_MAGIC:
                ci.walk_error = f"no record signature at chunk offset {o}"
            else:
                ci.walk_error = f"damaged record at chunk offset {o} (size {size}, {left} bytes left in chunk)"
        nxt = data.find(RECORD_MAGIC, o + 4, end)
        while nxt != -1 and _record_at(data, nxt) is None:
            nxt = data.find(RECORD_MAGIC, nxt + 4, end)
        if nxt == -1:
            return
        o = nxt


def scan_layout(path: Path) -> Layout:
    """Read the file header and every chunk header (checksums, record ranges, record walk)."""
    with open(path, "rb") as fh:
        hdr = fh.read(FILE_HEADER)
        size = fh.seek(0, io.SEEK_END)
        lay = Layout(size=size)
        if len(hdr) >= 128 and hdr[:8] == FILE_MAGIC:
            lay.header_ok = True
            _first, _last, lay.next_record, _hsz, minor, major, _blk, lay.chunk_count = struct.unpack_from(
                "<QQQIHHHH", hdr, 8
            )
            lay.version = f"{major}.{minor}"
            lay.flags, crc = struct.unpack_from("<II", hdr, 120)
            lay.header_crc_ok = zlib.crc32(hdr[:120]) == crc
        fh.seek(FILE_HEADER)
        index = 0
        while True:
            off = FILE_HEADER + index * CHUNK
            data = fh.read(CHUNK)
            if not data:
                break
            ci = ChunkInfo(index, off, len(data), "ok")
            if len(data) < CHUNK_HEADER:
                ci.status = "short"
            elif data[:8] != CHUNK_MAGIC:
                ci.status = "zero" if data.count(0) == len(data) else "bad"
                if ci.status == "bad":
                    ci.slack_signatures = data.count(RECORD_MAGIC)
            else:
                _fr, _lr, ci.first_id, ci.last_id, _hs, _lro, ci.free_offset, dcrc = struct.unpack_from(
                    "<QQQQIIII", data, 8
                )
                hcrc = struct.unpack_from("<I", data, 124)[0]
                ci.header_crc_ok = zlib.crc32(data[:120] + data[128:CHUNK_HEADER]) == hcrc
                if CHUNK_HEADER <= ci.free_offset <= len(data):
                    ci.data_crc_ok = zlib.crc32(data[CHUNK_HEADER : ci.free_offset]) == dcrc
                else:
                    ci.data_crc_ok = False
                if len(data) < CHUNK:
                    ci.status = "short"
                _walk_records(ci, data)
                start = ci.free_offset if CHUNK_HEADER <= ci.free_offset <= len(data) else CHUNK_HEADER
                ci.slack_signatures = data.count(RECORD_MAGIC, start)
            lay.chunks.append(ci)
            index += 1
    return lay


# --- time -------------------------------------------------------------------------------------------
_DAY_TICKS: dict[str, int] = {}
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


_SECOND_TICKS: dict[str, int] = {}


def ts_ticks(s: str) -> int | None:
    """``2010-11-21T03:55:59.6264271Z UTC`` (the wheel's record timestamp) -> FILETIME ticks."""
    if len(s) == 32 and s[19] == "." and s[27:] == "Z UTC" and s[20:27].isdigit():  # the wheel's own shape
        sec = _SECOND_TICKS.get(s[:19])
        if sec is None:
            sec = ts_ticks(s[:19])
            if sec is None:
                return None
            if len(_SECOND_TICKS) > 200_000:
                _SECOND_TICKS.clear()
            _SECOND_TICKS[s[:19]] = sec
        try:
            return sec + int(s[20:27])
        except ValueError:  # a non-ASCII digit int() does not take: as the general path below
            return None
    try:
        day = _DAY_TICKS.get(s[:10])
        if day is None:
            d = datetime(int(s[0:4]), int(s[5:7]), int(s[8:10]), tzinfo=UTC)
            day = (d - _EPOCH).days * 864_000_000_000
            if len(_DAY_TICKS) < 100_000:
                _DAY_TICKS[s[:10]] = day
        t = day + (int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])) * 10_000_000
        if len(s) > 19 and s[19] == ".":
            z = s.find("Z", 20)
            frac = s[20 : z if z > 0 else None].strip()[:7]
            t += int(frac.ljust(7, "0"))
        return t
    except (ValueError, IndexError):
        return None


_DIGITS = np.r_[0:4, 5:7, 8:10, 11:13, 14:16, 17:19, 20:27]  # the digit places of the wheel's timestamp
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_Z_UTC = np.frombuffer(b"Z UTC", np.uint8)
_FRAC = np.array([1_000_000, 100_000, 10_000, 1000, 100, 10, 1], dtype=np.int64)


def ts_many(stamps: list[str]) -> list[int | None]:
    """``[ts_ticks(s) for s in stamps]`` for a batch of the wheel's timestamps (``2010-11-21T03:55:59.62Z UTC``:
    trailing zeros of the fraction, or all of it, left out) as one byte matrix; a timestamp of any other shape
    (or an invalid date) goes through ``ts_ticks``."""
    n = len(stamps)
    joined = "".join(stamps)
    if not n or not joined.isascii():
        return [ts_ticks(s) for s in stamps]
    lens = np.fromiter(map(len, stamps), np.int64, n)
    starts = np.cumsum(lens) - lens
    buf = np.frombuffer(joined.encode("ascii") + b"\0" * 32, np.uint8)
    m = buf[starts[:, None] + np.arange(32)]  # each timestamp's first 32 bytes
    zpos = lens - 5  # where "Z UTC" starts: after the fraction's last digit (19: no fraction)
    ok = ((lens == 24) | ((lens >= 26) & (lens <= 32) & (m[:, 19] == 46)))
    ok &= (m[np.arange(n)[:, None], np.clip(zpos, 0, 27)[:, None] + np.arange(5)] == _Z_UTC).all(axis=1)
    d = m[:, _DIGITS].astype(np.int64) - 48
    isfrac = np.arange(20, 27) < zpos[:, None]  # the fraction's digits; the rest count as 0
    d[:, 14:] = np.where(isfrac, d[:, 14:], 0)
    ok &= ((d >= 0) & (d <= 9)).all(axis=1)
    y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    mo = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    ok &= (y >= 1) & (mo >= 1) & (mo <= 12) & (day >= 1)
    ok &= day <= _MONTH_DAYS[np.where(ok, mo, 0)] + (leap & (mo == 2))
    # days since 1970-01-01 of the proleptic Gregorian date, then since 1601-01-01 (134774 days before)
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * np.where(mo > 2, mo - 3, mo + 9) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468 + 134774
    secs = (d[:, 8] * 10 + d[:, 9]) * 3600 + (d[:, 10] * 10 + d[:, 11]) * 60 + d[:, 12] * 10 + d[:, 13]
    out: list[int | None] = (np.where(ok, days, 0) * 864_000_000_000 + secs * 10_000_000 + d[:, 14:] @ _FRAC).tolist()
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            out[i] = ts_ticks(stamps[i])
    return out


# --- record rows --------------------------------------------------------------------------------------
def _int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, int):
        return v
    try:
        return int(str(v), 0)
    except ValueError:
        return None


_EMPTY: dict[str, Any] = {}


MAP_COLUMNS = ("map_description", "user_name", "remote_host", "executable_info",
               "payload1", "payload2", "payload3", "payload4", "payload5", "payload6")
_NO_MAP: tuple[str | None, ...] = (None,) * len(MAP_COLUMNS)
assert COLUMNS[18:28] == list(MAP_COLUMNS)


def rows_values(events: Iterable[Any], record_numbers: Iterable[int], stamps: Iterable[int | None],
                chunks: Iterable[int | None], recovered: int, source: str, maps: MapSet | None,
                ctx: ParseContext | None = None) -> list[Any]:
    """``evtx`` rows, in ``COLUMNS`` order, from events: the wheel's JSON text (decoded here, one at a time, so
    each event's dicts are freed before the next is decoded; an undecodable one is a warning on ``ctx`` and no
    row) or parsed events (``{"Event": {...}}`` in the wheel's JSON shape). The hot path: no dict per row; the
    map columns come from the event's map as one tuple.

    The rows come back as one flat list, row after row (column ``k`` is ``flat[k::len(COLUMNS)]``): a row's
    tuple is freed as soon as it is copied in, so a batch leaves no object per row for the garbage collector
    to walk."""
    rows: list[Any] = []
    append = rows.extend
    loads, dumps, i_, no_map, empty = _loads, _dumps, _int, _NO_MAP, _EMPTY
    find = maps.find if maps is not None else None
    memo: dict[tuple[Any, ...], Any] = {}  # (channel, provider, event id) -> the map's generated function
    for ev, record_number, ts, chunk in zip(events, record_numbers, stamps, chunks, strict=True):
        if type(ev) is str:
            try:
                ev = loads(ev)
            except ValueError as exc:
                if ctx is not None:
                    ctx.warn(None, f"record {record_number}: undecodable JSON from parser: {exc}")
                continue
        e = ev.get("Event")
        if type(e) is not dict:
            e = empty
        s = e.get("System")
        if type(s) is not dict:
            s = empty
        prov = s.get("Provider_attributes") or empty
        ex = s.get("Execution_attributes") or empty
        eid = s.get("EventID")
        if type(eid) is not int:
            if isinstance(eid, dict):
                eid = eid.get("#text")
            eid = i_(eid)
        channel = s.get("Channel") or ""
        if type(channel) is not str:
            channel = str(channel)
        provider = prov.get("Name") or prov.get("EventSourceName") or ""
        data = e.get("EventData")
        if data is None:
            data = e.get("UserData")
        if type(data) is dict and "EventData_attributes" in data:
            data = {k: v for k, v in data.items() if k != "EventData_attributes"} or None
        if ts is None:
            tc = (s.get("TimeCreated_attributes") or empty).get("SystemTime")
            ts = ts_ticks(tc) if isinstance(tc, str) else None
        mapped = no_map
        if find is not None and eid is not None:
            key = (channel, provider, eid)
            fn = memo.get(key, memo)
            if fn is memo:
                em = find(channel, provider, eid)
                fn = memo[key] = em.values_function() if em is not None else None
            if fn is not None:
                try:
                    mapped = fn(ev)
                except (re.error, TypeError, ValueError):
                    mapped = no_map
        # the seven integer fields: an int as it is, anything else through _int (inlined: the hot path)
        rid = s.get("EventRecordID")
        ver = s.get("Version")
        lvl = s.get("Level")
        pid = ex.get("ProcessID")
        tid = ex.get("ThreadID")
        task = s.get("Task")
        opc = s.get("Opcode")
        append((
            record_number, rid if type(rid) is int else i_(rid), ts, eid, ver if type(ver) is int else i_(ver),
            lvl if type(lvl) is int else i_(lvl), provider, prov.get("Guid") or "", channel, s.get("Computer") or "",
            pid if type(pid) is int else i_(pid), tid if type(tid) is int else i_(tid),
            (s.get("Security_attributes") or empty).get("UserID") or "", s.get("Keywords") or "",
            task if type(task) is int else i_(task), opc if type(opc) is int else i_(opc),
            (s.get("Correlation_attributes") or empty).get("ActivityID") or "",
            dumps(data) if data is not None else "", *mapped, recovered, chunk, source,
        ))
    return rows


def build_row(ev: dict[str, Any], record_number: int, ts: int | None, source: str, maps: MapSet | None) -> dict[str, Any]:
    """One ``evtx`` row as a dict (records recovered from damaged chunks or slack; the bulk path uses
    ``rows_values``)."""
    return dict(zip(COLUMNS, rows_values((ev,), (record_number,), (ts,), (None,), 0, source, maps), strict=True))


# --- XML (recovered records come as XML from libevtx) ---------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _elem(el: ET.Element) -> Any:
    children = list(el)
    txt = (el.text or "").strip()
    if not children:
        return txt if txt else None
    out: dict[str, Any] = {}
    for c in children:
        name = _local(c.tag)
        if name == "Data" and "Name" in c.attrib:
            out[c.attrib["Name"]] = _elem(c)
            continue
        if c.attrib:
            out[name + "_attributes"] = dict(c.attrib)
        val = _elem(c)
        if name in out:
            prev = out[name]
            out[name] = [*prev, val] if isinstance(prev, list) else [prev, val]
        else:
            out[name] = val
    return out


def xml_to_event(xml: str) -> dict[str, Any]:
    """An event's XML rendering -> the same structure the wheel's JSON has (attributes separate)."""
    root = ET.fromstring(xml)
    return {"Event": _elem(root) or {}}


def record_xml(path: Path, record_number: int) -> str | None:
    """The XML of one record (on demand; the table keeps the parsed fields and EventData JSON)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recs: Any = _evtx_wheel.PyEvtxParser(str(path), skip_errors=True).records()
        for r in recs:
            if r["event_record_id"] == record_number:
                return str(r["data"])
    return None


# --- parsing ----------------------------------------------------------------------------------------------
_CHUNK_NO = re.compile(r"chunk number (\d+)", re.IGNORECASE)
_OFFSET = re.compile(r"offset:? (\d+)")
BATCH = 1024


@functools.lru_cache(maxsize=1)
def _bundled_maps() -> MapSet:
    """Our own map set, loaded once per process (``warm``: before the lanes fork)."""
    return load_maps(())


def warm(options: dict[str, Any]) -> None:
    """Load the bundled maps before parallel lanes fork (each lane would load them)."""
    if not options.get("no_maps") and not options.get("maps"):
        _bundled_maps()


def _maps(ctx: ParseContext) -> MapSet | None:
    if ctx.options.get("no_maps"):
        return None
    key = "evtx_maps:" + "|".join(str(p) for p in ctx.options.get("maps") or ())
    ms = ctx.resources.get(key)
    if ms is None:
        dirs = ctx.options.get("maps") or ()
        ms = load_maps(dirs) if dirs else _bundled_maps()  # user folders are read afresh on every run
        for err in ms.errors[:50]:
            ctx.warn(None, f"map not loaded: {err}", skipped=False)
        ctx.resources[key] = ms
    return ms


def _layout_warnings(lay: Layout, ctx: ParseContext) -> None:
    if not lay.header_ok:
        ctx.warn(0, "no ElfFile header signature: file header damaged or not an EVTX file; chunks are read anyway",
                 skipped=False)
        return
    if not lay.header_crc_ok:
        ctx.warn(120, "file header CRC32 does not match (header damaged or not flushed); parsed anyway", skipped=False)
    valid = [c for c in lay.chunks if c.status in ("ok", "short") and c.ids]
    if lay.dirty and valid:
        last = max(c.last_id for c in valid)
        if lay.next_record and last + 1 != lay.next_record or len(valid) > lay.chunk_count:
            ctx.warn(
                0,
                f"dirty log (header not flushed): header says {lay.chunk_count} chunks and next record "
                f"{lay.next_record}, the file holds {len(valid)} chunks up to record {last}; all chunks are read",
                skipped=False,
            )
    for c in lay.chunks:
        if c.status in ("ok", "short"):
            if not c.header_crc_ok:
                ctx.warn(c.offset + 124, f"chunk {c.index}: header CRC32 mismatch; parsed anyway", skipped=False)
            if not c.data_crc_ok and c.status == "ok":
                ctx.warn(c.offset + 52, f"chunk {c.index}: event records CRC32 mismatch; parsed anyway", skipped=False)
            if c.walk_error:
                ctx.warn(c.offset, f"chunk {c.index}: {c.walk_error}", skipped=False)


def _iter_wheel(src: Any, ctx: ParseContext, threads: int, reported: set[int]) -> Iterator[Any]:
    for batch in _wheel_batches(src, ctx, threads, reported):
        yield from batch


def _wheel_batches(src: Any, ctx: ParseContext, threads: int, reported: set[int]) -> Iterator[list[Any]]:
    """The wheel's records in batches; its warnings are caught only while it runs (never while suspended)."""
    try:
        parser = _evtx_wheel.PyEvtxParser(src, number_of_threads=threads, skip_errors=True,
                                          separate_json_attributes=True, indent=False)
        it: Any = iter(parser.records_json())
    except (RuntimeError, OSError, ValueError) as e:
        ctx.warn(0, f"evtx parser could not open the file: {e}")
        return
    done = False
    while not done:
        batch: list[dict[str, Any]] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            try:
                batch.extend(itertools.islice(it, BATCH))  # on an error, the records before it stay in the batch
                done = len(batch) < BATCH
            except (RuntimeError, OSError, ValueError) as e:
                ctx.warn(None, f"parser error: {e}; stopped reading this file")
                done = True
        for w in caught:
            msg = str(w.message)
            m = _CHUNK_NO.search(msg)
            off = None
            if m:
                n = int(m.group(1))
                reported.add(n)
                off = FILE_HEADER + n * CHUNK
            else:
                mo = _OFFSET.search(msg)
                off = int(mo.group(1)) if mo else None
            ctx.warn(off, "parser error: " + msg.removeprefix("Skipping EVTX data: "))
        if batch:
            yield batch


def _libevtx_recovered(path: Path, ctx: ParseContext) -> list[tuple[int, int | None, int, str]]:
    """(record id, written ticks, xml) of libevtx's recovered records; undecodable ones become one warning."""
    try:
        import pyevtx
    except ImportError:
        ctx.warn(None, "libevtx-python not installed: slack/unallocated records not recovered", skipped=False)
        return []
    out: list[tuple[int, int | None, int, str]] = []
    f = pyevtx.file()
    try:
        f.open(str(path))
    except OSError as e:
        ctx.warn(None, f"libevtx could not open the file for record recovery: {e}", skipped=False)
        return []
    bad: list[int | None] = []
    try:
        n = f.number_of_recovered_records
        for i in range(n):
            try:
                r = f.get_recovered_record(i)
                wt = r.get_written_time_as_integer()
                out.append((int(r.identifier), wt or None, int(r.offset), r.xml_string))
            except (OSError, ValueError, UnicodeDecodeError) as e:
                mo = re.search(r"at offset: (\d+)", str(e))
                bad.append(int(mo.group(1)) if mo else None)
    finally:
        f.close()
    if bad:
        known = [b for b in bad if b is not None]
        offs = ", ".join(str(b) for b in known[:8])
        ctx.warn(
            known[0] if known else None,
            f"{len(bad)} record fragments in slack/unallocated space could not be decoded (offsets {offs}"
            f"{', ...' if len(bad) > 8 else ''})",
            skipped=False,
        )
    return out


def _truncated_chunk_records(path: Path, lay: Layout, c: ChunkInfo, ctx: ParseContext) -> Iterator[dict[str, Any]]:
    """A truncated last chunk: pad it to 64 KiB and let the wheel decode what is there."""
    with open(path, "rb") as fh:
        fh.seek(0)
        hdr = fh.read(FILE_HEADER)
        fh.seek(c.offset)
        data = fh.read(c.size)
    buf = io.BytesIO(hdr + data + b"\x00" * (CHUNK - len(data)))
    sub = ParseContext(ctx.artifact, ctx.source)
    yield from _iter_wheel(buf, sub, 1, set())


def _recovered_row(r: dict[str, Any], chunk: int, source: str, maps: Any) -> dict[str, Any] | None:
    """A row for a record brought back from a damaged or truncated chunk (flagged ``recovered``); None when
    its JSON does not decode."""
    try:
        ev = _loads(r["data"])
    except ValueError:
        return None
    row = build_row(ev, r["event_record_id"], ts_ticks(r["timestamp"]), source, maps)
    row["chunk"] = chunk
    row["recovered"] = 1
    return row


def _patched_chunk_records(path: Path, c: ChunkInfo, ctx: ParseContext) -> Iterator[dict[str, Any]]:
    """A chunk with damaged records: rewrite each damaged stretch as one record whose size reaches the next
    intact record header, then let the wheel decode the chunk again (in memory; evidence is untouched)."""
    with open(path, "rb") as fh:
        hdr = fh.read(FILE_HEADER)
        fh.seek(c.offset)
        data = bytearray(fh.read(CHUNK))
    if len(data) < CHUNK:
        data += b"\x00" * (CHUNK - len(data))
    valid = sorted(o - c.offset for o in c.id_offsets.values())
    end = c.free_offset if CHUNK_HEADER <= c.free_offset <= CHUNK else CHUNK
    o = CHUNK_HEADER
    while o < end:
        hit = _record_at(bytes(data[o : o + CHUNK]), 0) if o + 24 <= CHUNK else None
        if hit is not None:
            o += hit[0]
            continue
        i = bisect.bisect_right(valid, o)
        if i >= len(valid):
            break
        nxt = valid[i]
        size = nxt - o
        if size < 28:
            break
        data[o : o + 4] = RECORD_MAGIC
        struct.pack_into("<I", data, o + 4, size)
        struct.pack_into("<I", data, nxt - 4, size)
        o = nxt
    sub = ParseContext(ctx.artifact, ctx.source)
    yield from _iter_wheel(io.BytesIO(hdr + bytes(data)), sub, 1, set())


def _batch_rows(batch: list[Any], ctx: Any, ranges: list[tuple[int, int, int]], starts: list[int], source: str,
                maps: MapSet | None) -> list[Any]:
    """The wheel's records of one batch -> flat rows (``COLUMNS`` order, as ``rows_values``) with their chunk from our walk; the
    timestamps and chunks of the whole batch at once."""
    rids = [r["event_record_id"] for r in batch]
    chunks: list[int | None] = []
    append = chunks.append
    cur = (-1, -2, -1)
    for rid in rids:
        if not (cur[0] <= rid <= cur[1]):
            i = bisect.bisect_right(starts, rid) - 1
            cur = ranges[i] if i >= 0 and ranges[i][0] <= rid <= ranges[i][1] else (-1, -2, -1)
        append(cur[2] if cur[2] >= 0 else None)
    return rows_values([r["data"] for r in batch], rids, ts_many([r["timestamp"] for r in batch]), chunks, 0, source,
                       maps, ctx)


def _rows_to_batch(rows: list[Any]) -> dict[str, list[Any]] | None:
    """``rows_values``' flat rows -> the batch's columns."""
    w = len(COLUMNS)
    return {c: rows[k::w] for k, c in enumerate(COLUMNS)} if rows else None


# --- one large log on all cores ---------------------------------------------------------------------------------
SPLIT_MIN_CHUNKS = 64  # 4 MiB of used chunks: below this a worker pool costs more than it saves (bench_evtx)
SPLIT_CHUNKS = 8  # chunk slots per job: results stream back in order while the main process stores them


def _split_plan(lay: Layout, ctx: ParseContext) -> list[tuple[int, int]]:
    """Chunk ranges for worker processes, for a large log whose layout shows no damage (so the wheel's output
    is the same chunk by chunk as in one pass); [] = one pass in this process."""
    import os

    workers = int(ctx.options.get("evtx_workers", os.cpu_count() or 1) or 1)
    used = [c for c in lay.chunks if c.status == "ok"]
    if workers < 2 or len(used) < int(ctx.options.get("evtx_split_min", SPLIT_MIN_CHUNKS)) or not lay.header_ok \
            or not lay.header_crc_ok:
        return []
    if any(c.status not in ("ok", "zero") or not c.header_crc_ok or not c.data_crc_ok or c.walk_error
           for c in lay.chunks):
        return []
    n = len(lay.chunks)
    return [(lo, min(n, lo + SPLIT_CHUNKS)) for lo in range(0, n, SPLIT_CHUNKS)]


class _ChunkWindow(io.RawIOBase):
    """The log as the wheel sees it in one worker: the real file header followed by chunks ``[lo, hi)`` only
    (``shifted``: they read as chunks 0..hi-lo-1), or at their real places with the earlier chunks reading as
    zeros (empty slots, which the wheel skips silently) so that chunk numbers and offsets in the wheel's messages
    are those of the real file. Read-only over the evidence."""

    def __init__(self, path: str, lo: int, hi: int, *, shifted: bool = True) -> None:
        super().__init__()
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        real = self._f.seek(0, io.SEEK_END)
        a, z = FILE_HEADER + lo * CHUNK, min(real, FILE_HEADER + hi * CHUNK)
        at = FILE_HEADER if shifted else a
        self._segments = [(0, min(real, FILE_HEADER), 0), (at, at + max(0, z - a), a)]  # (start, end, real start)
        self._size = at + max(0, z - a)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        n = min(len(b), max(0, self._size - self._pos))
        out = bytearray(n)
        pos, end = self._pos, self._pos + n
        for start, stop, real in self._segments:  # the real bytes; anything else stays zero
            a, z = max(start, pos), min(stop, end)
            if a < z:
                self._f.seek(real + a - start)
                out[a - pos:z - pos] = self._f.read(z - a).ljust(z - a, b"\x00")
        b[:n] = out
        self._pos = end
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class _Collect(ParseContext):
    """A worker's warnings, kept with their ``skipped`` flag so the main process re-issues them in order."""

    def __init__(self, source: str) -> None:
        super().__init__(NAME, source)
        self.issued: list[tuple[int | None, str, bool]] = []

    def warn(self, offset: int | None, reason: str, *, skipped: bool = True) -> None:
        self.issued.append((offset, reason, skipped))


_SPLIT_MAPS: dict[str, Any] = {}  # the parent's maps, inherited by forked workers


def _split_job(args: tuple[str, int, int, list[tuple[int, int, int]], str, int, str]) -> tuple[
        dict[str, list[Any]] | None, list[tuple[int | None, str, bool]], list[int]]:
    path, lo, hi, ranges, source, threads, maps_key = args
    maps = _SPLIT_MAPS.get(maps_key)
    starts = [r[0] for r in ranges]
    for shifted in (True, False):
        ctx = _Collect(source)
        reported: set[int] = set()
        win = _ChunkWindow(path, lo, hi, shifted=shifted)
        rows: list[Any] = []
        try:
            for b in _wheel_batches(win, ctx, threads, reported):
                rows += _batch_rows(b, ctx, ranges, starts, source, maps)
        finally:
            win.close()
        if not ctx.issued:  # the wheel's messages name chunks and offsets: any message -> the unshifted view
            break
    return _rows_to_batch(rows), ctx.issued, sorted(reported)


def _split_batches(path: Path, split: list[tuple[int, int]], ranges: list[tuple[int, int, int]], ctx: ParseContext,
                   threads: int, reported: set[int], maps: MapSet | None) -> Iterator[dict[str, list[Any]] | None]:
    """Chunk ranges decoded by worker processes (wheel + JSON + row building + maps), handed back in file order;
    at most two jobs per worker are in flight, so memory does not grow with the file."""
    import collections
    import multiprocessing as mp
    import os
    from concurrent.futures import Future, ProcessPoolExecutor

    key = f"{id(maps)}"
    if maps is not None:
        _SPLIT_MAPS[key] = maps
    workers = int(ctx.options.get("evtx_workers", os.cpu_count() or 1) or 1)
    fork = "fork" in mp.get_all_start_methods()
    if not fork:  # a spawned worker would not have the maps
        yield from _split_fallback(path, ranges, ctx, threads, reported, maps)
        return
    jobs = iter([(str(path), lo, hi, ranges, ctx.source, threads, key) for lo, hi in split])
    try:
        with ProcessPoolExecutor(min(workers, len(split)), mp_context=mp.get_context("fork")) as ex:
            pending: collections.deque[Future[Any]] = collections.deque()
            for job in itertools.islice(jobs, 2 * workers):
                pending.append(ex.submit(_split_job, job))
            while pending:
                cols, issued, rep = pending.popleft().result()
                nxt = next(jobs, None)
                if nxt is not None:
                    pending.append(ex.submit(_split_job, nxt))
                for off, reason, skipped in issued:
                    ctx.warn(off, reason, skipped=skipped)
                reported.update(rep)
                yield cols
    finally:
        _SPLIT_MAPS.pop(key, None)


def _split_fallback(path: Path, ranges: list[tuple[int, int, int]], ctx: ParseContext, threads: int,
                    reported: set[int], maps: MapSet | None) -> Iterator[dict[str, list[Any]] | None]:
    starts = [r[0] for r in ranges]
    for b in _wheel_batches(str(path), ctx, threads, reported):
        yield _rows_to_batch(_batch_rows(b, ctx, ranges, starts, ctx.source, maps))


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    return flatten(parse_batches(path, ctx))


def parse_batches(path: Path, ctx: ParseContext) -> Iterator[Record | RowBatch]:
    """The wheel's records as ``RowBatch`` columns (one per batch of the wheel's output, no dict per row), then
    the records brought back from damaged chunks, truncated chunks and slack space one ``Record`` each."""
    path = Path(path)
    source = ctx.source
    try:
        lay = scan_layout(path)
    except OSError as e:
        ctx.warn(None, f"cannot read file: {e}")
        return
    _layout_warnings(lay, ctx)
    maps = _maps(ctx)
    threads = int(ctx.options.get("evtx_threads", 1) or 0)

    # record id -> chunk index, from our walk (falls back to the chunk header ranges)
    ranges = sorted((c.first_id, c.last_id, c.index) for c in lay.chunks if c.status in ("ok", "short") and c.ids)
    starts = [r[0] for r in ranges]
    produced: dict[int, array[int]] = {}  # chunk -> record ids the wheel gave for it

    # libevtx's recovery scan costs about as much as parsing: only when our scan saw record signatures in slack
    # space or in chunks without a valid header
    slack = sum(c.slack_signatures for c in lay.chunks)
    recovered = _libevtx_recovered(path, ctx) if slack and not ctx.options.get("no_recovery") else []
    rec_by_id: dict[int, list[tuple[int | None, int, str]]] = {}
    for rid, wt, roff, xml in recovered:
        rec_by_id.setdefault(rid, []).append((wt, roff, xml))

    reported: set[int] = set()
    all_ids = array("Q")  # every record id produced (a set is built only if a damaged chunk needs it)
    split = _split_plan(lay, ctx)
    batches = (_split_batches(path, split, ranges, ctx, threads, reported, maps) if split else
               (_rows_to_batch(_batch_rows(b, ctx, ranges, starts, source, maps))
                for b in _wheel_batches(str(path), ctx, threads, reported)))
    for cols in batches:
        if cols is None:
            continue
        rids = cols["record_number"]
        all_ids.extend(rids)
        chunks = cols["chunk"]
        lo = 0
        for ch, grp in itertools.groupby(chunks):  # rows of one chunk are consecutive
            k = sum(1 for _ in grp)
            if ch is not None:
                produced.setdefault(ch, array("Q")).extend(rids[lo:lo + k])
            lo += k
        if rec_by_id:
            for rid, ts in zip(rids, cols["time_created"], strict=True):
                if rid in rec_by_id:  # libevtx "recovered" a record we already have
                    rec_by_id[rid] = [x for x in rec_by_id[rid] if x[0] is not None and ts is not None and x[0] != ts]
                    if not rec_by_id[rid]:
                        del rec_by_id[rid]
        yield RowBatch("evtx", cols)

    # silently dropped records: walk ids the parser did not produce
    seen: list[set[int]] = []  # built once, only when a damaged or truncated chunk needs it

    def seen_ids() -> set[int]:
        if not seen:
            seen.append(set(all_ids))
        return seen[0]

    for c in lay.chunks:
        if c.status not in ("ok", "short") or c.index in reported:
            continue
        ids = produced.pop(c.index, None)
        if ids == c.ids:  # the usual chunk: every record the walk found, in order (the set only for a message)
            got, missing = set(ids) if c.walk_error else set(), []
        else:
            got = set(ids or ())
            missing = [i for i in c.ids if i not in got]
        if c.status == "short":
            continue  # handled below
        if missing:
            # second pass: bridge the damaged records so the parser reaches the intact ones behind them
            again = 0
            want = set(missing)
            for r in _patched_chunk_records(path, c, ctx):
                rid = r["event_record_id"]
                if rid not in want or rid in seen_ids():
                    continue
                back = _recovered_row(r, c.index, source, maps)
                if back is None:
                    continue
                seen_ids().add(rid)
                rec_by_id.pop(rid, None)
                got = got | {rid}
                again += 1
                yield Record("evtx", back)
            first_off = c.id_offsets.get(missing[0], c.offset)
            ctx.warn(
                first_off,
                f"chunk {c.index} at offset {c.offset}: {len(missing)} of {len(c.ids)} records "
                f"(ids {missing[0]}..{missing[-1]}) were not decoded by the parser; {again} recovered by a "
                f"second pass over the damaged chunk",
                skipped=False,
            )
            ctx.skipped += len(missing) - again
        span = c.last_id - c.first_id + 1 if c.last_id >= c.first_id else 0
        readable = len(set(c.ids) | got) if c.walk_error else 0
        if c.walk_error and 0 < span < 65536 and readable < span:
            ctx.warn(
                c.offset,
                f"chunk {c.index} at offset {c.offset}: header lists records {c.first_id}-{c.last_id} ({span}); "
                f"{readable} record headers readable, {len(got)} decoded; {span - readable} lost to damage",
                skipped=False,
            )
            ctx.skipped += span - readable
        elif not c.ids and c.last_id >= c.first_id and c.free_offset > CHUNK_HEADER:
            ctx.warn(c.offset, f"chunk {c.index}: header lists records {c.first_id}-{c.last_id} but none could be walked",
                     skipped=False)

    # a truncated last chunk: decode what is there, flagged recovered
    for c in lay.chunks:
        if c.status != "short" or c.size < CHUNK_HEADER:
            if c.status == "short" and c.size:
                ctx.warn(c.offset, f"chunk {c.index}: truncated to {c.size} of {CHUNK} bytes, no chunk header",
                         skipped=False)
            continue
        got_n = 0
        for r in _truncated_chunk_records(path, lay, c, ctx):
            rid = r["event_record_id"]
            if rid in seen_ids():
                continue
            back = _recovered_row(r, c.index, source, maps)
            if back is None:
                continue
            seen_ids().add(rid)
            rec_by_id.pop(rid, None)
            got_n += 1
            yield Record("evtx", back)
        ctx.warn(
            c.offset,
            f"chunk {c.index}: truncated to {c.size} of {CHUNK} bytes (header lists records "
            f"{c.first_id}-{c.last_id}); {got_n} records recovered from it",
            skipped=False,
        )

    # libevtx's recovered records (slack, unallocated chunks) that we do not have yet
    nrec = 0
    for rid, items in sorted(rec_by_id.items()):
        for wt, roff, xml in items:
            try:
                ev = xml_to_event(xml)
            except ET.ParseError as e:
                ctx.warn(None, f"recovered record {rid}: XML not parseable: {e}", skipped=False)
                continue
            row = build_row(ev, rid, wt, source, maps)
            row["recovered"] = 1
            if roff >= FILE_HEADER:
                row["chunk"] = (roff - FILE_HEADER) // CHUNK
            nrec += 1
            yield Record("evtx", row)
    ctx.resources.setdefault("evtx_stats", {})[source] = {"recovered": nrec, "chunks": len(lay.chunks)}


# --- timeline -----------------------------------------------------------------------------------------------
def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    ts = d.get("time_created")
    if not ts:
        return ()
    desc = d.get("map_description") or ""
    key = d.get("payload1") or d.get("executable_info") or ""
    if desc:
        summary = f"{desc}: {key}" if key else desc
    else:
        summary = f"{d.get('provider') or ''} {d.get('event_id')}"
    if d.get("recovered"):
        summary = "[recovered] " + summary
    return (
        TimelineEvent(
            ts,
            f"Event {d.get('event_id')} {d.get('channel') or ''}",
            d.get("executable_info") or "",
            summary,
            d.get("user_name") or "",
        ),
    )


# The same events in SQL (one INSERT ... SELECT per source; tests/test_evtx.py checks it equals ``timeline()``)
_SQL_DESC = "COALESCE(map_description, '')"
_SQL_KEY = "COALESCE(NULLIF(payload1, ''), NULLIF(executable_info, ''), '')"
_SQL_EID = "COALESCE(event_id, 'None')"
TIMELINE_SQL = {
    "evtx": (
        f"SELECT time_created AS ts, 'Event ' || {_SQL_EID} || ' ' || COALESCE(channel, '') AS ts_desc, "
        "COALESCE(user_name, '') AS user, COALESCE(executable_info, '') AS path, "
        "CASE WHEN recovered THEN '[recovered] ' ELSE '' END || "
        f"CASE WHEN {_SQL_DESC} = '' THEN COALESCE(provider, '') || ' ' || {_SQL_EID} "
        f"WHEN {_SQL_KEY} = '' THEN map_description ELSE map_description || ': ' || {_SQL_KEY} END AS summary, id "
        # a source's rows are the last ones of the table when its timeline is derived (one writer, one source at a
        # time): the rowid range behind the last row of any other source, found walking back from the end, keeps
        # this O(rows of the source) instead of a scan of the whole table per source
        "FROM evtx WHERE id > COALESCE((SELECT id FROM evtx WHERE source_id IS NOT :source_id ORDER BY id DESC "
        "LIMIT 1), 0) AND source_id = :source_id ORDER BY id"
    )
}


# --- many files on all cores ----------------------------------------------------------------------------------
_WORKER_RESOURCES: dict[str, Any] = {}  # per worker process: maps are loaded once, not once per job


def _parse_part(args: tuple[list[tuple[str, str, str]], str, dict[str, Any]]) -> list[Any]:
    """One job in a worker: the ordinary per-file path (pipeline.run_file into a StoreSink, timeline by
    TIMELINE_SQL) for a run of consecutive files, into a part database without indexes."""
    import sys

    from ..pipeline import run_file
    from ..sinks import StoreSink
    from ..store.case import CaseWriter

    items, db, options = args
    store = CaseWriter(Path(db))
    # a part is scratch (merged, then deleted): no journal, so its pages are written once, not to the WAL and
    # again at close
    store.db.execute("COMMIT")
    store.db.execute("PRAGMA journal_mode = OFF")
    store.db.execute("BEGIN")
    sink = StoreSink(store)
    module = sys.modules[__name__]
    out = []
    for path, label, user in items:
        out.append(run_file(module, Path(path), sink, label=label, user=user, options=options,
                            resources=_WORKER_RESOURCES))
        _WORKER_RESOURCES.pop("evtx_stats", None)
    store.close(index=False)
    return out


def parse_into(store: Any, paths: list[Path], *, workers: int = 2, options: dict[str, Any] | None = None,
               labels: list[tuple[str, str]] | None = None) -> list[Any]:
    """Parse many EVTX files into ``store`` (a ``CaseWriter``) with ``workers`` processes; the rows, ids, timeline,
    warnings and sources are the ones a sequential ``run_file`` per file gives, in the same order.

    The files are cut into runs of consecutive files (jobs); each worker parses a job into its own part database
    and the main process merges the parts in file order (``CaseWriter.merge``: ids shifted) while the workers go
    on with the next jobs, so merging overlaps parsing. ``labels``: (label, user) per path (default: the path,
    and the user from it). Memory per worker does not depend on the input size."""
    import multiprocessing as mp
    import shutil
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    from .base import user_from_path

    options = dict(options or {})
    items = [(str(p), *(labels[k] if labels else (str(p), user_from_path(str(p))))) for k, p in enumerate(paths)]
    if workers <= 1 or len(items) <= 1:
        from ..pipeline import run_file
        from ..sinks import StoreSink

        sink = StoreSink(store)
        shared: dict[str, Any] = {}
        module = sys.modules[__name__]
        return [run_file(module, Path(p), sink, label=lb, user=u, options=options, resources=shared)
                for p, lb, u in items]
    sizes = []
    for p, _lb, _u in items:
        try:
            sizes.append(max(1, Path(p).stat().st_size))
        except OSError:
            sizes.append(1)
    budget = min(64 << 20, max(1, sum(sizes) // (4 * workers)))
    jobs: list[list[tuple[str, str, str]]] = [[]]
    acc = 0
    for it, sz in zip(items, sizes, strict=True):
        if jobs[-1] and acc + sz > budget:
            jobs.append([])
            acc = 0
        jobs[-1].append(it)
        acc += sz
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    tmp = tempfile.mkdtemp(prefix="wintriage-evtx-")
    results: list[Any] = []
    try:
        parts = [str(Path(tmp) / f"part{k:05d}.sqlite") for k in range(len(jobs))]
        one = {**options, "evtx_workers": 1}  # the cores are busy with files already: no chunk split inside
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as ex:
            for part, res in zip(parts, ex.map(_parse_part, [(j, pt, one) for j, pt in zip(jobs, parts, strict=True)]),
                                 strict=True):
                store.merge(Path(part))  # in file order, while the workers parse the next jobs
                Path(part).unlink()
                results += res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def parse_many(paths: list[Path], db: Path, *, workers: int = 2, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse many EVTX files into a new case database ``db`` with ``workers`` processes (``parse_into``), then
    build its indexes once."""
    from ..store.case import CaseWriter

    w = CaseWriter(Path(db))
    results = parse_into(w, [Path(p) for p in paths], workers=workers, options=options)
    w.close()
    return {
        "records": sum(r.records for r in results),
        "warnings": sum(r.warnings for r in results),
        "skipped": sum(r.skipped for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "files": len(results),
        "workers": max(1, min(workers, len(results))),
        "sources": results,
    }
