"""The Log File Service (LFS) layer of NTFS ``$LogFile``: restart pages, record pages, log records.

Clean-room, written from public descriptions of the format (libfsntfs documentation, the linux-ntfs
"NTFS documentation" pages, Windows Internals). Layout, as read here:

- Two restart pages (``RSTR``) at offset 0 and at the system page size. Each holds a restart area
  (current LSN, number of clients, sequence-number bits, log file size...) and an array of log
  client records (oldest LSN, client restart LSN, name e.g. ``NTFS``). The copy with the higher
  current LSN is the current one.
- Record pages (``RCRD``), protected by update-sequence fixups (or, on DAX volumes, by a CRC32 that
  replaces the update-sequence array and is tagged ``CRC4``).
- Log version 1.x keeps two "tail" pages (ping-pong copies of the newest page) in front of the circular
  area; version 2.0 keeps 32 buffer pages there. Everything past them is the circular log area.
- An LSN encodes the record's position: ``offset = (lsn & mask) * 8`` with ``mask`` covering the low
  ``64 - seq_number_bits`` bits; the high bits are the wrap count. A record header (48 bytes) never
  straddles a page; its client data may continue in the data area of the following pages.

Records found in the circular area are "in use"; records only present in tail/buffer pages are kept too
(``page_kind == "tail"``), because that is where the newest (or older, overwritten) history hides.
"""

from __future__ import annotations

import struct
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

SECTOR = 512
RECORD_HEADER = 0x30
MAX_CLIENT_DATA = 1 << 22  # 4 MiB: larger "client data lengths" are corruption

_RSTR = b"RSTR"
_RCRD = b"RCRD"
_CHKD = b"CHKD"

WarnFn = Callable[[int | None, str], None]
_Q = struct.Struct("<Q").unpack_from
_HDR = struct.Struct("<QQQIHHIIH").unpack_from
_new = tuple.__new__
_U64_MAX = (1 << 64) - 1
_lsn = itemgetter(0)


class LogFileError(ValueError):
    """The log cannot be read at all (no usable restart page)."""


class EmptyLogFile(LogFileError):
    """The log holds no restart page and no record page (all 0xFF / zero): nothing was ever logged."""


class FixupError(ValueError):
    """Update-sequence (or DAX CRC) protection of a page does not verify."""


def apply_fixup(page: bytes | bytearray, base_offset: int = 0) -> bytearray:
    """Return a copy of a multi-sector-protected page with the update sequence applied.

    Raises :class:`FixupError` with the failing offset when a sector's last two bytes do not hold the
    update sequence number. DAX pages (``CRC4`` tag after a CRC32 in the array) are CRC-checked instead.
    """
    buf = bytearray(page)
    if len(buf) < 8:
        raise FixupError(f"page at {base_offset}: {len(buf)} bytes, need at least 8 for the header")
    usa_off, usa_count = struct.unpack_from("<HH", buf, 4)
    if usa_count == 0:
        return buf
    if usa_off < 8 or usa_off + 2 * usa_count > len(buf):
        raise FixupError(
            f"page at {base_offset}: update sequence array {usa_off}+{2 * usa_count} outside the page "
            f"({len(buf)} bytes)"
        )
    if usa_off + 8 <= len(buf) and bytes(buf[usa_off + 4:usa_off + 8]) == b"CRC4":
        stored = struct.unpack_from("<I", buf, usa_off)[0]
        check = bytearray(buf)
        check[usa_off:usa_off + 8] = bytes(8)
        calc = zlib.crc32(check)
        if calc != stored:
            raise FixupError(
                f"page at {base_offset}: DAX page CRC32 mismatch (stored {stored:#010x}, computed {calc:#010x})"
            )
        return buf
    usn = bytes(buf[usa_off:usa_off + 2])
    for i in range(1, usa_count):
        end = i * SECTOR
        if end > len(buf):
            raise FixupError(
                f"page at {base_offset}: update sequence entry {i} protects sector end {end}, page has {len(buf)} bytes"
            )
        if bytes(buf[end - 2:end]) != usn:
            raise FixupError(
                f"page at {base_offset}: update sequence mismatch at offset {base_offset + end - 2} "
                f"(sector {i - 1}: found {bytes(buf[end - 2:end]).hex()}, expected {usn.hex()})"
            )
        buf[end - 2:end] = buf[usa_off + 2 * i:usa_off + 2 * i + 2]
    return buf


@dataclass(frozen=True, slots=True)
class LogClient:
    index: int
    name: str
    oldest_lsn: int
    client_restart_lsn: int
    prev_client: int
    next_client: int
    seq_number: int


@dataclass(frozen=True, slots=True)
class RestartPage:
    offset: int
    chkdsk_lsn: int
    system_page_size: int
    log_page_size: int
    major: int
    minor: int
    current_lsn: int
    log_clients: int
    client_free_list: int
    client_in_use_list: int
    flags: int
    seq_number_bits: int
    restart_area_length: int
    file_size: int
    last_lsn_data_length: int
    record_header_length: int
    log_page_data_offset: int
    restart_log_open_count: int
    clients: tuple[LogClient, ...]
    raw: bytes = b""

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def clean(self) -> bool:
        return bool(self.flags & 0x2)


_FIELDS = ("lsn", "prev_lsn", "undo_next_lsn", "client_data_length", "client_seq", "client_index", "record_type",
           "transaction_id", "flags", "offset", "page_kind", "data", "truncated", "continues_to")


class LogRecord(tuple):
    """One LFS log record: header fields, where it was found, its client data.

    A tuple (cheap to create by the hundred thousand, not tracked by the cycle collector) with named fields:
    ``lsn prev_lsn undo_next_lsn client_data_length client_seq client_index record_type`` (1 client record,
    2 client restart) ``transaction_id flags offset`` (file offset of the header) ``page_kind`` ("log" | "tail")
    ``data truncated continues_to`` (physical page where spanning client data ends, else -1).
    """

    __slots__ = ()
    lsn: int
    prev_lsn: int
    undo_next_lsn: int
    client_data_length: int
    client_seq: int
    client_index: int
    record_type: int
    transaction_id: int
    flags: int
    offset: int
    page_kind: str
    data: bytes
    truncated: bool
    continues_to: int


for _i, _f in enumerate(_FIELDS):
    setattr(LogRecord, _f, property(itemgetter(_i), doc=_f))


class _Chains:
    """``LogFile._find_chains``: for each fixed row (``rows``: page -> row) its valid headers
    ``bounds[row]:bounds[row + 1]`` (in-page positions ``pos``), for each header the index where
    ``_read_page_records``' loop takes over (``upto``), and every header's fields as arrays (``cols``: the nine
    header fields; ``at``: file offset; ``dstart``: where its client data starts in ``fixed``'s bytes)."""

    def __init__(self, base: int, rows: np.ndarray, bounds: list[int], pos: list[int], upto: list[int],
                 cols: tuple[np.ndarray, ...], at: np.ndarray, dstart: np.ndarray, blob: bytes) -> None:
        self.base = base  # file offset of the first page of ``rows``
        self.rows, self.bounds, self.pos, self.upto = rows, bounds, pos, upto
        self.cols, self.at, self.dstart = cols, at, dstart
        self.blob = blob  # the fixed pages' bytes
        self.flat = np.frombuffer(blob, np.uint8)

    def datas(self, idx: list[int]) -> list[bytes]:
        blob = self.blob
        ds = self.dstart
        dl = self.cols[3]
        return [blob[a:a + n] for a, n in zip(ds[idx].tolist(), dl[idx].tolist(), strict=True)]


def _record(h: tuple[int, ...], offset: int, kind: str, data: bytes, truncated: bool = False,
            continues_to: int = -1) -> LogRecord:
    return tuple.__new__(LogRecord, (*h, offset, kind, data, truncated, continues_to))


def parse_restart_page(buf: bytes, offset: int, warn: WarnFn) -> RestartPage | None:
    """Decode one RSTR/CHKD page (fixup applied here); None (with a warning) when unusable."""
    if bytes(buf[:4]) not in (_RSTR, _CHKD):
        return None
    try:
        page = apply_fixup(buf, offset)
    except FixupError as e:
        warn(offset, f"restart page: {e}")
        return None
    try:
        chk, sps, lps, ra_off, minor, major = struct.unpack_from("<QIIHhh", page, 8)
        if ra_off + 48 > len(page):
            warn(offset, f"restart area offset {ra_off} + 48 bytes beyond the {len(page)}-byte page")
            return None
        (cur, n_clients, free_l, inuse_l, flags, snb, ra_len, ca_off, fsize, last_len, rh_len, pdo,
         open_count) = struct.unpack_from("<QHHHHIHHQIHHI", page, ra_off)
        clients = []
        c = ra_off + ca_off
        for i in range(min(n_clients, 64)):
            if c + 160 > len(page):
                warn(offset + c, f"log client {i}: 160 bytes needed, {len(page) - c} available")
                break
            oldest, crl, prev, nxt, seq = struct.unpack_from("<QQHHH", page, c)
            nlen = struct.unpack_from("<I", page, c + 28)[0]
            name = bytes(page[c + 32:c + 32 + min(nlen, 128)]).decode("utf-16le", "replace")
            clients.append(LogClient(i, name, oldest, crl, prev, nxt, seq))
            c += 160
    except struct.error as e:
        warn(offset, f"restart page truncated: {e}")
        return None
    if not (512 <= lps <= 65536) or lps & (lps - 1) or not (1 <= snb < 64):
        warn(offset, f"restart page: implausible log page size {lps} or sequence-number bits {snb}")
        return None
    return RestartPage(
        offset, chk, sps, lps, major, minor, cur, n_clients, free_l, inuse_l, flags, snb, ra_len, fsize, last_len,
        rh_len, pdo, open_count, tuple(clients), bytes(page[:4096]),
    )


class LogFile:
    """A $LogFile image in memory. ``records()`` yields every log record found, in LSN order."""

    def __init__(self, data: bytes, warn: WarnFn | None = None) -> None:
        self.data = data
        self._warn: WarnFn = warn or (lambda _o, _r: None)
        self.restart_pages: list[RestartPage] = []
        self.fixup_failures = 0
        self.empty = False
        self._pages: dict[int, bytes] = {}
        self._bulk: tuple[int, np.ndarray, np.ndarray] | None = None  # (first offset, page -> row, fixed pages)
        self._chains: _Chains | None = None  # the record pages' chains, found in bulk (``_find_chains``)
        self._chained = False  # ``_chains`` was looked for
        self._read_restart()
        self._settle()

    # --- restart --------------------------------------------------------------------------------
    def _read_restart(self) -> None:
        size = len(self.data)
        # all 0xFF or all zero (the first byte tells which count can match: no scan of a log that starts "RSTR")
        if size == 0 or (self.data[0] in (0, 0xFF) and self.data.count(self.data[:1]) == size):
            self.empty = True
            return
        offsets = [0]
        first = parse_restart_page(self.data[0:4096], 0, self._warn) if size >= 4096 else None
        second_at = first.system_page_size if first else 4096
        offsets.append(second_at)
        for off in offsets:
            if first is not None and off == 0:
                self.restart_pages.append(first)
                continue
            if off + 512 > size:
                continue
            sps = 4096 if first is None else first.system_page_size
            rp = parse_restart_page(self.data[off:off + sps], off, self._warn)
            if rp is not None:
                self.restart_pages.append(rp)
        if not self.restart_pages:
            # no restart page: maybe record pages only (a fragment); fall back to defaults
            if self.data.find(_RCRD) < 0:
                self.empty = True

    def _settle(self) -> None:
        """Cache the geometry of the current restart area (hot-path values)."""
        c = max(self.restart_pages, key=lambda r: r.current_lsn) if self.restart_pages else None
        self.current: RestartPage | None = c
        self.page_size: int = c.log_page_size if c else 4096
        self.seq_bits: int = c.seq_number_bits if c else 0
        self.data_offset: int = c.log_page_data_offset if c and 0x28 <= c.log_page_data_offset < 512 else 0x40
        sps = c.system_page_size if c else 4096
        if c is not None and c.major >= 2:
            self.log_start: int = 2 * sps + 32 * self.page_size
        else:
            self.log_start = 2 * sps + 2 * self.page_size
        self._mask = (1 << (64 - self.seq_bits)) - 1 if self.seq_bits else 0

    def lsn_offset(self, lsn: int) -> int:
        if not self._mask:
            return -1
        return (lsn & self._mask) << 3

    def restart_pages_identical(self) -> bool:
        if len(self.restart_pages) < 2:
            return False
        a, b = self.restart_pages[0].raw, self.restart_pages[1].raw
        return a == b

    # --- pages ----------------------------------------------------------------------------------
    def _fixup_all(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Every record page's update sequence applied at once (numpy), for the pages that take the common
        path of ``apply_fixup``: RCRD, the log's usual update-sequence array offset and count, no DAX CRC, every
        sector end holding the update sequence number. Any other page goes through ``apply_fixup`` alone
        (same bytes, same warnings)."""
        ps = self.page_size
        base = (self.current.system_page_size if self.current else 4096) * 2
        n = max(0, (len(self.data) - base) // ps)
        rows = np.full(n, -1, np.int64)
        if n == 0 or ps % SECTOR:
            return base, rows, np.zeros((0, ps), np.uint8)
        pages = np.frombuffer(self.data, np.uint8, n * ps, base).reshape(n, ps)
        head = pages[:, :8].copy().view("<u2")  # signature (2 words), usa offset, usa count
        rcrd = (head[:, 0] == 0x4352) & (head[:, 1] == 0x4452)  # "RC" "RD"
        if not rcrd.any():
            return base, rows, np.zeros((0, ps), np.uint8)
        pairs, counts = np.unique(head[rcrd][:, 2:4], axis=0, return_counts=True)
        usa_off, usa_count = (int(x) for x in pairs[int(np.argmax(counts))])
        if usa_off < 8 or usa_count < 2 or usa_off + 2 * usa_count > ps or (usa_count - 1) * SECTOR > ps:
            return base, rows, np.zeros((0, ps), np.uint8)
        cand = np.flatnonzero(rcrd & (head[:, 2] == usa_off) & (head[:, 3] == usa_count))
        ends = np.arange(1, usa_count) * SECTOR
        slots = usa_off + 2 * np.arange(1, usa_count)
        usa = pages[cand, usa_off:usa_off + 2 * usa_count]  # the update sequence number and array
        ok = (pages[cand[:, None], ends - 2] == usa[:, :1]).all(axis=1) \
            & (pages[cand[:, None], ends - 1] == usa[:, 1:2]).all(axis=1)
        if usa_off + 8 <= ps:  # DAX pages (CRC4 tag after a CRC32) are checked by their CRC, one by one
            ok &= ~(pages[cand, usa_off + 4:usa_off + 8].copy().view("<u4")[:, 0] == 0x34435243)
        cand = cand[ok]
        fixed = pages[cand]  # a copy
        fixed[:, ends - 2] = fixed[:, slots]
        fixed[:, ends - 1] = fixed[:, slots + 1]
        rows[cand] = np.arange(len(fixed))
        return base, rows, fixed

    def _page(self, off: int) -> bytes | None:
        """Fixed-up RCRD page at physical ``off`` (cached), or None."""
        p = self._pages.get(off)
        if p is not None:
            return p if p else None
        ps = self.page_size
        bulk = self._bulk
        if bulk is None:
            bulk = self._bulk = self._fixup_all()
        k, rem = divmod(off - bulk[0], ps)
        if not rem and 0 <= k < len(bulk[1]) and bulk[1][k] >= 0:  # (not cached: a copy out of the fixed pages)
            return bulk[2][bulk[1][k]].tobytes()
        if self.data[off:off + 4] != _RCRD:
            self._pages[off] = b""
            return None
        raw = self.data[off:off + ps]
        if len(raw) < ps:
            self._pages[off] = b""
            return None
        try:
            fixed = bytes(apply_fixup(raw, off))
        except FixupError as e:
            self.fixup_failures += 1
            self._warn(off, f"record page skipped: {e}")
            self._pages[off] = b""
            return None
        self._pages[off] = fixed
        return fixed

    def _page_group(self, page: bytes) -> tuple[int, int]:
        count, pos = struct.unpack_from("<HH", page, 20)
        return count, pos

    def _next_page(self, off: int, kind: str, logical_next: int) -> tuple[int, bytes] | None:
        """The page holding the continuation of a record that runs past the page at ``off``."""
        if kind == "tail":
            page = self._page(off)
            nxt = off + self.page_size
            if page is not None and nxt < self.log_start:
                c, p = self._page_group(page)
                np_ = self._page(nxt)
                if np_ is not None and p < c:
                    c2, p2 = self._page_group(np_)
                    if p2 == p + 1:
                        return nxt, np_
            target = logical_next
        else:
            target = off + self.page_size
        cur = self.current
        end = min(len(self.data), cur.file_size if cur and cur.file_size else len(self.data))
        if target >= end or target < self.log_start:
            target = self.log_start
        pg = self._page(target)
        return (target, pg) if pg is not None else None

    # --- records --------------------------------------------------------------------------------
    def _valid_header(self, page: bytes, pos: int, page_logical: int | None) -> bool:
        lsn = _Q(page, pos)[0]
        if lsn == 0 or lsn == 0xFFFFFFFFFFFFFFFF:
            return False
        loff = (lsn & self._mask) << 3
        ps = self.page_size
        if loff % ps != pos:
            return False
        if page_logical is not None and loff - pos != page_logical:
            return False
        if loff < self.log_start:
            return False
        dlen, _seq, _ci, rtype = struct.unpack_from("<IHHI", page, pos + 24)
        return rtype in (1, 2) and dlen <= MAX_CLIENT_DATA

    def _scan(self, page: bytes, start: int, page_logical: int | None) -> int:
        """First position >= ``start`` holding a self-consistent record header (its LSN encodes it)."""
        ps = self.page_size
        last = ps - RECORD_HEADER
        if start > last:
            return -1
        start = (start + 7) & ~7
        n = (last - start) // 8 + 1
        vals = np.frombuffer(page, "<u8", n, start)
        if page_logical is not None:
            base = (page_logical + start) >> 3
            masked = vals & np.uint64(self._mask)
        else:
            base = start >> 3
            masked = vals & np.uint64(self._mask & ((ps >> 3) - 1))
        if base + n > _U64_MAX:  # (a corrupt restart area's page size or offset)
            return -1
        cands = np.flatnonzero(masked == np.arange(base, base + n, dtype=np.uint64)).tolist()
        for i in cands:
            q = start + 8 * i
            if self._valid_header(page, q, page_logical):
                return q
        return -1

    def _find_chains(self) -> _Chains | None:
        """Every circular-area page of the bulk fixed-up set at once: each valid record header (the positions
        ``_valid_header`` accepts, from the data offset to the last header slot) and, for each, the first
        header at or after it where ``_read_page_records``' loop must take over (a page's last header, a record
        whose data runs past the page, a record that overlaps the next header found); the records before that
        are built here in bulk, exactly as the loop builds them."""
        base, rows, fixed = self._bulk if self._bulk is not None else self._fixup_all()
        blob = fixed.tobytes()  # the fixed pages once, as bytes: record data is sliced out of it
        fixed = np.frombuffer(blob, np.uint8).reshape(fixed.shape)
        self._bulk = (base, rows, fixed)
        ps, dofs, mask = self.page_size, self.data_offset, self._mask
        last = ps - RECORD_HEADER
        if not mask or not len(fixed) or dofs % 8 or dofs > last or ps % 8:
            return None
        pages = np.flatnonzero(rows >= 0)  # page number of each fixed row (rows are numbered in page order)
        offs = base + pages * ps
        first_log = int(np.searchsorted(offs, self.log_start))
        lo_w, hi_w = dofs // 8, last // 8 + 1
        slot = np.arange(lo_w, hi_w, dtype=np.uint64)
        words = fixed.view("<u8")
        found_r: list[np.ndarray] = []
        found_w: list[np.ndarray] = []
        for a in range(first_log, len(fixed), 2048):  # bounded temporaries
            b = min(a + 2048, len(fixed))
            w = words[a:b, lo_w:hi_w]
            want = (offs[a:b].astype(np.uint64) >> np.uint64(3))[:, None] + slot[None, :]
            r, j = np.nonzero(((w & np.uint64(mask)) == want) & (w != np.uint64(_U64_MAX)))
            found_r.append(r + a)
            found_w.append(j + lo_w)
        if not found_r:
            return None
        r = np.concatenate(found_r)
        pos = np.concatenate(found_w).astype(np.int64) * 8
        flat = words.reshape(-1)
        g = r * ps + pos  # the header in the fixed pages, as one flat array of bytes
        w3 = flat[(g >> 3) + 3]  # client data length, client sequence and index
        w4 = flat[(g >> 3) + 4]  # record type, transaction id
        dlen = (w3 & np.uint64(0xFFFFFFFF)).astype(np.int64)
        rtype = w4 & np.uint64(0xFFFFFFFF)
        ok = ((rtype == 1) | (rtype == 2)) & (dlen <= MAX_CLIENT_DATA)
        r, pos, g, dlen, w3, w4 = r[ok], pos[ok], g[ok], dlen[ok], w3[ok], w4[ok]
        n = len(r)
        if not n:
            return None
        gw = g >> 3
        step = (RECORD_HEADER + dlen + 7) & ~7
        stop = np.ones(n, bool)  # a page's last header, a record running past its page, an overlap
        same = r[1:] == r[:-1]
        stop[:-1] = ~same | (pos[:-1] + step[:-1] > pos[1:])
        stop |= pos + RECORD_HEADER + dlen > ps
        stops = np.flatnonzero(stop)
        upto = stops[np.searchsorted(stops, np.arange(n))]
        bounds = np.searchsorted(r, np.arange(len(fixed) + 1))
        cols = (flat[gw], flat[gw + 1], flat[gw + 2], dlen, ((w3 >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64),
                (w3 >> np.uint64(48)).astype(np.int64), (w4 & np.uint64(0xFFFFFFFF)).astype(np.int64),
                (w4 >> np.uint64(32)).astype(np.int64), (flat[gw + 5] & np.uint64(0xFFFF)).astype(np.int64))
        return _Chains(base, rows, bounds.tolist(), pos.tolist(), upto.tolist(), cols, offs[r] + pos,
                       g + RECORD_HEADER, blob)

    def _read_page_records(self, off: int, kind: str, start: int | None) -> tuple[list[Any], int | None]:
        """Records whose header lies in the page at ``off``; returns them and the next chained position
        in the following page (or None when the chain ends in this page). Records whose headers ``_chains``
        knows come as one ``range`` of its indices; the others as ``LogRecord``s."""
        page = self._page(off)
        if page is None:
            return [], None
        ps = self.page_size
        dofs = self.data_offset
        last = ps - RECORD_HEADER
        mask = self._mask
        log_start = self.log_start
        logical = off if kind == "log" else None
        out: list[Any] = []
        append = out.append
        pos = start if start is not None and start >= dofs else dofs
        if not self._chained:
            self._chains, self._chained = self._find_chains(), True
        chains = self._chains
        row = -1
        if chains is not None and kind == "log":
            k, rem = divmod(off - chains.base, ps)
            if not rem and 0 <= k < len(chains.rows):
                row = int(chains.rows[k])
        if chains is not None and row >= 0:  # the page's headers are known: records up to the loop's take-over
            lo, hi = chains.bounds[row], chains.bounds[row + 1]
            if lo == hi:
                pos = -1
            else:
                i = bisect_left(chains.pos, pos, lo, hi)
                if i == hi or chains.pos[i] != pos:
                    i = lo
                j = chains.upto[i]
                if i < j:
                    out.append(range(i, j))  # built by the record table when wanted
                pos = chains.pos[j]
        elif not (pos <= last and self._valid_header(page, pos, logical)):
            pos = self._scan(page, dofs, logical)
        carry: int | None = None
        while 0 <= pos <= last:
            (lsn, prev, undo_next, dlen, cseq, cidx, rtype, tid, flags) = h = _HDR(page, pos)
            if logical is None:
                logical = ((lsn & mask) << 3) - pos
            elif ((lsn & mask) << 3) != logical + pos or (rtype != 1 and rtype != 2) or dlen > MAX_CLIENT_DATA \
                    or logical + pos < log_start or lsn == 0xFFFFFFFFFFFFFFFF:
                # end of chain in this page: the rest is free space or older leftovers
                pos = self._scan(page, pos + 8, logical)
                continue
            end = pos + RECORD_HEADER + dlen
            if end <= ps:
                append(_new(LogRecord, h + (off + pos, kind, page[pos + RECORD_HEADER:end], False, -1)))
                pos += (RECORD_HEADER + dlen + 7) & ~7
                if pos > last:
                    carry = dofs
                    break
                continue
            # the client data continues in following pages
            truncated = False
            parts = [page[pos + RECORD_HEADER:ps]]
            need = end - ps
            cur_off, cur_logical = off, logical
            visited = 0
            last_used = 0
            while need > 0:
                nxt_pg = self._next_page(cur_off, kind if cur_off < log_start else "log", cur_logical + ps)
                visited += 1
                if nxt_pg is None or visited > (dlen // max(ps - dofs, 1)) + 2:
                    truncated = True
                    self._warn(off + pos, f"record LSN {lsn:#x}: client data runs past the readable pages "
                               f"({dlen} bytes needed, {dlen - need} available)")
                    break
                cur_off, npage = nxt_pg
                cur_logical = cur_off if cur_off >= log_start else cur_logical + ps
                take = min(need, ps - dofs)
                parts.append(npage[dofs:dofs + take])
                need -= take
                last_used = dofs + take
            cont = -1
            if not truncated and cur_off != off:
                nxt = (last_used + 7) & ~7
                carry = nxt if nxt <= last else None
                cont = cur_off
            append(_record(h, off + pos, kind, b"".join(parts), truncated, cont))
            break
        return out, carry

    def _walk(self, off: int, carry: int | None, stop: int, out: list[Any]) -> tuple[int, int | None]:
        """Read the circular area from page ``off`` (entered with chained position ``carry``) until a page at
        or past ``stop``; append the records to ``out``. The walk is a function of (page, carried position).
        Returns the state where it stopped."""
        ps = self.page_size
        size = len(self.data)
        read = self._read_page_records
        extend = out.extend
        while off + ps <= size and off < stop:
            recs, nxt = read(off, "log", carry)
            extend(recs)
            carry = nxt
            if recs and type(recs[-1]) is not range and recs[-1][13] >= 0 and recs[-1][13] > off:
                # records that start inside the continuation page: read it with the carried position
                off = recs[-1][13]
                continue
            off += ps
        return off, carry

    def records(self, include_unused: bool = True) -> Iterator[LogRecord]:
        """Every log record, deduplicated by LSN, in LSN order (``record_table()``, every record built).

        In-use records are those in the circular area; ``include_unused`` adds records found only in
        the tail/buffer pages (v1.x tail copies, v2.0 buffer pages).
        """
        t = self.record_table(include_unused)
        yield from t.records(list(range(len(t))))

    def record_table(self, include_unused: bool = True) -> RecordTable:
        """The log records, deduplicated by LSN (the first found kept), in LSN order, as a ``RecordTable``: the
        header fields as arrays and a record built only when asked for (most records of a busy log never need
        one)."""
        if self.empty or self.seq_bits == 0:
            return RecordTable.of_records([])
        found: list[Any] = []  # ranges of ``_chains`` records, and records built by the loop
        self._walk(self.log_start, None, len(self.data), found)
        chains = self._chains
        ids, objs = _split_found(found)
        lsn = np.empty(len(ids), np.uint64)
        isf = ids >= 0
        if chains is not None:
            lsn[isf] = chains.cols[0][ids[isf]]
        lsn[~isf] = np.fromiter(map(_lsn, objs), np.uint64, len(objs))
        extra = self._tail_records(np.sort(lsn)) if include_unused else []
        return RecordTable.of(ids, objs, lsn, chains, extra)

    def _tail_records(self, lsns: np.ndarray) -> list[LogRecord]:
        """The tail/buffer pages' records whose LSN is not among ``lsns`` (sorted; the circular area's), the
        first found of each LSN."""
        ps = self.page_size
        size = len(self.data)
        known: set[int] = set()
        extra: list[LogRecord] = []
        off = (self.current.system_page_size if self.current else 4096) * 2
        while off + ps <= min(self.log_start, size):
            recs, _ = self._read_page_records(off, "tail", None)
            if recs:
                rl = np.fromiter(map(_lsn, recs), np.uint64, len(recs))
                where = np.searchsorted(lsns, rl)
                taken = (where < len(lsns)) & (lsns[np.minimum(where, len(lsns) - 1)] == rl) if len(lsns) \
                    else np.zeros(len(recs), bool)
                for r, t in zip(recs, taken.tolist(), strict=True):
                    if not t and r[0] not in known:
                        known.add(r[0])
                        extra.append(r)
            off += ps
        return extra


def _split_found(found: list[Any]) -> tuple[np.ndarray, list[LogRecord]]:
    """A lazy walk's output (ranges of ``_chains`` indices, and records the loop built) as row ids: ``_chains``
    indices, or -1 - index into the built records; and those records."""
    parts: list[np.ndarray] = []
    objs: list[LogRecord] = []
    run: list[int] = []  # ids of consecutive built records
    for x in found:
        if type(x) is range:
            if run:
                parts.append(np.array(run, np.int64))
                run = []
            parts.append(np.arange(x.start, x.stop, dtype=np.int64))
        else:
            run.append(-1 - len(objs))
            objs.append(x)
    if run:
        parts.append(np.array(run, np.int64))
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), objs


class RecordTable:
    """Log records in LSN order (repeated LSNs dropped, the first found kept), by column: ``lsn prev undo``
    (uint64), ``client rtype tid offset lens`` (int64), ``kinds`` (page kind texts); ``record(s)`` builds
    ``LogRecord``s, ``data(i)`` one record's client data, ``heads(width)`` the first bytes of every record's data."""

    def __init__(self, chains: _Chains | None, fast: np.ndarray, objs: list[LogRecord]) -> None:
        self.chains = chains
        self.fast = fast  # per row: index into ``chains`` (>= 0), or -1 - index into ``objs``
        self.objs = objs
        self.n = n = len(fast)
        isf = fast >= 0
        fi = fast[isf]
        oi = (-1 - fast[~isf]).tolist()
        self._isf, self._fi, self._oi = isf, fi, oi

        def col(k: int, dtype: Any) -> np.ndarray:
            out = np.empty(n, dtype)
            if chains is not None and len(fi):
                out[isf] = (chains.at if k == 9 else chains.cols[k])[fi]
            out[~isf] = np.fromiter((objs[i][k] for i in oi), dtype, len(oi))
            return out

        self.lsn, self.prev, self.undo = (col(k, np.uint64) for k in (0, 1, 2))
        self.client, self.rtype, self.tid, self.offset = (col(k, np.int64) for k in (5, 6, 7, 9))
        lens = np.empty(n, np.int64)
        if chains is not None and len(fi):
            lens[isf] = chains.cols[3][fi]
        lens[~isf] = np.fromiter((len(objs[i][11]) for i in oi), np.int64, len(oi))
        self.lens = lens
        self.kinds = ["log"] * n
        for i, o in zip(np.flatnonzero(~isf).tolist(), oi, strict=True):
            self.kinds[i] = objs[o][10]

    @classmethod
    def of(cls, ids: np.ndarray, objs: list[LogRecord], lsn: np.ndarray, chains: _Chains | None = None,
           extra: list[LogRecord] | None = None) -> RecordTable:
        """Rows ``ids`` (with LSNs ``lsn``) in LSN order, repeats dropped (the first kept), then the ``extra``
        records (LSNs not among them) merged in by LSN."""
        order = np.argsort(lsn, kind="stable")
        lsn = lsn[order]
        keep = np.ones(len(lsn), bool)
        keep[1:] = lsn[1:] != lsn[:-1]
        rows = ids[order][keep]
        if extra:
            base = len(objs)
            objs = objs + extra
            rows = np.concatenate([rows, -1 - np.arange(base, base + len(extra), dtype=np.int64)])
            lsn = np.concatenate([lsn[keep], np.fromiter(map(_lsn, extra), np.uint64, len(extra))])
            rows = rows[np.argsort(lsn, kind="stable")]
        return cls(chains, rows, objs)

    @classmethod
    def of_records(cls, recs: list[LogRecord]) -> RecordTable:
        """A table of built records, already in order."""
        return cls(None, -1 - np.arange(len(recs), dtype=np.int64), recs)

    def __len__(self) -> int:
        return self.n

    def data(self, i: int) -> bytes:
        f = int(self.fast[i])
        if f < 0:
            return self.objs[-1 - f][11]
        ch = self.chains
        assert ch is not None
        at = int(ch.dstart[f])
        return ch.blob[at:at + int(ch.cols[3][f])]

    def records(self, idx: list[int]) -> list[LogRecord]:
        """The records at rows ``idx``, built."""
        fast = self.fast[idx] if idx else np.zeros(0, np.int64)
        out: list[Any] = [None] * len(idx)
        isf = fast >= 0
        where = np.flatnonzero(isf).tolist()
        if where:
            assert self.chains is not None
            ch = self.chains
            fi = fast[isf]
            built = map(_new, repeat(LogRecord), zip(
                *(c[fi].tolist() for c in ch.cols), ch.at[fi].tolist(), repeat("log"), ch.datas(fi.tolist()),
                repeat(False), repeat(-1)))
            for k, r in zip(where, built, strict=True):
                out[k] = r
        objs = self.objs
        for k in np.flatnonzero(~isf).tolist():
            out[k] = objs[-1 - int(fast[k])]
        return out

    def heads(self, width: int) -> np.ndarray:
        """The first ``width`` bytes of every record's client data, zero-padded, as an (n, width) array."""
        out = np.zeros((self.n, width), np.uint8)
        ch = self.chains
        if ch is not None and len(self._fi):
            fi = self._fi
            words = ch.flat.view("<u8")  # client data starts 8-aligned (headers are)
            nw = (width + 7) // 8
            at = np.minimum((ch.dstart[fi] >> 3)[:, None] + np.arange(nw), len(words) - 1)
            got = words[at].view(np.uint8).reshape(len(fi), 8 * nw)[:, :width]
            dl = ch.cols[3][fi]
            short = np.flatnonzero(dl < width)
            if len(short):  # past a record's data: zeros, as the padding of the built records
                got[short[:, None], np.arange(width)[None, :]] *= np.arange(width)[None, :] < dl[short][:, None]
            out[self._isf] = got
        oi = self._oi
        if oi:
            pad = bytes(width)
            objs = self.objs
            buf = b"".join([(objs[i][11][:width] + pad)[:width] for i in oi])
            out[~self._isf] = np.frombuffer(buf, np.uint8).reshape(len(oi), width)
        return out

    def take(self, idx: np.ndarray, rel: np.ndarray, width: int) -> np.ndarray:
        """``width`` bytes at ``rel`` (per row) in the client data of rows ``idx`` (ranges inside the data)."""
        fast = self.fast[idx]
        out = np.empty((len(idx), width), np.uint8)
        isf = fast >= 0
        ch = self.chains
        if isf.any():
            assert ch is not None
            at = ch.dstart[fast[isf]] + rel[isf]
            out[isf] = ch.flat[at[:, None] + np.arange(width)]
        objs = self.objs
        for k in np.flatnonzero(~isf).tolist():
            o = int(rel[k])
            out[k] = np.frombuffer(objs[-1 - int(fast[k])][11][o:o + width], np.uint8)
        return out
