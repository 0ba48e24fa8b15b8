"""$UsnJrnl:$J: USN_RECORD V2, V3 (128-bit file ids) and V4 (range-tracking extents), MFTECmd-shaped.

Scanning follows the way Windows lays the journal out: records start on 8-byte boundaries; the sparse head
and the zero padding at page ends are skipped by jumping to the next non-zero 8-byte-aligned offset. A record
whose header does not make sense is reported with its offset, and the scan resynchronises on the next
8-byte boundary where a well-formed record (or zero padding) starts.

With ``--carve`` (``ctx.options["carve"]``) records found by that resynchronisation are kept and flagged
``carved`` and garbage regions are not reported one by one: use it on slack, unallocated space or any blob.

``ParentPath`` is resolved through the $MFT resolver in ``ctx.resources["mft"]`` (put there by the $MFT
parser or by ``parse usnjrnl --mft``). The parent's sequence number is honoured: a directory entry that was
reused since gives ``<Unknown>``, never a wrong path.
"""

from __future__ import annotations

import mmap
import re
import struct
from codecs import utf_16_le_decode as _d16  # = bytes.decode('utf-16-le'), final=True; no codec lookup
from collections.abc import Iterable, Iterator
from datetime import UTC, date, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..model import Record, RowBatch, TimelineEvent
from ..store.export import quote_column
from ..timecols import fmt_many
from ..timeutil import FMT_MAX, fmt, tz_offset_ticks
from . import _csvpart
from .base import CsvShape, ParseContext, col, flatten, tcol
from .mft import _csv_pp_cached, _ext, _fmt_utc, _sec_cache, si_flags_text

NAME = "usnjrnl"
CATEGORY = "file"
UNKNOWN = "<Unknown>"

REASONS: tuple[tuple[int, str], ...] = (
    (0x00000001, "DataOverwrite"), (0x00000002, "DataExtend"), (0x00000004, "DataTruncation"),
    (0x00000010, "NamedDataOverwrite"), (0x00000020, "NamedDataExtend"), (0x00000040, "NamedDataTruncation"),
    (0x00000100, "FileCreate"), (0x00000200, "FileDelete"), (0x00000400, "EaChange"),
    (0x00000800, "SecurityChange"), (0x00001000, "RenameOldName"), (0x00002000, "RenameNewName"),
    (0x00004000, "IndexableChange"), (0x00008000, "BasicInfoChange"), (0x00010000, "HardLinkChange"),
    (0x00020000, "CompressionChange"), (0x00040000, "EncryptionChange"), (0x00080000, "ObjectIdChange"),
    (0x00100000, "ReparsePointChange"), (0x00200000, "StreamChange"), (0x00400000, "TransactedChange"),
    (0x00800000, "IntegrityChange"), (0x01000000, "DesiredStorageClassChange"), (0x80000000, "Close"),
)
_REASON_KNOWN = 0
for _b, _n in REASONS:
    _REASON_KNOWN |= _b
SOURCES = ((0x1, "DataManagement"), (0x2, "AuxiliaryData"), (0x4, "ReplicationManagement"),
           (0x8, "ClientReplicationManagement"))

TABLES: dict[str, list[tuple[str, str]]] = {
    "usnjrnl": [
        ("usn", "INTEGER"), ("timestamp", "INTEGER"), ("name", "TEXT"), ("extension", "TEXT"),
        ("entry", "INTEGER"), ("sequence", "INTEGER"), ("parent_entry", "INTEGER"), ("parent_sequence", "INTEGER"),
        ("parent_path", "TEXT"), ("reasons", "TEXT"), ("reason_flags", "INTEGER"), ("attributes", "TEXT"),
        ("attr_flags", "INTEGER"), ("source_info", "INTEGER"), ("security_id", "INTEGER"),
        ("major_version", "INTEGER"), ("minor_version", "INTEGER"), ("record_length", "INTEGER"),
        ("file_ref", "TEXT"), ("parent_ref", "TEXT"), ("extents", "TEXT"), ("remaining_extents", "INTEGER"),
        ("offset", "INTEGER"), ("carved", "INTEGER"),
    ],
}

_V2 = struct.Struct("<IHHQQQqIIIIHH")  # 60 bytes
_V3 = struct.Struct("<IHH16s16sQqIIIIHH")  # 76 bytes
_V4 = struct.Struct("<IHH16s16sQIIIHH")  # 64 bytes, then extents
_EXT = struct.Struct("<qq")
_HEAD = struct.Struct("<IHH")
_NONZERO = re.compile(rb"[^\x00]")
_ZERO8 = bytes(8)
REF_MASK = 0xFFFFFFFFFFFF
_FT_MAX = 0x7FFFFFFFFFFFFFFF
MIN_SANE = 119600064000000000  # 1980
MAX_SANE = 157766400000000000  # 2100
MAX_RECORD = 0x10000  # a USN record never spans more than a journal page; 64 KiB is generous

_reason_cache: dict[int, str] = {}
_attr_cache: dict[int, str] = {}


def reasons_text(v: int) -> str:
    """``FileCreate|Close`` (ascending bit order, as MFTECmd); unknown bits in hex."""
    t = _reason_cache.get(v)
    if t is None:
        parts = [n for b, n in REASONS if v & b]
        if v & ~_REASON_KNOWN:
            parts.append(f"0x{v & ~_REASON_KNOWN:X}")
        t = "|".join(parts) if parts else "None"
        if len(_reason_cache) < 65536:
            _reason_cache[v] = t
    return t


def attributes_text(v: int) -> str:
    t = _attr_cache.get(v)
    if t is None:
        t = si_flags_text(v)
        if len(_attr_cache) < 65536:
            _attr_cache[v] = t
    return t


def source_text(v: int) -> str:
    return "|".join(n for b, n in SOURCES if v & b) or "None"


def _hex128(b: bytes) -> str:
    return b[::-1].hex()


def check_header(mm: Any, pos: int, end: int, strict: bool) -> str:
    """'' when a record can start at ``pos``, else why not. ``strict`` adds plausibility checks (resync)."""
    if pos + 8 > end:
        return f"{end - pos} bytes left, a record header needs 8"
    ln, major, minor = _HEAD.unpack_from(mm, pos)
    if major not in (2, 3, 4):
        return f"major version {major} (record length {ln})"
    if ln & 7 or ln < 56 or ln > MAX_RECORD:
        return f"record length {ln} is not a multiple of 8 in 56..{MAX_RECORD}"
    if pos + ln > end:
        return f"record length {ln} runs past the end of the data ({end - pos} bytes left)"
    if major in (2, 3):
        head, ts_at = (60, 32) if major == 2 else (76, 48)  # V3: 128-bit file references
        if ln < head:
            return f"V{major} record length {ln} < {head}"
        nlen, noff = struct.unpack_from("<HH", mm, pos + head - 4)
        if noff + nlen > ln or noff < head:
            return f"V{major} name ({nlen} bytes at {noff}) outside the record ({ln} bytes)"
        if strict:
            ts = struct.unpack_from("<q", mm, pos + ts_at)[0]
            if minor != 0 or noff != head or nlen == 0 or nlen & 1 or ln > ((head + nlen + 7) & ~7) \
                    or not MIN_SANE <= ts <= MAX_SANE:
                return f"not a plausible V{major} record"
    else:
        if ln < 64:
            return f"V4 record length {ln} < 64"
        n, esz = struct.unpack_from("<HH", mm, pos + 60)
        if esz and (esz < 16 or 64 + n * esz > ln):
            return f"V4 extents ({n} x {esz} bytes) outside the record ({ln} bytes)"
        if strict and (esz != 16 or ln != 64 + 16 * n or minor != 0):
            return "not a plausible V4 record"
    return ""


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    return flatten(parse_batches(path, ctx))


def parse_batches(path: Path, ctx: ParseContext) -> Iterator[Record | RowBatch]:
    """The records in file order: well-formed V2 records in column batches decoded by numpy, the rest (V3, V4,
    damaged or odd records) one ``Record`` each."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as e:
        ctx.warn(None, f"cannot open $J: {e}")
        return
    with fh:
        try:
            mm: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            return
        except OSError:
            mm = fh.read()
        try:
            tz = ctx.options.get("csv_tz")
            if (int(ctx.options.get("csv_workers") or 1) >= 2 and tz is not None and not ctx.options.get("carve")
                    and len(mm) >= _SPLIT_MIN and _csvpart.can_fork()):
                yield from _split_csv(path, mm, ctx, tz)
            else:  # a CSV-only run (``csv_tz`` set) takes the batches as their CSV text
                yield from _scan(mm, len(mm), ctx, csv_tz=tz)
        finally:
            if isinstance(mm, mmap.mmap):
                mm.close()


# --- CSV-only runs on two cores ------------------------------------------------------------------------------
# ``parse usnjrnl --csv`` without a case store sets ``csv_workers`` and ``csv_tz``: a forked worker walks and
# renders the second half of the file (from a page boundary) while this process walks the first half. The walk
# is a function of the position alone (outside ``--carve``), so the worker's output from the first position both
# walks reach on is the sequential result: where this process's walk stopped is where the worker started, or
# (a record spans the boundary) one of the worker's first records or bad records (``_join``). Otherwise the
# worker's work is dropped and this process walks on from where it stopped.
_SPLIT_MIN = 32 << 20  # bytes; below this the worker costs more than it saves
_PARENT_SHARE = 53  # % of the file this process walks (the worker, which also writes its text to a file, ends about
# when this process has walked and written its share: at 46 and 50 this process waited for it)


def _csv_part(state: tuple[Any, ...], start: int, tz: timezone,
              tmp: str) -> tuple[list[tuple[int, int, int]], _csvpart.Log]:
    """Worker: the CSV lines (UTF-8) of the records from ``start`` on into ``tmp``; (rows, bytes, offset of the
    first) per part (the first ``_HEAD_PARTS`` records a part each), warnings."""
    from ..store.export import csv_line

    path, options, resources, source = state
    ctx = _csvpart.LogContext(NAME, source, options, resources)
    shape = CSV["usnjrnl"]
    parts: list[tuple[int, int, int]] = []
    with open(path, "rb") as fb, open(tmp, "wb") as fh:
        mm = mmap.mmap(fb.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            for item in _scan(mm, len(mm), ctx, start, csv_tz=tz, head=_HEAD_PARTS):
                if type(item) is RowBatch:
                    text = _j_csv_batch(item.columns, tz)
                    rows = len(item)
                    at = item.columns.pos  # type: ignore[attr-defined]
                else:
                    text = csv_line(shape.row(item.data, tz)) + "\r\n"  # type: ignore[union-attr]
                    rows = 1
                    at = item.data["offset"]  # type: ignore[union-attr]
                data = text if isinstance(text, bytes) else text.encode()
                fh.write(data)
                parts.append((rows, len(data), at))
        finally:
            mm.close()
    return parts, ctx.log


def _split_csv(path: Path, mm: Any, ctx: ParseContext, tz: timezone) -> Iterator[Record | RowBatch]:
    end = len(mm)
    mid = (end * _PARENT_SHARE // 100) & ~4095
    worker = _csvpart.Forked(_csv_part, (path, ctx.options, ctx.resources, ctx.source), mid, tz)
    try:
        stopped: list[int] = []
        yield from _scan(mm, end, ctx, 0, mid if worker.fut is not None else end, stopped, tz)
        got = worker.result()
        joined = None if got is None else _join(stopped[0], mid, *got)
        if got is None or joined is None:  # no worker, or the walks do not join: the rest here
            if stopped[0] < end:
                yield from _scan(mm, end, ctx, stopped[0], csv_tz=tz)
            return
        skip, parts, log = joined
        _csvpart.replay_warnings(ctx, log)
        yield from _csvpart.text_batches(worker.tmp, parts, tz, NAME, "usn", binary=True, skip=skip)
    finally:
        worker.close()


_HEAD_PARTS = 64  # the worker's first records come a part each: this process's walk may join at any of them


def _join(at: int, mid: int, parts: list[tuple[int, int, int]],
          log: _csvpart.Log) -> tuple[int, list[tuple[int, int]], _csvpart.Log] | None:
    """Where this process's walk, stopped at ``at``, joins the worker's (started at ``mid``): the bytes of the
    worker's parts before that to skip, its parts and warnings from there on; None when the walks do not join.
    The walk is a function of the position, so the worker's output from the first item it made at ``at`` on is
    the sequential result (its first position is ``mid`` itself)."""
    j = next((i for i, p in enumerate(parts) if p[2] >= at), len(parts))
    k = next((i for i, w in enumerate(log) if w[0] is None or w[0] >= at), len(log))
    firsts = [parts[j][2]] if j < len(parts) else []
    off = log[k][0] if k < len(log) else None
    if off is not None:
        firsts.append(off)
    if at != mid and min(firsts, default=None) != at:
        return None
    return sum(p[1] for p in parts[:j]), [(r, b) for r, b, _at in parts[j:]], log[k:]


BATCH = 32768
_V2_WALK = struct.Struct("<IH50xHH")  # length, major version, name length, name offset


class _Bulk:
    """Decodes runs of well-formed V2 records (their offsets) into column batches with numpy: eight gathers of
    8-byte words at the records' offsets, all names in one UTF-16 decode, and each distinct parent, reference,
    reason and attribute value turned into text once."""

    def __init__(self, mm: Any, end: int, ctx: ParseContext, csv_tz: timezone | None = None) -> None:
        self.mm = mm
        self.csv_tz = csv_tz  # set: batches come as their CSV text (``parse --csv`` split over two processes)
        self.words = np.frombuffer(mm, dtype="<u8", count=end // 8)
        self.units = np.frombuffer(mm, dtype="<u2", count=end // 2)
        self.res = ctx.resources.get("mft")
        self.source = ctx.source
        self.ppath: dict[int, str] = {}
        self.hexes: dict[int, str] = {}
        self.exts: dict[str, str] = {}
        self.ar = np.arange(0, dtype=np.int64)

    def close(self) -> None:  # the mmap cannot close while numpy views of it exist
        del self.words, self.units

    def _names(self, offs: Any, nlen: Any, noff: Any) -> tuple[list[str], list[str]]:
        """The records' names and their extensions (``_ext``; from the last '.' among each name's UTF-16 units
        when every unit is a character)."""
        if not ((nlen | noff) & 1).any():
            start = (offs + noff) >> 1
            ln = (nlen >> 1).astype(np.int64)
            step = ln + 1  # every name, then a U+0000 separator (NTFS names never hold one; checked below)
            out0 = np.cumsum(step) - step
            idx = np.repeat(start - out0, step) + self._arange(int(step.sum()))
            np.minimum(idx, len(self.units) - 1, out=idx)
            text = self.units[idx]
            end = out0 + ln
            text[end] = 0
            names = _d16(text.tobytes(), "replace", True)[0].split("\x00")
            names.pop()
            if len(names) == len(offs):
                if ((text & 0xF800) == 0xD800).any():  # surrogates: units are not characters
                    return names, self._exts(names)
                dots = np.flatnonzero(text == 46)
                k = np.searchsorted(dots, end) - 1
                d = dots[np.maximum(k, 0)] if dots.size else end
                at = np.where((k >= 0) & (d >= out0) & (d < end - 1), d - out0, -1).tolist()
                return names, [nm[i:] if i >= 0 else "" for nm, i in zip(names, at, strict=True)]
        mm = self.mm
        names = [_d16(mm[o + f:o + f + n], "replace", True)[0]
                 for o, f, n in zip(offs.tolist(), noff.tolist(), nlen.tolist(), strict=True)]
        return names, self._exts(names)

    def _exts(self, names: list[str]) -> list[str]:
        """``_ext`` of every name, once per distinct name (a journal names the same files again and again)."""
        cache = self.exts
        if len(cache) > 200_000:
            cache.clear()
        out: list[str] = []
        add = out.append
        for n in names:
            e = cache.get(n)
            if e is None:
                i = n.rfind(".")
                e = cache[n] = n[i:] if 0 <= i < len(n) - 1 else ""
            add(e)
        return out

    def _text(self, values: Any, fn: Any) -> list[Any]:
        uniq, inv = np.unique(values, return_inverse=True)
        return np.array([fn(v) for v in uniq.tolist()], dtype=object)[inv].tolist()

    def _parent(self, pref: int) -> str:
        pp = self.ppath.get(pref)
        if pp is None:
            if len(self.ppath) > 500_000:
                self.ppath.clear()
            pp = self.ppath[pref] = _parent_path(self.res, pref)
        return pp

    def _hex(self, ref: int) -> str:
        h = self.hexes.get(ref)
        if h is None:
            if len(self.hexes) > 500_000:
                self.hexes.clear()
            h = self.hexes[ref] = f"{ref:032x}"
        return h

    def _shown(self, offs: np.ndarray) -> tuple[dict[str, list[Any]], tuple[Any, ...]]:
        """The columns MFTECmd's $J CSV shows, and the gathered words (header, file and parent references,
        reason/source and security/attribute words) the other columns come from (``offs``: the records'
        offsets, int64)."""
        offsets = offs.tolist()
        w = offs >> 3
        words = self.words
        w0, fref, pref, usn, w5, w6, w7 = (words[w + i] for i in (0, 1, 2, 3, 5, 6, 7))
        ts = words[w + 4].view(np.int64)
        names, exts = self._names(offs, (w7 & 0xFFFF).astype(np.int64), ((w7 >> 16) & 0xFFFF).astype(np.int64))
        tsl = ts.tolist()
        for i in np.flatnonzero(ts <= 0).tolist():
            tsl[i] = None
        cols = {
            "usn": usn.tolist(), "timestamp": tsl, "name": names, "extension": exts,
            "entry": (fref & REF_MASK).tolist(), "sequence": (fref >> 48).tolist(),
            "parent_entry": (pref & REF_MASK).tolist(), "parent_sequence": (pref >> 48).tolist(),
            "parent_path": self._text(pref, self._parent), "reasons": self._text(w5 & 0xFFFFFFFF, reasons_text),
            "attributes": self._text(w6 >> 32, attributes_text), "offset": offsets,
            "source_file": [self.source] * len(offsets),
        }
        return cols, (w0, fref, pref, w5, w6)

    def csv_text(self, offs: np.ndarray, tz: timezone) -> bytes | None:
        """``_j_csv_batch`` of the records at ``offs`` without a Python value per cell: every line laid out in
        one byte matrix (each cell in its own slot, NUL-padded: names and extensions as UTF-8, integers as
        digits, times by ``_put_times``, parent and reason/attribute cells from small per-value tables), then
        the NULs dropped; UTF-8. None when a name cannot be laid out (odd length or offset, a NUL in it) or a
        text is not UTF-8 encodable: the caller renders that batch cell by cell."""
        n = len(offs)
        words = self.words
        w = offs >> 3
        w7 = words[w + 7]
        nlen = (w7 & 0xFFFF).astype(np.int64)
        noff = ((w7 >> 16) & 0xFFFF).astype(np.int64)
        if not n or ((nlen | noff) & 1).any():
            return None
        # names: their UTF-16 units NUL-separated in one array (``blob``: as UTF-8; ASCII: the units themselves)
        start = (offs + noff) >> 1
        step = (nlen >> 1) + 1
        out0 = np.cumsum(step) - step
        idx = np.repeat(start - out0, step) + self._arange(int(step.sum()))
        np.minimum(idx, len(self.units) - 1, out=idx)
        text = self.units[idx]
        nend = out0 + step - 1
        text[nend] = 0
        big = _d16(text.tobytes(), "replace", True)[0]
        if big.count("\x00") != n:
            return None
        raw = big.encode()
        blob = np.frombuffer(raw, dtype=np.uint8)
        nstart = out0
        if len(raw) != len(text):  # not all ASCII: the names' bounds in the UTF-8 bytes
            nend = np.flatnonzero(blob == 0)
            nstart = np.empty(n, dtype=np.int64)
            nstart[0] = 0
            nstart[1:] = nend[:-1] + 1
            step = nend - nstart + 1
        # the extension: from the last '.' of the name, unless that ends it (``_ext``)
        dots = np.flatnonzero(blob == 46)
        k = np.searchsorted(dots, nend) - 1
        d = dots[np.maximum(k, 0)] if dots.size else nend
        has = (k >= 0) & (d >= nstart) & (d < nend - 1)
        estart = np.where(has, d, nend)
        nlens = nend - nstart
        elens = nend - estart
        quoted: list[tuple[int, bytes, bytes]] = []  # names (and so maybe extensions) that need quoting
        if b"," in raw or b'"' in raw or b"\r" in raw or b"\n" in raw:
            for i in np.unique(np.searchsorted(nend, np.flatnonzero(_QUOTE_BYTES[blob]))).tolist():
                name = raw[nstart[i]:nend[i]].decode()
                quoted.append((i, quote_column([name])[0].encode(), quote_column([_ext(name)])[0].encode()))
        fref, pref, usn, w5, w6 = (words[w + i] for i in (1, 2, 3, 5, 6))
        ts = words[w + 4].view(np.int64)
        ptab, pinv = self._table(pref, self._parent_cells)
        ratab, rainv = self._table(((w5 & 0xFFFFFFFF) << np.uint64(32)) | (w6 >> np.uint64(32)), _ra_cells)
        if ptab is None or ratab is None:
            return None
        try:
            src = f",{quote_column([self.source])[0]}\r\n".encode()
        except UnicodeEncodeError:
            return None
        entry, seq = fref & REF_MASK, fref >> np.uint64(48)
        wn = max([int(nlens.max()) + 1] + [len(q) + 1 for _i, q, _e in quoted])  # + the NUL after each name
        we = max([int(elens.max())] + [len(e) for _i, _q, e in quoted])
        widths = [wn, 1, we, 1, _ndigits(entry), 1, _ndigits(seq), 1, ptab.shape[1], _ndigits(usn), 1, 27, 1,
                  ratab.shape[1], _ndigits(offs), 1]
        cols = np.cumsum([0] + widths).tolist()
        m = np.zeros((n, cols[-1]), dtype=np.uint8)
        # the names with the NUL after each: blob position p of row i goes to m[i, p - nstart[i]]
        m.reshape(-1)[np.repeat(self._arange(n) * cols[-1] - nstart, step) + self._arange(len(blob))] = blob
        m[:, cols[1]] = 44
        _put_text(m, cols[2], blob, estart, elens)
        for i, q, e in quoted:
            m[i, :wn] = 0
            m[i, :len(q)] = np.frombuffer(q, dtype=np.uint8)
            m[i, cols[2]:cols[3]] = 0
            m[i, cols[2]:cols[2] + len(e)] = np.frombuffer(e, dtype=np.uint8)
        m[:, cols[3]] = 44
        _put_digits(m, cols[4], widths[4], entry)
        m[:, cols[5]] = 44
        _put_digits(m, cols[6], widths[6], seq)
        m[:, cols[7]] = 44
        m[:, cols[8]:cols[9]] = np.take(ptab, pinv, axis=0)
        _put_digits(m, cols[9], widths[9], usn)
        m[:, cols[10]] = 44
        _put_times(m, cols[11], ts, tz)
        m[:, cols[12]] = 44
        m[:, cols[13]:cols[14]] = np.take(ratab, rainv, axis=0)
        _put_digits(m, cols[14], widths[14], offs)
        m[:, cols[15]] = 0xFF  # never in UTF-8: each line's end, where the source cell and CRLF go
        return m[m != 0].tobytes().replace(b"\xff", src)

    def _arange(self, n: int) -> np.ndarray:
        """``np.arange(n)`` (int64), a view of one kept array (grown as needed, up to 16 MiB)."""
        if len(self.ar) < n:
            if n > 1 << 21:
                return np.arange(n, dtype=np.int64)
            self.ar = np.arange(min(max(n, 2 * len(self.ar)), 1 << 21), dtype=np.int64)
        return self.ar[:n]

    def _parent_cells(self, pref: int) -> str:
        return f"{pref & REF_MASK},{pref >> 48},{quote_column([_csv_parent(self._parent(pref))])[0]},"

    @staticmethod
    def _table(values: np.ndarray, cells: Any) -> tuple[np.ndarray | None, np.ndarray]:
        """The UTF-8 text of each distinct value (``cells``) as rows of a NUL-padded byte table, and which row
        each value takes (None when a text holds a NUL or is not UTF-8 encodable)."""
        uniq, inv = np.unique(values, return_inverse=True)
        try:
            texts = [cells(v).encode() for v in uniq.tolist()]
        except UnicodeEncodeError:
            return None, inv
        wid = max(map(len, texts))
        joined = b"".join(t.ljust(wid, b"\x00") for t in texts)
        if joined.count(0) != sum(wid - len(t) for t in texts):
            return None, inv
        return np.frombuffer(joined, dtype=np.uint8).reshape(len(texts), wid), inv.reshape(-1)

    def batch(self, offs: np.ndarray, carved: bool) -> RowBatch:
        n = len(offs)
        if self.csv_tz is not None:  # CSV-only runs: the batch as its CSV text, the other columns never built
            text = _csvpart.TextColumns(usn=[None] * n)
            text.pos = int(offs[0])
            lines = self.csv_text(offs, self.csv_tz)
            text.text = (self.csv_tz, _j_csv_batch(self._shown(offs)[0], self.csv_tz) if lines is None else lines)
            return RowBatch(NAME, text)
        cols, (w0, fref, pref, w5, w6) = self._shown(offs)
        cols.update({
            "reason_flags": (w5 & 0xFFFFFFFF).tolist(), "attr_flags": (w6 >> 32).tolist(),
            "source_info": (w5 >> 32).tolist(), "security_id": (w6 & 0xFFFFFFFF).tolist(),
            "major_version": [2] * n, "minor_version": (w0 >> 48).tolist(), "record_length": (w0 & 0xFFFFFFFF).tolist(),
            "file_ref": self._text(fref, self._hex), "parent_ref": self._text(pref, self._hex),
            "extents": [""] * n, "remaining_extents": [None] * n, "carved": [carved] * n,
        })
        return RowBatch(NAME, cols)


_QUOTE_BYTES = np.zeros(256, dtype=bool)  # bytes that make csv.writer quote a cell
_QUOTE_BYTES[[44, 34, 13, 10]] = True


def _ra_cells(v: int) -> str:
    return f"{reasons_text(v >> 32)},{attributes_text(v & 0xFFFFFFFF)},"


def _ndigits(v: np.ndarray) -> int:
    return len(str(int(v.max()))) if len(v) else 1


def _put_digits(m: np.ndarray, col: int, width: int, v: np.ndarray) -> None:
    """Decimal digits of ``v`` (unsigned) right-aligned in ``m[:, col:col + width]``, NUL before them: nine
    digits at a time in 32-bit arithmetic."""
    x = v.astype(np.uint64)
    end = col + width
    while True:
        if end - col > 9:
            hi = x // np.uint64(10**9)
            lo = (x - hi * np.uint64(10**9)).astype(np.uint32)
        else:
            hi, lo = None, x.astype(np.uint32)
        for i in range(end - 1, max(col, end - 9) - 1, -1):
            q = lo // np.uint32(10)
            digit = (lo - q * np.uint32(10)).astype(np.uint8) + np.uint8(48)
            if i < col + width - 1:  # a leading zero shows as nothing
                digit *= (lo != 0) if hi is None else ((lo != 0) | (hi != 0))
            m[:, i] = digit
            lo = q
        if hi is None:
            return
        x = hi
        end -= 9


def _put_text(m: np.ndarray, col: int, blob: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> None:
    """``m[i, col:col + lens[i]] = blob[starts[i]:starts[i] + lens[i]]`` for every row ``i``."""
    total = int(lens.sum())
    if not total:
        return
    cum = np.cumsum(lens) - lens
    k = np.arange(total, dtype=np.int64)
    m.reshape(-1)[np.repeat(np.arange(len(lens), dtype=np.int64) * m.shape[1] + col - cum, lens) + k] = \
        blob[np.repeat(starts - cum, lens) + k]


def _put_times(m: np.ndarray, col: int, ts: np.ndarray, tz: timezone) -> None:
    """``fmt(t, tz)`` of the shown times (> 0) in ``m[:, col:col + 27]``: the date from a table of the batch's
    days, the time of day digit by digit in 32-bit arithmetic, for those in range; the raw value (as ``fmt``) for
    the others; nothing for times not shown."""
    off = tz_offset_ticks(tz)
    shown = ts > 0
    inr = shown & (ts <= FMT_MAX - off) & (ts >= -off)
    every = bool(inr.all())
    t = ts + off if every else np.where(inr, ts, -off) + off
    days = t // 864_000_000_000
    rem = t - days * 864_000_000_000
    secs = rem // 10_000_000
    frac = (rem - secs * 10_000_000).astype(np.uint32)
    secs = secs.astype(np.uint32)
    uniq, inv = np.unique(days, return_inverse=True)
    dates = b"".join(b"%04d-%02d-%02d " % (d.year, d.month, d.day)
                     for d in map(date.fromordinal, (uniq + _ORDINAL_1601).tolist()))
    m[:, col:col + 11] = np.take(np.frombuffer(dates, dtype=np.uint8).reshape(-1, 11), inv.reshape(-1), axis=0)
    h = secs // np.uint32(3600)
    r = secs - h * np.uint32(3600)
    mi = r // np.uint32(60)
    sec = r - mi * np.uint32(60)
    for at, v in ((11, h), (14, mi), (17, sec)):
        tens = v // np.uint32(10)
        m[:, col + at] = tens + 48
        m[:, col + at + 1] = v - tens * np.uint32(10) + 48
    m[:, col + 13] = 58
    m[:, col + 16] = 58
    m[:, col + 19] = 46
    for at in range(26, 19, -1):
        q = frac // np.uint32(10)
        m[:, col + at] = frac - q * np.uint32(10) + 48
        frac = q
    if every:
        return
    m[~inr, col:col + 27] = 0
    for i in np.flatnonzero(shown & ~inr).tolist():
        raw = fmt(int(ts[i]), tz).encode("ascii")
        m[i, col:col + len(raw)] = np.frombuffer(raw, dtype=np.uint8)


_ORDINAL_1601 = date(1601, 1, 1).toordinal()


def _releaser(mm: Any) -> Any:
    """``release(pos)``: the mapped pages before ``pos`` are done with; they leave this process's resident set
    (they stay in the page cache), so memory does not grow with the journal's size."""
    dontneed = getattr(mmap, "MADV_DONTNEED", None)
    if not isinstance(mm, mmap.mmap) or dontneed is None:
        return lambda _pos: None
    page = mmap.PAGESIZE
    done = [0]

    def release(pos: int) -> None:
        upto = pos - pos % page
        if upto - done[0] >= 1 << 24:  # every 16 MiB
            try:
                mm.madvise(dontneed, done[0], upto - done[0])
            except (OSError, ValueError):
                return
            done[0] = upto

    return release


PAGE = 4096  # Windows never lets a USN record cross a journal page
_WINDOW = 4096  # pages looked at together by the vectorised walk (16 MiB)
_TAIL_WORDS = 16  # words after a page's chain gathered at once (the rest of a page only where it has more)


def _clean_pages(words: Any, base: int, npages: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``npages`` whole pages from ``base``: which are clean, their records, where each page's records start
    in that array, and for each page the first page at or after it that is not clean (``npages`` if none).

    A page is clean when the chain of records from its start is all records the scalar walk takes on its fast
    path (well-formed V2, inside the page), and the chain either ends exactly at the page end or is followed by
    zeros only (an all-zero page is clean and empty). The walk arriving at the start of a clean page takes exactly
    these records and then goes on, through the zeros, as it would from the start of the next page; so a run of
    clean pages is taken at once. All pages' chains are stepped together: two gathers per record in a page."""
    w64 = words.view(np.int64)
    last_word = len(w64) - 1
    starts = base + PAGE * np.arange(npages, dtype=np.int64)
    pages = np.arange(npages, dtype=np.int64)
    c = starts.copy()
    pend = pend0 = starts + PAGE
    ends = starts.copy()  # where each page's chain ends
    found: list[tuple[np.ndarray, np.ndarray]] = []  # per step: (pages, record offsets)
    while pages.size:
        wi = c >> 3
        w0 = w64[wi]
        w7 = w64[np.minimum(wi + 7, last_word)]
        ln = w0 & 0xFFFFFFFF
        noff = (w7 >> 16) & 0xFFFF
        nxt = c + ln
        ok = (((w0 >> 32) & 0xFFFF) == 2) & (ln >= 60) & ((ln & 7) == 0) & (nxt <= pend) & (noff >= 60) \
            & (noff + (w7 & 0xFFFF) <= ln)
        pages, c, nxt, pend = pages[ok], c[ok], nxt[ok], pend[ok]
        found.append((pages, c))
        ends[pages] = nxt
        more = nxt < pend
        pages, c, pend = pages[more], nxt[more], pend[more]
    counts = np.zeros(npages, dtype=np.int64)
    for pg, _offs in found:
        counts[pg] += 1
    first = np.zeros(npages + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    recs = np.empty(int(first[-1]), dtype=np.int64)
    for k, (pg, offs) in enumerate(found):
        recs[first[pg] + k] = offs
    # the rest of each page after its chain: zero? (word by word; chains end on 8-byte boundaries): its first
    # words gathered, the pages with more after them (few in a full journal) looked at whole
    tail = (pend0 - ends) >> 3
    near = np.arange(_TAIL_WORDS, dtype=np.int64)
    at = np.minimum((ends >> 3)[:, None] + near, last_word)
    dirty = ((w64[at] != 0) & (near < tail[:, None])).any(axis=1)
    far = np.flatnonzero(tail > _TAIL_WORDS)
    if far.size:
        rows = words[base >> 3:(base >> 3) + npages * (PAGE // 8)].reshape(npages, PAGE // 8)[far]
        after = ((ends[far] - starts[far]) >> 3) + _TAIL_WORDS
        dirty[far] |= ((rows != 0) & (np.arange(PAGE // 8) >= after[:, None])).any(axis=1)
    clean = ~dirty
    unclean = np.append(np.flatnonzero(~clean), npages)
    run_end = unclean[np.searchsorted(unclean, np.arange(npages))]
    return clean, recs, first, run_end


def _scan(mm: Any, end: int, ctx: ParseContext, start: int = 0, stop: int | None = None,
          stopped: list[int] | None = None, csv_tz: timezone | None = None,
          head: int = 0) -> Iterator[Record | RowBatch]:
    """The walk, from ``start`` until the first record position at or past ``stop`` (appended to ``stopped``;
    ``end`` when the data ran out). Outside ``--carve`` the walk is a function of the position alone, so a walk
    that stops exactly at ``m`` joins one started at ``m`` into the sequential result.

    Outside ``--carve``, the walk arriving at the start of a page takes a run of clean pages (``_clean_pages``)
    at once; everything else is walked record by record. The first ``head`` V2 records come a batch each."""
    carve = bool(ctx.options.get("carve"))
    stop = end if stop is None else min(stop, end)
    res = ctx.resources.get("mft")
    warn = ctx.warn
    ppath_cache: dict[int, str] = {}
    header = _HEAD.unpack_from
    walk = _V2_WALK.unpack_from
    nonzero = _NONZERO.search
    bulk = _Bulk(mm, end, ctx, csv_tz)
    release = _releaser(mm)
    # well-formed V2 records not yet decoded (all with the same ``carved`` flag): whole clean pages' records in
    # ``chunks``, then the ones walked one by one since in ``offs``
    chunks: list[np.ndarray] = []
    offs: list[int] = []
    add = offs.append

    def pending() -> np.ndarray:
        if offs:
            chunks.append(np.array(offs, dtype=np.int64))
            offs.clear()
        out = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        chunks.clear()
        return out

    room = 1 if head > 0 else BATCH
    pos = start & ~7
    carved = False  # inside a region reached by resynchronisation
    limit = 0 if carve else stop  # pages taken at once end by here
    in_page = PAGE - 1
    win_lo = win_hi = 0  # the pages [win_lo, win_hi) looked at
    clean = recs = first = run_end = np.zeros(0, dtype=np.int64)
    try:
        while pos < stop and pos + 8 <= end:
            if not pos & in_page and pos + PAGE <= limit:
                if not win_lo <= pos < win_hi:
                    npages = min(_WINDOW, (limit - pos) // PAGE)
                    clean, recs, first, run_end = _clean_pages(bulk.words, pos, npages)
                    win_lo, win_hi = pos, pos + npages * PAGE
                a = (pos - win_lo) // PAGE
                if clean[a]:
                    b = int(run_end[a])
                    seg = recs[first[a]:first[b]]
                    pos = win_lo + b * PAGE
                    while seg.size:
                        if offs:
                            chunks.append(np.array(offs, dtype=np.int64))
                            offs.clear()
                        chunks.append(seg[:room])
                        room -= len(chunks[-1])
                        seg = seg[len(chunks[-1]):]
                        if not room:
                            last = int(chunks[-1][-1])
                            yield bulk.batch(pending(), carved)
                            head -= 1
                            room = 1 if head > 0 else BATCH
                            release(last)
                    continue
            if pos + 60 <= end:
                ln, major, nlen, noff = walk(mm, pos)
                # the common case: a V2 record that fits, its name inside it
                if major == 2 and 60 <= ln <= MAX_RECORD and not ln & 7 and pos + ln <= end and 60 <= noff \
                        and noff + nlen <= ln:
                    add(pos)
                    pos += ln
                    room -= 1
                    if not room:
                        yield bulk.batch(pending(), carved)
                        head -= 1
                        room = 1 if head > 0 else BATCH
                        release(pos)
                    continue
            else:
                ln, major, _minor = header(mm, pos)
            if ln == 0:
                m = nonzero(mm, pos)
                if m is None:
                    break
                nxt = m.start() & ~7
                if nxt > pos:
                    pos = nxt
                    if carved and (offs or chunks):
                        yield bulk.batch(pending(), carved)
                        room = 1 if head > 0 else BATCH
                    carved = False
                    continue
                # length 0 but a non-zero version: not padding, not a record -> handled as a bad record below
            if offs or chunks:
                yield bulk.batch(pending(), carved)
                room = 1 if head > 0 else BATCH
            problem = check_header(mm, pos, end, False)
            if not problem:
                try:
                    rec = _decode_other(mm, pos, ln, major, res, ppath_cache, carved, ctx.source)
                except (struct.error, ValueError) as e:
                    rec = None
                    problem = f"cannot decode: {e}"
                if rec is not None:
                    yield rec
                    pos += ln
                    continue
                problem = problem or "cannot decode"
            # bad record: report, then resynchronise on 8-byte boundaries
            start = pos
            pos = (pos + 8) & ~7
            while pos + 8 <= end:
                if mm[pos:pos + 8] == _ZERO8 or not check_header(mm, pos, end, True):
                    break
                pos += 8
            if not carve:
                warn(start, f"invalid USN record at offset {start}: {problem}; skipped {min(pos, end) - start} "
                     "bytes to the next 8-byte-aligned record or zero padding")
            else:
                ctx.skipped += 1
            carved = carve
        if offs or chunks:
            yield bulk.batch(pending(), carved)
        if stopped is not None:
            stopped.append(pos if pos >= stop and stop < end else end)
    finally:
        bulk.close()


def _parent_path(res: Any, pref: int) -> str:
    if res is None:
        return ""
    p = res.resolve(pref & REF_MASK, pref >> 48)
    return UNKNOWN if p is None else p


def _decode_other(mm: Any, pos: int, ln: int, major: int, res: Any, cache: dict[int, str], carved: bool,
                  source: str) -> Record | None:
    """V3, V4 (and V2 records the fast path refused)."""
    extents = ""
    remaining: int | None = None
    if major == 2:
        (_l, _ma, mi, fref, pref, usn, ts, reason, src, sec, attrs, nlen, noff) = _V2.unpack_from(mm, pos)
        fid = fref.to_bytes(16, "little")
        pid = pref.to_bytes(16, "little")
        name = mm[pos + noff:pos + noff + nlen].decode("utf-16-le", "replace")
    elif major == 3:
        (_l, _ma, mi, fid, pid, usn, ts, reason, src, sec, attrs, nlen, noff) = _V3.unpack_from(mm, pos)
        name = mm[pos + noff:pos + noff + nlen].decode("utf-16-le", "replace")
    else:
        (_l, _ma, mi, fid, pid, usn, reason, src, remaining, n, esz) = _V4.unpack_from(mm, pos)
        ts, sec, attrs, name = 0, None, None, ""
        ext = []
        for i in range(n):
            o, length = _EXT.unpack_from(mm, pos + 64 + i * (esz or 16))
            ext.append(f"{o}:{length}")
        extents = ",".join(ext)
    fref = int.from_bytes(fid[:8], "little")
    pref = int.from_bytes(pid[:8], "little")
    pp = cache.get(pref)
    if pp is None:
        pp = _parent_path(res, pref)
        cache[pref] = pp
    return Record("usnjrnl", {
        "usn": usn, "timestamp": ts if 0 < ts <= _FT_MAX else None, "name": name, "extension": _ext(name),
        "entry": fref & REF_MASK, "sequence": fref >> 48, "parent_entry": pref & REF_MASK,
        "parent_sequence": pref >> 48, "parent_path": pp, "reasons": reasons_text(reason), "reason_flags": reason,
        "attributes": attributes_text(attrs) if attrs is not None else "", "attr_flags": attrs,
        "source_info": src, "security_id": sec, "major_version": major, "minor_version": mi, "record_length": ln,
        "file_ref": _hex128(fid), "parent_ref": _hex128(pid), "extents": extents, "remaining_extents": remaining,
        "offset": pos, "carved": carved, "source_file": source,
    })


def full_path(d: dict[str, Any]) -> str:
    pp = d.get("parent_path") or ""
    name = d.get("name") or ""
    if not pp:
        return name
    return f"/{name}" if pp == "/" else f"{pp}/{name}"


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    ts = d.get("timestamp")
    if not ts:
        return ()
    p = full_path(d)
    return (TimelineEvent(ts, d["reasons"], p, f"USN {d['reasons']}: {p.replace('/', chr(92))}"),)


def _csv_parent(pp: str | None) -> str:
    """MFTECmd's ParentPath of a journal record: as the $MFT CSV writes it (memoised there), empty or
    ``<Unknown>`` as they are."""
    pp = pp or ""
    return pp if pp in ("", UNKNOWN) else _csv_pp_cached(pp)


class StoreShape(CsvShape):
    """A shape whose export from the case store may skip reading rows (``store_batches``)."""

    def store_batches(self, db: Any, table: str, tz: timezone) -> Iterator[str | bytes | list[list[str]]] | None:
        return store_batches(self, db, table, tz)


class _JCsvShape(StoreShape):
    def row(self, d: dict[str, Any], tz: timezone = UTC) -> list[Any]:
        if tz is not UTC and tz.utcoffset(None):
            return super().row(d, tz)
        pp = _csv_parent(d.get("parent_path"))
        ts = d["timestamp"]
        if ts is None:
            t = ""
        else:  # _fmt_utc inlined: its per-second cache, else the function
            s, frac = divmod(ts, 10_000_000)
            base = _sec_cache.get(s)
            t = _fmt_utc(ts) if base is None else f"{base}.{frac:07d}"
        return [d["name"], d["extension"], d["entry"], d["sequence"], d["parent_entry"], d["parent_sequence"],
                pp, d["usn"], t, d["reasons"], d["attributes"], d["offset"], d.get("source_file", "")]


_J_LINE = "%s,%s,%d,%d,%d,%d,%s,%d,%s,%s,%s,%d,%s\r\n"


def _j_csv_batch(c: Any, tz: timezone) -> str | bytes:
    """``_JCsvShape.row`` for a whole batch: the CSV text of its lines (integers formatted by ``%d`` in C; only
    the columns that can hold a delimiter or quote are scanned, once each)."""
    text = _csvpart.rendered(c, tz)
    if isinstance(text, (str, bytes)):
        return text
    pmap = {p: _csv_parent(p) for p in set(c["parent_path"])}
    names = quote_column(c["name"])
    n = len(names)
    line = _J_LINE.__mod__
    return "".join(map(line, zip(
        names, quote_column(c["extension"]), c["entry"], c["sequence"],
        c["parent_entry"], c["parent_sequence"], quote_column([pmap[p] for p in c["parent_path"]]), c["usn"],
        fmt_many(c["timestamp"], tz), c["reasons"], c["attributes"], c["offset"],
        quote_column(c.get("source_file") or [""] * n), strict=True)))


def _nlt_prefix(parent: str | None) -> str:
    """NLT's text of a parent before a name: its path with backslashes and one more, or ''."""
    pp = (parent or "").replace("/", "\\")
    return pp.rstrip("\\") + "\\" if pp else ""


def nlt_csv_batch(c: Any, tz: timezone) -> list[list[str]]:
    """NTFS Log Tracker's ``NLT_UsnJrnl.csv`` / ``NLT_LogFile_UsnJrnl.csv`` cells (``logfile._usn_shape``) for a
    batch of ``usnjrnl`` or ``logfile_usn`` rows, column by column; flag texts and paths once per distinct value."""
    from .logfile import FILE_ATTRS, USN_REASONS, flag_text

    n = len(c["usn"])
    none = [None] * n

    def text(key: str) -> list[str]:
        v = c.get(key) or none
        if None not in v:
            return list(map(str, v))
        return ["" if x is None else x if type(x) is str else str(x) for x in v]

    def each(values: list[Any], fn: Any) -> list[Any] | None:
        """``fn`` of each distinct integer once (numpy), None when a value is missing or not an integer."""
        if not values or None in values:
            return None
        try:
            uniq, inv = np.unique(np.array(values, dtype=np.uint64), return_inverse=True)
        except (TypeError, ValueError, OverflowError):
            return None
        return np.array([fn(v) for v in uniq.tolist()], dtype=object)[inv].tolist()

    def flags(int_key: str, key: str, table: list[tuple[int, str]]) -> list[str]:
        fast = each(c.get(int_key) or [], lambda v: flag_text(v, table))
        if fast is not None:
            return fast
        cache: dict[Any, str] = {}
        out = []
        for i, t in zip(c.get(int_key) or none, c.get(key) or none, strict=True):
            v = t if i is None else i
            s = cache.get(v)
            if s is None:
                s = cache[v] = v if isinstance(v, str) else flag_text(v, table)
            out.append(s)
        return out

    prefix = {p: _nlt_prefix(p) for p in set(c.get("parent_path") or none)}
    full = [prefix[p] + nm for p, nm in zip(c.get("parent_path") or none, text("name"), strict=True)]
    refs: dict[tuple[Any, Any], str] = {}

    def ref(entry_key: str, seq_key: str) -> list[str]:
        e, q = c.get(entry_key) or [], c.get(seq_key) or []
        if e and q and None not in e and None not in q:
            try:
                packed = ((np.array(q, dtype=np.uint64) & np.uint64(0xFFFF)) << np.uint64(48)) \
                    | (np.array(e, dtype=np.uint64) & np.uint64(0xFFFFFFFFFFFF))
            except (TypeError, ValueError, OverflowError):
                packed = None
            if packed is not None:
                uniq, inv = np.unique(packed, return_inverse=True)
                return np.array([f"0x{v:016X}" for v in uniq.tolist()], dtype=object)[inv].tolist()
        out = []
        for e, q in zip(c.get(entry_key) or none, c.get(seq_key) or none, strict=True):
            r = refs.get((e, q))
            if r is None:
                r = refs[(e, q)] = "" if e is None else f"0x{((int(q or 0) & 0xFFFF) << 48) | (int(e) & 0xFFFFFFFFFFFF):016X}"
            out.append(r)
        return out

    return [
        fmt_many(c.get("timestamp") or none, tz), text("usn"), text("name"), full,
        flags("reason_flags", "reasons", USN_REASONS), text("source_info"),
        flags("attr_flags", "attributes", FILE_ATTRS), ["Carved" if v else "" for v in c.get("carved") or none],
        ref("entry", "sequence"), ref("parent_entry", "parent_sequence"),
    ]



# --- CSV exports from the case store ------------------------------------------------------------------------
# ``analyze`` writes MFTECmd's and NLT's $J CSVs from the ``usnjrnl`` table. A Python value per cell (fetched,
# transposed, formatted) costs several times the rendering, so SQLite hands over each column of a chunk of rows as
# one text (``group_concat``: text cells NUL-separated, integers as their decimal text): the lines are laid out
# in a byte matrix as ``_Bulk.csv_text`` does, the times and flag texts computed in numpy from the integers. A
# chunk this cannot render exactly (a NULL or odd value where the batch renderer does something else, a NUL in a
# text) is rendered by the shape's batch renderer from its rows, as before.
STORE_CHUNK = 16384  # ids per chunk (a byte matrix of the chunk's rows x its widest line)
_DIGITS = b"0123456789,"
_POW10 = 10 ** np.arange(18, dtype=np.int64)


class _Cells:
    """The ``n`` cells of one column of a chunk: the bytes (a separator after each), each cell's start and
    length."""

    __slots__ = ("b", "lens", "starts")

    def __init__(self, b: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> None:
        self.b, self.starts, self.lens = b, starts, lens

    @classmethod
    def of(cls, blob: bytes | None, n: int, sep: int) -> _Cells | None:
        """None when the cells are not ``n`` (a NULL left out, a separator inside a cell)."""
        b = np.frombuffer((blob or b"") + bytes((sep,)), dtype=np.uint8)
        ends = np.flatnonzero(b == sep)
        if len(ends) != n:
            return None
        starts = np.empty(n, dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        return cls(b, starts, ends - starts)

    def values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The cells as int64 and which were empty (NULL, 0 here); None when one is not 0..10**18-1 written
        plainly (the caller checked there are only digits)."""
        n = len(self.lens)
        if n and int(self.lens.max()) > 18:
            return None
        if not n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        # each digit times 10 to the number of digits after it in its cell, summed per cell (with its separator,
        # which counts 0: no cell is an empty run)
        ends = self.starts + self.lens  # the separators
        after = np.repeat(ends, self.lens + 1) - np.arange(len(self.b), dtype=np.int64) - 1
        after[ends] = 0
        digits = self.b.astype(np.int64) - 48
        digits[ends] = 0
        return np.add.reduceat(digits * _POW10[after], self.starts), self.lens == 0


class _Line:
    """The lines of a chunk as a sequence of pieces, each a byte string per row (a cell, a cell and the comma
    after it, a separator) taken from a blob; ``bytes()`` gathers them row by row in one indexing."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.blobs: list[np.ndarray] = []
        self.size = 0  # bytes in ``blobs``
        self.starts: list[np.ndarray] = []  # per piece: where each row's bytes start in the blobs joined
        self.lens: list[np.ndarray] = []

    def piece(self, blob: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> None:
        self.starts.append(starts + self.size)
        self.lens.append(lens)
        self.blobs.append(blob)
        self.size += len(blob)

    def cells(self, c: _Cells, comma: bool = True) -> None:
        """The cells, each with the comma after it (the separator after each in ``c.b`` becomes one)."""
        if comma:
            b = c.b.copy()
            b[c.starts + c.lens] = 44
            self.piece(b, c.starts, c.lens + 1)
        else:
            self.piece(c.b, c.starts, c.lens)

    def const(self, text: bytes) -> None:
        self.piece(np.frombuffer(text, dtype=np.uint8), np.zeros(self.n, dtype=np.int64),
                   np.full(self.n, len(text), dtype=np.int64))

    def table(self, t: np.ndarray) -> None:
        """Rows of a byte table, each up to its first NUL (its NULs all at its end)."""
        w = t.shape[1]
        self.piece(t.reshape(-1), np.arange(self.n, dtype=np.int64) * w, np.count_nonzero(t, axis=1))

    def texts(self, texts: list[bytes], which: np.ndarray) -> None:
        """``texts[which[i]]`` for every row ``i``."""
        lens = np.array([len(t) for t in texts], dtype=np.int64)
        self.piece(np.frombuffer(b"".join(texts), dtype=np.uint8), (np.cumsum(lens) - lens)[which], lens[which])

    def bytes(self) -> bytes:
        lens = np.stack(self.lens, axis=1).reshape(-1)  # row by row, piece by piece
        out = np.cumsum(lens)
        total = int(out[-1]) if len(out) else 0
        out -= lens
        idx = np.stack(self.starts, axis=1).reshape(-1) - out
        if max(total, self.size) < 1 << 31:  # (the usual case) half the index's memory traffic
            idx = idx.astype(np.int32)
            lens = lens.astype(np.int32)
        idx = np.repeat(idx, lens)
        idx += np.arange(total, dtype=idx.dtype)
        return np.concatenate(self.blobs)[idx].tobytes()


def _special(blob: bytes) -> bool:
    """Whether a cell in ``blob`` needs quoting (one memchr-fast search a character)."""
    return b"," in blob or b'"' in blob or b"\n" in blob or b"\r" in blob


def _quoted(blob: bytes) -> bytes:
    """A NUL-separated text column as CSV cells (``quote_column``) when a cell needs quoting."""
    if not _special(blob):
        return blob
    return "\x00".join(quote_column(blob.decode().split("\x00"))).encode()


def _store_batches(db: Any, table: str, shape: CsvShape, tz: timezone, texts: list[str], ints: list[str],
                   render: Any) -> Iterator[str | bytes | list[list[str]]]:
    """The export of ``table`` by chunks of ids: ``render(n, texts, ints, tz)`` makes a chunk's text from its
    columns (``texts``: SQL expressions, as UTF-8, cells NUL-separated; ``ints``: integer columns, decimal text,
    comma-separated; a NULL is left out unless the expression says otherwise), or None: that chunk's rows then go
    through ``shape.batch``."""
    from ..store.case import ident
    from ..store.export import read_sql

    t = ident(table)
    lo, hi = db.execute(f"SELECT min(id), max(id) FROM {t}").fetchone()
    if lo is None:
        return
    sel = ", ".join(["count(*)"] + [f"CAST(group_concat({e}, char(0)) AS BLOB)" for e in texts]
                    + [f"CAST(group_concat({e}, ',') AS BLOB)" for e in ints])
    query = f"SELECT {sel} FROM {t} WHERE id >= ? AND id < ?"
    reads = ", ".join(read_sql(db, table, c) for c in shape.batch_reads)
    assert shape.batch is not None
    for a in range(lo, hi + 1, STORE_CHUNK):
        n, *cols = db.execute(query, (a, a + STORE_CHUNK)).fetchone()
        if not n:
            continue
        text = render(n, cols[:len(texts)], cols[len(texts):], tz)
        if text is not None:
            yield text
            continue
        rows = db.execute(f"SELECT {reads} FROM {t} WHERE id >= ? AND id < ? ORDER BY id", (a, a + STORE_CHUNK))
        names = [d[0] for d in rows.description]
        yield shape.batch(dict(zip(names, map(list, zip(*rows.fetchall(), strict=True)), strict=True)), tz)


def _parent_cells(blob: bytes) -> bytes:
    """MFTECmd's ParentPath cells (``_csv_parent``, quoted) of NUL-separated parent paths: once per distinct
    path in the chunk."""
    cells = blob.decode().split("\x00")
    pmap = {p: _csv_parent(p) for p in set(cells)}
    return "\x00".join(quote_column(list(map(pmap.__getitem__, cells)))).encode()


def _csv_parents(line: _Line, c: _Cells) -> None:
    """``_csv_parent`` of parent paths (none to quote) and a comma: a prefix ('', '.' or '.\\') and the path with
    backslashes ('/' itself: nothing; '' and '<Unknown>' as they are)."""
    b, starts, lens = c.b.copy(), c.starts, c.lens
    first = b[starts]  # (the separator after an empty path)
    unknown = np.zeros(line.n, dtype=bool)
    maybe = np.flatnonzero((lens == 9) & (first == 60))
    if maybe.size:
        unknown[maybe] = (b[starts[maybe, None] + np.arange(9)] == np.frombuffer(b"<Unknown>", dtype=np.uint8)).all(1)
    b[b == 47] = 92
    kind = np.where((lens == 0) | unknown, 0, np.where(first == 47, 1, 2))
    line.texts([b"", b".", b".\\"], kind)
    b[starts + lens] = 44
    root = (lens == 1) & (first == 47)  # '/': just the comma after it
    line.piece(b, np.where(root, starts + 1, starts), np.where(root, 0, lens) + 1)


def _text_cells(blobs: list[bytes], n: int, prep: tuple[Any, ...]) -> list[_Cells] | None:
    """Text columns (NUL-separated) as cells, each column first through its ``prep`` (None: as it is)."""
    out = []
    for blob, fn in zip(blobs, prep, strict=True):
        if blob is None:  # every cell NULL
            return None
        c = _Cells.of(fn(blob) if fn is not None else blob, n, 0)
        if c is None:
            return None
        out.append(c)
    return out


def _int_cells(blobs: list[bytes], n: int) -> list[_Cells] | None:
    out = []
    for blob in blobs:
        if blob is None or blob.translate(None, _DIGITS):  # a negative or non-integer value: as the batch renderer writes it
            return None
        c = _Cells.of(blob, n, 44)
        if c is None:
            return None
        out.append(c)
    return out


def _times(line: _Line, c: _Cells, tz: timezone) -> bool:
    """The time cells (``fmt``) of FILETIME ticks, nothing for NULL; False when one is 0 (shown by ``fmt``)."""
    got = c.values()
    if got is None:
        return False
    ts, null = got
    if bool((ts[~null] <= 0).any()):
        return False
    t = np.zeros((line.n, 27), dtype=np.uint8)
    _put_times(t, 0, ts, tz)
    line.table(t)
    line.const(b",")
    return True


# MFTECmd_$J_Output.csv: name, extension, entry, sequence, parent entry/sequence, ParentPath (``_csv_parent``),
# usn, time, reasons, attributes, offset, and the empty source file
_J_TEXTS = ["name", "extension", "parent_path", "reasons", "attributes"]
_J_INTS = ["entry", "sequence", "parent_entry", "parent_sequence", "usn", "offset", "ifnull(timestamp, '')"]


def _j_store_text(n: int, texts: list[bytes], ints: list[bytes], tz: timezone,
                  paths: dict[int, Any] | None = None) -> bytes | None:
    """(``paths``: the source paths by id, the last integer column the rows' source ids; else SourceFile empty)"""
    sources = None
    if paths is not None:
        got = _int_cells(ints[-1:], n)
        sources = None if got is None else got[0].values()
        if sources is None:
            return None
        ids, inv = np.unique(sources[0], return_inverse=True)
        if any(type(paths.get(i)) is not str for i in ids.tolist()):
            return None
        ends = [f",{quote_column([paths[i]])[0]}\r\n".encode() for i in ids.tolist()]
        ints = ints[:-1]
    raw_pp = texts[2] is not None and not _special(texts[2])  # else ParentPath cells made (and quoted) in Python
    tc = _text_cells(texts, n, (_quoted, _quoted, None if raw_pp else _parent_cells, None, None))
    ic = _int_cells(ints[:-1], n)
    tsc = _int_cells(ints[-1:], n)
    if tc is None or ic is None or tsc is None or any(int(c.lens.min()) == 0 for c in ic):
        return None
    name, ext, pp, reasons, attrs = tc
    entry, seq, pentry, pseq, usn, offset = ic
    line = _Line(n)
    for c in (name, ext, entry, seq, pentry, pseq):
        line.cells(c)
    if raw_pp:
        _csv_parents(line, pp)
    else:
        line.cells(pp)
    line.cells(usn)
    if not _times(line, tsc[0], tz):
        return None
    for c in (reasons, attrs):
        line.cells(c)
    line.cells(offset, comma=False)
    if sources is None:
        line.const(b",\r\n")
    else:
        line.texts(ends, inv.reshape(-1))
    return line.bytes()


# NLT_UsnJrnl.csv (``nlt_csv_batch``): time, usn, name, full path, reason flags, source info, attribute flags,
# carved, file and parent references
_NLT_TEXTS = ["ifnull(name, '')", "ifnull(parent_path, '')"]
# two values in one integer where they fit (fewer cells to write and parse): the reason flags and the carved flag
# (NULL: not carved; a value neither NULL nor an integer sends the chunk to the batch renderer); an entry and its
# sequence's low 16 bits (an overflow gives a REAL, whose text sends the chunk to the batch renderer)
_NLT_INTS = ["ifnull(timestamp, '')", "ifnull(usn, '')",
             "reason_flags * 2 + CASE typeof(carved) WHEN 'integer' THEN carved != 0 WHEN 'null' THEN 0 END",
             "ifnull(source_info, '')", "attr_flags", "entry * 65536 + (sequence & 65535)",
             "parent_entry * 65536 + (parent_sequence & 65535)"]
_HEX_DIGITS = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def _flags(line: _Line, values: np.ndarray, text: Any) -> None:
    """``text(v)`` of each value and a comma; each distinct value's text made once."""
    uniq, inv = np.unique(values, return_inverse=True)
    line.texts([text(v).encode() + b"," for v in uniq.tolist()], inv.reshape(-1))


def _hex_refs(entry: np.ndarray, seq: np.ndarray, end: bytes) -> np.ndarray:
    """``0x%016X`` of the packed references and ``end``, as an n x (18 + len(end)) byte table."""
    v = ((seq.astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(48)) \
        | (entry.astype(np.uint64) & np.uint64(0xFFFFFFFFFFFF))
    t = np.empty((len(v), 18 + len(end)), dtype=np.uint8)
    t[:, 0] = 48
    t[:, 1] = 120
    t[:, 18:] = np.frombuffer(end, dtype=np.uint8)
    for i in range(16):
        t[:, 17 - i] = _HEX_DIGITS[(v >> np.uint64(4 * i)) & np.uint64(15)]
    return t


def _full_path(line: _Line, name: _Cells, names: bytes, parents: list[str], prefix: dict[str, str]) -> bool:
    """NLT's Full Path: each parent's prefix (once per distinct parent) and the name, or (a cell to quote) the
    quoted column made here; False when the names are not one a row."""
    pre = [t.encode() for t in prefix.values()]
    if _special(names) or any(map(_special, pre)):
        cells = names.decode().split("\x00")
        if len(cells) != len(parents):
            return False
        full = _Cells.of("\x00".join(quote_column([prefix[p] + nm for p, nm in zip(parents, cells, strict=True)]))
                         .encode(), line.n, 0)
        if full is None:
            return False
        line.cells(full)
        return True
    index = {p: i for i, p in enumerate(prefix)}
    line.texts(pre, np.fromiter(map(index.__getitem__, parents), dtype=np.int64, count=line.n))
    line.cells(name)
    return True


def _nlt_store_text(n: int, texts: list[bytes], ints: list[bytes], tz: timezone) -> bytes | None:
    from .logfile import FILE_ATTRS, USN_REASONS, flag_text

    tc = _text_cells(texts[:1], n, (_quoted,))
    ic = _int_cells(ints, n)
    if tc is None or ic is None or texts[1] is None:
        return None
    name = tc[0]
    parents = texts[1].decode().split("\x00")
    if len(parents) != n:
        return None
    prefix = {p: _nlt_prefix(p) for p in set(parents)}
    ts, usn, reasons, source, attrs, fref, pref = ic
    got = [c.values() for c in (reasons, attrs, fref, pref)]
    if any(g is None for g in got):
        return None
    (rc, _rn), (av, _an), (fv, _fn), (pv, _pn) = got  # type: ignore[misc]
    rv, cv = rc >> 1, rc & 1
    ev, sv, pev, psv = fv >> 16, fv & 0xFFFF, pv >> 16, pv & 0xFFFF
    line = _Line(n)
    if not _times(line, ts, tz):
        return None
    line.cells(usn)
    line.cells(name)
    if not _full_path(line, name, texts[0], parents, prefix):
        return None
    _flags(line, rv, lambda v: flag_text(v, USN_REASONS))
    line.cells(source)
    _flags(line, av, lambda v: flag_text(v, FILE_ATTRS))
    line.texts([b",", b"Carved,"], (cv != 0).astype(np.int64))
    line.table(_hex_refs(ev, sv, b","))
    line.table(_hex_refs(pev, psv, b"\r\n"))
    return line.bytes()


def store_batches(shape: CsvShape, db: Any, table: str, tz: timezone) -> Iterator[str | bytes | list[list[str]]] | None:
    """The ``usnjrnl`` table's $J CSV (MFTECmd's or NLT's shape) for ``export_table``, by chunks; None for other
    tables or shapes (or a database not in UTF-8): the export then reads rows."""
    if table != "usnjrnl" or shape.batch is None or db.execute("PRAGMA encoding").fetchone()[0] != "UTF-8":
        return None
    if shape.batch is _j_csv_batch:
        if "source_file" not in shape.batch_reads:  # SourceFile empty
            return _store_batches(db, table, shape, tz, _J_TEXTS, _J_INTS, _j_store_text)
        if "source_file" in [r[1] for r in db.execute("PRAGMA table_info(usnjrnl)")]:
            return None
        # SourceFile as the export gives it: the path the sources table names for the row's source
        paths = dict(db.execute("SELECT id, path FROM sources").fetchall())
        return _store_batches(db, table, shape, tz, _J_TEXTS, [*_J_INTS, "source_id"],
                              lambda n, texts, ints, tz: _j_store_text(n, texts, ints, tz, paths))
    if shape.batch is nlt_csv_batch:
        return _store_batches(db, table, shape, tz, _NLT_TEXTS, _NLT_INTS, _nlt_store_text)
    return None


def _j_csv_sql(tz: timezone) -> str:
    """``_JCsvShape.row`` in SQL (same cells; a test compares the two byte for byte)."""
    from ..store.export import sql_time

    pp = ("CASE WHEN COALESCE(parent_path, '') IN ('', '<Unknown>') THEN COALESCE(parent_path, '') "
          "WHEN parent_path = '/' THEN '.' WHEN substr(parent_path, 1, 1) = '/' THEN '.' || replace(parent_path, '/', '\\') "
          "ELSE '.\\' || replace(parent_path, '/', '\\') END")
    return (f"SELECT name, extension, entry, sequence, parent_entry, parent_sequence, {pp}, usn, "
            f"{sql_time('timestamp', tz)}, reasons, attributes, offset, "
            "COALESCE((SELECT path FROM sources WHERE sources.id = usnjrnl.source_id), '') FROM usnjrnl ORDER BY id")


CSV = {
    "usnjrnl": _JCsvShape(
        "MFTECmd_$J_Output.csv",
        [
            col("Name", "name"), col("Extension", "extension"), col("EntryNumber", "entry"),
            col("SequenceNumber", "sequence"), col("ParentEntryNumber", "parent_entry"),
            col("ParentSequenceNumber", "parent_sequence"),
            type(col("x"))("ParentPath", lambda d, _tz: _csv_parent(d.get("parent_path"))),
            col("UpdateSequenceNumber", "usn"), tcol("UpdateTimestamp", "timestamp"),
            col("UpdateReasons", "reasons"), col("FileAttributes", "attributes"), col("OffsetToData", "offset"),
            col("SourceFile", "source_file"),
        ],
        sql=_j_csv_sql,
        batch=_j_csv_batch,
        batch_reads=("name", "extension", "entry", "sequence", "parent_entry", "parent_sequence", "parent_path", "usn",
                     "timestamp", "reasons", "attributes", "offset", "source_file"),
    ),
}


# The same events as ``timeline()``, derived in SQLite when the records go to a case store: a journal has
# millions of records, and one INSERT ... SELECT costs a fraction of a Python event per record.
_SQL_PATH = (
    "CASE WHEN COALESCE(parent_path, '') = '' THEN COALESCE(name, '') "
    "WHEN parent_path = '/' THEN '/' || COALESCE(name, '') "
    "ELSE parent_path || '/' || COALESCE(name, '') END"
)
TIMELINE_SQL = {
    "usnjrnl": (
        f"SELECT timestamp AS ts, reasons AS ts_desc, '' AS user, {_SQL_PATH} AS path, "
        f"'USN ' || reasons || ': ' || replace({_SQL_PATH}, '/', '\\') AS summary, id "
        "FROM usnjrnl WHERE source_id = :source_id ORDER BY id"
    )
}
