"""$MFT: one row per (file record, file name) and per alternate data stream, MFTECmd-shaped.

Own struct-based decoder (no library): record size from the header (1024 or 4096), update-sequence fixups
(a mismatch is a warning and a flag, never fatal), extension records merged into their base record,
$STANDARD_INFORMATION, $FILE_NAME (all namespaces), $DATA (named streams = ADS, resident
Zone.Identifier content), $REPARSE_POINT, $OBJECT_ID, $LOGGED_UTILITY_STREAM.

Two passes over the file, both walking 4 MiB chunks of a read-only mapping (pages let go as walked): pass 1
keeps a compact name/parent table (:class:`PathResolver`, also used by the $J and $LogFile parsers of the same
volume); pass 2 decodes every record fully and streams its rows. Nothing keeps all rows in memory. A CSV-only
run (``parse mft --csv``) shares both passes with a forked worker (see ``_split_csv``). Within a chunk, fixups, headers and the
attribute walk are vectorised with numpy; every record that path cannot reproduce exactly (anything that
warns, extension records, ADS, reparse points...) goes through the per-record decoder, in file order, so the
rows and warnings are those of the per-record decoder (``tests/test_mft_fastpath.py``).

Paths use ``/`` (``/Users/x/a.txt``); a file whose parent is missing, or was reused (sequence mismatch),
is placed under ``<Orphan>/``. A parent reference is valid when the parent record has the same sequence
number, or is free and has that sequence number + 1 (NTFS increments it when it frees a record).
"""

from __future__ import annotations

import io
import mmap
import multiprocessing as mp
import os
import pickle
import re
import struct
import threading
from array import array
from codecs import utf_16_le_decode as _d16  # = bytes.decode('utf-16-le'), final=True; no codec lookup
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..model import Record, RowBatch, TimelineEvent
from ..store.export import csv_line, quote_column
from ..timecols import _T2, ticks_matrix
from ..timeutil import FMT_MAX, fmt, tz_offset_ticks
from . import _csvpart
from .base import CsvShape, ParseContext, bool_str, col, flatten, tcol
from .zoneid import parse_zone_identifier

NAME = "mft"
CATEGORY = "file"

ORPHAN = "<Orphan>"
ROOT_ENTRY = 5
REF_MASK = 0xFFFFFFFFFFFF
_FT_MAX = 0x7FFFFFFFFFFFFFFF

NAME_TYPES = ("Posix", "Windows", "Dos", "DosWindows")  # MFTECmd's NameTypes enum
SI_FLAG_NAMES: tuple[tuple[int, str], ...] = (
    (0x01, "ReadOnly"), (0x02, "Hidden"), (0x04, "System"), (0x08, "VolumeLabel"), (0x10, "Directory"),
    (0x20, "Archive"), (0x40, "Device"), (0x80, "Normal"), (0x100, "Temporary"), (0x200, "SparseFile"),
    (0x400, "ReparsePoint"), (0x800, "Compressed"), (0x1000, "Offline"), (0x2000, "NotContentIndexed"),
    (0x4000, "Encrypted"), (0x8000, "IntegrityStream"), (0x10000, "Virtual"), (0x20000, "NoScrubData"),
    (0x40000, "HasEa"), (0x80000, "Pinned"), (0x100000, "Unpinned"), (0x400000, "RecallOnDataAccess"),
    (0x10000000, "IsDirectory"), (0x20000000, "IsIndexView"),
)
_SI_KNOWN = 0
for _b, _n in SI_FLAG_NAMES:
    _SI_KNOWN |= _b

ATTR_NAMES = {
    0x10: "$STANDARD_INFORMATION", 0x20: "$ATTRIBUTE_LIST", 0x30: "$FILE_NAME", 0x40: "$OBJECT_ID",
    0x50: "$SECURITY_DESCRIPTOR", 0x60: "$VOLUME_NAME", 0x70: "$VOLUME_INFORMATION", 0x80: "$DATA",
    0x90: "$INDEX_ROOT", 0xA0: "$INDEX_ALLOCATION", 0xB0: "$BITMAP", 0xC0: "$REPARSE_POINT",
    0xD0: "$EA_INFORMATION", 0xE0: "$EA", 0x100: "$LOGGED_UTILITY_STREAM",
}

TABLES: dict[str, list[tuple[str, str]]] = {
    "mft": [
        ("entry", "INTEGER"), ("sequence", "INTEGER"), ("parent_entry", "INTEGER"), ("parent_sequence", "INTEGER"),
        ("in_use", "INTEGER"), ("is_dir", "INTEGER"), ("has_ads", "INTEGER"), ("is_ads", "INTEGER"),
        ("name", "TEXT"), ("extension", "TEXT"), ("parent_path", "TEXT"), ("full_path", "TEXT"),
        ("file_size", "INTEGER"), ("reference_count", "INTEGER"), ("reparse_target", "TEXT"),
        ("name_type", "TEXT"), ("short_name", "TEXT"),
        ("si_created", "INTEGER"), ("si_modified", "INTEGER"), ("si_record_changed", "INTEGER"),
        ("si_accessed", "INTEGER"),
        ("fn_created", "INTEGER"), ("fn_modified", "INTEGER"), ("fn_record_changed", "INTEGER"),
        ("fn_accessed", "INTEGER"),
        ("si_lt_fn", "INTEGER"), ("usec_zeros", "INTEGER"), ("copied", "INTEGER"),
        ("si_flags", "INTEGER"), ("fn_flags", "INTEGER"), ("usn", "INTEGER"), ("security_id", "INTEGER"),
        ("logfile_seq", "INTEGER"), ("object_id", "TEXT"), ("logged_util_stream", "TEXT"),
        ("stream_name", "TEXT"), ("resident", "INTEGER"), ("resident_data_len", "INTEGER"),
        ("zone_id_contents", "TEXT"), ("extension_entries", "TEXT"), ("fixup_ok", "INTEGER"), ("offset", "INTEGER"),
    ],
    "zone_identifier": [
        ("path", "TEXT"), ("entry", "INTEGER"), ("sequence", "INTEGER"), ("in_use", "INTEGER"),
        ("zone_id", "INTEGER"), ("referrer_url", "TEXT"), ("host_url", "TEXT"),
        ("last_writer_package_family_name", "TEXT"), ("app_zone_id", "TEXT"), ("resident", "INTEGER"),
        ("size", "INTEGER"), ("raw", "TEXT"), ("offset", "INTEGER"),
    ],
}

# --- binary layouts --------------------------------------------------------------------------------------
_HDR = struct.Struct("<4sHHQHHHHIIQHHI")  # FILE record header, 48 bytes
_ATTR = struct.Struct("<IIBBHHH")  # common attribute header, 16 bytes
_RES = struct.Struct("<IH")  # resident: value length, value offset (at +0x10)
_NONRES = struct.Struct("<qqHH4xQQQ")  # non-resident: vcn lo/hi, runs offset, cu, alloc, real, init (at +0x10)
_SI = struct.Struct("<QQQQI")  # created, modified, mft modified, accessed, flags
_SI_EXT = struct.Struct("<IIII")  # owner id, security id (at +0x30), quota ignored here
_Q = struct.Struct("<Q")
_FN = struct.Struct("<QQQQQQQIIBB")  # parent ref, c, m, mftm, a, alloc, real, flags, reparse, name len, ns
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_RP = struct.Struct("<IHHHHHH")  # reparse tag, data len, reserved, subst off, subst len, print off, print len
_IR = struct.Struct("<IIIB3xIIIB3x")  # $INDEX_ROOT: type, collation, block size, clusters, node header
_IE = struct.Struct("<QHHI")  # index entry: file ref, length, key length, flags

FILE_SIG = b"FILE"
BAAD_SIG = b"BAAD"
STRIDE = 512  # the update-sequence stride is 512 bytes whatever the sector size


def _ft(t: int) -> int | None:
    return t if 0 < t <= _FT_MAX else None


_flags_cache: dict[int, str] = {}


def si_flags_text(v: int | None) -> str:
    """MFTECmd-style ``Hidden|System|Archive``; unknown bits as hex; 0 -> ``None``."""
    if v is None:
        return ""
    t = _flags_cache.get(v)
    if t is not None:
        return t
    if v == 0:
        return "None"
    out = [n for b, n in SI_FLAG_NAMES if v & b]
    if v & ~_SI_KNOWN:
        out.append(f"0x{v & ~_SI_KNOWN:X}")
    t = "|".join(out)
    if len(_flags_cache) < 65536:
        _flags_cache[v] = t
    return t


# --- fixups ----------------------------------------------------------------------------------------------
def apply_fixups(rec: bytes, usa_off: int, usa_cnt: int) -> tuple[bytes, int, str]:
    """Undo the update-sequence protection. Returns (fixed bytes, status, problem).

    status: 0 ok, 1 mismatch (bytes still replaced, as Windows' chkdsk/MFTECmd would read them), 2 bad array.
    """
    size = len(rec)
    n = usa_cnt - 1
    if n < 1 or n * STRIDE > size or usa_off < 8 or usa_off + 2 * usa_cnt > size:
        return rec, 2, f"update sequence array invalid (offset {usa_off}, count {usa_cnt}, record {size} bytes)"
    usn = rec[usa_off:usa_off + 2]
    parts = []
    prev = 0
    bad = ""
    for i in range(1, n + 1):
        end = i * STRIDE
        if rec[end - 2:end] != usn and not bad:
            bad = (f"fixup mismatch in stride {i} at record offset {end - 2}: expected {usn.hex()}, "
                   f"found {rec[end - 2:end].hex()}")
        parts.append(rec[prev:end - 2])
        parts.append(rec[usa_off + 2 * i:usa_off + 2 * i + 2])
        prev = end
    parts.append(rec[prev:])
    return b"".join(parts), (1 if bad else 0), bad


# --- reading ---------------------------------------------------------------------------------------------
def detect_record_size(fh: BinaryIO, file_size: int) -> int:
    """Allocated record size from the first FILE header (1024 or 4096); 1024 when nothing says otherwise."""
    fh.seek(0)
    head = fh.read(min(file_size, 1 << 20))
    pos = 0
    while True:
        pos = head.find(FILE_SIG, pos)
        if pos < 0 or pos + 48 > len(head):
            return 1024
        if pos % 512 == 0:
            alloc = _U32.unpack_from(head, pos + 0x1C)[0]
            if alloc in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
                return alloc
        pos += 4


def iter_raw(path: Path, rec_size: int | None = None, block: int = 4 << 20,
             start: int = 0, stop: int | None = None) -> Iterator[tuple[int, int, bytes]]:
    """(record index, file offset, raw record bytes) for every record slot, read in large blocks."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        rs = rec_size or detect_record_size(fh, size)
        per = max(1, block // rs)
        idx = start
        last = size // rs if stop is None else min(stop, size // rs)
        fh.seek(idx * rs)
        while idx < last:
            n = min(per, last - idx)
            buf = fh.read(n * rs)
            if not buf:
                break
            got = len(buf) // rs
            for k in range(got):
                o = k * rs
                yield idx + k, (idx + k) * rs, bytes(buf[o:o + rs])
            idx += got
            if got < n:
                break


# --- detailed decoding (tests, `--de`-style dumps, facts) ------------------------------------------------
@dataclass
class Attribute:
    type: int
    name: str
    resident: bool
    flags: int
    attr_id: int
    offset: int  # within the record
    length: int
    value: bytes = b""  # resident value
    lowest_vcn: int = 0
    highest_vcn: int = 0
    allocated_size: int = 0
    real_size: int = 0
    initialized_size: int = 0
    runs_raw: bytes = b""

    @property
    def type_name(self) -> str:
        return ATTR_NAMES.get(self.type, f"0x{self.type:X}")

    @property
    def size(self) -> int:
        return len(self.value) if self.resident else self.real_size

    def data_runs(self) -> list[tuple[int | None, int]]:
        """Decoded mapping pairs: (absolute LCN or None for sparse, length in clusters)."""
        return decode_runs(self.runs_raw)


@dataclass
class Entry:
    entry: int
    sequence: int
    flags: int
    lsn: int
    links: int
    base_ref: int
    used_size: int
    alloc_size: int
    fixup_ok: bool
    offset: int
    attributes: list[Attribute] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def in_use(self) -> bool:
        return bool(self.flags & 1)

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & 2)

    def find(self, atype: int) -> list[Attribute]:
        return [a for a in self.attributes if a.type == atype]

    def file_names(self) -> list[FileName]:
        out = []
        for a in self.find(0x30):
            fnv = decode_file_name(a.value)
            if fnv:
                out.append(fnv)
        return out


@dataclass
class FileName:
    parent_entry: int
    parent_sequence: int
    created: int | None
    modified: int | None
    record_changed: int | None
    accessed: int | None
    allocated_size: int
    real_size: int
    flags: int
    reparse: int
    namespace: int
    name: str


def decode_file_name(v: bytes) -> FileName | None:
    if len(v) < 66:
        return None
    pref, c, m, r, a, alloc, real, flags, rep, nlen, ns = _FN.unpack_from(v, 0)
    name = bytes(v[66:66 + 2 * nlen]).decode("utf-16-le", "replace")
    return FileName(pref & REF_MASK, pref >> 48, _ft(c), _ft(m), _ft(r), _ft(a), alloc, real, flags, rep, ns, name)


def decode_runs(raw: bytes) -> list[tuple[int | None, int]]:
    """NTFS mapping pairs -> [(lcn or None if sparse, clusters)]. Stops at the 0 terminator or bad data."""
    out: list[tuple[int | None, int]] = []
    pos = 0
    lcn = 0
    n = len(raw)
    while pos < n:
        h = raw[pos]
        if h == 0:
            break
        ls, os_ = h & 0x0F, h >> 4
        pos += 1
        if ls == 0 or ls > 8 or os_ > 8 or pos + ls + os_ > n:
            break
        length = int.from_bytes(raw[pos:pos + ls], "little")
        pos += ls
        if os_ == 0:
            out.append((None, length))
        else:
            lcn += int.from_bytes(raw[pos:pos + os_], "little", signed=True)
            pos += os_
            out.append((lcn, length))
    return out


@dataclass
class IndexEntry:
    file_entry: int
    file_sequence: int
    length: int
    key_length: int
    flags: int
    file_name: FileName | None


@dataclass
class IndexRoot:
    attr_type: int
    collation_rule: int
    index_block_size: int
    clusters_per_block: int
    node_flags: int
    entries: list[IndexEntry]


def decode_index_root(v: bytes) -> IndexRoot | None:
    """$INDEX_ROOT value: header, node header and its index entries (the closing empty entry excluded)."""
    if len(v) < _IR.size:
        return None
    atype, coll, bsize, clus, eoff, total, _alloc, nflags = _IR.unpack_from(v, 0)
    entries: list[IndexEntry] = []
    pos = 16 + eoff
    end = min(len(v), 16 + total)
    while pos + 16 <= end:
        ref, ln, kl, fl = _IE.unpack_from(v, pos)
        if ln < 16:
            break
        fnv = decode_file_name(v[pos + 16:pos + 16 + kl]) if (atype == 0x30 and kl) else None
        if fl & 2:  # the closing entry: no key, only (maybe) a sub-node pointer
            if kl:
                entries.append(IndexEntry(ref & REF_MASK, ref >> 48, ln, kl, fl, fnv))
            break
        entries.append(IndexEntry(ref & REF_MASK, ref >> 48, ln, kl, fl, fnv))
        pos += ln
    return IndexRoot(atype, coll, bsize, clus, nflags, entries)


def decode_record(raw: bytes, offset: int = 0, index: int | None = None) -> Entry | None:
    """Full decode of one record (any size). None when it has no FILE signature."""
    if len(raw) < 48 or raw[:4] != FILE_SIG:
        return None
    _sig, usa_off, usa_cnt, lsn, seq, links, aoff, flags, used, alloc, base, _nid, _p, entry = _HDR.unpack_from(raw, 0)
    rec, status, problem = apply_fixups(bytes(raw), usa_off, usa_cnt)
    e = Entry(entry if usa_off >= 0x30 or index is None else index, seq, flags, lsn, links, base, used, alloc,
              status == 0, offset)
    if problem:
        e.problems.append(problem)
    limit = min(used, len(rec))
    pos = aoff
    while pos + 16 <= limit:
        atype, alen, nonres, nlen, noff, aflags, aid = _ATTR.unpack_from(rec, pos)
        if atype == 0xFFFFFFFF:
            break
        if alen < 16 or pos + alen > limit:
            e.problems.append(f"attribute 0x{atype:X} at record offset {pos}: length {alen} overruns {limit}")
            break
        name = rec[pos + noff:pos + noff + 2 * nlen].decode("utf-16-le", "replace") if nlen else ""
        a = Attribute(atype, name, not nonres, aflags, aid, pos, alen)
        if not nonres:
            vlen, voff = _RES.unpack_from(rec, pos + 16)
            a.value = rec[pos + voff:min(pos + voff + vlen, pos + alen)]
        elif alen >= 0x40:
            lo, hi, roff, _cu, asz, rsz, isz = _NONRES.unpack_from(rec, pos + 16)
            a.lowest_vcn, a.highest_vcn = lo, hi
            a.allocated_size, a.real_size, a.initialized_size = asz, rsz, isz
            a.runs_raw = rec[pos + roff:pos + alen] if roff < alen else b""
        e.attributes.append(a)
        pos += alen
    return e


def read_entries(path: Path, rec_size: int | None = None) -> Iterator[Entry]:
    """Every FILE record of a $MFT file, fully decoded (slow path, for inspection and tests)."""
    size = os.path.getsize(path)
    for idx, off, raw in iter_raw(path, rec_size):
        e = decode_record(raw, off, idx if size > len(raw) else None)
        if e is not None:
            if size > len(raw):
                e.entry = idx
            yield e


# --- pass 1: the name/parent table -----------------------------------------------------------------------
_LAZY = False  # a name not decoded yet (a singleton: compared by identity, pickled as one byte)


class PathResolver:
    """Entry -> name, parent reference and full path, with sequence checks.

    Compact: one ``array`` per field plus a list of names (``None`` where the slot holds no FILE record).
    Directory paths are cached as they are built.
    """

    def __init__(self, count: int, path: Path | None = None, rs: int = 1024) -> None:
        self.seq = array("H", bytes(2 * count))
        self.flags = bytearray(count)
        self.parent = array("Q", bytes(8 * count))
        self.names: list[str | bool | None] = [None] * count  # bool: only ``_LAZY``
        self._cache: dict[int, str] = {}
        self.count = count
        # Pass 1 of a file (``path``) leaves the records that are not directories undecoded: their slot in
        # ``names`` holds ``_LAZY`` until their name or parent is first asked for (most never are: paths go
        # through directories); then ``_pass1_record`` decodes the record from the file (a handle is kept).
        self.rs = rs
        self._fh = open(path, "rb") if path is not None and count > 1 else None  # noqa: SIM115 - lives with it

    def _load(self, entry: int) -> str | None:
        """Pass 1 of a record left for later (``_LAZY``): its name (None if it holds none), parent reference."""
        assert self._fh is not None
        try:
            if hasattr(os, "pread"):
                raw = os.pread(self._fh.fileno(), self.rs, entry * self.rs)
            else:  # Windows: the handle is this resolver's own
                self._fh.seek(entry * self.rs)
                raw = self._fh.read(self.rs)
        except OSError:
            raw = b""
        self.names[entry] = None
        _pass1_record(entry, raw, self.rs, False, self, {}, {})
        nm = self.names[entry]
        return nm if isinstance(nm, str) else None

    # -- queries --
    def exists(self, entry: int) -> bool:
        return 0 <= entry < self.count and self.name(entry) is not None

    def name(self, entry: int) -> str | None:
        if not 0 <= entry < self.count:
            return None
        nm = self.names[entry]
        if nm is _LAZY:
            return self._load(entry)
        return nm if isinstance(nm, str) else None

    def sequence(self, entry: int) -> int | None:
        return self.seq[entry] if self.exists(entry) else None

    def in_use(self, entry: int) -> bool:
        return self.exists(entry) and bool(self.flags[entry] & 1)

    def valid_ref(self, entry: int, seq: int) -> bool:
        """Does (entry, seq) still designate the record held in this slot?

        Same sequence, or a free record whose sequence was bumped by one when it was freed;
        sequence 0 in the reference (NTFS 1.x, some tools) is accepted.
        """
        if not (0 <= entry < self.count):
            return False
        nm = self.names[entry]
        if nm is None or (nm is _LAZY and self._load(entry) is None):
            return False
        s = self.seq[entry]
        if seq == 0 or s == seq:
            return True
        return not (self.flags[entry] & 1) and s == ((seq + 1) & 0xFFFF or 1)

    def path(self, entry: int) -> str:
        """Full path of the record in this slot ('/' for the root; ``<Orphan>/...`` if detached)."""
        if entry == ROOT_ENTRY:
            return "/"
        cached = self._cache.get(entry)
        if cached is not None:
            return cached
        names = self.names
        chain: list[int] = []
        cur = entry
        base = ""
        seen: set[int] = set()
        while True:
            if cur == ROOT_ENTRY:
                base = ""
                break
            c = self._cache.get(cur)
            if c is not None and cur != entry:
                base = c
                break
            nm = names[cur] if 0 <= cur < self.count else None
            if nm is _LAZY:
                nm = self._load(cur)
            if nm is None or cur in seen or len(chain) > 4096:
                base = ORPHAN
                break
            seen.add(cur)
            chain.append(cur)
            pref = self.parent[cur]
            pe, ps = pref & REF_MASK, pref >> 48
            if pe == cur or not self.valid_ref(pe, ps):
                base = ORPHAN
                break
            cur = pe
        # build from the top, caching directories
        p = base
        for e in reversed(chain):
            p = f"{p}/{names[e]}"
            if self.flags[e] & 2:
                self._cache[e] = p
        return p

    def dir_path(self, entry: int, seq: int) -> str | None:
        """Path of a parent reference, or None when the reference is stale/missing."""
        if not self.valid_ref(entry, seq):
            return None
        return self.path(entry)

    def resolve(self, entry: int, seq: int) -> str | None:
        """Full path of (entry, seq), or None if the entry is unknown or was reused since."""
        return self.dir_path(entry, seq)

    def resolve_ref(self, ref: int) -> str | None:
        return self.resolve(ref & REF_MASK, ref >> 48)

    def __len__(self) -> int:
        return self.count


_NS_RANK = (1, 0, 3, 2)  # preference for the display/path name: Win32, POSIX, Win32&DOS... DOS last


def _best_name(fns: list[tuple[int, int, str]]) -> tuple[int, int, str] | None:
    """fns: (namespace, parent ref, name); prefer Win32 / POSIX / Win32&DOS over DOS."""
    best = None
    rank = 9
    for t in fns:
        ns = t[0]
        r = 3 if ns == 2 else (0 if ns in (1, 3) else 1)
        if r < rank:
            best, rank = t, r
    return best


def _scan_names(rec: bytes, aoff: int, used: int) -> list[tuple[int, int, str]]:
    """$FILE_NAME attributes of a (fixed-up) record: (namespace, parent ref, name). Fast path of pass 1."""
    out = []
    pos = aoff
    unpack_attr = _ATTR.unpack_from
    while pos + 16 <= used:
        atype, alen, nonres, _nl, _no, _fl, _id = unpack_attr(rec, pos)
        if atype > 0x30 or alen < 16 or pos + alen > used:
            break
        if atype == 0x30 and not nonres:
            vlen, voff = _RES.unpack_from(rec, pos + 16)
            vs = pos + voff
            if vlen >= 66 and vs + 66 <= pos + alen:
                pref = _Q.unpack_from(rec, vs)[0]
                nlen = rec[vs + 64]
                out.append((rec[vs + 65], pref, rec[vs + 66:vs + 66 + 2 * nlen].decode("utf-16-le", "replace")))
        pos += alen
    return out


def _names_end(rec: bytes, aoff: int, used: int) -> int:
    """End offset of the last $FILE_NAME attribute (0 if none): does pass 1 need the fixups?"""
    pos = aoff
    last = 0
    while pos + 16 <= used:
        atype, alen = struct.unpack_from("<II", rec, pos)
        if atype > 0x30 or alen < 16:
            break
        pos += alen
        if atype == 0x30:
            last = pos
    return last


# --- vectorised chunk decoding (numpy) -------------------------------------------------------------------
# Both passes read the file in chunks of _CHUNK_BYTES and decode headers, update-sequence fixups and the
# attribute walk for all records of a chunk at once. A record the vectorised path cannot reproduce exactly
# (anything that would warn, extension records, $ATTRIBUTE_LIST-style oddities, ADS, reparse points, object
# ids, more than _K file names...) goes through the per-record decoder below, in file order, so rows and
# warnings are the same as the per-record decoder gives for every record.
_CHUNK_BYTES = 4 << 20  # 4,096 records of 1 KiB; three copies alive per chunk (raw, fixed-up, bytes)
_K = 4  # $FILE_NAME attributes kept per record on the fast path
_MAX_STEPS = 48  # attributes walked per record on the fast path
_FILE_U32 = int.from_bytes(FILE_SIG, "little")
_AR = {k: np.arange(k, dtype=np.int64) for k in (2, 4, 8)}
_SHIFT = {2: 1, 4: 2, 8: 3}


def _iter_chunks(path: Path, rs: int, count: int, first: int = 0,
                 mapped: bool = False) -> Iterator[tuple[int, memoryview, int]]:
    """(first record index, bytes, records) of the chunks holding records ``first`` to ``count - 1``, read one
    after the other into the same buffer, which ``_Chunk`` fixes up in place: a chunk's bytes are good until the
    next one is asked for (what is kept of a chunk is copied out of it). A page-cache copy into memory already
    mapped costs less than faulting in the pages of a mapping of the file and copying them to fix them up.
    ``mapped`` (pass 1, which reads headers and directories only, in place): read-only views of a mapping of the
    file instead, whose pages are let go once the chunk has been used."""
    if mapped:
        with open(path, "rb", buffering=0) as fh:
            count = min(count, os.fstat(fh.fileno()).st_size // rs)
            if first < count:
                yield from _mapped_chunks(fh, rs, count, first, max(1, _CHUNK_BYTES // rs))
        return
    chunks = _Chunks(path, rs, count)
    try:
        count = min(count, os.fstat(chunks.fh.fileno()).st_size // rs)
        for idx in range(first, count, chunks.per):
            item = chunks.read(idx, min(chunks.per, count - idx))
            if not item[2]:  # the file shrank under us
                return
            yield item
    finally:
        chunks.close()


def _mapped_chunks(fh: Any, rs: int, count: int, first: int, per: int) -> Iterator[tuple[int, memoryview, int]]:
    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    drop = getattr(mmap, "MADV_DONTNEED", None)
    view = memoryview(mm)
    try:
        for idx in range(first, count, per):
            n = min(per, count - idx)
            yield idx, view[idx * rs:(idx + n) * rs], n
            if drop is not None:
                a = idx * rs // mmap.PAGESIZE * mmap.PAGESIZE
                mm.madvise(drop, a, (idx + n) * rs - a)
    finally:
        del view
        try:
            mm.close()
        except BufferError:  # a caller still holds a view: the mapping goes with the last one
            pass


def _g(flat: np.ndarray, idx: np.ndarray, nbytes: int, dtype: str) -> np.ndarray:
    """Little-endian values of ``nbytes`` at byte offsets ``idx`` (any alignment) of a flat uint8 array."""
    idx = np.minimum(idx, flat.size - nbytes)
    if not (idx & (nbytes - 1)).any() and not flat.size % nbytes:  # all aligned (the usual case): one gather
        return flat.view(dtype)[idx >> _SHIFT[nbytes]]
    return flat[idx[:, None] + _AR[nbytes]].view(dtype)[:, 0]


def _attr_heads(flat: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, ...]:
    """The common and resident header fields of attributes at byte offsets ``bi``: type, length, non-resident
    flag, name length, value length, value offset (as ``_g`` reads them one by one); one gather of three 8-byte
    words each when every offset is 8-aligned with 24 bytes after it (the usual case)."""
    if bi.size and not (bi & 7).any() and int(bi.max()) + 24 <= flat.size and not flat.size & 7:
        w = _word_rows(flat, 3)[bi >> 3]
        w4, w1, w2 = w.view("<u4"), w.view(np.uint8), w.view("<u2")  # (views of the gathered 24 bytes)
        return (w4[:, 0], w4[:, 1].astype(np.int64), w1[:, 8], w1[:, 9], w4[:, 4].astype(np.int64),
                w2[:, 10].astype(np.int64))
    return (_g(flat, bi, 4, "<u4"), _g(flat, bi + 4, 4, "<u4").astype(np.int64), flat[np.minimum(bi + 8, flat.size - 1)],
            flat[np.minimum(bi + 9, flat.size - 1)], _g(flat, bi + 16, 4, "<u4").astype(np.int64),
            _g(flat, bi + 20, 2, "<u2").astype(np.int64))


def _words(flat: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray | None:
    """The ``k`` 8-byte little-endian words at each byte offset ``idx`` as an (n, k) array, in one gather; None
    unless every offset is 8-aligned with ``8 * k`` bytes after it (then ``_g`` reads the fields)."""
    if not idx.size or (idx & 7).any() or int(idx.max()) + 8 * k > flat.size or flat.size & 7:
        return None
    return _word_rows(flat, k)[idx >> 3]


def _word_rows(flat: np.ndarray, k: int) -> np.ndarray:
    """A read-only view of ``flat`` as overlapping rows of ``k`` 8-byte words, row ``i`` starting at word ``i``:
    a row gather copies ``8 * k`` contiguous bytes (a 2-D fancy index costs 5x more)."""
    v = flat.view("<u8")
    return np.lib.stride_tricks.as_strided(v, shape=(v.size - k + 1, k), strides=(8, 8), writeable=False)


class _Chunk:
    """Header fields and fixed-up bytes of ``n`` records of ``rs`` bytes."""

    def __init__(self, buf: bytes | memoryview, n: int, rs: int, fix: bool = True) -> None:
        a = np.frombuffer(buf, np.uint8, n * rs).reshape(n, rs)
        h = np.ascontiguousarray(a[:, :48])
        h16, h32, h64 = h.view("<u2"), h.view("<u4"), h.view("<u8")
        self.n, self.rs = n, rs
        self.is_file = h32[:, 0] == _FILE_U32
        self.lsn, self.seq, self.links = h64[:, 1], h16[:, 8], h16[:, 9]
        self.aoff = h16[:, 10].astype(np.int64)
        self.flags = h16[:, 11]
        self.used = h32[:, 6].astype(np.int64)
        self.base = h64[:, 4]
        self._fbytes: bytes | None = None
        self._saved: np.ndarray | None = None  # the bytes fixups replaced (``raw``), when fixed up
        if not fix:  # pass 1 reads only what lies before the first stride end: the bytes as they are
            self.fix_ok = self.is_file
            self.fixed = a
            self.flat = a.reshape(-1)
            return
        uo = h16[:, 2].astype(np.int64)
        cnt = h16[:, 3].astype(np.int64)
        nstr = cnt - 1
        valid = self.is_file & (nstr >= 1) & (nstr * STRIDE <= rs) & (uo >= 8) & (uo + 2 * cnt <= rs)
        rows = np.arange(n)
        uoc = np.where(valid, uo, 0)
        af = a.reshape(-1)  # scalar gathers by flat offset (a 2-D fancy index costs 2.5x more)
        u0, u1 = af[rows * rs + uoc], af[rows * rs + uoc + 1]
        bad = np.zeros(n, dtype=bool)
        ends = np.arange(STRIDE - 2, rs, STRIDE)
        ends = np.sort(np.concatenate((ends, ends + 1)))
        self._ends = ends
        self._saved = a[:, ends]
        patch = []  # every value read before any is written: an update sequence array may overlap a stride end
        for i in range(1, rs // STRIDE + 1):
            m = valid & (nstr >= i)
            e = i * STRIDE
            bad |= m & ((a[:, e - 2] != u0) | (a[:, e - 1] != u1))
            r = np.nonzero(m)[0]
            at = r * rs + uoc[r] + 2 * i
            patch.append((r * rs + e, af[at], af[at + 1]))
        fixed = a if a.flags.writeable else a.copy()
        ff = fixed.reshape(-1)
        for at, v0, v1 in patch:
            ff[at - 2] = v0
            ff[at - 1] = v1
        self.fix_ok = valid & ~bad  # apply_fixups status 0
        self.fixed = fixed
        self.flat = fixed.reshape(-1)

    def raw(self, i: int) -> bytes:
        """Record ``i`` as it was read, before its fixups."""
        if self._saved is None:
            return self.fixed[i].tobytes()
        r = self.fixed[i].copy()
        r[self._ends] = self._saved[i]
        return r.tobytes()

    @property
    def fbytes(self) -> bytes:
        """The fixed-up bytes (made on first use)."""
        if self._fbytes is None:
            self._fbytes = self.fixed.tobytes()
        return self._fbytes


def _walk_names(c: _Chunk, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 1 on a chunk: the $FILE_NAME walk of ``_scan_names`` on the fixed-up bytes, for every FILE record
    whose walk reads only bytes before the first stride end (where raw and fixed-up bytes agree, so the
    per-record two-step scan gives the same names), among the records ``which``. Returns (fast mask, FN value
    offsets (n, _K), count)."""
    n, rs, flat = c.n, c.rs, c.flat
    lim = np.minimum(c.used, rs)
    fast = c.is_file & which
    act = fast.copy()
    pos = c.aoff.copy()
    fn_vs = np.full((n, _K), -1, dtype=np.int64)
    fn_cnt = np.zeros(n, dtype=np.int64)
    edge = STRIDE - 2
    for _ in range(_MAX_STEPS):
        r = np.nonzero(act)[0]
        if not r.size:
            break
        p = pos[r]
        go = p + 16 <= lim[r]
        act[r[~go]] = False
        r, p = r[go], p[go]
        far = p + 16 > edge  # a header the raw scan may not see
        fast[r[far]] = False
        act[r[far]] = False
        r, p = r[~far], p[~far]
        bi = r * rs + p
        at = _g(flat, bi, 4, "<u4")
        al = _g(flat, bi + 4, 4, "<u4").astype(np.int64)
        stop = (at > 0x30) | (al < 16) | (p + al > lim[r])
        act[r[stop]] = False
        keep = ~stop
        r, p, al, at, bi = r[keep], p[keep], al[keep], at[keep], bi[keep]
        long_ = p + al > edge  # the raw scan would stop here, the fixed-up one would not
        fast[r[long_]] = False
        act[r[long_]] = False
        keep = ~long_
        r, p, al, at, bi = r[keep], p[keep], al[keep], at[keep], bi[keep]
        fnm = (at == 0x30) & (flat[bi + 8] == 0)
        if fnm.any():
            rf, pf, alf, bif = r[fnm], p[fnm], al[fnm], bi[fnm]
            vlen = _g(flat, bif + 16, 4, "<u4").astype(np.int64)
            vs = pf + _g(flat, bif + 20, 2, "<u2").astype(np.int64)
            okv = (vlen >= 66) & (vs + 66 <= pf + alf)
            nlen = flat[np.minimum(rf * rs + vs + 64, flat.size - 1)].astype(np.int64)
            oob = (pf + 22 > edge) | (okv & (vs + 66 + 2 * nlen > edge))
            k = fn_cnt[rf]
            over = okv & (k >= _K)
            lose = oob | over
            fast[rf[lose]] = False
            act[rf[lose]] = False
            take = okv & ~lose
            fn_vs[rf[take], k[take]] = vs[take]
            fn_cnt[rf[take]] += 1
        pos[r] = p + al
    fast &= ~act
    return fast, fn_vs, fn_cnt


_NS_RANK_ARR = np.array([1, 0, 3, 0] + [1] * 252, dtype=np.int64)  # _best_name's rank by namespace byte


_ExtNames = dict[int, list[tuple[int, int, str]]]  # base record -> (namespace, parent ref, name) of its extensions


def _pass1(path: Path, rs: int, warn: Callable[..., None] | None) -> tuple[PathResolver, dict[int, list[int]]]:
    res = PathResolver(os.path.getsize(path) // rs, path, rs)
    extensions, ext_names = _pass1_range(path, rs, res, 0, res.count)
    _pass1_finish(res, ext_names)
    return res, extensions


def _pass1_range(path: Path, rs: int, res: PathResolver, first: int,
                 stop: int) -> tuple[dict[int, list[int]], _ExtNames]:
    """Pass 1 over records ``first``..``stop - 1`` into ``res``: (extension records by base record, the names
    they hold), in record order."""
    count = res.count
    extensions: dict[int, list[int]] = {}
    ext_names: _ExtNames = {}
    single = count == 1
    seq_np = np.frombuffer(res.seq, dtype=np.uint16) if count else None
    flags_np = np.frombuffer(res.flags, dtype=np.uint8) if count else None
    par_np = np.frombuffer(res.parent, dtype=np.uint64) if count else None
    names, lazy = res.names, res._fh is not None
    for start, buf, n in _iter_chunks(path, rs, stop, first, mapped=True):
        if single:
            fast = later = np.zeros(n, dtype=bool)
            c = None
        else:
            c = _Chunk(buf, n, rs, fix=False)
            base0 = (c.base & REF_MASK) == 0  # extension records: per-record path
            later = c.is_file & base0 & ((c.flags & 2) == 0) if lazy else np.zeros(n, dtype=bool)
            fast, fn_vs, fn_cnt = _walk_names(c, c.is_file & base0 & ~later)
        if c is not None and (fast.any() or later.any()):
            assert seq_np is not None and flags_np is not None and par_np is not None
            loc = np.empty(n, dtype=object)  # this chunk's names (None: set by the per-record path below)
            lz = np.nonzero(later)[0]
            if lz.size:
                seq_np[lz + start] = c.seq[lz]
                flags_np[lz + start] = (c.flags[lz] & 0xFF).astype(np.uint8)
                loc[lz] = _LAZY
            fi = np.nonzero(fast)[0]
            if fi.size:
                gi = fi + start
                seq_np[gi] = c.seq[fi]
                flags_np[gi] = (c.flags[fi] & 0xFF).astype(np.uint8)
                # best name: lowest rank, first in attribute order
                vs = fn_vs[fi]
                has = vs >= 0
                rows = (fi * rs)[:, None]
                nsb = c.flat[np.where(has, rows + vs + 65, 0)].astype(np.int64)
                rank = np.where(has, _NS_RANK_ARR[nsb], 9)
                best = np.argmin(rank, axis=1)
                bvs = vs[np.arange(fi.size), best]
                named = bvs >= 0
                bstart = fi * rs + bvs
                pref = _g(c.flat, np.where(named, bstart, 0), 8, "<u8")
                par_np[gi] = np.where(named, pref, 0)
                nl = c.flat[np.where(named, bstart + 64, 0)].astype(np.int64)
                loc[fi] = _decode_names(c.flat, c, bstart + 66, np.where(named, 2 * nl, 0))
            names[start:start + n] = loc.tolist()
        for i in np.nonzero(~(fast | later))[0].tolist():
            o = i * rs
            _pass1_record(start + i, bytes(buf[o:o + rs]), rs, single, res, extensions, ext_names)
    return extensions, ext_names


def _pass1_finish(res: PathResolver, ext_names: _ExtNames) -> None:
    """Names that overflowed into extension records, for base records without a name of their own."""
    names = res.names
    for b, fns in ext_names.items():
        if 0 <= b < res.count and not (res._load(b) if names[b] is _LAZY else names[b]):
            best_ = _best_name(fns)
            if best_ is not None:
                names[b] = best_[2]
                res.parent[b] = best_[1]


def _pass1_pack(res: PathResolver, first: int, stop: int, extensions: dict[int, list[int]],
                ext_names: _ExtNames) -> bytes:
    """What pass 1 learnt of records ``first``..``stop - 1``, for the other process of a split run. Pickled
    without a memo (nothing in it refers to itself): 5x faster on a list of names."""
    out = io.BytesIO()
    p = pickle.Pickler(out, protocol=5)
    p.fast = True
    p.dump((first, stop, res.seq[first:stop].tobytes(), bytes(res.flags[first:stop]), res.parent[first:stop].tobytes(),
            res.names[first:stop], extensions, ext_names))
    return out.getvalue()


def _merge_lists(lo: dict[int, list[Any]], hi: dict[int, list[Any]]) -> dict[int, list[Any]]:
    """Per key, the lower records' items then the higher ones' (record order, as one pass 1 would list them)."""
    out = {k: list(v) for k, v in lo.items()}
    for k, v in hi.items():
        out.setdefault(k, []).extend(v)
    return out


def _pass1_unpack(res: PathResolver, data: bytes, mine: tuple[dict[int, list[int]], _ExtNames],
                  mine_first: bool) -> tuple[dict[int, list[int]], _ExtNames]:
    """The other process's part of pass 1 into ``res``, and both parts' extension lists, in record order."""
    first, stop, seq, flags, parent, names, extensions, ext_names = pickle.loads(data)
    res.seq[first:stop] = array("H", seq)
    res.flags[first:stop] = flags
    res.parent[first:stop] = array("Q", parent)
    res.names[first:stop] = names
    if mine_first:
        return _merge_lists(mine[0], extensions), _merge_lists(mine[1], ext_names)
    return _merge_lists(extensions, mine[0]), _merge_lists(ext_names, mine[1])


def _pass1_record(idx: int, raw: bytes, rs: int, single: bool, res: PathResolver,
                  extensions: dict[int, list[int]], ext_names: dict[int, list[tuple[int, int, str]]]) -> None:
    """Pass 1 for one record (the reference per-record path)."""
    if raw[:4] != FILE_SIG:
        return
    try:
        _s, usa_off, usa_cnt, _lsn, seq, _links, aoff, fl, used, _alloc, base, _n, _p, entry = _HDR.unpack_from(raw, 0)
        used = min(used, rs)
        fns = _scan_names(raw, aoff, min(used, STRIDE - 2))  # most names sit before the first stride end
        if used > STRIDE - 2 and (not fns or _names_end(raw, aoff, used) > STRIDE - 12):
            rec, _st, _pb = apply_fixups(raw, usa_off, usa_cnt)
            fns = _scan_names(rec, aoff, used)
    except (struct.error, ValueError, IndexError):
        return  # pass 2 reports it
    res.seq[idx] = seq
    res.flags[idx] = fl & 0xFF
    if base & REF_MASK and (base & REF_MASK) != (entry if single else idx):
        b = base & REF_MASK
        extensions.setdefault(b, []).append(idx)
        if fns:
            ext_names.setdefault(b, []).extend(fns)
        res.names[idx] = ""  # a slot with a record, but not a name of its own
        res.parent[idx] = base
        return
    best = _best_name(fns)
    if best is not None:
        res.names[idx] = best[2]
        res.parent[idx] = best[1]
    else:
        res.names[idx] = ""
        res.parent[idx] = 0


def build_resolver(path: Path) -> PathResolver:
    """Name/parent table of a $MFT file, for the $J/$LogFile parsers (``--mft``)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        rs = detect_record_size(fh, size)
    return _pass1(Path(path), rs, None)[0]


# --- pass 2: rows ----------------------------------------------------------------------------------------
class _Rec:
    """What pass 2 keeps of one record (plus merged extension records)."""

    __slots__ = ("si", "fns", "datas", "reparse", "oid", "lus", "exts")

    def __init__(self) -> None:
        self.si: tuple[Any, ...] | None = None
        self.fns: list[tuple[Any, ...]] = []
        self.datas: list[list[Any]] = []
        self.reparse = ""
        self.oid = ""
        self.lus = ""
        self.exts: list[int] = []


def _guid(b: bytes) -> str:
    d1, d2, d3 = struct.unpack_from("<IHH", b, 0)
    return f"{d1:08x}-{d2:04x}-{d3:04x}-{b[8:10].hex()}-{b[10:16].hex()}"


_HEX2 = np.array([ord(f"{i:02x}"[0]) | ord(f"{i:02x}"[1]) << 8 for i in range(256)], dtype="<u2")
_GUID_ORDER = np.array([3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15])  # -1: a dash


def _guids(flat: np.ndarray, at: np.ndarray, utf8: bool) -> list[Any]:
    """``_guid`` of the 16 bytes at each flat offset ``at``, all at once (bytes when ``utf8``)."""
    n = at.size
    b = flat[np.minimum(at, flat.size - 16)[:, None] + np.arange(16)]
    o = np.full((n, 20), ord("-") | ord("-") << 8, dtype="<u2")  # 2 bytes per slot: a dash slot keeps one
    cols = _GUID_ORDER >= 0
    o[:, cols] = _HEX2[b[:, _GUID_ORDER[cols]]]
    keep = np.ones((n, 20, 2), dtype=bool)
    keep[:, ~cols, 1] = False
    out = np.concatenate((o.view(np.uint8).reshape(n, 40)[keep.reshape(n, 40)].reshape(n, 36),
                          np.zeros((n, 1), np.uint8)), axis=1).tobytes()[:-1]
    return out.split(b"\x00") if utf8 else out.decode("ascii").split("\x00")


def _decode_attrs(rec: bytes, aoff: int, used: int, r: _Rec, off: int, warn: Callable[..., None]) -> None:
    """Walk a fixed-up record's attributes into ``r``. Bad attributes -> warning, walk stops."""
    pos = aoff
    unpack_attr = _ATTR.unpack_from
    unpack_res = _RES.unpack_from
    while pos + 16 <= used:
        atype, alen, nonres, nlen, noff, aflags, aid = unpack_attr(rec, pos)
        if atype == 0xFFFFFFFF:
            return
        end = pos + alen
        if alen < 16 or end > used:
            warn(off + pos, f"attribute 0x{atype:X} at record offset {pos}: length {alen} overruns used size {used}",
                 skipped=False)
            return
        if nonres:
            if atype == 0x80 and alen >= 0x40:
                lo, _hi, _roff, _cu, _asz, rsz, _isz = _NONRES.unpack_from(rec, pos + 16)
                name = rec[pos + noff:pos + noff + 2 * nlen].decode("utf-16-le", "replace") if nlen else ""
                if lo == 0:
                    r.datas.append([name, False, rsz, None, None, aid])
            pos = end
            continue
        vlen, voff = unpack_res(rec, pos + 16)
        vs = pos + voff
        ve = vs + vlen
        if ve > end:
            warn(off + pos, f"attribute 0x{atype:X} at record offset {pos}: value {vlen} bytes at {voff} "
                 f"overruns attribute length {alen}", skipped=False)
            pos = end
            continue
        if atype == 0x30:
            if vlen >= 66:
                pref, c, m, rc, a, _al, real, ffl, _rp, fnl, ns = _FN.unpack_from(rec, vs)
                nm = rec[vs + 66:min(vs + 66 + 2 * fnl, ve)].decode("utf-16-le", "replace")
                r.fns.append((ns, pref, c, m, rc, a, real, ffl, nm, aid))
        elif atype == 0x10:
            if vlen >= 0x24:
                c, m, rc, a, sfl = _SI.unpack_from(rec, vs)
                if vlen >= 0x48:
                    _own, sec = struct.unpack_from("<II", rec, vs + 0x30)
                    usn = _Q.unpack_from(rec, vs + 0x40)[0]
                else:
                    sec, usn = None, None
                r.si = (c, m, rc, a, sfl, sec, usn)
        elif atype == 0x80:
            name = rec[pos + noff:pos + noff + 2 * nlen].decode("utf-16-le", "replace") if nlen else ""
            content = rec[vs:ve] if name == "Zone.Identifier" else None
            r.datas.append([name, True, vlen, vlen, content, aid])
        elif atype == 0xC0:
            r.reparse = _reparse_target(rec[vs:ve])
        elif atype == 0x40:
            if vlen >= 16:
                r.oid = _guid(rec[vs:vs + 16])
        elif atype == 0x100:
            r.lus = rec[pos + noff:pos + noff + 2 * nlen].decode("utf-16-le", "replace") if nlen else ""
        pos = end


def _reparse_target(v: bytes) -> str:
    """Substitute name of a symlink (0xA000000C) or mount point/junction (0xA0000003)."""
    if len(v) < 16:
        return ""
    tag, _dlen, _res, so, sl, po, pl = _RP.unpack_from(v, 0)
    if tag == 0xA0000003:
        base = 16
    elif tag == 0xA000000C:
        base = 20
    else:
        return f"tag 0x{tag:08X}"
    sub = v[base + so:base + so + sl].decode("utf-16-le", "replace")
    if not sub:
        sub = v[base + po:base + po + pl].decode("utf-16-le", "replace")
    return sub.replace("\\??\\", "")


def _ext(name: str) -> str:
    """Like .NET ``Path.GetExtension``: ``.txt``; '' for no dot or a trailing dot."""
    i = name.rfind(".")
    return "" if i < 0 or i == len(name) - 1 else name[i:]


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    """One Record per row (``parse_batches`` flattened)."""
    return flatten(parse_batches(path, ctx))


def _walk_attrs(c: _Chunk, fast: np.ndarray, oid: bool = False) -> dict[str, np.ndarray]:
    """Pass 2 on a chunk: ``_decode_attrs`` for the records in ``fast`` (fixed-up, used <= record size).
    Records whose walk would warn or needs what the fast path does not keep leave ``fast``. ``oid``: keep the
    records with an object id (where its value starts: ``oid_vs``) or a logged utility stream (where its name
    starts and its length: ``lus_at``, ``lus_nl``)."""
    n, rs, flat = c.n, c.rs, c.flat
    used = c.used
    act = fast.copy()
    pos = c.aoff.copy()
    oid_vs = np.full(n, -1, dtype=np.int64)
    lus_at = np.full(n, -1, dtype=np.int64)
    lus_nl = np.zeros(n, dtype=np.int64)
    si_vs = np.full(n, -1, dtype=np.int64)
    si_vlen = np.zeros(n, dtype=np.int64)
    fn_vs = np.full((n, _K), -1, dtype=np.int64)
    fn_ve = np.zeros((n, _K), dtype=np.int64)
    fn_cnt = np.zeros(n, dtype=np.int64)
    d_kind = np.full(n, -1, dtype=np.int64)  # first unnamed $DATA: -1 none, 1 resident, 0 non-resident
    d_size = np.zeros(n, dtype=np.uint64)
    for _ in range(_MAX_STEPS):
        r = np.nonzero(act)[0]
        if not r.size:
            break
        p = pos[r]
        go = p + 16 <= used[r]
        act[r[~go]] = False
        r, p = r[go], p[go]
        bi = r * rs + p
        at, al, nonres, nlen, vlen, vo = _attr_heads(flat, bi)
        term = at == 0xFFFFFFFF
        if term.any():
            act[r[term]] = False
            keep = ~term
            r, p, at, bi, al, nonres, nlen, vlen, vo = (r[keep], p[keep], at[keep], bi[keep], al[keep], nonres[keep],
                                                        nlen[keep], vlen[keep], vo[keep])
        res_ = nonres == 0
        vs = p + vo
        ve = vs + vlen
        lose = (al < 16) | (p + al > used[r])  # bad length: warns
        lose |= res_ & ((al < 24) | (ve > p + al))  # resident value overrun: warns
        lose |= res_ & ((at == 0xC0) | ((at == 0x40) & (not oid)))  # reparse (object id)
        lum = res_ & (at == 0x100)  # a logged utility stream: its name, the last one's as the per-record walk
        if lum.any():
            if oid:
                lno = p[lum] + _g(flat, bi[lum] + 10, 2, "<u2").astype(np.int64)
                lus_at[r[lum]] = lno
                lus_nl[r[lum]] = nlen[lum]
                lose[lum] |= lno + 2 * nlen[lum].astype(np.int64) > rs  # a name cut by the record's end
            else:
                lose |= lum
        lose |= (at == 0x80) & (nlen > 0)  # ADS
        fnm = res_ & (at == 0x30) & (vlen >= 66)
        k = fn_cnt[r]
        lose |= fnm & (k >= _K)
        if lose.any():
            fast[r[lose]] = False
            act[r[lose]] = False
            keep = ~lose
            r, p, at, bi, al, res_, vlen, vs, ve, fnm, k = (
                r[keep], p[keep], at[keep], bi[keep], al[keep], res_[keep], vlen[keep], vs[keep], ve[keep],
                fnm[keep], k[keep])
        sim = res_ & (at == 0x10) & (vlen >= 0x24)
        om = res_ & (at == 0x40) & (vlen >= 16)
        if om.any():
            oid_vs[r[om]] = vs[om]  # the last one, as the per-record walk keeps it
        si_vs[r[sim]] = vs[sim]
        si_vlen[r[sim]] = vlen[sim]
        fn_vs[r[fnm], k[fnm]] = vs[fnm]
        fn_ve[r[fnm], k[fnm]] = ve[fnm]
        fn_cnt[r[fnm]] += 1
        dm = (at == 0x80) & (d_kind[r] < 0)
        if dm.any():
            dr = dm & res_
            d_kind[r[dr]] = 1
            d_size[r[dr]] = vlen[dr].astype(np.uint64)
            dn = dm & ~res_ & (al >= 0x40)
            if dn.any():
                lo = _g(flat, bi[dn] + 16, 8, "<i8")
                rsz = _g(flat, bi[dn] + 0x30, 8, "<u8")
                z = lo == 0
                rows = r[dn][z]
                d_kind[rows] = 0
                d_size[rows] = rsz[z]
        pos[r] = p + al
    fast &= ~act
    return {"si_vs": si_vs, "si_vlen": si_vlen, "fn_vs": fn_vs, "fn_ve": fn_ve, "fn_cnt": fn_cnt,
            "d_kind": d_kind, "d_size": d_size, "oid_vs": oid_vs, "lus_at": lus_at, "lus_nl": lus_nl}


def _pass2(path: Path, rs: int, res: PathResolver, extensions: dict[int, list[int]],
           ctx: ParseContext) -> Iterator[Record]:
    warn = ctx.warn
    include_short = bool(ctx.options.get("include_short") or ctx.options.get("sn"))
    source = ctx.source
    count = res.count
    single = count == 1
    fh_ext = open(path, "rb") if extensions else None
    pcache: dict[int, str | None] = {}  # parent reference -> directory path (or None when stale)
    ext_np = np.fromiter(extensions, dtype=np.int64, count=len(extensions)) if extensions else None
    tmpl = _row_template(source)
    try:
        for start, buf, n in _iter_chunks(path, rs, count):
            if single:
                fast_l = [False] * n
                fb = b""
                info: dict[int, Any] = {}
            else:
                c = _Chunk(buf, n, rs)
                fast = c.is_file & c.fix_ok & (c.used <= rs) & ((c.base & REF_MASK) == 0)
                if ext_np is not None:
                    fast &= ~np.isin(np.arange(start, start + n), ext_np)
                w = _walk_attrs(c, fast)
                fi = np.nonzero(fast)[0]
                fb = c.fbytes
                si_vs, si_vlen = w["si_vs"], w["si_vlen"]
                fnc = w["fn_cnt"]
                # per fast record: (seq, flags, lsn, links, si offset, si len, fn offsets, fn ends, data)
                info = dict(zip(fi.tolist(), zip(
                    c.seq[fi].tolist(), c.flags[fi].tolist(), c.lsn[fi].tolist(), c.links[fi].tolist(),
                    si_vs[fi].tolist(), si_vlen[fi].tolist(), w["fn_vs"][fi].tolist(), w["fn_ve"][fi].tolist(),
                    fnc[fi].tolist(), w["d_kind"][fi].tolist(), w["d_size"][fi].tolist(), strict=True), strict=True))
                fast_l = fast.tolist()
            for i in range(n):
                idx = start + i
                o = i * rs
                if not fast_l[i]:
                    yield from _pass2_record(idx, idx * rs, bytes(buf[o:o + rs]) if single else c.raw(i), rs, single,
                                             res, extensions, fh_ext,
                                             include_short, source, pcache, warn)
                    continue
                seq, fl, lsn, links, svs, svl, fvs, fve, fcnt, dk, dsz = info[i]
                if not fcnt:
                    continue
                try:
                    rows = _fast_rows(fb, o, idx, rs, seq, fl, lsn, links, svs, svl, fvs, fve, fcnt, dk, dsz,
                                      res, include_short, tmpl, pcache)
                except (struct.error, ValueError, IndexError) as e:
                    warn(idx * rs, f"record {idx}: cannot decode ({type(e).__name__}: {e})")
                    continue
                yield from rows
    finally:
        if fh_ext is not None:
            fh_ext.close()


def _row_template(source: str) -> dict[str, Any]:
    """An ``mft`` row with the values every fast-path row shares (no ADS, reparse point, object id...)."""
    return {
        "entry": 0, "sequence": 0, "parent_entry": 0, "parent_sequence": 0,
        "in_use": False, "is_dir": False, "has_ads": False, "is_ads": False,
        "name": "", "extension": "", "parent_path": "", "full_path": "",
        "file_size": 0, "reference_count": 0, "reparse_target": "",
        "name_type": "", "short_name": "",
        "si_created": None, "si_modified": None, "si_record_changed": None, "si_accessed": None,
        "fn_created": None, "fn_modified": None, "fn_record_changed": None, "fn_accessed": None,
        "si_lt_fn": False, "usec_zeros": False, "copied": False,
        "si_flags": None, "fn_flags": 0, "usn": None, "security_id": None, "logfile_seq": 0,
        "object_id": "", "logged_util_stream": "", "stream_name": "",
        "resident": None, "resident_data_len": None,
        "zone_id_contents": "", "extension_entries": "", "fixup_ok": True, "offset": 0,
        "source_file": source,
    }


def _fast_rows(fb: bytes, o: int, idx: int, rs: int, seq: int, fl: int, lsn: int, links: int, svs: int, svl: int,
               fvs: list[int], fve: list[int], fcnt: int, dk: int, dsz: int, res: PathResolver,
               include_short: bool, tmpl: dict[str, Any], pcache: dict[int, str | None]) -> list[Record]:
    """Rows of one record decoded by the vectorised walk (offsets into the chunk's fixed-up bytes): what
    ``_rows`` gives for a record without ADS, reparse point, object id, logged utility stream or extensions."""
    if svs >= 0:
        b = o + svs
        sc, sm, sr, sa, sflags = _SI.unpack_from(fb, b)
        if svl >= 0x48:
            sec = _U32.unpack_from(fb, b + 0x34)[0]
            usn = _Q.unpack_from(fb, b + 0x40)[0]
        else:
            sec = usn = None
        sc = sc if 0 < sc <= _FT_MAX else None
        sm = sm if 0 < sm <= _FT_MAX else None
        sr = sr if 0 < sr <= _FT_MAX else None
        sa = sa if 0 < sa <= _FT_MAX else None
    else:
        sc = sm = sr = sa = None
        sflags = sec = usn = None
    fns = []
    short = ""
    has_long = False
    for k in range(fcnt):
        b = o + fvs[k]
        f = _FN.unpack_from(fb, b)
        ns = f[10]
        nm = _d16(fb[b + 66:min(b + 66 + 2 * f[9], o + fve[k])], "replace", True)[0]
        if ns == 2:
            short = nm
        else:
            has_long = True
        fns.append((ns, f, nm))
    in_use = bool(fl & 1)
    is_dir = bool(fl & 2)
    if dk == 1:
        resident: bool | None = True
        rdl: int | None = dsz
    elif dk == 0:
        resident, rdl = False, None
    else:
        resident = rdl = None
    if is_dir:
        fsize = 0
    elif dk >= 0:
        fsize = dsz
    else:
        fsize = fns[0][1][6]
    copied = bool(sm and sc and sm < sc)
    usec0 = bool((sc is not None and (sc // 10000) % 1000 == 0) or (sm is not None and (sm // 10000) % 1000 == 0))
    off = idx * rs
    out = []
    for ns, f, name in sorted(fns, key=lambda t: t[0]) if fcnt > 1 else fns:
        if ns == 2 and has_long and not include_short:
            continue
        pref = f[0]
        pe, ps = pref & REF_MASK, pref >> 48
        ppath, full = _paths(idx, pe, ps, pref, name, res, pcache)
        fc, fm, fr, fa = f[1], f[2], f[3], f[4]
        fc = fc if 0 < fc <= _FT_MAX else None
        fm = fm if 0 < fm <= _FT_MAX else None
        fr = fr if 0 < fr <= _FT_MAX else None
        fa = fa if 0 < fa <= _FT_MAX else None
        if is_dir:
            ext = ""
        else:
            i = name.rfind(".")
            ext = "" if i < 0 or i == len(name) - 1 else name[i:]
        d = tmpl.copy()  # copying a same-shaped dict and filling it beats a 44-key dict literal
        d["entry"] = idx
        d["sequence"] = seq
        d["parent_entry"] = pe
        d["parent_sequence"] = ps
        d["in_use"] = in_use
        d["is_dir"] = is_dir
        d["name"] = name
        d["extension"] = ext
        d["parent_path"] = ppath
        d["full_path"] = full
        d["file_size"] = fsize
        d["reference_count"] = links
        d["name_type"] = NAME_TYPES[ns] if ns < 4 else str(ns)
        d["short_name"] = short
        d["si_created"] = sc
        d["si_modified"] = sm
        d["si_record_changed"] = sr
        d["si_accessed"] = sa
        d["fn_created"] = fc
        d["fn_modified"] = fm
        d["fn_record_changed"] = fr
        d["fn_accessed"] = fa
        d["si_lt_fn"] = bool(sc and fc and sc < fc)
        d["usec_zeros"] = usec0
        d["copied"] = copied
        d["si_flags"] = sflags
        d["fn_flags"] = f[7]
        d["usn"] = usn
        d["security_id"] = sec
        d["logfile_seq"] = lsn
        d["resident"] = resident
        d["resident_data_len"] = rdl
        d["offset"] = off
        out.append(Record("mft", d))
    return out


def _pass2_record(idx: int, off: int, raw: bytes, rs: int, single: bool, res: PathResolver,
                  extensions: dict[int, list[int]], fh_ext: BinaryIO | None, include_short: bool, source: str,
                  pcache: dict[int, str | None], warn: Callable[..., None]) -> Iterator[Record]:
    """Pass 2 for one record (the reference per-record path)."""
    sig = raw[:4]
    if sig != FILE_SIG:
        if sig == BAAD_SIG:
            warn(off, f"record {idx}: BAAD signature (multi-sector transfer error)")
        elif sig != b"\x00\x00\x00\x00" and raw.count(0) != len(raw):
            warn(off, f"record {idx}: no FILE signature (found {sig.hex()})")
        return
    try:
        _s, usa_off, usa_cnt, lsn, seq, links, aoff, fl, used, _al, base, _n, _p, hentry = _HDR.unpack_from(raw, 0)
        rec, st, problem = apply_fixups(raw, usa_off, usa_cnt)
        entry = hentry if single else idx
        if st:
            warn(off, f"record {entry}: {problem}", skipped=False)
        if used > rs:
            warn(off, f"record {entry}: used size {used} larger than record size {rs}", skipped=False)
            used = rs
        if (base & REF_MASK) and (base & REF_MASK) != entry and res.exists(base & REF_MASK) and not single:
            return  # an extension record: merged into its base record
        r = _Rec()
        _decode_attrs(rec, aoff, used, r, off, warn)
        exts = extensions.get(entry) if fh_ext is not None else None
        if exts:
            for x in exts:
                _merge_extension(fh_ext, x, rs, entry, seq, r, warn)  # type: ignore[arg-type]
        yield from _rows(entry, seq, fl, lsn, links, st == 0, off, r, res, include_short, source, pcache, warn)
    except (struct.error, ValueError, IndexError) as e:
        warn(off, f"record {idx}: cannot decode ({type(e).__name__}: {e})")


def _merge_extension(fh: BinaryIO, x: int, rs: int, base_entry: int, base_seq: int, r: _Rec,
                     warn: Callable[..., None]) -> None:
    off = x * rs
    fh.seek(off)
    raw = fh.read(rs)
    if len(raw) < 48 or raw[:4] != FILE_SIG:
        return
    _s, usa_off, usa_cnt, _lsn, _seq, _links, aoff, _fl, used, _al, base, _n, _p, _e = _HDR.unpack_from(raw, 0)
    if base >> 48 and (base >> 48) != base_seq:
        warn(off, f"extension record {x} points to {base_entry}-{base >> 48} but base has sequence {base_seq}",
             skipped=False)
        return
    rec, st, problem = apply_fixups(raw, usa_off, usa_cnt)
    if st:
        warn(off, f"extension record {x}: {problem}", skipped=False)
    r.exts.append(x)
    _decode_attrs(rec, aoff, min(used, rs), r, off, warn)


def _rows(entry: int, seq: int, fl: int, lsn: int, links: int, fixup_ok: bool, off: int, r: _Rec,
          res: PathResolver, include_short: bool, source: str,
          pcache: dict[int, str | None], warn: Callable[..., None]) -> Iterator[Record]:
    fns = r.fns
    if not fns:
        return
    in_use = bool(fl & 1)
    is_dir = bool(fl & 2)
    si = r.si
    if si is not None:
        sc, sm, sr, sa, sflags, sec, usn = si
        sc = sc if 0 < sc <= _FT_MAX else None
        sm = sm if 0 < sm <= _FT_MAX else None
        sr = sr if 0 < sr <= _FT_MAX else None
        sa = sa if 0 < sa <= _FT_MAX else None
    else:
        sc = sm = sr = sa = None
        sflags = sec = usn = None
    datas = r.datas
    unnamed = None
    ads = []
    for d in datas:
        if d[0]:
            ads.append(d)
        elif unnamed is None:
            unnamed = d
    if is_dir:
        fsize = 0
    elif unnamed is not None:
        fsize = unnamed[2]
    else:
        fsize = fns[0][6]
    copied = bool(sm and sc and sm < sc)
    usec0 = bool((sc is not None and (sc // 10000) % 1000 == 0) or (sm is not None and (sm // 10000) % 1000 == 0))
    short = ""
    has_long = False
    for f in fns:
        if f[0] == 2:
            short = f[8]
        else:
            has_long = True
    exts = ",".join(map(str, r.exts)) if r.exts else ""
    has_ads = bool(ads)
    for f in sorted(fns, key=lambda t: t[0]) if len(fns) > 1 else fns:
        ns = f[0]
        if ns == 2 and has_long and not include_short:
            continue
        pref = f[1]
        pe, ps = pref & REF_MASK, pref >> 48
        name = f[8]
        ppath, full = _paths(entry, pe, ps, pref, name, res, pcache)
        _n, _r, fc, fm, fr, fa = f[:6]
        fc = fc if 0 < fc <= _FT_MAX else None
        fm = fm if 0 < fm <= _FT_MAX else None
        fr = fr if 0 < fr <= _FT_MAX else None
        fa = fa if 0 < fa <= _FT_MAX else None
        row = {
            "entry": entry, "sequence": seq, "parent_entry": pe, "parent_sequence": ps,
            "in_use": in_use, "is_dir": is_dir, "has_ads": has_ads, "is_ads": False,
            "name": name, "extension": "" if is_dir else _ext(name), "parent_path": ppath, "full_path": full,
            "file_size": fsize, "reference_count": links, "reparse_target": r.reparse,
            "name_type": NAME_TYPES[ns] if ns < 4 else str(ns), "short_name": short,
            "si_created": sc, "si_modified": sm, "si_record_changed": sr, "si_accessed": sa,
            "fn_created": fc, "fn_modified": fm, "fn_record_changed": fr, "fn_accessed": fa,
            "si_lt_fn": bool(sc and fc and sc < fc), "usec_zeros": usec0, "copied": copied,
            "si_flags": sflags, "fn_flags": f[7], "usn": usn, "security_id": sec, "logfile_seq": lsn,
            "object_id": r.oid, "logged_util_stream": r.lus, "stream_name": "",
            "resident": unnamed[1] if unnamed is not None else None,
            "resident_data_len": unnamed[3] if unnamed is not None else None,
            "zone_id_contents": "", "extension_entries": exts, "fixup_ok": fixup_ok, "offset": off,
            "source_file": source,
        }
        yield Record("mft", row)
        for d in ads:
            sname = d[0]
            arow = dict(row)
            arow["name"] = f"{name}:{sname}"
            arow["full_path"] = f"{full}:{sname}"
            arow["extension"] = _ext(sname)
            arow["is_ads"] = True
            arow["file_size"] = d[2]
            arow["stream_name"] = sname
            arow["resident"] = d[1]
            arow["resident_data_len"] = d[3]
            if sname == "Zone.Identifier":
                content = d[4]
                if content is not None:
                    z = parse_zone_identifier(content)
                    arow["zone_id_contents"] = content.decode("cp1252", "replace")
                    yield Record("mft", arow)
                    yield Record("zone_identifier", {
                        "path": arow["full_path"], "entry": entry, "sequence": seq, "in_use": in_use,
                        "zone_id": z.zone_id, "referrer_url": z.referrer_url, "host_url": z.host_url,
                        "last_writer_package_family_name": z.last_writer_package_family_name,
                        "app_zone_id": z.app_zone_id, "resident": True, "size": d[2], "raw": z.raw,
                        "offset": off,
                    })
                    continue
                arow["zone_id_contents"] = "(Zone.Identifier data is non-resident)"
                warn(off, f"record {entry}: {arow['full_path']} is non-resident ({d[2]} bytes): its content is "
                     "not in the $MFT record (extract the stream from the volume to read it)", skipped=False)
                yield Record("mft", arow)
                yield Record("zone_identifier", {
                    "path": arow["full_path"], "entry": entry, "sequence": seq, "in_use": in_use,
                    "zone_id": None, "referrer_url": "", "host_url": "", "last_writer_package_family_name": "",
                    "app_zone_id": "", "resident": False, "size": d[2],
                    "raw": "(Zone.Identifier data is non-resident: content not in the $MFT record)", "offset": off,
                })
                continue
            yield Record("mft", arow)


# --- batches: the fast path by column (RowBatch) ---------------------------------------------------------
# ``parse_batches`` yields one ``RowBatch`` of ``mft`` rows per chunk (then that chunk's zone_identifier rows):
# the rows of vectorised records are built column by column with numpy, the per-record decoder's rows are
# merged in at their place (file order). The batch keeps its numpy columns (``_Cols.arrays``) so the CSV
# renderer formats whole columns without going back through Python values.
_U8_COLS = ("sequence", "parent_sequence", "reference_count", "fn_flags")
_NULLABLE = ("si_created", "si_modified", "si_record_changed", "si_accessed", "fn_created", "fn_modified",
             "fn_record_changed", "fn_accessed", "si_flags", "usn", "security_id", "resident_data_len", "resident")
_INTS = ("entry", "sequence", "parent_entry", "parent_sequence", "file_size", "reference_count", "fn_flags",
         "logfile_seq", "offset")
_BOOLS = ("in_use", "is_dir", "has_ads", "is_ads", "si_lt_fn", "usec_zeros", "copied", "fixup_ok")
_STRS = ("name", "extension", "parent_path", "full_path", "reparse_target", "name_type", "short_name", "object_id",
         "logged_util_stream", "stream_name", "zone_id_contents", "extension_entries", "source_file")
_COL_ORDER = tuple(c for c, _t in TABLES["mft"]) + ("source_file",)


class _Cols(dict[str, list[Any]]):
    """A RowBatch's columns (plain lists, as the contract says) plus the numpy arrays they came from:
    ``arrays[col]`` is an array for int/bool/str columns, ``(values, valid)`` for nullable ones."""

    arrays: dict[str, Any] | None = None


def _decode_names(flat: np.ndarray, c: _Chunk, starts: np.ndarray, lens: np.ndarray) -> list[str]:
    """UTF-16LE names at flat offsets ``starts`` (``lens`` bytes each), as ``_d16(..., 'replace')`` decodes them
    one by one: one decode for the whole chunk when no name has an odd length or a surrogate."""
    n = starts.size
    if not n:
        return []
    total = int(lens.sum())
    if not total:
        return [""] * n
    if not (lens & 1).any():
        ends = np.cumsum(lens)
        idx = np.repeat(starts - (ends - lens), lens) + np.arange(total)
        raw = flat[idx]
        if not ((raw[1::2] & 0xF8) == 0xD8).any():
            u16 = raw.view("<u2")
            if u16.all():  # no NUL character: a NUL after each name, one decode, one split
                sep = np.zeros(n + total // 2, dtype="<u2")
                sep[np.arange(total // 2) + np.repeat(np.arange(n), lens >> 1)] = u16
                out = _d16(sep.tobytes(), "strict", True)[0].split("\x00")
                del out[-1]
                return out
            s = _d16(raw.tobytes(), "strict", True)[0]
            e = (ends >> 1).tolist()
            b = ((ends - lens) >> 1).tolist()
            return [s[x:y] for x, y in zip(b, e, strict=True)]
    fb = c.fbytes
    return [_d16(fb[a:a + ln], "replace", True)[0] for a, ln in zip(starts.tolist(), lens.tolist(), strict=True)]


class _Seg:
    """A text column as UTF-8 bytes: row i is ``buf[start[i]:start[i] + size[i]]``. CSV-only batches take
    names and extensions this way from the records' bytes, then make their cells in one split."""

    __slots__ = ("buf", "start", "size")

    def __init__(self, buf: np.ndarray, start: np.ndarray, size: np.ndarray) -> None:
        self.buf, self.start, self.size = buf, start, size

    def cells(self, comma: bool = False) -> list[bytes]:
        """The cells as ``bytes`` (``comma``: each followed by a comma): gathered with a NUL after each, one split
        (no NUL in the bytes)."""
        n = self.size.size
        if not n:
            return []
        size = self.size
        total = int(size.sum())
        ar = np.arange(total)
        out = np.zeros(total + (2 if comma else 1) * n, dtype=np.uint8)
        at = ar + np.repeat(np.arange(0, (2 if comma else 1) * n, 2 if comma else 1), size)
        out[at] = self.buf[np.repeat(self.start - (np.cumsum(size) - size), size) + ar]
        if comma:
            ends = np.cumsum(size) + 2 * np.arange(n)
            out[ends] = 44
        return out[:-1].tobytes().split(b"\x00")

    def plain(self) -> bool:
        """No cell needs quoting (no delimiter, quote or line break in the bytes)."""
        b = self.buf
        return not ((b == 44) | (b == 34) | (b == 10) | (b == 13)).any()


class _Commas(list[bytes]):
    """CSV cells of a text column that are final (quoted where needed), each ending with the comma that follows
    it on its line."""


def _comma_cells(seg: _Seg) -> _Commas:
    """A text column's cells with their commas (quoted as ``quote_column`` quotes when one needs it)."""
    if seg.plain():
        return _Commas(seg.cells(True))
    return _Commas(_quote_utf8(seg.cells(), True))


_U8_LEN = np.ones(0x10000, dtype=np.int64)  # UTF-8 bytes of a UTF-16 code unit (surrogates excluded)
_U8_LEN[0x80:] = 2
_U8_LEN[0x800:] = 3


def _utf8_names(flat: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> _Seg | None:
    """UTF-16LE names at flat offsets ``starts`` (``lens`` bytes each) as UTF-8 ``_Seg`` cells, the text
    ``_decode_names`` gives, encoded; None when one needs that path (odd length, surrogate, NUL)."""
    n = starts.size
    total = int(lens.sum())
    if (lens & 1).any():
        return None
    ends = np.cumsum(lens)
    idx = np.repeat(starts - (ends - lens), lens) + np.arange(total)
    raw = flat[idx]
    lo, hi = raw[0::2], raw[1::2]
    if not hi.any() and not (lo & 0x80).any():  # ASCII: the low bytes are the UTF-8 text
        u8 = lo
        b = (ends - lens) >> 1
        size = lens >> 1
    else:
        if ((hi & 0xF8) == 0xD8).any():
            return None
        u8 = np.frombuffer(_d16(raw.tobytes(), "strict", True)[0].encode("utf-8"), np.uint8)
        cl = np.zeros(total // 2 + 1, dtype=np.int64)
        np.cumsum(_U8_LEN[raw.view("<u2")], out=cl[1:])
        b = cl[(ends - lens) >> 1]
        size = cl[ends >> 1] - b
    if not u8.all():  # a NUL character: ``cells`` splits on NUL
        return None
    return _Seg(u8, b if n else np.zeros(0, np.int64), size)


def _enc(text: str, utf8: bool) -> str | bytes:
    return text.encode("utf-8") if utf8 else text


def _objs(cells: list[Any]) -> np.ndarray:
    a = np.empty(len(cells), dtype=object)
    a[:] = cells
    return a


def _exts(names: list[str], is_dir: np.ndarray) -> list[str]:
    return [_ext(nm) if not dd else "" for nm, dd in zip(names, is_dir.tolist(), strict=True)]


def _ext_seg(names: _Seg, is_dir: np.ndarray) -> _Seg:
    """``_ext`` of each name (empty for directories), as cells within the same bytes."""
    buf = names.buf
    dots = np.flatnonzero(buf == 46)
    end = names.start + names.size
    j = np.searchsorted(dots, end) - 1
    d = dots[np.maximum(j, 0)] if dots.size else np.zeros(end.size, np.int64)
    ok = (j >= 0) & (d >= names.start) & (d < end - 1) & ~is_dir
    return _Seg(buf, np.where(ok, d, 0), np.where(ok, end - d, 0))


def _fast_columns(c: _Chunk, start: int, fi: np.ndarray, w: dict[str, np.ndarray], res: PathResolver,
                  include_short: bool, source: str, pcache: dict[int, str | None],
                  csv_only: bool = False) -> tuple[dict[str, Any], np.ndarray]:
    """The rows ``_fast_rows`` gives for the records ``fi`` of a chunk, by column; and each row's record index
    within the chunk (rows come in record order). ``csv_only``: only the columns the CSV renderer reads."""
    rs, flat = c.rs, c.flat
    nr = fi.size
    row0 = fi * rs
    seq, fl, lsn, links = c.seq[fi], c.flags[fi], c.lsn[fi], c.links[fi]
    svs, svl = w["si_vs"][fi], w["si_vlen"][fi]
    has_si = svs >= 0
    sb = np.where(has_si, row0 + svs, 0)
    sw = _words(flat, sb, 9)  # the $STANDARD_INFORMATION value's 72 bytes, when one gather can take them
    if sw is not None:
        swi = sw.view(np.int64)
        si = [swi[:, k] for k in range(4)]
        sflags = (sw[:, 4] & 0xFFFFFFFF).astype(np.int64)
        sec = (sw[:, 6] >> 32).astype(np.int64)
        usn = sw[:, 8]
    else:
        si = [_g(flat, sb + k * 8, 8, "<i8") for k in range(4)]
        sflags = _g(flat, sb + 32, 4, "<u4").astype(np.int64)
        sec = _g(flat, sb + 0x34, 4, "<u4").astype(np.int64)
        usn = _g(flat, sb + 0x40, 8, "<u8")
    si_ok = [has_si & (t > 0) for t in si]
    long_si = has_si & (svl >= 0x48)
    # $FILE_NAME candidates, in attribute order
    fcnt = w["fn_cnt"][fi]
    kk = np.arange(_K)
    cm = kk[None, :] < fcnt[:, None]
    cr, ck = np.nonzero(cm)  # record (0..nr-1), slot
    fsel = fi[cr] * _K + ck  # (record, slot) by flat offset
    cvs = w["fn_vs"].reshape(-1)[fsel]
    cve = w["fn_ve"].reshape(-1)[fsel]
    b = row0[cr] + cvs
    ns = flat[b + 65].astype(np.int64)
    nlen = flat[b + 64].astype(np.int64)
    nl = np.minimum(2 * nlen, row0[cr] + cve - (b + 66))
    is2 = ns == 2
    has_long = np.zeros(nr, dtype=bool)
    has_long[cr[~is2]] = True
    first_real = np.zeros(nr, dtype=np.uint64)
    k0 = ck == 0
    first_real[cr[k0]] = _g(flat, b[k0] + 48, 8, "<u8")
    # rows: candidates sorted by namespace within a record (stable), DOS names dropped next to a long name
    order = np.lexsort((ck, ns, cr))
    keep = ~(is2 & has_long[cr]) if not include_short else np.ones(cr.size, dtype=bool)
    order = order[keep[order]]
    r = cr[order]  # record of each row
    rb = b[order]
    rns = ns[order]
    nseg = _utf8_names(flat, rb + 66, nl[order]) if csv_only else None  # the rows' names (CSV-only: as UTF-8)
    names = np.array(_decode_names(flat, c, b + 66, nl), dtype=object) if nseg is None else None  # every name
    fw = _words(flat, rb, 5)  # parent reference and the four times of each row's $FILE_NAME
    pref = fw[:, 0].copy() if fw is not None else _g(flat, rb, 8, "<u8")
    pe = (pref & np.uint64(REF_MASK)).astype(np.int64)
    ps = (pref >> np.uint64(48)).astype(np.int64)
    fn = ([fw.view(np.int64)[:, 1 + k] for k in range(4)] if fw is not None
          else [_g(flat, rb + 8 + k * 8, 8, "<i8") for k in range(4)])
    fn_ok = [t > 0 for t in fn]
    entry = (fi + start)[r]
    isdir_rec = (fl & 2) != 0
    is_dir = isdir_rec[r]
    root = (entry == ROOT_ENTRY) & (pe == ROOT_ENTRY)
    selfp = (pe == entry) & ~root
    norm = ~(root | selfp)
    # parent paths: one resolver call per distinct parent reference
    u, inv = np.unique(pref[norm], return_inverse=True)
    upp: list[str] = []
    for ref in u.tolist():
        if ref in pcache:
            p = pcache[ref]
        else:
            p = res.dir_path(ref & REF_MASK, ref >> 48)
            if len(pcache) > 200_000:
                pcache.clear()
            pcache[ref] = p
        upp.append(ORPHAN if p is None else p)
    dk, dsz = w["d_kind"][fi], w["d_size"][fi]
    fsize = np.where(isdir_rec, np.uint64(0), np.where(dk >= 0, dsz, first_real))
    sc, sm = si[0], si[1]
    usec = (si_ok[0] & ((sc // 10000) % 1000 == 0)) | (si_ok[1] & ((sm // 10000) % 1000 == 0))
    copied = si_ok[0] & si_ok[1] & (sm < sc)
    n = r.size
    cols: dict[str, Any] = {
        "entry": entry, "sequence": seq[r].astype(np.int64), "parent_entry": pe, "parent_sequence": ps,
        "in_use": ((fl & 1) != 0)[r], "is_dir": is_dir, "has_ads": np.zeros(n, bool), "is_ads": np.zeros(n, bool),
        "file_size": fsize[r], "reference_count": links[r].astype(np.int64),
        "si_lt_fn": (si_ok[0][r] & fn_ok[0] & (sc[r] < fn[0])), "usec_zeros": usec[r], "copied": copied[r],
        "logfile_seq": lsn[r], "ns": rns,
    }
    for k, key in enumerate(("si_created", "si_modified", "si_record_changed", "si_accessed")):
        cols[key] = (si[k][r], si_ok[k][r])
    for k, key in enumerate(("fn_created", "fn_modified", "fn_record_changed", "fn_accessed")):
        cols[key] = (fn[k], fn_ok[k])
    cols["si_flags"] = (sflags[r], has_si[r])
    cols["usn"] = (usn[r], long_si[r])
    cols["security_id"] = (sec[r], long_si[r])
    ovs = w["oid_vs"][fi]
    has_oid = (ovs >= 0)[r]
    oid = _same(n, b"" if csv_only else "")  # object ids, as ``_guid`` writes them
    if has_oid.any():
        oid = oid.copy()
        oid[has_oid] = _objs(_guids(flat, (row0 + ovs)[r[has_oid]], csv_only))
    cols["object_id"] = oid
    lat, lnl = w["lus_at"][fi], w["lus_nl"][fi]
    has_lus = ((lat >= 0) & (lnl > 0))[r]
    lus = _same(n, b"" if csv_only else "")  # logged utility stream names
    if has_lus.any():
        lus = lus.copy()
        rr = r[has_lus]
        got = _decode_names(flat, c, (row0 + lat)[rr], 2 * lnl[rr])
        lus[has_lus] = _objs([x.encode("utf-8") for x in got] if csv_only else got)
    cols["logged_util_stream"] = lus
    # MFTECmd's ParentPath (UTF-8 in CSV-only batches): each distinct parent's text once, then a gather
    ucpp = [csv_parent_path(x) for x in upp] + [csv_parent_path(ORPHAN), csv_parent_path("")]
    which = np.full(n, len(upp) + 1, dtype=np.intp)  # the root's own row
    which[norm] = inv.reshape(-1)
    which[selfp] = len(upp)
    if not csv_only:
        cols["csv_parent_path"] = _objs(ucpp).take(which)
    else:  # text columns as UTF-8 cells
        ucells = [x.encode("utf-8") for x in ucpp]
        if nseg is not None:  # names, extensions and parent paths as CSV cells, each with the comma after it
            cols["name"], cols["extension"] = _comma_cells(nseg), _comma_cells(_ext_seg(nseg, is_dir))
            cols["csv_parent_path"] = _Commas(_objs(_quote_utf8(ucells, True)).take(which).tolist())
        else:
            cols["csv_parent_path"] = _objs(ucells).take(which)
            assert names is not None
            nm_l = names[order].tolist()
            cols["name"] = _objs([x.encode("utf-8") for x in nm_l])
            cols["extension"] = _objs([x.encode("utf-8") for x in _exts(nm_l, is_dir)])
        empty = _same(n, b"")
        for key in ("reparse_target", "zone_id_contents"):
            cols[key] = empty
        cols["source_file"] = _same(n, source.encode("utf-8"))
        return cols, fi[r]
    assert names is not None
    short = np.full(nr, "", dtype=object)
    for rr, nm in zip(cr[is2].tolist(), names[is2].tolist(), strict=True):
        short[rr] = nm  # the last DOS name wins, as in _fast_rows
    rnames = names[order]
    pp = np.empty(n, dtype=object)
    full = np.empty(n, dtype=object)
    if norm.any():
        pp[norm] = np.array(upp, dtype=object)[inv]
        full[norm] = np.array(["" if x == "/" else x for x in upp], dtype=object)[inv] + "/" + rnames[norm]
    if selfp.any():
        pp[selfp] = ORPHAN
        full[selfp] = ORPHAN + "/" + rnames[selfp]
    if root.any():
        pp[root] = ""
        full[root] = "/"
    nt = np.array(list(NAME_TYPES) + [str(x) for x in range(4, 256)], dtype=object)
    cols.update({
        "name": rnames, "extension": _objs(_exts(rnames.tolist(), is_dir)), "parent_path": pp, "full_path": full,
        "reparse_target": np.full(n, "", dtype=object), "name_type": nt[rns], "short_name": short[r],
        "fn_flags": _g(flat, rb + 56, 4, "<u4").astype(np.int64),
        "stream_name": np.full(n, "", dtype=object),
        "zone_id_contents": np.full(n, "", dtype=object), "extension_entries": np.full(n, "", dtype=object),
        "fixup_ok": np.ones(n, bool), "offset": (fi * rs + start * rs)[r].astype(np.int64),
        "source_file": np.full(n, source, dtype=object),
        "resident_data_len": (dsz.astype(np.int64)[r], (dk == 1)[r]), "resident": ((dk == 1)[r], (dk >= 0)[r]),
    })
    return cols, fi[r]


def _dict_arrays(rows: list[dict[str, Any]], csv_only: bool = False) -> dict[str, Any]:
    """Rows of the per-record decoder as the same typed columns as ``_fast_columns`` (``csv_only``: its text
    columns as UTF-8, as the CSV-only batches carry them)."""
    return _list_arrays(lambda k: [d.get(k, "") for d in rows] if k in _STRS else [d[k] for d in rows],
                        len(rows), csv_only)


def _list_arrays(column: Callable[[str], list[Any]], n: int, csv_only: bool = False,
                 only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``_dict_arrays`` of columns given as lists (``column(key)``: the ``n`` values of a column), column by column
    (``only``: just these columns, and the renderer's ``ns`` and ``csv_parent_path``)."""
    out: dict[str, Any] = {}
    for k in _INTS:
        if only is None or k in only:
            out[k] = np.array(column(k), dtype=np.uint64 if k in ("file_size", "logfile_seq") else np.int64)
    for k in _BOOLS:
        if only is None or k in only:
            out[k] = np.array(list(map(bool, column(k))), dtype=bool)
    for k in _STRS:
        if only is None or k in only:
            out[k] = _objs([_enc(x, True) for x in column(k)] if csv_only else column(k))
    out["ns"] = np.fromiter(map(_NT_CODE.__getitem__, column("name_type")), dtype=np.int64, count=n)
    pps = column("parent_path")
    cpp = {p: _enc(csv_parent_path(p or ""), csv_only) for p in set(pps)}  # each distinct parent once
    out["csv_parent_path"] = _objs(list(map(cpp.__getitem__, pps)))
    for k in _NULLABLE:
        if only is not None and k not in only:
            continue
        vals = column(k)
        dt = bool if k == "resident" else (np.uint64 if k == "usn" else np.int64)
        out[k] = (np.array([v or 0 for v in vals], dtype=dt), np.array([v is not None for v in vals], dtype=bool))
    return out


def _same(n: int, value: Any) -> np.ndarray:
    """A column of ``n`` times one value, as a read-only view (stride 0: the CSV renderer sees it at once)."""
    one = np.empty(1, dtype=object)
    one[0] = value
    return np.broadcast_to(one, (n,))


_SLOW = "slow rows"  # a CSV-only batch: (where they go among the fast rows, the per-record decoder's rows)


def _take(arrs: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    return {k: ((v[0][idx], v[1][idx]) if type(v) is tuple else (_same(idx.size, v[0]) if v.size and not v.strides[0]
                                                                   else v[idx])) for k, v in arrs.items()}


def _concat(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The columns of ``a`` (all of them in ``b``) followed by ``b``'s."""
    out: dict[str, Any] = {}
    for k, v in a.items():
        w = b[k]
        if type(v) is tuple:
            out[k] = (np.concatenate((v[0].astype(w[0].dtype) if v[0].dtype != w[0].dtype else v[0], w[0])),
                      np.concatenate((v[1], w[1])))
        elif v.size > 1 and not v.strides[0] and (not w.size or ((w == v[0]).all() if w.strides[0] else w[0] == v[0])):
            out[k] = _same(v.size + w.size, v[0])  # one value still
        else:
            out[k] = np.concatenate((v, w)) if v.dtype == w.dtype else np.concatenate((v.astype(w.dtype), w))
    return out


def _batch(arrs: dict[str, Any], csv_only: bool = False) -> RowBatch:
    """A RowBatch of plain Python columns (bool/int/str/None) from typed arrays."""
    cols = _Cols()
    if _SLOW in arrs:  # (CSV-only) the rows of both decoders in order, for their count
        at, rows = arrs[_SLOW]
        cols["entry"] = np.insert(arrs["entry"], at, [d["entry"] for d in rows]).tolist()
        cols.arrays = arrs
        return RowBatch("mft", cols)
    for k in ("entry",) if csv_only else _COL_ORDER:
        v = arrs[k]
        if type(v) is tuple:
            vals, ok = v
            lst = vals.tolist()
            if not ok.all():
                for i in np.nonzero(~ok)[0].tolist():
                    lst[i] = None
            cols[k] = lst
        else:
            cols[k] = v.tolist()
    cols.arrays = arrs
    return RowBatch("mft", cols)


def parse_batches(path: Path, ctx: ParseContext) -> Iterator[RowBatch | Record]:
    """``parse()``'s rows, an ``mft`` RowBatch per chunk of records (plus zone_identifier Records)."""
    path = Path(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            rs = detect_record_size(fh, size)
    except OSError as e:
        ctx.warn(None, f"cannot open $MFT: {e}")
        return
    if size < rs:
        ctx.warn(0, f"file too small for one {rs}-byte MFT record ({size} bytes)")
        if size < 48:
            return
        rs = size
    if size % rs:
        ctx.warn(size - size % rs, f"{size % rs} trailing bytes after the last whole {rs}-byte record", skipped=False)
    tz = ctx.options.get("csv_tz")
    if (int(ctx.options.get("csv_workers") or 1) >= 2 and tz is not None and size // rs >= _SPLIT_MIN
            and _csvpart.can_fork()):
        yield from _split_csv(path, rs, size // rs, ctx, tz)
        return
    res, extensions = _pass1(path, rs, ctx.warn)
    ctx.resources["mft"] = res
    if res.count == 1:
        yield from _pass2(path, rs, res, extensions, ctx)
        return
    yield from _pass2_batches(path, rs, res, extensions, ctx)


# --- CSV-only runs on two cores ----------------------------------------------------------------------------
# ``parse mft --csv`` without a case store sets ``csv_workers`` and ``csv_tz``: a worker is forked first; each
# process runs pass 1 on half of the records and they swap what they learnt (a pipe), so both hold the whole name
# table. Then both take chunks in file order from a shared counter, each the next one not yet taken, so the work
# balances itself whatever the machine, the input's size or this process's head start: the worker renders the
# CSV text of its chunks into a temporary file and says, chunk by chunk, how many rows and bytes it wrote, with
# its warnings and zone rows; this process decodes its own chunk, passes on the worker's text of the chunks
# before it (as batches already rendered, ``TextColumns``), then its own: the rows, warnings and zone rows come
# in the order one process gives them. Only a CSV sink can take those batches (they have no column values).
_SPLIT_MIN = 16384  # records; below this the worker costs more than it saves


class _Chunks:
    """Chunk ``k`` of a file's records, read on demand into one buffer (good until the next ``get``/``read``)."""

    def __init__(self, path: Path, rs: int, count: int) -> None:
        self.fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.rs, self.count = rs, count
        self.per = max(1, _CHUNK_BYTES // rs)
        self.n = -(-count // self.per)
        self.buf = memoryview(bytearray(min(self.per, count) * rs))

    def get(self, k: int) -> tuple[int, memoryview, int]:
        return self.read(k * self.per, min(self.per, self.count - k * self.per))

    def read(self, start: int, n: int) -> tuple[int, memoryview, int]:
        """Records ``start``..``start + n - 1`` (fewer when the file shrank under us: the whole records read)."""
        self.fh.seek(start * self.rs)
        got = self.fh.readinto(self.buf[:n * self.rs]) or 0
        n = min(n, got // self.rs)
        return start, self.buf[:n * self.rs], n

    def close(self) -> None:
        self.fh.close()


def _take_chunk(counter: Any) -> int:
    """The next chunk nobody has taken (shared between the two processes)."""
    with counter.get_lock():
        k = int(counter.value)
        counter.value = k + 1
    return k


def _csv_part(state: tuple[Any, ...], tz: timezone, tmp: str) -> bool:
    """Worker: pass 1 on records ``p1``..``count - 1`` (swapped with this process's part), then the MFTECmd CSV
    lines of the chunks it takes into ``tmp``, one message per chunk: (chunk, rows, bytes, warnings, zone rows)."""
    path, rs, res, p1, conn, other, options, source, counter = state
    other.close()
    try:
        mine = _pass1_range(path, rs, res, p1, res.count)
        conn.send_bytes(_pass1_pack(res, p1, res.count, *mine))
        extensions, ext_names = _pass1_unpack(res, conn.recv_bytes(), mine, False)
        _pass1_finish(res, ext_names)
        ctx = _csvpart.LogContext("mft", source, options)
        p2 = _Pass2(path, res, extensions, ctx, True)
        chunks = _Chunks(path, rs, res.count)
        with open(tmp, "wb") as fh:
            while (k := _take_chunk(counter)) < chunks.n:
                rows = size = 0
                zones: list[Record] = []
                for item in p2.chunk(*chunks.get(k), rs):
                    if type(item) is RowBatch:
                        data = _csv_batch(item.columns, tz)
                        assert isinstance(data, bytes)
                        fh.write(data)
                        rows, size = len(item), len(data)
                    else:
                        zones.append(item)  # type: ignore[arg-type]
                fh.flush()
                conn.send((k, rows, size, ctx.log, zones))
                ctx.log = []
        chunks.close()
        p2.close()
    except (OSError, EOFError):  # this process went away
        return False
    finally:
        conn.close()
    return True


def _send_quietly(conn: Any, data: bytes) -> None:
    """Send from a thread: a worker gone is seen by the reading side (EOF), not here."""
    try:
        conn.send_bytes(data)
    except OSError:
        pass


def _split_csv(path: Path, rs: int, count: int, ctx: ParseContext, tz: timezone) -> Iterator[RowBatch | Record]:
    per = max(1, _CHUNK_BYTES // rs)
    p1 = max(per, count // 2 // per * per)  # pass 1: half each
    res = PathResolver(count, path, rs)
    conn, theirs = mp.Pipe()
    counter = mp.Value("q", 0)
    worker = _csvpart.Forked(_csv_part, (path, rs, res, p1, theirs, conn, ctx.options, ctx.source, counter), tz)
    theirs.close()  # the worker has its own copy: a worker gone is an EOF here
    alive = True
    chunks = _Chunks(path, rs, count)
    try:
        mine = _pass1_range(path, rs, res, 0, p1)
        sender = threading.Thread(target=_send_quietly, args=(conn, _pass1_pack(res, 0, p1, *mine)), daemon=True)
        sender.start()  # both halves cross at once (the worker sends, then reads)
        try:
            extensions, ext_names = _pass1_unpack(res, conn.recv_bytes(), mine, True)
        except (OSError, EOFError):  # no worker: its part of pass 1 here
            alive = False
            more = _pass1_range(path, rs, res, p1, count)
            extensions, ext_names = _merge_lists(mine[0], more[0]), _merge_lists(mine[1], more[1])
        sender.join()
        _pass1_finish(res, ext_names)
        ctx.resources["mft"] = res
        p2 = _Pass2(path, res, extensions, ctx, True)
        done = 0  # chunks passed on so far
        held = _csvpart.LogContext("mft", ctx.source, ctx.options)
        with open(worker.tmp, "rb") as text:
            at = 0  # where the worker's next chunk starts in its file
            while done < chunks.n:
                k = _take_chunk(counter) if alive else done
                own: list[Any] = []
                if k < chunks.n:  # its warnings come after those of the worker's chunks before it
                    p2.warn = held.warn
                    own = list(p2.chunk(*chunks.get(k), rs))
                    p2.warn = ctx.warn
                while done < min(k, chunks.n):  # the worker's chunks before this one, in order
                    msg = None
                    if alive:
                        try:
                            msg = conn.recv()
                        except (OSError, EOFError):  # the worker died: the rest here
                            alive = False
                    if msg is None:
                        yield from p2.chunk(*chunks.get(done), rs)
                    else:
                        j, rows, size, log, zones = msg
                        assert j == done, (j, done)
                        _csvpart.replay_warnings(ctx, log)
                        if rows:
                            cols = _csvpart.TextColumns({"entry": [None] * rows})
                            cols.text = (tz, _csvpart.FileRange(text.fileno(), at, size))
                            at += size
                            yield RowBatch("mft", cols)
                        yield from zones
                    done += 1
                if k < chunks.n:
                    _csvpart.replay_warnings(ctx, held.log)
                    held.log = []
                    yield from own
                    done += 1
        p2.close()
    finally:
        chunks.close()
        conn.close()  # (a worker still sending stops)
        worker.result()
        worker.close()


def _pass2_batches(path: Path, rs: int, res: PathResolver, extensions: dict[int, list[int]],
                   ctx: ParseContext, first: int = 0, stop: int | None = None,
                   csv_only: bool = False) -> Iterator[RowBatch | Record]:
    """Pass 2 of records ``first``..``stop - 1``. ``csv_only``: batches carry only the arrays the CSV renderer
    reads (and one list column for their length): for the CSV renderer of a CSV-only run, not for a store."""
    p2 = _Pass2(path, res, extensions, ctx, csv_only)
    try:
        for start, buf, n in _iter_chunks(path, rs, res.count if stop is None else stop, first):
            yield from p2.chunk(start, buf, n, rs)
    finally:
        p2.close()


class _Pass2:
    """Pass 2, chunk by chunk: the state the chunks of a run share (the file for extension records, the memo of
    parent paths)."""

    def __init__(self, path: Path, res: PathResolver, extensions: dict[int, list[int]], ctx: ParseContext,
                 csv_only: bool) -> None:
        self.res, self.extensions, self.csv_only = res, extensions, csv_only
        self.warn = ctx.warn
        self.include_short = bool(ctx.options.get("include_short") or ctx.options.get("sn"))
        self.source = ctx.source
        self.fh_ext = open(path, "rb") if extensions else None  # noqa: SIM115 - closed by close()
        self.pcache: dict[int, str | None] = {}
        self.ext_np = np.fromiter(extensions, dtype=np.int64, count=len(extensions)) if extensions else None

    def close(self) -> None:
        if self.fh_ext is not None:
            self.fh_ext.close()

    def chunk(self, start: int, buf: memoryview, n: int, rs: int) -> Iterator[RowBatch | Record]:
        """The chunk's ``mft`` batch (if it has rows), then its zone_identifier rows."""
        res, extensions, pcache, warn = self.res, self.extensions, self.pcache, self.warn
        include_short, source = self.include_short, self.source
        c = _Chunk(buf, n, rs)
        fast = c.is_file & c.fix_ok & (c.used <= rs) & ((c.base & REF_MASK) == 0)
        if self.ext_np is not None:
            fast &= ~np.isin(np.arange(start, start + n), self.ext_np)
        w = _walk_attrs(c, fast, True)
        fi = np.nonzero(fast & (w["fn_cnt"] > 0))[0]
        slow_rows: list[dict[str, Any]] = []
        slow_key: list[int] = []
        zones: list[Record] = []
        for i in np.nonzero(~fast)[0].tolist():
            idx = start + i
            j = 0
            for rec in _pass2_record(idx, idx * rs, c.raw(i), rs, False, res, extensions, self.fh_ext,
                                     include_short, source, pcache, warn):
                if rec.table == "mft":
                    slow_rows.append(rec.data)
                    slow_key.append(i * 65536 + j)
                    j += 1
                else:
                    zones.append(rec)
        if fi.size:
            arrs, rec_of = _fast_columns(c, start, fi, w, res, include_short, source, pcache, self.csv_only)
            if slow_rows:
                # fast rows of a record come consecutively: key = record * 65536 + position within it
                pos = np.arange(rec_of.size) - np.searchsorted(rec_of, rec_of)
                fk = rec_of.astype(np.int64) * 65536 + pos
                sk = np.array(slow_key, np.int64)
                if self.csv_only:  # the renderer puts the lines in order
                    arrs[_SLOW] = (np.searchsorted(fk, sk), slow_rows)
                else:
                    arrs = _take(_concat(arrs, _dict_arrays(slow_rows)), np.argsort(np.concatenate((fk, sk)),
                                                                                    kind="stable"))
        elif slow_rows:
            arrs = _dict_arrays(slow_rows, self.csv_only)
        else:
            arrs = None
        if arrs is not None:
            yield _batch(arrs, self.csv_only)
        yield from zones


# --- CSV of a batch: whole columns at once ---------------------------------------------------------------


# A CSV line is rendered as a few "blocks" of adjacent cells that never need quoting (numbers, booleans, times,
# flags), each block a byte matrix in which NUL bytes stand for no byte (leading zeros, shorter texts, empty
# cells), plus the text cells; one join per line.
_Field = np.ndarray  # n x w ASCII bytes, NUL where a row has no byte


def _num_field(v: np.ndarray) -> _Field:
    """``str()`` of non-negative integers: right-aligned digits (two at a time from a table), NUL for the leading
    zeros."""
    n = v.size
    x = v.astype(np.uint64)
    w = len(str(int(x.max()))) if n else 1
    if w == 1:
        return (x.astype(np.uint8) + 48).reshape(n, 1)
    h = (w + 1) // 2
    o = np.empty((n, h), dtype="<u2")
    for i in range(h - 1, -1, -1):
        x, r = np.divmod(x, np.uint64(100))
        o[:, i] = _T2[r]
    digits = np.searchsorted(_POW10[1:w], v.astype(np.uint64), side="right") + 1  # 10 ** k <= v for k < w
    m = o.view(np.uint8)[:, 2 * h - w:]
    m *= np.arange(w)[None, :] >= (w - digits)[:, None]  # (a product: 3x a masked store)
    return m


_POW10 = np.array([10 ** k for k in range(20)], dtype=np.uint64)


def _text_table(texts: tuple[str, ...]) -> np.ndarray:
    enc = [t.encode("ascii") for t in texts]
    w = max((len(e) for e in enc), default=0)
    tab = np.zeros((len(enc), w), dtype=np.uint8)
    for i, e in enumerate(enc):
        tab[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
    return tab


_text_tables: dict[tuple[str, ...], np.ndarray] = {}


def _text_field(texts: tuple[str, ...], inv: np.ndarray) -> _Field:
    """Cells taken from a few ASCII texts (``inv``: which text per row)."""
    t = _text_tables.get(texts)
    if t is None:
        t = _text_table(texts)
        if len(_text_tables) < 1024:
            _text_tables[texts] = t
    return t.take(inv, axis=0)  # (a row gather by ``take``: 4x a fancy index)


_TF_TEXTS = ("False", "True")
_TF6_TEXTS = tuple(",".join(_TF_TEXTS[c >> i & 1] for i in range(6)) for c in range(64))  # six flags at once
_NT_TEXTS = (*NAME_TYPES, *(str(i) for i in range(4, 256)))  # NameType by namespace byte
_NT_CODE = {t: i for i, t in enumerate(_NT_TEXTS)}


def _bool_field(b: np.ndarray) -> _Field:
    return _text_field(_TF_TEXTS, b.astype(np.intp))


def _time_field(t: np.ndarray, show: np.ndarray, off: int, cols: int = 1) -> np.ndarray:
    """A time column: ``fmt(t, tz)`` where ``show``, empty elsewhere; past year 9999 the raw value, as ``fmt``.
    ``cols``: ``t`` is that many columns one after the other; a time equal to the first column's on its row is
    taken from there."""
    n = t.size
    inr = show & (t <= FMT_MAX + 10**13)  # a zone moves a time by less than a day: no overflow below
    tt = np.where(inr, t, 0) + off
    inr &= (tt >= 0) & (tt <= FMT_MAX)
    if inr.any():  # each distinct time once (a record's SI times are often equal); the rows not shown: NULs
        rows = n // cols
        t2, i2 = tt.reshape(cols, rows), inr.reshape(cols, rows)
        same = (t2 == t2[0]) & i2 & i2[0]
        same[0] = False
        same = same.reshape(-1)
        own = inr & ~same
        u, inv = np.unique(tt[own], return_inverse=True)
        tab = np.zeros((u.size + 1, 27), dtype=np.uint8)
        tab[:-1] = ticks_matrix(u)
        which = np.full(n, u.size, dtype=np.intp)
        which[own] = inv.reshape(-1)
        at = np.flatnonzero(same)
        which[at] = which[at % rows]
        mat = tab.take(which, axis=0)
    else:
        mat = np.zeros((n, 27), dtype=np.uint8)
    raw = show & ~inr
    if raw.any():
        for i in np.nonzero(raw)[0].tolist():
            e = str(int(t[i]) + off).encode("ascii")
            mat[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
    return mat


def _block(fields: list[_Field], after: bytes = b"") -> list[bytes]:
    """Adjacent cells joined by commas, then ``after``, as UTF-8 bytes, one per row: one matrix (a 0x01 after
    each row), its bytes but the NULs, one split."""
    n = fields[0].shape[0]
    comma = np.full((n, 1), 44, dtype=np.uint8)
    mats: list[np.ndarray] = []
    for i, m in enumerate(fields):
        if i:
            mats.append(comma)
        mats.append(m)
    if after:
        e = np.frombuffer(after, dtype=np.uint8)
        mats.append(np.broadcast_to(e, (n, e.size)))
    mats.append(np.ones((n, 1), dtype=np.uint8))
    flat = np.concatenate(mats, axis=1).reshape(-1)
    out = flat[flat != 0].tobytes().split(b"\x01")
    del out[-1]
    return out


def _text_cells(v: np.ndarray) -> list[bytes] | _Field:
    """A text column's CSV cells as UTF-8 (``v`` holds str, or UTF-8 bytes in CSV-only batches); as a field of
    the line's blocks when it is one text for every row (mostly empty: reparse target, object id... of the
    vectorised rows; the source file). Quoted as ``quote_column`` quotes."""
    if isinstance(v, _Commas):
        return v
    first = v[0]
    nz = v.size if not v.strides[0] and first else 0 if not v.strides[0] else np.count_nonzero(v)
    if not nz or (nz == v.size and (not v.strides[0] or (v == first).all())):
        cell = _quote_utf8([first])[0]
        if b"\x00" not in cell and b"\x01" not in cell:
            e = np.frombuffer(cell, dtype=np.uint8)
            return np.broadcast_to(e, (v.size, e.size))
    if nz < v.size // 8:  # mostly empty (zone contents...): the others only
        out = [b""] * v.size
        at = np.flatnonzero(v)
        for i, x in zip(at.tolist(), _quote_utf8(v[at].tolist()), strict=True):
            out[i] = x
        return out
    return _quote_utf8(v.tolist())


def _quote_utf8(cells: list[Any], comma: bool = False) -> list[bytes]:
    """``quote_column`` of str cells, encoded; UTF-8 cells as they are, quoted the same way (``comma``: each
    then followed by a comma)."""
    if cells and type(cells[0]) is bytes:
        joined = b"\x00".join(cells)
        if b"," in joined or b'"' in joined or b"\n" in joined or b"\r" in joined:
            cells = [b'"' + x.replace(b'"', b'""') + b'"' if _NEEDS_QUOTES_B(x) else x for x in cells]
        return [x + b"," for x in cells] if comma else cells
    q = quote_column(cells)
    s = "\x00".join(q)
    if s.count("\x00") == len(q) - 1:  # no NUL in a cell: one encode, one split
        out = s.encode("utf-8").split(b"\x00")
    else:
        out = [x.encode("utf-8") for x in q]
    return [x + b"," for x in out] if comma else out


_NEEDS_QUOTES_B = re.compile(b'[,"\r\n]').search


def _arrays_of(columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Typed arrays of a batch's columns (kept by the parser; rebuilt from the lists otherwise)."""
    arrs = getattr(columns, "arrays", None)
    if arrs is not None:
        return arrs
    n = len(next(iter(columns.values()), ()))
    return _list_arrays(lambda k: columns[k] if k in columns else ["" if k in _STRS else None] * n, n, False,
                        _CSV_READS)


# the columns the CSV renderer reads (a case-store export selects just these; source_file comes from the sources table)
_CSV_READS = ("entry", "sequence", "in_use", "parent_entry", "parent_sequence", "parent_path", "name", "extension",
              "file_size", "reference_count", "reparse_target", "is_dir", "has_ads", "is_ads", "si_lt_fn",
              "usec_zeros", "copied", "si_flags", "name_type", "si_created", "fn_created", "si_modified",
              "fn_modified", "si_record_changed", "fn_record_changed", "si_accessed", "fn_accessed", "usn",
              "logfile_seq", "security_id", "object_id", "logged_util_stream", "zone_id_contents", "source_file")


def _csv_batch(columns: dict[str, list[Any]], tz: timezone) -> list[list[str]] | str | bytes | _csvpart.FileRange:
    """``MFTECmd_$MFT_Output.csv`` lines of a whole batch, as UTF-8: the text ``CSV['mft'].row`` and
    ``csv.writer`` give row by row."""

    text = _csvpart.rendered(columns, tz)
    if text is not None:
        return text
    a = _arrays_of(columns)
    parts, k = _csv_parts(a, tz)
    slow = a.get(_SLOW)
    if slow is not None:  # the per-record decoder's rows, and before which of the others each one comes
        shape = CSV["mft"]
        head: list[bytes] = []  # before the first row
        for p, d in zip(slow[0].tolist(), slow[1], strict=True):
            line = (csv_line(shape.row(d, tz)) + "\r\n").encode("utf-8")
            if p:
                parts[p * k - 1] += line  # after the line end of the row before
            else:
                head.append(line)
        if head:
            parts[0] = b"".join(head) + parts[0]
    return b"".join(parts)


def _csv_parts(a: dict[str, Any], tz: timezone) -> tuple[list[bytes], int]:
    """The lines of a batch's typed arrays as a list of bytes, ``k`` a line."""
    n = a["entry"].size
    if not n:
        return [], 1
    off = tz_offset_ticks(tz) if tz is not UTC else 0
    tv, ts = [], []
    for si_key, fn_key in (("si_created", "fn_created"), ("si_modified", "fn_modified"),
                           ("si_record_changed", "fn_record_changed"), ("si_accessed", "fn_accessed")):
        sv, sok = a[si_key]
        fv, fok = a[fn_key]
        tv += [sv, fv]
        ts += [sok, fok & ~(sok & (fv == sv))]
    tm = _time_field(np.concatenate(tv), np.concatenate(ts), off, 8)  # the 8 time columns at once
    times: list[_Field] = [tm[i * n:(i + 1) * n] for i in range(8)]
    flags, fl_ok = a["si_flags"]
    usn, usn_ok = a["usn"]
    sec, sec_ok = a["security_id"]
    fu, finv = np.unique(np.where(fl_ok, flags, -1), return_inverse=True)
    ftexts = tuple(si_flags_text(x) if x >= 0 else "" for x in fu.tolist())

    def txt(k: str) -> list[bytes] | _Field:
        return _text_cells(a[k])

    cells = [
        _num_field(a["entry"]), _num_field(a["sequence"]), _bool_field(a["in_use"]), _num_field(a["parent_entry"]),
        _num_field(a["parent_sequence"]), txt("csv_parent_path"), txt("name"), txt("extension"),
        _num_field(a["file_size"]), _num_field(a["reference_count"]), txt("reparse_target"),
        _text_field(_TF6_TEXTS, a["is_dir"] | a["has_ads"] << 1 | a["is_ads"] << 2 | a["si_lt_fn"] << 3
                    | a["usec_zeros"] << 4 | a["copied"] << 5),
        _text_field(ftexts, finv.reshape(-1)),
        _text_field(_NT_TEXTS, a["ns"]), *times, _num_field(np.where(usn_ok, usn, np.uint64(0))),
        _num_field(a["logfile_seq"]), _num_field(np.where(sec_ok, sec, 0)),
        txt("object_id"), txt("logged_util_stream"), txt("zone_id_contents"), txt("source_file"),
    ]
    tail: list[bytes] = []  # the last cells when they are one text for every line (source file...): the line end
    while isinstance(last := cells[-1], np.ndarray) and not last.strides[0]:  # a broadcast row: one text
        tail.append(last[0].tobytes())
        cells.pop()
    end = b"".join(b"," + x for x in reversed(tail)) + b"\r\n"
    groups: list[list[Any]] = []  # runs of adjacent fields (one block each) and text columns, in line order
    for c in cells:
        if isinstance(c, list):
            groups.append(c)
        elif groups and not isinstance(groups[-1], _Commas) and groups[-1] and isinstance(groups[-1][0], np.ndarray):
            groups[-1].append(c)
        else:
            groups.append([c])
    cols: list[list[bytes]] = []  # each group's cells, with the comma after them (the last: with the line end)
    for i, g in enumerate(groups):
        is_last = i == len(groups) - 1
        if g and isinstance(g[0], np.ndarray):
            cols.append(_block(g, end if is_last else b","))
        elif is_last:
            cols += [g, [end] * n] if not isinstance(g, _Commas) else [[x[:-1] for x in g], [end] * n]
        else:
            cols.append(g if isinstance(g, _Commas) else [x + b"," for x in g])
    k = len(cols)  # each line: its parts, in one list joined once
    parts: list[bytes] = [b""] * (k * n)
    for i, c in enumerate(cols):
        parts[i::k] = c
    return parts, k


# --- timeline --------------------------------------------------------------------------------------------
_VERBS = {"M": "modified", "A": "accessed", "C": "record changed", "B": "created"}
_verb_cache: dict[str, str] = {}


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    """SI and FN times, each set grouped mactime-style (``SI MACB``, ``FN B``...); ADS rows add nothing."""
    d = rec.data
    if rec.table != "mft" or d["is_ads"]:
        return ()
    path = d["full_path"]
    win = path.replace("/", "\\")
    kind = "Dir" if d["is_dir"] else "File"
    if not d["in_use"]:
        kind = f"Deleted {kind.lower()}"
    out = []
    for prefix, m, a, c, b in (("SI", d["si_modified"], d["si_accessed"], d["si_record_changed"], d["si_created"]),
                               ("FN", d["fn_modified"], d["fn_accessed"], d["fn_record_changed"], d["fn_created"])):
        seen: dict[int, str] = {}
        if m:
            seen[m] = "M"
        if a:
            seen[a] = seen.get(a, "") + "A"
        if c:
            seen[c] = seen.get(c, "") + "C"
        if b:
            seen[b] = seen.get(b, "") + "B"
        for ts, letters in seen.items():
            verbs = _verb_cache.get(letters)
            if verbs is None:
                verbs = _verb_cache[letters] = ", ".join(_VERBS[x] for x in letters)
            out.append(TimelineEvent(ts, f"{prefix} {letters}", path, f"{kind} {verbs} ({prefix}): {win}"))
    return out



def _timeline_sql() -> str:
    """``timeline()`` in SQL: per row, up to 8 events (SI then FN; M, A, C, B each where its time first occurs),
    one pass over the table crossed with the 8 positions, in (row, position) order."""
    branches_ts, branches_desc, branches_verbs = [], [], []
    letters = "MACB"
    cols = {"M": "modified", "A": "accessed", "C": "record_changed", "B": "created"}
    for k in range(8):
        pfx = "si" if k < 4 else "fn"
        j = k % 4
        x = {ch: f"m.{pfx}_{cols[ch]}" for ch in letters}
        me = letters[j]
        before = letters[:j]
        after = letters[j + 1:]
        cond = " AND ".join(f"{x[me]} IS NOT {x[b]}" for b in before)
        ts = f"CASE WHEN {cond} THEN {x[me]} END" if cond else x[me]
        lt = " || ".join([f"'{me}'"] + [f"(CASE WHEN {x[a]} = {x[me]} THEN '{a}' ELSE '' END)" for a in after])
        vb = " || ".join([f"'{_VERBS[me]}'"] +
                         [f"(CASE WHEN {x[a]} = {x[me]} THEN ', {_VERBS[a]}' ELSE '' END)" for a in after])
        branches_ts.append(f"WHEN {k} THEN {ts}")
        branches_desc.append(f"WHEN {k} THEN '{pfx.upper()} ' || {lt}")
        branches_verbs.append(f"WHEN {k} THEN {vb} || ' ({pfx.upper()}): '")
    kind = ("CASE WHEN m.in_use THEN (CASE WHEN m.is_dir THEN 'Dir ' ELSE 'File ' END) "
            "ELSE (CASE WHEN m.is_dir THEN 'Deleted dir ' ELSE 'Deleted file ' END) END")
    return (
        f"SELECT CASE k.column1 {' '.join(branches_ts)} END AS ts, CASE k.column1 {' '.join(branches_desc)} END AS ts_desc, "
        f"'' AS user, m.full_path AS path, {kind} || CASE k.column1 {' '.join(branches_verbs)} END "
        "|| replace(m.full_path, '/', '\\') AS summary, m.id AS id "
        "FROM mft AS m CROSS JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7)) AS k "
        "WHERE m.source_id = :source_id AND NOT m.is_ads ORDER BY m.id, k.column1"
    )


# The same events as ``timeline()``, derived in SQLite when the rows go to a case store (one INSERT ... SELECT
# instead of a Python TimelineEvent per row and timestamp).
TIMELINE_SQL = {"mft": _timeline_sql()}

# --- CSV (MFTECmd_$MFT_Output.csv) -----------------------------------------------------------------------
_WIN_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_sec_cache: dict[int, str] = {}


def _fmt_utc(t: int | None) -> str:
    """``yyyy-MM-dd HH:mm:ss.fffffff`` (UTC), cached per second: the CSV hot path."""
    if t is None:
        return ""
    s, frac = divmod(t, 10_000_000)
    base = _sec_cache.get(s)
    if base is None:
        if not 0 <= t <= FMT_MAX:  # past 9999-12-31 (corrupt evidence): the raw value, as timeutil.fmt does
            return str(t)
        if len(_sec_cache) > 500_000:
            _sec_cache.clear()
        base = (_WIN_EPOCH + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S")
        _sec_cache[s] = base
    return f"{base}.{frac:07d}"


def _paths(entry: int, pe: int, ps: int, pref: int, name: str, res: Any, pcache: dict[int, str | None]) -> tuple[str, str]:
    """(parent path, full path) of a name whose parent reference is ``pref``: the root is ``/``; a record that is
    its own parent, or whose parent the resolver cannot place, goes under ``<Orphan>``. ``pcache`` memoises
    parent paths by reference (both row paths share it)."""
    if entry == ROOT_ENTRY and pe == ROOT_ENTRY:
        return "", "/"
    if pe == entry:
        pp = None
    elif pref in pcache:
        pp = pcache[pref]
    else:
        pp = res.dir_path(pe, ps)
        if len(pcache) > 200_000:
            pcache.clear()
        pcache[pref] = pp
    if pp is None:
        return ORPHAN, f"{ORPHAN}/{name}"
    return pp, (f"/{name}" if pp == "/" else f"{pp}/{name}")


def csv_parent_path(parent_path: str) -> str:
    """MFTECmd's ParentPath: ``.`` for the root, ``.\\Users\\x`` below it, ``.\\<Orphan>`` when detached."""
    if parent_path in ("/", ""):
        return "."
    if parent_path.startswith("/"):
        return "." + parent_path.replace("/", "\\")
    return ".\\" + parent_path.replace("/", "\\")


_csv_pp_cache: dict[str, str] = {}


def _csv_pp_cached(parent_path: str) -> str:
    t = _csv_pp_cache.get(parent_path)
    if t is None:
        if len(_csv_pp_cache) > 100_000:
            _csv_pp_cache.clear()
        t = _csv_pp_cache[parent_path] = csv_parent_path(parent_path)
    return t


MFT_CSV_HEADERS = [
    "EntryNumber", "SequenceNumber", "InUse", "ParentEntryNumber", "ParentSequenceNumber", "ParentPath",
    "FileName", "Extension", "FileSize", "ReferenceCount", "ReparseTarget", "IsDirectory", "HasAds", "IsAds",
    "SI<FN", "uSecZeros", "Copied", "SiFlags", "NameType", "Created0x10", "Created0x30", "LastModified0x10",
    "LastModified0x30", "LastRecordChange0x10", "LastRecordChange0x30", "LastAccess0x10", "LastAccess0x30",
    "UpdateSequenceNumber", "LogfileSequenceNumber", "SecurityId", "ObjectIdFileDroid", "LoggedUtilStream",
    "ZoneIdContents", "SourceFile",
]


def _fn_col(header: str, fn_key: str, si_key: str) -> Any:
    """MFTECmd writes a 0x30 time only when it differs from the 0x10 one."""

    def get(d: dict[str, Any], tz: timezone) -> Any:
        v = d.get(fn_key)
        return "" if v is None or v == d.get(si_key) else fmt(v, tz)

    return type(tcol(header, fn_key))(header + "\x00", get)


class _MftCsvShape(CsvShape):
    """Same columns as the generic shape, but one function builds the whole row (the CSV hot path)."""

    def row(self, d: dict[str, Any], tz: timezone = UTC) -> list[Any]:
        if tz is not UTC and tz.utcoffset(None):
            return super().row(d, tz)
        T = "True"
        F = "False"
        sc, sm, sr, sa = d["si_created"], d["si_modified"], d["si_record_changed"], d["si_accessed"]
        fc, fm, fr, fa = d["fn_created"], d["fn_modified"], d["fn_record_changed"], d["fn_accessed"]
        usn = d["usn"]
        sec = d["security_id"]
        tc = _fmt_utc(sc)  # the four SI times are often equal: format each distinct value once
        tm = tc if sm == sc else _fmt_utc(sm)
        tr = tc if sr == sc else (tm if sr == sm else _fmt_utc(sr))
        ta = tc if sa == sc else (tm if sa == sm else (tr if sa == sr else _fmt_utc(sa)))
        return [
            d["entry"], d["sequence"], T if d["in_use"] else F, d["parent_entry"], d["parent_sequence"],
            _csv_pp_cached(d["parent_path"] or ""), d["name"], d["extension"], d["file_size"], d["reference_count"],
            d["reparse_target"], T if d["is_dir"] else F, T if d["has_ads"] else F, T if d["is_ads"] else F,
            T if d["si_lt_fn"] else F, T if d["usec_zeros"] else F, T if d["copied"] else F,
            si_flags_text(d["si_flags"]), d["name_type"],
            tc, "" if fc == sc else _fmt_utc(fc),
            tm, "" if fm == sm else _fmt_utc(fm),
            tr, "" if fr == sr else _fmt_utc(fr),
            ta, "" if fa == sa else _fmt_utc(fa),
            0 if usn is None else usn, d["logfile_seq"], 0 if sec is None else sec,
            d["object_id"], d["logged_util_stream"], d["zone_id_contents"], d.get("source_file", ""),
        ]


CSV = {
    "mft": _MftCsvShape(
        "MFTECmd_$MFT_Output.csv",
        [
            col("EntryNumber", "entry"), col("SequenceNumber", "sequence"),
            type(col("x"))("InUse", lambda d, _tz: bool_str(d.get("in_use"))),
            col("ParentEntryNumber", "parent_entry"), col("ParentSequenceNumber", "parent_sequence"),
            type(col("x"))("ParentPath", lambda d, _tz: csv_parent_path(d.get("parent_path") or "")),
            col("FileName", "name"), col("Extension", "extension"), col("FileSize", "file_size"),
            col("ReferenceCount", "reference_count"), col("ReparseTarget", "reparse_target"),
            type(col("x"))("IsDirectory", lambda d, _tz: bool_str(d.get("is_dir"))),
            type(col("x"))("HasAds", lambda d, _tz: bool_str(d.get("has_ads"))),
            type(col("x"))("IsAds", lambda d, _tz: bool_str(d.get("is_ads"))),
            type(col("x"))("SI<FN", lambda d, _tz: bool_str(d.get("si_lt_fn"))),
            type(col("x"))("uSecZeros", lambda d, _tz: bool_str(d.get("usec_zeros"))),
            type(col("x"))("Copied", lambda d, _tz: bool_str(d.get("copied"))),
            type(col("x"))("SiFlags", lambda d, _tz: si_flags_text(d.get("si_flags"))),
            col("NameType", "name_type"),
            tcol("Created0x10", "si_created"), _fn_col("Created0x30", "fn_created", "si_created"),
            tcol("LastModified0x10", "si_modified"), _fn_col("LastModified0x30", "fn_modified", "si_modified"),
            tcol("LastRecordChange0x10", "si_record_changed"),
            _fn_col("LastRecordChange0x30", "fn_record_changed", "si_record_changed"),
            tcol("LastAccess0x10", "si_accessed"), _fn_col("LastAccess0x30", "fn_accessed", "si_accessed"),
            col("UpdateSequenceNumber", "usn", 0), col("LogfileSequenceNumber", "logfile_seq"),
            col("SecurityId", "security_id", 0), col("ObjectIdFileDroid", "object_id"),
            col("LoggedUtilStream", "logged_util_stream"), col("ZoneIdContents", "zone_id_contents"),
            col("SourceFile", "source_file"),
        ],
        batch=_csv_batch, batch_reads=_CSV_READS,
    ),
}
