"""Our own EWF-E01 reader (EnCase 1-7 / FTK / ewfacquire style segment files), zlib based. Read-only.

Written from the libyal "Expert Witness Compression Format (EWF)" documentation. A segment file is a 13-byte
file header (``EVF\\x09\\x0d\\x0a\\xff\\x00``, 0x01, segment number, 0x0000) followed by back-to-back sections,
each with a 76-byte section header (type[16], next offset u64, size u64, padding[40], Adler-32). We use:

- ``header2`` (zlib, UTF-16) / ``header`` (zlib, ASCII): case metadata;
- ``volume`` / ``disk`` / ``data``: chunk count, sectors per chunk, bytes per sector, sector count;
- ``table`` (+ its mirror ``table2``): one u32 per chunk, MSB = compressed, 31-bit offset from the table base;
- ``sectors``: the chunks (zlib streams, or raw data + Adler-32);
- ``hash`` (MD5) / ``digest`` (MD5 + SHA1); ``error2`` (acquisition read errors); ``next`` / ``done``.

Chunks are placed in media order as their tables are read, segment after segment, so a missing, out-of-order or
truncated segment would shift everything after it: those are detected (segment numbers in each file header, the
``next``/``done`` chain) and become an :class:`EvidenceError` or, for a truncated segment, chunks marked missing.
A chunk that fails to decode (inflate error, bad Adler-32, wrong length, missing table entry) reads as zeros, as
``ewfexport``/``ewfverify -w`` do, and is recorded with its chunk number and media offset.

Speed: ``verify`` decodes batches of chunks in worker threads (``zlib.decompress`` releases the GIL) while the
calling thread feeds MD5 and a helper thread feeds SHA1 (``hashlib`` releases the GIL too), in media order.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import struct
import threading
import time
import zlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .image import EVF_MAGIC, EvidenceError, Image

SECTION_HEADER = 76
FILE_HEADER = 13
MAX_SECTIONS = 1_000_000
MAX_TEXT_SECTION = 16 << 20  # header/header2 bigger than this is not believed

HEADER_KEYS = {
    "a": "description", "c": "case_number", "n": "evidence_number", "e": "examiner_name", "t": "notes",
    "md": "model", "sn": "serial_number", "l": "device_label", "av": "acquiry_software_version",
    "ov": "acquiry_operating_system", "m": "acquiry_date", "u": "system_date", "p": "password",
    "r": "compression_level", "pid": "process_identifier", "dc": "unknown_dc", "ext": "extents",
}
MAIN_KEYS = ("case_number", "description", "examiner_name", "evidence_number", "notes", "acquiry_date")
MEDIA_TYPES = {0x00: "removable", 0x01: "fixed", 0x03: "optical", 0x0E: "logical (L01)", 0x10: "memory"}
COMPRESSION_LEVELS = {0: "none", 1: "good (fast)", 2: "best"}


class UnsupportedEwf(EvidenceError):
    """Valid-looking EWF that this reader does not handle (EWF2/Ex01, L01, odd geometry): use libewf."""


@dataclass
class _Segment:
    path: Path
    number: int
    size: int
    fd: int
    section_starts: list[int] = field(default_factory=list)
    last_section: str = ""
    truncated: bool = False


@dataclass
class _Table:
    seg: int              # index into segments
    base: int             # table base offset (EnCase 6+), 0 before
    entries: array        # u32 per chunk: MSB compressed, 31-bit offset
    first_chunk: int      # media chunk number of entries[0]
    end: int              # end of the chunk data area of the last entry (next section start)
    where: int            # file offset of the table section (for messages)


@dataclass
class BadChunk:
    chunk: int
    offset: int
    reason: str
    segment: str = ""
    file_offset: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "offset": self.offset, "reason": self.reason, "segment": self.segment,
                "file_offset": self.file_offset}


_PREAD_LOCK = threading.Lock()


def _pread(fd: int, n: int, off: int) -> bytes:
    """Positional read (thread-safe, no shared file position)."""
    if n <= 0:
        return b""
    if hasattr(os, "pread"):
        return os.pread(fd, n, off)
    with _PREAD_LOCK:  # pragma: no cover - platforms without pread (Windows)
        os.lseek(fd, off, os.SEEK_SET)
        return os.read(fd, n)


def _date_value(key: str, text: str, from_header2: bool) -> str:
    """header2 dates are POSIX seconds (UTC); header dates are "Y m d H M S" in the acquiring machine's time."""
    if key not in ("acquiry_date", "system_date") or not text.strip():
        return text
    text = text.strip()
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return text
    parts = text.split()
    if len(parts) == 6 and all(p.isdigit() for p in parts) and not from_header2:
        try:
            y, mo, d, h, mi, s = (int(p) for p in parts)
            return datetime(y, mo, d, h, mi, s).isoformat() + " (acquisition machine local time)"
        except ValueError:
            return text
    return text


def parse_header_text(text: str, from_header2: bool) -> dict[str, str]:
    """The 'main' category of a header/header2 text: line 3 = keys, line 4 = values (tab separated)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.strip() == "main" and i + 2 < len(lines):
            keys = lines[i + 1].split("\t")
            vals = lines[i + 2].split("\t")
            for k, v in zip(keys, vals, strict=False):
                name = HEADER_KEYS.get(k.strip(), k.strip())
                if name:
                    out[name] = _date_value(name, v, from_header2)
            break
    return out


def _update_all(h: Any, datas: list[bytes]) -> None:
    for d in datas:
        h.update(d)


def _decode_one(raw: bytes | memoryview, compressed: bool, expect: int,
                zcache: dict[bytes, bytes] | None) -> tuple[bytes, str | None]:
    """Decode one stored chunk; returns (data of ``expect`` bytes, None) or (zeros, reason)."""
    if compressed:
        key = None
        if zcache is not None and len(raw) <= 1024:
            key = bytes(raw)
            hit = zcache.get(key)
            if hit is not None and len(hit) == expect:
                return hit, None
        try:
            out = zlib.decompress(raw, bufsize=expect + 1)
        except zlib.error as e:
            return bytes(expect), f"inflate error: {e}"
        if len(out) != expect:
            return bytes(expect), f"inflated to {len(out)} bytes, expected {expect}"
        if key is not None and zcache is not None and len(zcache) < 256:
            zcache[key] = out
        return out, None
    if len(raw) < expect + 4:
        return bytes(expect), f"short chunk: {len(raw)} bytes stored, {expect} + 4 (Adler-32) needed"
    body = raw[:expect]
    stored = int.from_bytes(raw[expect:expect + 4], "little")
    calc = zlib.adler32(body)
    if calc != stored:
        return bytes(expect), f"Adler-32 mismatch: stored 0x{stored:08x}, computed 0x{calc:08x}"
    return bytes(body), None


class EwfImage(Image):
    """EWF-E01 image (all segments). ``read`` returns media bytes; ``verify`` recomputes the stored hashes."""

    def __init__(self, segments: list[Path], workers: int | None = None) -> None:
        if not segments:
            raise EvidenceError("no EWF segment files given")
        self.path = Path(segments[0])
        self.segments: list[_Segment] = []
        self.warnings: list[str] = []
        self.header: dict[str, str] = {}
        self.stored: dict[str, str] = {}
        self.acquiry_errors: list[dict[str, int]] = []
        self.tables: list[_Table] = []
        self._table_starts: list[int] = []
        self.bad: dict[int, BadChunk] = {}
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_max = 256
        self._zcache: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self._workers = workers or min(4, max(2, os.cpu_count() or 2))
        self._pool: ThreadPoolExecutor | None = None
        self.media_type: int | None = None
        self.chunk_count = 0
        self.sectors_per_chunk = 0
        self.bytes_per_sector = 0
        self.sector_count = 0
        self.compression_level: int | None = None
        self.error_granularity = 0
        self.set_identifier = ""
        self._volume_seen = False
        self._have_header2 = False
        self._stop_placing = False
        self.chunk_size = 0
        self.size = 0
        self.n_chunks = 0
        try:
            self._open_all([Path(p) for p in segments])
        except BaseException:
            self.close()
            raise

    # --- opening ------------------------------------------------------------------------------
    def _warn(self, msg: str) -> None:
        if len(self.warnings) < 1000:
            self.warnings.append(msg)

    def _open_all(self, paths: list[Path]) -> None:
        for i, p in enumerate(paths):
            try:
                fd = os.open(p, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except OSError as e:
                raise EvidenceError(f"{p}: cannot open segment file: {e.strerror}") from None
            size = os.fstat(fd).st_size
            head = _pread(fd, FILE_HEADER, 0)
            if len(head) < FILE_HEADER:
                os.close(fd)
                raise EvidenceError(f"{p}: {len(head)} bytes, too short for an EWF segment file header (13 bytes)")
            if head[:8] != EVF_MAGIC:
                os.close(fd)
                if i == 0:
                    raise UnsupportedEwf(f"{p}: not an EWF-E01 segment file (signature {head[:8].hex()})")
                raise EvidenceError(f"{p}: not an EWF-E01 segment file (signature {head[:8].hex()}) "
                                    f"but named as segment {i + 1} of {paths[0].name}")
            number = struct.unpack_from("<H", head, 9)[0]
            seg = _Segment(p, number, size, fd)
            self.segments.append(seg)
            if number != i + 1:
                raise EvidenceError(
                    f"{p.name}: its file header says segment {number}, but it is file {i + 1} of the set "
                    f"({', '.join(x.name for x in paths)}): segment files missing, out of order or renamed")
        for i, seg in enumerate(self.segments):
            self._walk(i, seg)
            if seg.last_section == "done" and i + 1 < len(self.segments):
                self._warn(f"{seg.path.name}: 'done' section ends the set, but {len(self.segments) - i - 1} "
                           f"more segment file(s) follow; they are ignored")
                for extra in self.segments[i + 1:]:
                    os.close(extra.fd)
                    extra.fd = -1
                del self.segments[i + 1:]
                break
            if (seg.truncated or self._stop_placing) and i + 1 < len(self.segments):
                self._warn(f"{seg.path.name}: segment is damaged or truncated; chunks of the following "
                           f"segments cannot be placed and read as missing")
                break
        last = self.segments[-1]
        if last.last_section == "next":
            n = len(self.segments) + 1
            raise EvidenceError(
                f"{last.path.name} ends with a 'next' section: segment {n} of {self.path.name} is missing "
                f"(expected a file like {_segment_name(self.path, n)})")
        if not self._volume_seen:
            raise EvidenceError(f"{self.path}: no readable volume/disk/data section: media geometry unknown")
        self.chunk_size = self.sectors_per_chunk * self.bytes_per_sector
        self.size = self.sector_count * self.bytes_per_sector
        self.n_chunks = (self.size + self.chunk_size - 1) // self.chunk_size if self.chunk_size else 0
        placed = self._placed_chunks()
        if placed < self.n_chunks:
            self._warn(f"tables describe {placed} chunks, media needs {self.n_chunks}: chunks {placed}.."
                       f"{self.n_chunks - 1} (media offset {placed * self.chunk_size}) are missing and read as zeros")
        elif placed > self.n_chunks:
            self._warn(f"tables describe {placed} chunks, media needs only {self.n_chunks}; extra ones ignored")
        if self.chunk_count and self.chunk_count != self.n_chunks:
            self._warn(f"volume section says {self.chunk_count} chunks, media size implies {self.n_chunks}")

    def _placed_chunks(self) -> int:
        if not self.tables:
            return 0
        t = self.tables[-1]
        return t.first_chunk + len(t.entries)

    def _walk(self, si: int, seg: _Segment) -> None:
        pos = FILE_HEADER
        seen: set[int] = set()
        groups: list[list[tuple[str, int, array, int, bool, int, bool]]] = []
        count = 0
        while True:
            count += 1
            if count > MAX_SECTIONS:
                self._warn(f"{seg.path.name}: more than {MAX_SECTIONS} sections; stopped")
                seg.truncated = True
                break
            if pos + SECTION_HEADER > seg.size:
                self._warn(f"{seg.path.name}: section header at offset {pos} needs {SECTION_HEADER} bytes, file has "
                           f"{max(0, seg.size - pos)}: segment truncated")
                seg.truncated = True
                break
            hdr = _pread(seg.fd, SECTION_HEADER, pos)
            stype = hdr[:16].split(b"\0", 1)[0].decode("ascii", "replace")
            nxt, size = struct.unpack_from("<QQ", hdr, 16)
            (cksum,) = struct.unpack_from("<I", hdr, 72)
            if zlib.adler32(hdr[:72]) != cksum:
                self._warn(f"{seg.path.name}: section header at offset {pos} ('{stype[:16]}') has a bad Adler-32 "
                           f"(stored 0x{cksum:08x}, computed 0x{zlib.adler32(hdr[:72]):08x})")
                if not stype.isascii() or not stype.isalnum() or nxt <= pos or nxt > seg.size:
                    seg.truncated = True
                    break
            seen.add(pos)
            seg.section_starts.append(pos)
            seg.last_section = stype
            data_len = (size - SECTION_HEADER) if size >= SECTION_HEADER else max(0, nxt - pos - SECTION_HEADER)
            if pos < nxt <= seg.size:  # sections are back to back: never read past the next one
                data_len = min(data_len, nxt - pos - SECTION_HEADER)
            dpos = pos + SECTION_HEADER
            if stype in ("done", "next"):
                break
            try:
                self._section(si, seg, stype, dpos, data_len, groups, pos)
            except (struct.error, ValueError, UnicodeDecodeError, zlib.error, OverflowError) as e:
                self._warn(f"{seg.path.name}: '{stype}' section at offset {pos}: {type(e).__name__}: {e}")
            if nxt <= pos or nxt in seen:
                self._warn(f"{seg.path.name}: section at offset {pos} ('{stype}') points to offset {nxt}: "
                           f"section chain broken")
                seg.truncated = True
                break
            if nxt > seg.size:
                self._warn(f"{seg.path.name}: section at offset {pos} ('{stype}') points past the end of the file "
                           f"({nxt} > {seg.size}): segment truncated")
                seg.truncated = True
                break
            pos = nxt
        seg.section_starts.sort()
        self._place_tables(si, seg, groups)

    def _section(self, si: int, seg: _Segment, stype: str, dpos: int, dlen: int,
                 groups: list[list[tuple[str, int, array, int, bool, int, bool]]], where: int) -> None:
        name = seg.path.name
        if stype in ("header2", "header"):
            if si != 0 and self.header:
                return
            raw = _pread(seg.fd, min(dlen, MAX_TEXT_SECTION), dpos)
            try:
                text_b = zlib.decompress(raw)
            except zlib.error as e:
                self._warn(f"{name}: '{stype}' section at offset {where}: cannot inflate: {e}")
                return
            if stype == "header2":
                enc = "utf-16-be" if text_b[:2] == b"\xfe\xff" else "utf-16-le"
                text = text_b[2:].decode(enc, "replace") if text_b[:2] in (b"\xff\xfe", b"\xfe\xff") \
                    else text_b.decode("utf-16-le", "replace")
                vals = parse_header_text(text, True)
                self.header.update(vals)
                self._have_header2 = True
            else:
                vals = parse_header_text(text_b.decode("latin-1"), False)
                for k, v in vals.items():  # header2 (UTF-16, POSIX dates) wins over header
                    if not self._have_header2 or k not in self.header:
                        self.header[k] = v
        elif stype in ("volume", "disk", "data"):
            if dlen < 24:
                self._warn(f"{name}: '{stype}' section at offset {where}: {dlen} bytes, too short")
                return
            raw = _pread(seg.fd, min(dlen, 1052), dpos)
            mtype, chunks, spc, bps, sectors = struct.unpack_from("<B3xIIIQ", raw, 0)
            if len(raw) >= 94 and len(raw) < 1052:  # EWF-S01 style: 32-bit sector count
                sectors = struct.unpack_from("<I", raw, 16)[0]
            intact = True
            if len(raw) >= 1052:
                (ck,) = struct.unpack_from("<I", raw, 1048)
                if ck != 0 and zlib.adler32(raw[:1048]) != ck:
                    intact = False
                    self._warn(f"{name}: '{stype}' section at offset {where}: bad Adler-32; values used anyway")
            guid = raw[64:80].hex() if len(raw) >= 80 and any(raw[64:80]) else ""
            if self._volume_seen:
                differs = (spc, bps, sectors) != (self.sectors_per_chunk, self.bytes_per_sector, self.sector_count)
                other_set = bool(guid and self.set_identifier and guid != self.set_identifier)
                if intact and si != 0 and (differs or other_set):
                    raise EvidenceError(
                        f"{name}: belongs to another image: its '{stype}' section (offset {where}) says "
                        f"{sectors} sectors x {bps} bytes, {spc} sectors per chunk, set {guid or '-'}; "
                        f"{self.path.name} says {self.sector_count} x {self.bytes_per_sector}, "
                        f"{self.sectors_per_chunk}, set {self.set_identifier or '-'}")
                if differs or other_set:
                    self._warn(f"{name}: '{stype}' section at offset {where} disagrees with the first volume "
                               f"section (sectors per chunk {spc}, bytes per sector {bps}, sectors {sectors})")
                return
            if not (1 <= spc <= 65536 and bps in (512, 1024, 2048, 4096) and spc * bps <= 64 << 20):
                raise UnsupportedEwf(f"{name}: unsupported geometry: {spc} sectors per chunk x {bps} bytes")
            if mtype == 0x0E:
                raise UnsupportedEwf(f"{name}: logical evidence (L01) media")
            self.media_type, self.chunk_count = mtype, chunks
            self.sectors_per_chunk, self.bytes_per_sector, self.sector_count = spc, bps, sectors
            if len(raw) >= 80:
                self.compression_level = raw[52]
                self.error_granularity = struct.unpack_from("<I", raw, 56)[0]
                self.set_identifier = guid
            self._volume_seen = True
        elif stype in ("table", "table2"):
            if dlen < 24:
                self._warn(f"{name}: '{stype}' section at offset {where}: {dlen} bytes, too short for a table")
                return
            th = _pread(seg.fd, 24, dpos)
            n, base = struct.unpack_from("<I4xQ", th, 0)
            (ck,) = struct.unpack_from("<I", th, 20)
            ok = hdr_ok = zlib.adler32(th[:20]) == ck
            if not ok:
                self._warn(f"{name}: '{stype}' header at offset {dpos} has a bad Adler-32")
            if n * 4 > dlen - 24 or n > 1 << 24:
                self._warn(f"{name}: '{stype}' at offset {where}: {n} entries need {n * 4} bytes, section has "
                           f"{max(0, dlen - 24)}")
                n = max(0, (dlen - 24) // 4) if ok else 0
                ok = hdr_ok = False
            body = _pread(seg.fd, n * 4 + 4, dpos + 24)
            if len(body) < n * 4:
                self._warn(f"{name}: '{stype}' at offset {where}: entries cut short by end of file")
                n = len(body) // 4
                ok = hdr_ok = False
            entries = array("I")
            entries.frombytes(body[: n * 4])
            if struct.pack("<I", 1) != array("I", [1]).tobytes():  # pragma: no cover - big-endian hosts
                entries.byteswap()
            if len(body) >= n * 4 + 4 and dlen >= 24 + n * 4 + 4:
                (fck,) = struct.unpack_from("<I", body, n * 4)
                if zlib.adler32(body[: n * 4]) != fck:
                    self._warn(f"{name}: '{stype}' entries at offset {dpos + 24} have a bad Adler-32")
                    ok = False
            if stype == "table" or not groups:
                groups.append([])
            groups[-1].append((stype, base, entries, where, ok, dpos, hdr_ok))
        elif stype == "hash":
            raw = _pread(seg.fd, min(dlen, 36), dpos)
            if len(raw) >= 16 and any(raw[:16]):
                if len(raw) >= 36 and zlib.adler32(raw[:32]) != struct.unpack_from("<I", raw, 32)[0]:
                    self._warn(f"{name}: 'hash' section at offset {where}: bad Adler-32")
                self.stored.setdefault("md5", raw[:16].hex())
        elif stype == "digest":
            raw = _pread(seg.fd, min(dlen, 80), dpos)
            if len(raw) >= 80 and zlib.adler32(raw[:76]) != struct.unpack_from("<I", raw, 76)[0]:
                self._warn(f"{name}: 'digest' section at offset {where}: bad Adler-32")
            if len(raw) >= 16 and any(raw[:16]):
                self.stored["md5"] = raw[:16].hex()
            if len(raw) >= 36 and any(raw[16:36]):
                self.stored["sha1"] = raw[16:36].hex()
        elif stype == "error2":
            raw = _pread(seg.fd, min(dlen, 520 + 8 * 65536), dpos)
            if len(raw) >= 520:
                (nerr,) = struct.unpack_from("<I", raw, 0)
                for j in range(min(nerr, (len(raw) - 520) // 8)):
                    start, count = struct.unpack_from("<II", raw, 520 + 8 * j)
                    self.acquiry_errors.append({"start_sector": start, "sectors": count})
        # sectors, session, ltree, ltypes, map, incomplete, xheader...: nothing needed here

    def _place_tables(self, si: int, seg: _Segment,
                      groups: list[list[tuple[str, int, array, int, bool, int, bool]]]) -> None:
        for grp in groups:
            if self._stop_placing:
                return
            good = [g for g in grp if g[4]]
            counted = [g for g in grp if g[6]]
            stype, base, entries, where, _ok, _dpos, _h = (good or counted or grp)[0]
            if not good:
                if not counted:
                    # the entry count itself is in doubt: chunks after this table cannot be placed reliably
                    self._stop_placing = True
                    self._warn(f"{seg.path.name}: table at offset {where} is damaged and has no intact mirror; "
                               f"its {len(entries)} entries are used (each chunk is still checked), the chunks "
                               f"after them cannot be placed and read as missing")
                else:
                    self._warn(f"{seg.path.name}: table entries at offset {where} fail their checksum (no intact "
                               f"mirror); used as they are, each chunk is still checked")
            elif stype == "table2":
                self._warn(f"{seg.path.name}: table at offset {grp[0][3]} damaged; its mirror 'table2' is used")
            if not entries:
                continue
            last_start = base + (entries[-1] & 0x7FFFFFFF)
            k = bisect.bisect_right(seg.section_starts, last_start)
            end = seg.section_starts[k] if k < len(seg.section_starts) else seg.size
            first = self._placed_chunks()
            self.tables.append(_Table(si, base, entries, first, end, where))
            self._table_starts.append(first)

    # --- chunk access -------------------------------------------------------------------------
    def _expect(self, c: int) -> int:
        return min(self.chunk_size, self.size - c * self.chunk_size)

    def _locate(self, c: int) -> tuple[_Table, int, int, bool] | None:
        """(table, file offset, stored size, compressed) of chunk ``c``, or None when no table entry."""
        k = bisect.bisect_right(self._table_starts, c) - 1
        if k < 0:
            return None
        t = self.tables[k]
        i = c - t.first_chunk
        if i >= len(t.entries):
            return None
        e = t.entries[i]
        start = t.base + (e & 0x7FFFFFFF)
        comp = bool(e >> 31)
        if i + 1 < len(t.entries):
            nxt = t.base + (t.entries[i + 1] & 0x7FFFFFFF)
        else:
            nxt = t.end
        size = nxt - start
        expect = self._expect(c)
        if not comp:
            size = expect + 4
        elif size <= 0 or size > expect + (expect >> 3) + 1024:
            seg = self.segments[t.seg]
            k2 = bisect.bisect_right(seg.section_starts, start)
            bound = seg.section_starts[k2] if k2 < len(seg.section_starts) else seg.size
            size = max(0, min(bound - start, expect + (expect >> 3) + 1024))
        return t, start, size, comp

    def _raw_chunks(self, c0: int, c1: int) -> list[tuple[int, bytes | memoryview | None, bool, int, str]]:
        """Stored bytes of chunks c0..c1-1: (chunk, raw or None, compressed, expect, reason-if-None).

        Fast path: a run of chunks of one table stored back to back is read with one pread; anything odd
        (missing entries, offsets out of order, implausible sizes) goes through ``_locate`` chunk by chunk.
        """
        out: list[tuple[int, bytes | memoryview | None, bool, int, str]] = []
        cs = self.chunk_size
        c = c0
        while c < c1:
            k = bisect.bisect_right(self._table_starts, c) - 1
            t = self.tables[k] if k >= 0 else None
            if t is None or c - t.first_chunk >= len(t.entries):
                out.append((c, None, False, self._expect(c), "no table entry (segment missing or truncated)"))
                c += 1
                continue
            i0 = c - t.first_chunk
            i1 = min(len(t.entries), c1 - t.first_chunk)
            ents = t.entries[i0:i1 + 1]
            starts = [t.base + (e & 0x7FFFFFFF) for e in ents]
            if len(starts) == i1 - i0:
                starts.append(t.end)
            last_c = t.first_chunk + i1 - 1
            lim = cs + (cs >> 3) + 1024
            ok = True
            for j in range(i1 - i0):
                size = starts[j + 1] - starts[j]
                comp = ents[j] >> 31
                if comp:
                    if not 0 < size <= lim:
                        ok = False
                        break
                elif size != min(cs, self.size - (c + j) * cs) + 4:
                    ok = False
                    break
            if ok and last_c * cs < self.size:
                seg = self.segments[t.seg]
                base = starts[0]
                blob = memoryview(_pread(seg.fd, starts[-1] - base, base))
                for j in range(i1 - i0):
                    cc = c + j
                    out.append((cc, blob[starts[j] - base: starts[j + 1] - base], bool(ents[j] >> 31),
                                min(cs, self.size - cc * cs), ""))
            else:
                for cc in range(c, t.first_chunk + i1):
                    loc = self._locate(cc)
                    if loc is None or cc * cs >= self.size:
                        out.append((cc, None, False, max(0, self._expect(cc)), "no table entry"))
                        continue
                    lt, start, size, comp_b = loc
                    out.append((cc, memoryview(_pread(self.segments[lt.seg].fd, size, start)), comp_b,
                                self._expect(cc), ""))
            c = t.first_chunk + i1
        return out

    def _decode_batch(self, items: list[tuple[int, bytes | memoryview | None, bool, int, str]]
                      ) -> tuple[list[bytes], list[BadChunk]]:
        datas: list[bytes] = []
        bad: list[BadChunk] = []
        for c, raw, comp, expect, why in items:
            if raw is None:
                datas.append(bytes(expect))
                bad.append(BadChunk(c, c * self.chunk_size, why))
                continue
            data, reason = _decode_one(raw, comp, expect, self._zcache)
            datas.append(data)
            if reason:
                loc = self._locate(c)
                seg = self.segments[loc[0].seg].path.name if loc else ""
                bad.append(BadChunk(c, c * self.chunk_size, reason, seg, loc[1] if loc else None))
        return datas, bad

    def _note_bad(self, bads: list[BadChunk]) -> None:
        for b in bads:
            if b.chunk not in self.bad:
                self.bad[b.chunk] = b

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="ewf")
        return self._pool

    def chunk(self, c: int) -> bytes:
        """Decoded chunk ``c`` (zeros when it is bad; see ``bad``)."""
        with self._lock:
            hit = self._cache.get(c)
            if hit is not None:
                self._cache.move_to_end(c)
                return hit
        datas, bad = self._decode_batch(self._raw_chunks(c, c + 1))
        self._note_bad(bad)
        self._remember(c, datas[0])
        return datas[0]

    def _remember(self, c: int, data: bytes) -> None:
        with self._lock:
            self._cache[c] = data
            if len(self._cache) > self._cache_max:
                self._cache.popitem(last=False)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise EvidenceError(f"bad read: offset {offset} size {n}")
        end = min(offset + n, self.size)
        if offset >= end or not self.chunk_size:
            return b""
        cs = self.chunk_size
        first, last = offset // cs, (end - 1) // cs
        if last - first >= 8:  # a big read: decode in parallel
            parts = list(self.iter_chunks(first, last + 1))
        else:
            parts = [self.chunk(c) for c in range(first, last + 1)]
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        lo = offset - first * cs
        return buf[lo: lo + (end - offset)]

    def iter_batches(self, c0: int = 0, c1: int | None = None, batch: int = 64) -> Iterator[list[bytes]]:
        """Decoded chunks c0..c1-1 in order, ``batch`` at a time, decoded by worker threads ahead of the caller."""
        c1 = self.n_chunks if c1 is None else min(c1, self.n_chunks)
        pool = self._get_pool()
        inflight: deque[Future[tuple[list[bytes], list[BadChunk]]]] = deque()
        nxt = c0
        depth = self._workers * 2
        while nxt < c1 or inflight:
            while nxt < c1 and len(inflight) < depth:
                hi = min(c1, nxt + batch)
                inflight.append(pool.submit(self._decode_batch, self._raw_chunks(nxt, hi)))
                nxt = hi
            datas, bad = inflight.popleft().result()
            self._note_bad(bad)
            yield datas

    def iter_chunks(self, c0: int = 0, c1: int | None = None, batch: int = 64) -> Iterator[bytes]:
        for datas in self.iter_batches(c0, c1, batch):
            yield from datas

    # --- verify -------------------------------------------------------------------------------
    def verify(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        md5 = hashlib.md5()
        sha1 = hashlib.sha1()
        self.bad.clear()
        hasher = ThreadPoolExecutor(1, thread_name_prefix="ewf-sha1")
        pending: Future[None] | None = None
        done = 0
        try:
            for datas in self.iter_batches(0, self.n_chunks, batch=64):
                if pending is not None:
                    pending.result()
                pending = hasher.submit(_update_all, sha1, datas)
                for d in datas:
                    md5.update(d)
                    done += len(d)
                if progress:
                    progress(done, self.size)
            if pending is not None:
                pending.result()
        finally:
            hasher.shutdown(wait=True)
        secs = time.perf_counter() - t0
        computed = {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()}
        errors: list[str] = []
        for k in ("md5", "sha1"):
            s = self.stored.get(k)
            if s and s != computed[k]:
                errors.append(f"{k.upper()} mismatch: stored {s}, computed {computed[k]}")
        nbad = len(self.bad)
        bad = self._bad_list()
        if bad:
            errors.append(f"{nbad} bad chunk(s); their sectors were hashed as zeros")
        warnings = list(self.warnings)
        if not self.stored:
            warnings.append("the image stores no MD5/SHA1: nothing to compare, hashes computed only")
        return {
            "path": str(self.path),
            "format": "EWF-E01",
            "media_size": self.size,
            "segments": [str(s.path) for s in self.segments],
            "header": self.header_dict(),
            "stored": {"md5": self.stored.get("md5"), "sha1": self.stored.get("sha1")},
            "computed": computed,
            "ok": not errors,
            "bad_chunks": bad,
            "errors": errors,
            "warnings": warnings,
            "acquiry_errors": self.acquiry_errors,
            "seconds": round(secs, 3),
            "mb_per_s": round(self.size / secs / 1e6, 1) if secs > 0 else None,
        }

    def _bad_list(self) -> list[dict[str, Any]]:
        """Bad chunks in order; a run of consecutive missing chunks is one entry with a ``count``."""
        out: list[dict[str, Any]] = []
        for c in sorted(self.bad):
            b = self.bad[c]
            prev = out[-1] if out else None
            if (prev is not None and b.file_offset is None and prev["file_offset"] is None
                    and prev["reason"] == b.reason and prev["chunk"] + prev["count"] == c):
                prev["count"] += 1
                continue
            d = b.as_dict()
            d["count"] = 1
            out.append(d)
        return out

    # --- metadata -----------------------------------------------------------------------------
    def header_dict(self) -> dict[str, str | None]:
        d: dict[str, str | None] = {k: self.header.get(k) for k in MAIN_KEYS}
        for k, v in self.header.items():
            if k not in d and v and k != "password":
                d[k] = v
        return d

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update(
            format="EWF-E01",
            segments=[str(s.path) for s in self.segments],
            header=self.header_dict(),
            stored_hashes={k: v for k, v in self.stored.items() if v},
            bytes_per_sector=self.bytes_per_sector,
            sectors=self.sector_count,
            chunk_size=self.chunk_size,
            chunks=self.n_chunks,
            media_type=MEDIA_TYPES.get(self.media_type or 0, f"0x{(self.media_type or 0):02x}"),
            compression=COMPRESSION_LEVELS.get(self.compression_level or 0, str(self.compression_level)),
        )
        if self.set_identifier:
            d["set_identifier"] = self.set_identifier
        if self.acquiry_errors:
            d["acquiry_errors"] = self.acquiry_errors
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for s in self.segments:
            if s.fd >= 0:
                try:
                    os.close(s.fd)
                except OSError:
                    pass
                s.fd = -1


def _segment_name(first: Path, n: int) -> str:
    name = first.name
    stem, ext = name[:-3], name[-3:]
    letter = ext[0]
    if n <= 99:
        return f"{stem}{letter}{n:02d}"
    hi, lo = divmod(n - 100, 26)
    suf = chr(ord("A") + hi) + chr(ord("A") + lo)
    return f"{stem}{letter}{suf if letter.isupper() else suf.lower()}"
