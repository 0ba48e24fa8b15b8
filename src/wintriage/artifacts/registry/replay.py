"""Transaction-log replay for registry hives (``.LOG``, ``.LOG1``, ``.LOG2``), written from the
"Windows registry file format specification" (M. Suhanov), sections "Format of transaction log files",
"Dirty state of a hive" and "Multiple transaction log files".

- A hive is dirty when its base block has a wrong checksum or primary != secondary sequence number.
- New format (Windows 8.1+): the log's base block has file type 6, then ``HvLE`` log entries from offset 512,
  each with a sequence number, a hive-bins size, dirty-page references and two Marvin32 hashes.
  Both logs are used, the one with the earlier entries first; a log whose base-block sequence number is
  below the primary file's secondary sequence number is stale and ignored. Sequence numbers must continue
  (N, N+1, ...) across entries and across the switch of log file; a bad hash stops the replay of that log.
- Old format (Vista/7, XP ``.LOG``): the log's base block (file type 1 or 2), a ``DIRT`` dirty vector (one bit
  per 512-byte page of the hive bins data) and the dirty pages. The applicable log is a valid one whose
  base-block timestamp equals the primary's (the most recent one when several qualify).

Replay happens in memory on a copy: evidence is never modified. ``replay()`` returns the clean hive bytes
and what it did (entries, pages, final sequence number), with warnings (offsets in the log file) for
everything it refused.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

BASE_BLOCK_SIZE = 4096
SECTOR = 512
_MASK = 0xFFFFFFFF
# Marvin32 seed for HvLE hashes: the bytes 82 EF 4D 88 7A 4E 55 C5 read as a big-endian 64-bit number
MARVIN_SEED = 0x82EF4D887A4E55C5

Warn = Callable[[int | None, str], None]


def _nowarn(offset: int | None, reason: str) -> None:
    return None


# --- base block --------------------------------------------------------------------------------
def xor32(data: bytes | bytearray | memoryview) -> int:
    """XOR-32 checksum of the first 508 bytes of a base block (0 -> 1, 0xFFFFFFFF -> 0xFFFFFFFE)."""
    words = array("I", bytes(data[:508]))
    if words.itemsize != 4:  # pragma: no cover - every supported platform has a 4-byte unsigned int
        words = array("L", bytes(data[:508]))
    c = 0
    for w in words:
        c ^= w
    if c == 0:
        return 1
    if c == 0xFFFFFFFF:
        return 0xFFFFFFFE
    return c


@dataclass(frozen=True)
class BaseBlock:
    signature: bytes
    primary_seq: int
    secondary_seq: int
    last_written: int
    major: int
    minor: int
    file_type: int
    file_format: int
    root_cell: int
    hbins_size: int
    clustering: int
    file_name: str
    checksum: int
    checksum_ok: bool
    flags: int

    @property
    def valid(self) -> bool:
        return self.signature == b"regf" and self.checksum_ok

    @property
    def dirty(self) -> bool:
        return not self.checksum_ok or self.primary_seq != self.secondary_seq


def parse_base_block(data: bytes | bytearray | memoryview) -> BaseBlock | None:
    """The base block fields, or None when fewer than 512 bytes or no ``regf`` signature."""
    if len(data) < SECTOR or bytes(data[:4]) != b"regf":
        return None
    sig, p, s, ts, maj, mi, ft, fmt, root, size, cl = struct.unpack_from("<4sIIQIIIIIII", data, 0)
    (checksum,) = struct.unpack_from("<I", data, 508)
    (flags,) = struct.unpack_from("<I", data, 144)
    name = bytes(data[48:112]).decode("utf-16-le", "replace").split("\x00", 1)[0]
    return BaseBlock(sig, p, s, ts, maj, mi, ft, fmt, root, size, cl, name, checksum, xor32(data) == checksum, flags)


def set_checksum(buf: bytearray) -> None:
    struct.pack_into("<I", buf, 508, xor32(buf))


# --- Marvin32 ----------------------------------------------------------------------------------
def marvin32(data: bytes | memoryview, seed: int = MARVIN_SEED) -> int:
    """Marvin32 hash (64-bit result: high word p1, low word p0), as used by HvLE log entries."""
    lo = seed & _MASK
    hi = (seed >> 32) & _MASK
    n = len(data)
    full = n & ~3
    words = array("I")
    words.frombytes(bytes(data[:full]))
    if words.itemsize != 4:  # pragma: no cover
        raise RuntimeError("array('I') is not 32-bit on this platform")
    if struct.pack("=I", 1) != struct.pack("<I", 1):  # pragma: no cover - big-endian host
        words.byteswap()
    rest = bytes(data[full:])
    if len(rest) == 0:
        final = 0x80
    elif len(rest) == 1:
        final = 0x8000 | rest[0]
    elif len(rest) == 2:
        final = 0x800000 | rest[0] | (rest[1] << 8)
    else:
        final = 0x80000000 | rest[0] | (rest[1] << 8) | (rest[2] << 16)
    words.append(final)  # the padded tail and a zero word go through the same rounds as the data
    words.append(0)
    m = _MASK
    for w in words:
        lo = (lo + w) & m
        hi ^= lo
        lo = ((lo << 20) | (lo >> 12)) & m
        lo = (lo + hi) & m
        hi = ((hi << 9) | (hi >> 23)) & m
        hi ^= lo
        lo = ((lo << 27) | (lo >> 5)) & m
        lo = (lo + hi) & m
        hi = ((hi << 19) | (hi >> 13)) & m
    return (hi << 32) | lo


# --- log files ---------------------------------------------------------------------------------
@dataclass
class LogEntry:
    offset: int  # in the log file
    size: int
    flags: int
    seq: int
    hbins_size: int
    pages: list[tuple[int, int, int]]  # (offset in hive bins data, size, offset of the page bytes in the log)
    hash1: int
    hash2: int
    hash_ok: bool | None = None  # checked lazily, only for entries about to be applied


def verify_entry(log: LogFile, e: LogEntry, warn: Warn = _nowarn) -> bool:
    """Check an entry's two Marvin32 hashes (once); a mismatch is warned about at the entry's offset."""
    if e.hash_ok is None:
        mv = memoryview(log.data)
        why = ""
        if marvin32(mv[e.offset + 40:e.offset + e.size]) != e.hash1:
            why = "Hash-1 (Marvin32) mismatch"
        elif marvin32(mv[e.offset:e.offset + 32]) != e.hash2:
            why = "Hash-2 (Marvin32) mismatch"
        e.hash_ok = not why
        if why:
            log.bad_entry = f"{log.name}: log entry at offset {e.offset} (sequence {e.seq}) rejected: {why}"
            warn(e.offset, log.bad_entry)
    return bool(e.hash_ok)


@dataclass
class LogFile:
    name: str
    data: bytes
    base: BaseBlock | None
    fmt: str  # "new", "old", "empty", "invalid"
    entries: list[LogEntry] = field(default_factory=list)
    bad_entry: str = ""  # why the entry list ended early (hash mismatch...), with its offset

    @property
    def first_seq(self) -> int:
        return self.entries[0].seq if self.entries else (self.base.primary_seq if self.base else -1)


def parse_log(name: str, data: bytes, warn: Warn = _nowarn) -> LogFile:
    """Read a transaction log; structurally corrupt entries end the entry list (with a warning at their
    offset). Hashes are checked when an entry is about to be applied (``verify_entry``), so stale logs and
    old, already-applied entries cost nothing."""
    if len(data) == 0:
        return LogFile(name, data, None, "empty")
    base = parse_base_block(data)
    if base is None:
        if len(data) >= SECTOR and not any(data[:SECTOR]):
            return LogFile(name, data, None, "empty")
        warn(0, f"{name}: no 'regf' base block in the first {SECTOR} bytes (have {len(data)}); log ignored")
        return LogFile(name, data, None, "invalid")
    if len(data) >= SECTOR + 4 and data[SECTOR:SECTOR + 4] == b"HvLE" or base.file_type == 6:
        log = LogFile(name, data, base, "new")
        _parse_entries(log, warn)
        return log
    return LogFile(name, data, base, "old")


def _parse_entries(log: LogFile, warn: Warn) -> None:
    data = log.data
    off = SECTOR
    n = len(data)
    while off + 40 <= n:
        if data[off:off + 4] != b"HvLE":
            break  # end of the entries (padding or remnants)
        size, flags, seq, hbins, count = struct.unpack_from("<IIIII", data, off + 4)
        h1, h2 = struct.unpack_from("<QQ", data, off + 24)
        why = ""
        if size < 40 or size % SECTOR or off + size > n:
            why = f"entry size {size} invalid or past the end of the log ({n - off} bytes left)"
        elif hbins % 4096 or hbins == 0:
            why = f"hive bins data size {hbins} is not a multiple of 4096"
        elif 40 + 8 * count > size:
            why = f"{count} page references need {40 + 8 * count} bytes, entry has {size}"
        if why:
            log.bad_entry = f"{log.name}: log entry at offset {off} (sequence {seq}) rejected: {why}"
            warn(off, log.bad_entry)
            break
        pages = []
        pos = off + 40 + 8 * count
        ok = True
        for i in range(count):
            poff, psize = struct.unpack_from("<II", data, off + 40 + 8 * i)
            if psize == 0 or psize % SECTOR or pos + psize > off + size:
                log.bad_entry = (
                    f"{log.name}: log entry at offset {off} (sequence {seq}): page reference {i} "
                    f"(offset {poff}, size {psize}) does not fit the entry"
                )
                warn(off + 40 + 8 * i, log.bad_entry)
                ok = False
                break
            pages.append((poff, psize, pos))
            pos += psize
        if not ok:
            break
        log.entries.append(LogEntry(off, size, flags, seq, hbins, pages, h1, h2))
        off += size


# --- replay ------------------------------------------------------------------------------------
@dataclass
class ReplayResult:
    data: bytearray  # the (possibly) recovered hive
    dirty: bool  # the primary needed recovery
    replayed: bool  # something was applied
    fmt: str = ""  # "new" / "old" / ""
    logs_applied: list[str] = field(default_factory=list)
    entries: int = 0  # log entries applied (new format); 1 per log for the old format
    pages: int = 0  # dirty pages written
    first_seq: int = 0
    final_seq: int = 0
    base_block_recovered: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "dirty": self.dirty, "replayed": self.replayed, "format": self.fmt, "logs_applied": self.logs_applied,
            "entries": self.entries, "pages": self.pages, "final_seq": self.final_seq,
            "base_block_recovered": self.base_block_recovered, "notes": self.notes,
        }


def replay(primary: bytes, logs: list[tuple[str, bytes]], warn: Warn = _nowarn) -> ReplayResult:
    """Apply transaction logs (given in any order) to a copy of ``primary``.

    ``logs``: (name, bytes) pairs; empty logs are fine. The result's ``data`` is the clean hive
    (or an unchanged copy when the hive is clean or nothing applicable was found).
    """
    buf = bytearray(primary)
    base = parse_base_block(buf)
    if base is None:
        warn(0, f"primary file has no 'regf' base block ({len(buf)} bytes); no replay")
        return ReplayResult(buf, False, False)
    res = ReplayResult(buf, base.dirty, False)
    if not base.dirty:
        return res
    parsed = [parse_log(name, data, warn) for name, data in logs]
    new = [lg for lg in parsed if lg.fmt == "new"]
    old = [lg for lg in parsed if lg.fmt == "old"]
    if not new and not old:
        why = "no transaction logs" if not logs else "no usable transaction log"
        res.notes.append(f"hive is dirty (sequence {base.primary_seq}/{base.secondary_seq}) but {why}")
        warn(0, res.notes[-1])
        return res
    if new:
        _replay_new(res, base, new, warn)
    else:
        _replay_old(res, base, old, warn)
    return res


def _apply_header(res: ReplayResult, seq: int, hbins_size: int, flags: int | None) -> None:
    buf = res.data
    struct.pack_into("<II", buf, 4, seq, seq)
    struct.pack_into("<I", buf, 28, 0)  # file type: primary
    struct.pack_into("<I", buf, 40, hbins_size)
    if flags is not None:
        (cur,) = struct.unpack_from("<I", buf, 144)
        struct.pack_into("<I", buf, 144, (cur & ~1) | (flags & 1))
    set_checksum(buf)


def _replay_new(res: ReplayResult, base: BaseBlock, logs: list[LogFile], warn: Warn) -> None:
    buf = res.data
    res.fmt = "new"
    if not base.checksum_ok:
        # base block recovered from the log with the latest entries; only that log is used
        best = max(logs, key=lambda lg: lg.entries[-1].seq if lg.entries else -1)
        if best.base is None or not best.base.valid:
            warn(0, "primary base block checksum is wrong and no log has a valid base block; no replay")
            return
        buf[:SECTOR] = best.data[:SECTOR]
        struct.pack_into("<I", buf, 28, 0)
        set_checksum(buf)
        res.base_block_recovered = True
        res.notes.append(f"base block recovered from {best.name}")
        base = parse_base_block(buf) or base
        candidates = [best]
    else:
        candidates = logs
    usable = []
    for lg in candidates:
        lb = lg.base
        if lb is None:
            continue
        if not lg.entries:
            res.notes.append(f"{lg.name}: no log entries")
            continue
        if lb.primary_seq < base.secondary_seq and not res.base_block_recovered:
            res.notes.append(
                f"{lg.name}: stale (log sequence {lb.primary_seq} < hive secondary sequence {base.secondary_seq});"
                " ignored"
            )
            continue
        usable.append(lg)
    usable.sort(key=lambda lg: lg.first_seq)
    expected: int | None = None
    for lg in usable:
        assert lg.base is not None
        start = lg.base.primary_seq if expected is None else expected
        applied_here = 0
        for e in lg.entries:
            if expected is None:
                if e.seq != start:
                    if e.seq < start:
                        continue  # old, already applied entries before the expected one
                    break
            elif e.seq != expected:
                if e.seq < expected:
                    continue
                break
            if not verify_entry(lg, e, warn) or not _apply_entry(res, e, lg, warn):
                break  # recovery stops for this log; the next log must continue the sequence
            applied_here += 1
            expected = e.seq + 1
        if applied_here:
            res.logs_applied.append(lg.name)
        elif expected is not None:
            res.notes.append(f"{lg.name}: no entry continues the sequence at {expected}")
    if res.entries:
        res.replayed = True
        _apply_header(res, res.final_seq, struct.unpack_from("<I", buf, 40)[0], None)
    else:
        warn(0, "hive is dirty but no log entry was applicable (stale, empty or corrupt logs)")


def _apply_entry(res: ReplayResult, e: LogEntry, lg: LogFile, warn: Warn) -> bool:
    buf = res.data
    end = BASE_BLOCK_SIZE + e.hbins_size
    if len(buf) < end:
        buf.extend(b"\x00" * (end - len(buf)))
    for poff, psize, _src in e.pages:
        if poff + psize > e.hbins_size:
            warn(e.offset, f"{lg.name}: entry {e.seq}: page at hive-bins offset {poff} (+{psize}) beyond hive "
                           f"bins size {e.hbins_size}; entry refused")
            return False
    for poff, psize, src in e.pages:
        dst = BASE_BLOCK_SIZE + poff
        buf[dst:dst + psize] = lg.data[src:src + psize]
    if not res.entries:
        res.first_seq = e.seq
    res.entries += 1
    res.pages += len(e.pages)
    res.final_seq = e.seq
    struct.pack_into("<I", buf, 40, e.hbins_size)
    (cur,) = struct.unpack_from("<I", buf, 144)
    struct.pack_into("<I", buf, 144, (cur & ~1) | (e.flags & 1))
    return True


def _replay_old(res: ReplayResult, base: BaseBlock, logs: list[LogFile], warn: Warn) -> None:
    res.fmt = "old"
    buf = res.data
    hbin0_ts = struct.unpack_from("<Q", buf, BASE_BLOCK_SIZE + 20)[0] if len(buf) >= BASE_BLOCK_SIZE + 28 else 0
    ref_ts = base.last_written if base.checksum_ok else hbin0_ts
    valid = []
    for lg in logs:
        lb = lg.base
        if lb is None or not lb.checksum_ok or lb.primary_seq != lb.secondary_seq:
            warn(0, f"{lg.name}: old-format log base block invalid (checksum or sequence numbers); ignored")
            continue
        if len(lg.data) < 2 * SECTOR or lg.data[SECTOR:SECTOR + 4] != b"DIRT":
            warn(SECTOR, f"{lg.name}: no 'DIRT' dirty vector at offset {SECTOR}; ignored")
            continue
        valid.append(lg)
    matching = [lg for lg in valid if lg.base is not None and lg.base.last_written == ref_ts]
    pick = matching or []
    if not pick:
        if valid:
            res.notes.append("no old-format log has the hive's last-written timestamp; not applied")
            warn(0, res.notes[-1])
        return
    lg = max(pick, key=lambda x: x.base.primary_seq if x.base else -1)
    lb = lg.base
    assert lb is not None
    if not base.checksum_ok:
        buf[:SECTOR] = lg.data[:SECTOR]
        struct.pack_into("<I", buf, 28, 0)
        res.base_block_recovered = True
    hbins_size = lb.hbins_size
    nbits = hbins_size // SECTOR
    vec_len = (nbits + 7) // 8
    vec_start = SECTOR + 4
    if vec_start + vec_len > len(lg.data):
        warn(vec_start, f"{lg.name}: dirty vector needs {vec_len} bytes, {len(lg.data) - vec_start} available")
        vec_len = max(0, len(lg.data) - vec_start)
    vector = lg.data[vec_start:vec_start + vec_len]
    pages_start = ((vec_start + vec_len + SECTOR - 1) // SECTOR) * SECTOR
    end = BASE_BLOCK_SIZE + hbins_size
    if len(buf) < end:
        buf.extend(b"\x00" * (end - len(buf)))
    src = pages_start
    n = 0
    stop = False
    for byte_i, byte in enumerate(vector):
        if stop:
            break
        if not byte:
            continue
        for bit in range(8):
            if not byte & (1 << bit):
                continue
            page = byte_i * 8 + bit
            if page >= nbits:
                break
            if src + SECTOR > len(lg.data):
                warn(src, f"{lg.name}: dirty page {page} needs {SECTOR} bytes at log offset {src}, "
                          f"{max(0, len(lg.data) - src)} available; replay stopped")
                stop = True
                break
            dst = BASE_BLOCK_SIZE + page * SECTOR
            new = lg.data[src:src + SECTOR]
            rel = page * SECTOR
            if rel % 4096 == 0 and (buf[dst:dst + 4] == b"hbin" or new[:4] == b"hbin"):
                # a dirty page holding a hive bin header must be a valid one for the same place
                ok = new[:4] == b"hbin" and struct.unpack_from("<I", new, 4)[0] == rel and \
                    struct.unpack_from("<I", new, 8)[0] >= 4096
                if not ok:
                    warn(src, f"{lg.name}: dirty page {page} (hive-bins offset {rel}) is not a valid hive bin "
                              "header; replay stopped")
                    stop = True
                    break
            buf[dst:dst + SECTOR] = new
            src += SECTOR
            n += 1
    res.pages = n
    res.entries = 1 if n else 0
    res.logs_applied.append(lg.name)
    res.replayed = True
    res.first_seq = lb.primary_seq
    res.final_seq = max(base.primary_seq, lb.primary_seq)
    _apply_header(res, res.final_seq, hbins_size, None)


def check_bins(data: bytes | bytearray, warn: Warn = _nowarn) -> int:
    """Walk the hive bins; warn for each bad header (offset). Returns the number of good bins."""
    base = parse_base_block(data)
    if base is None:
        return 0
    end = min(len(data), BASE_BLOCK_SIZE + base.hbins_size)
    off = BASE_BLOCK_SIZE
    good = 0
    while off + 32 <= end:
        if data[off:off + 4] != b"hbin":
            warn(off, f"hive bin expected at offset {off} (signature {bytes(data[off:off + 4])!r})")
            break
        rel, size = struct.unpack_from("<II", data, off + 4)
        if rel != off - BASE_BLOCK_SIZE or size < 4096 or size % 4096 or off + size > end:
            warn(off, f"hive bin at offset {off}: offset field {rel}, size {size} invalid")
            break
        good += 1
        off += size
    return good
