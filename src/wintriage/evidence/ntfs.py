"""NTFS through libfsntfs (pyfsntfs): list, stat and read files, alternate data streams, deleted entries, metafiles.

Paths are volume-relative, ``/``-separated (``\\`` is accepted) and matched case-insensitively, like Windows.
A named stream is addressed as ``path:stream`` (``/$Extend/$UsnJrnl:$J``, ``/a.txt:Zone.Identifier``).

Listings give one ``FileInfo`` per name and, like FTK Imager, one more row per alternate data stream
(``name:stream``). Times are FILETIME ticks from $STANDARD_INFORMATION (``si_*``) and from the $FILE_NAME
attribute in the MFT record that carries the listed name (``fn_*``).

Deleted entries are found by scanning every MFT record for ones not in use; their path is rebuilt through the
parent reference of their $FILE_NAME (sequence numbers honoured), else they are shown as ``<Orphan>/name``.

Sparse streams: ``read_chunks(path, skip_sparse=True)`` yields only the allocated extents of a stream, which is
how the ``$UsnJrnl:$J`` journal is read (its sparse head is the part Windows has already discarded). By default
``skip_sparse`` is on for ``$Extend/$UsnJrnl:$J`` only, so ``cat`` of $J gives the allocated tail (logical
offset = USN minus the size of the sparse head) while every other file is its full logical content.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyfsntfs

from .image import EvidenceError, Image, ImageFile, open_image
from .volumes import Volume, list_volumes, primary_ntfs

CHUNK = 1 << 20
ORPHAN_DIR = "<Orphan>"
ROOT_ENTRY = 5
_ENTRY_MASK = (1 << 48) - 1
_FN_DOS = 2  # $FILE_NAME namespace: 0 POSIX, 1 Win32, 2 DOS, 3 Win32+DOS
_DIR_FLAG = 0x10000000  # $FILE_NAME flag: has a directory index
_EXTENT_SPARSE = 1


class NtfsError(EvidenceError):
    """The NTFS volume or a path in it cannot be opened as asked."""


def split_ref(ref: int) -> tuple[int, int]:
    """(entry, sequence) of a 64-bit MFT file reference."""
    return ref & _ENTRY_MASK, ref >> 48


@dataclass
class FileInfo:
    """One row of a listing: a file or directory name, or one alternate data stream of a file."""

    path: str
    name: str
    entry: int
    sequence: int
    parent_entry: int | None
    parent_sequence: int | None
    is_dir: bool
    size: int
    allocated: bool
    deleted: bool
    stream: str | None = None
    si_created: int | None = None
    si_modified: int | None = None
    si_mft_modified: int | None = None
    si_accessed: int | None = None
    fn_created: int | None = None
    fn_modified: int | None = None
    fn_mft_modified: int | None = None
    fn_accessed: int | None = None
    attributes: int | None = None
    handle: Any = field(default=None, repr=False, compare=False)  # the pyfsntfs file_entry
    # the names from the root down (``path`` joins them with "/", which a hostile name may itself contain)
    parts: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "entry": self.entry, "sequence": self.sequence,
            "parent_entry": self.parent_entry, "parent_sequence": self.parent_sequence, "is_dir": self.is_dir,
            "size": self.size, "allocated": self.allocated, "deleted": self.deleted, "stream": self.stream,
            "si_created": self.si_created, "si_modified": self.si_modified,
            "si_mft_modified": self.si_mft_modified, "si_accessed": self.si_accessed,
            "fn_created": self.fn_created, "fn_modified": self.fn_modified,
            "fn_mft_modified": self.fn_mft_modified, "fn_accessed": self.fn_accessed,
            "attributes": self.attributes,
        }


def _t(v: int | None) -> int | None:
    return v if v else None


def norm_path(path: str) -> tuple[list[str], str | None]:
    """Components of a volume path and the stream name (``a/b.txt:s`` -> (["a", "b.txt"], "s"))."""
    p = path.replace("\\", "/")
    if len(p) >= 2 and p[1] == ":" and p[0].isalpha() and (len(p) == 2 or p[2] == "/"):
        p = p[2:]  # "C:/Windows"
    parts = [c for c in p.split("/") if c and c != "."]
    stream = None
    if parts and ":" in parts[-1]:
        parts[-1], stream = parts[-1].split(":", 1)
        stream = stream or None
    return parts, stream


def join(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


@dataclass
class _Deleted:
    entry: int
    sequence: int
    name: str
    parent_entry: int
    parent_sequence: int
    is_dir: bool
    fn: Any  # the chosen pyfsntfs file_name_attribute


class NtfsFS:
    """One NTFS volume opened read-only. Use as a context manager (or call ``close``)."""

    def __init__(self, img: Image, offset: int = 0, size: int | None = None, *, own_image: bool = False,
                 volume_info: dict[str, Any] | None = None) -> None:
        self.img = img
        self.offset = offset
        self.size = (img.size - offset) if size is None else size
        self._own = own_image
        self.info: dict[str, Any] = dict(volume_info or {})
        self._file = ImageFile(img, offset, self.size)
        self.vol = pyfsntfs.volume()
        try:
            self.vol.open_file_object(self._file)
        except OSError as e:
            raise NtfsError(f"no readable NTFS at byte offset {offset}: {e}") from None
        self.warnings: list[str] = []
        try:
            self.label = self.vol.get_name() or ""
        except OSError as e:
            self.label = ""
            self.warn(f"volume label unreadable ($Volume, MFT entry 3): {e}")
        try:
            self.serial = f"{self.vol.get_serial_number():016X}"
        except OSError:
            self.serial = ""
        self.info.setdefault("label", self.label)
        self.info.setdefault("serial", self.serial)
        self.info.setdefault("offset", offset)
        self.info.setdefault("size", self.size)
        self._children: dict[int, list[FileInfo]] = {}
        self._deleted: dict[int, list[_Deleted]] | None = None
        self._deleted_by_entry: dict[int, _Deleted] = {}
        self._orphan_cache: list[_Deleted] | None = None
        self._root: FileInfo | None = None
        self._lookups: dict[tuple[int, int, str], FileInfo | None] = {}

    # --- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.vol.close()
        except OSError:
            pass
        if self._own:
            self.img.close()

    def __enter__(self) -> NtfsFS:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def warn(self, msg: str) -> None:
        if len(self.warnings) < 10_000:
            self.warnings.append(msg)

    # --- building FileInfo rows ------------------------------------------------------------------
    def _info(self, fe: Any, parent: FileInfo | None, *, deleted: _Deleted | None = None) -> FileInfo:
        """The row for a file entry reached through a directory (or, for a deleted one, through its $FN)."""
        entry, seq = split_ref(fe.file_reference)
        si: Any = None
        fn: Any = deleted.fn if deleted else None
        try:
            want = None if deleted else fe.name_attribute_index
            for i, a in enumerate(fe.attributes):
                t = a.attribute_type
                if t == 0x10 and si is None:
                    si = a
                elif t == 0x30 and fn is None and (want is None or i == want):
                    fn = a
        except OSError as e:
            self.warn(f"MFT entry {entry}: cannot read its attributes: {e}")
        pe: int | None
        ps: int | None
        if deleted:
            name = deleted.name
            pe, ps = deleted.parent_entry, deleted.parent_sequence
            is_dir = deleted.is_dir
        else:
            try:
                name = fe.get_name() or ""
            except OSError:
                name = ""
            name = name or (fn.name if fn is not None else f"<entry {entry}>")
            try:
                pe, ps = split_ref(fe.get_parent_file_reference())
            except (OSError, TypeError):
                pe, ps = (split_ref(fn.get_parent_file_reference()) if fn is not None else (None, None))
            try:
                is_dir = bool(fe.has_directory_entries_index())
            except OSError:
                is_dir = False
        try:
            size = int(fe.get_size()) if fe.has_default_data_stream() else 0
        except OSError:
            size = 0
        try:
            allocated = bool(fe.is_allocated())
        except OSError:
            allocated = False
        info = FileInfo(
            path=join(parent.path if parent else "/", name), name=name, entry=entry, sequence=seq,
            parent_entry=pe, parent_sequence=ps, is_dir=is_dir, size=size, allocated=allocated, deleted=deleted is not None, handle=fe,
            parts=(parent.parts if parent else ()) + (name,),
        )
        if si is not None:
            try:
                info.si_created = _t(si.get_creation_time_as_integer())
                info.si_modified = _t(si.get_modification_time_as_integer())
                info.si_mft_modified = _t(si.get_entry_modification_time_as_integer())
                info.si_accessed = _t(si.get_access_time_as_integer())
                info.attributes = si.get_file_attribute_flags()
            except OSError as e:
                self.warn(f"MFT entry {entry}: bad $STANDARD_INFORMATION: {e}")
        if fn is not None:
            try:
                info.fn_created = _t(fn.get_creation_time_as_integer())
                info.fn_modified = _t(fn.get_modification_time_as_integer())
                info.fn_mft_modified = _t(fn.get_entry_modification_time_as_integer())
                info.fn_accessed = _t(fn.get_access_time_as_integer())
            except OSError as e:
                self.warn(f"MFT entry {entry}: bad $FILE_NAME: {e}")
        return info

    def _streams(self, base: FileInfo) -> list[FileInfo]:
        """One row per alternate data stream of ``base`` (FTK Imager style ``name:stream``)."""
        fe = base.handle
        out: list[FileInfo] = []
        try:
            n = fe.number_of_alternate_data_streams
        except OSError:
            return out
        for i in range(n):
            try:
                ads = fe.get_alternate_data_stream(i)
                sname = ads.name or ""
                ssize = int(ads.size)
            except OSError as e:
                self.warn(f"MFT entry {base.entry}: alternate data stream {i} unreadable: {e}")
                continue
            row = FileInfo(**{**base.__dict__, "path": f"{base.path}:{sname}", "name": f"{base.name}:{sname}",
                              "is_dir": False, "size": ssize, "stream": sname})
            out.append(row)
        return out

    # --- directories -----------------------------------------------------------------------------
    def _list_live(self, d: FileInfo, cache: bool = True) -> list[FileInfo]:
        """Live children of a live directory, sorted by name; cached per directory unless ``cache`` is off
        (a full walk does not keep every row of the volume in memory)."""
        cached = self._children.get(d.entry)
        if cached is not None:
            return cached
        rows: list[FileInfo] = []
        fe = d.handle
        try:
            n = fe.number_of_sub_file_entries
        except OSError as e:
            self.warn(f"{d.path}: directory index unreadable: {e}")
            n = 0
        for i in range(n):
            try:
                sub = fe.get_sub_file_entry(i)
                rows.append(self._info(sub, d))
            except OSError as e:
                self.warn(f"{d.path}: index entry {i} unreadable: {e}")
        rows.sort(key=lambda r: r.name.lower())
        if cache:
            self._children[d.entry] = rows
        return rows

    def root(self) -> FileInfo:
        if self._root is not None:
            return self._root
        try:
            fe = self.vol.get_root_directory()
        except OSError as e:
            raise NtfsError(f"root directory unreadable: {e}") from None
        info = self._info(fe, None)
        info.path, info.name, info.parts = "/", "", ()
        self._root = info
        return info

    def _children_of(self, d: FileInfo, deleted: bool, cache: bool = True) -> list[FileInfo]:
        if d.entry == -1:  # the virtual <Orphan> folder
            return [self._deleted_info(x, d) for x in self._orphans()] if deleted else []
        rows = [] if d.deleted else list(self._list_live(d, cache))
        if deleted:
            for x in self._deleted_index().get(d.entry, []):
                if self._parent_matches(d, x.parent_sequence):
                    rows.append(self._deleted_info(x, d))
            if d.path == "/" and self._orphans():
                rows.append(self._orphan_dir())
        return rows

    def _parent_matches(self, d: FileInfo, ref_seq: int) -> bool:
        if d.deleted:  # Windows bumps the sequence number when it frees a record
            return d.sequence in (ref_seq, ref_seq + 1) or ref_seq == 0
        return d.sequence == ref_seq or ref_seq == 0

    def listdir(self, path: str = "/", deleted: bool = False) -> list[FileInfo]:
        """Children of a directory, each followed by its alternate data streams; a file lists itself."""
        target = self.stat(path, deleted=deleted)
        if target.stream is not None or not target.is_dir:
            return [target] + ([] if target.stream is not None else self._streams(target))
        out: list[FileInfo] = []
        for r in self._children_of(target, deleted):
            out.append(r)
            if r.handle is not None:
                out.extend(self._streams(r))
        return out

    def walk(self, path: str = "/", deleted: bool = False) -> Iterator[FileInfo]:
        """Every entry below ``path`` in pre-order (a directory, then its contents), streams right after
        their file, like ``fls -r``. Directory loops in damaged volumes are cut with a warning."""
        top = self.stat(path, deleted=deleted)
        if not top.is_dir:
            yield top
            if top.stream is None:
                yield from self._streams(top)
            return
        seen: set[tuple[int, int, bool]] = {(top.entry, top.sequence, top.deleted)}
        stack: list[Iterator[FileInfo]] = [iter(self._children_of(top, deleted, cache=False))]
        while stack:
            r = next(stack[-1], None)
            if r is None:
                stack.pop()
                continue
            yield r
            if r.handle is not None:
                yield from self._streams(r)
            if r.is_dir and r.stream is None:
                key = (r.entry, r.sequence, r.deleted)
                if key in seen or len(stack) > 512:
                    self.warn(f"{r.path}: directory loop to entry {r.entry} (or nesting too deep) skipped")
                    continue
                seen.add(key)
                stack.append(iter(self._children_of(r, deleted, cache=False)))

    def child(self, d: FileInfo, name: str, deleted: bool = False) -> FileInfo | None:
        """The child called ``name`` (case-insensitive); a live name wins over deleted ones.

        A live name is looked up through the directory's index (B-tree, NTFS upcase rules) without listing
        the directory; names holding a backslash, and deleted names, fall back to a listing."""
        low = name.lower()
        key = (d.entry, d.sequence, low)
        if key in self._lookups:
            hit = self._lookups[key]
            if hit is not None or not deleted:
                return hit
        elif not d.deleted and d.entry != -1 and "\\" not in name and not any("\\" in x for x in d.parts):
            ok = True
            try:
                fe = self.vol.get_file_entry_by_path("\\" + "\\".join((*d.parts, name)))
                hit = self._info(fe, d) if fe is not None else None
            except OSError:
                ok = False  # damaged index or record: fall back to listing the directory
            if ok:
                if len(self._lookups) < 100_000:
                    self._lookups[key] = hit
                if hit is not None or not deleted:
                    return hit
        found: FileInfo | None = None
        for r in self._children_of(d, deleted):
            if r.name.lower() == low:
                if not r.deleted:
                    return r
                found = found or r
        return found

    def stat(self, path: str, deleted: bool = False) -> FileInfo:
        """The row for ``path`` (``path:stream`` gives the stream's row). Raises NtfsError if absent."""
        parts, stream = norm_path(path)
        cur = self.root()
        for i, name in enumerate(parts):
            if not cur.is_dir:
                raise NtfsError(f"{path}: {'/'.join(parts[:i])} is not a directory")
            nxt = self.child(cur, name, deleted=deleted)
            if nxt is None:
                raise NtfsError(f"{path}: no such file or directory")
            cur = nxt
        if stream is None:
            return cur
        for s in self._streams(cur) if cur.handle is not None else []:
            if (s.stream or "").lower() == stream.lower():
                return s
        raise NtfsError(f"{path}: no stream {stream!r}")

    # --- deleted entries ---------------------------------------------------------------------------
    def _deleted_index(self) -> dict[int, list[_Deleted]]:
        """parent entry -> deleted children, from one scan of every MFT record not in use."""
        if self._deleted is not None:
            return self._deleted
        idx: dict[int, list[_Deleted]] = {}
        for i in self._free_records():
            try:
                fe = self.vol.get_file_entry(i)
                if fe.is_allocated() or fe.get_base_record_file_reference():
                    continue
                best = None
                for a in fe.attributes:
                    if a.attribute_type != 0x30:
                        continue
                    if best is None or (best.name_space == _FN_DOS and a.name_space != _FN_DOS):
                        best = a
                if best is None:
                    continue
                pe, ps = split_ref(best.get_parent_file_reference())
                _e, seq = split_ref(fe.file_reference)
                x = _Deleted(i, seq, best.name, pe, ps, bool(best.get_file_attribute_flags() & _DIR_FLAG), best)
            except OSError:
                continue  # empty or unreadable record: nothing to list
            idx.setdefault(pe, []).append(x)
            self._deleted_by_entry[i] = x
        for v in idx.values():
            v.sort(key=lambda x: x.name.lower())
        self._deleted = idx
        return idx

    def _free_records(self) -> Iterator[int]:
        """Numbers of the MFT records that carry a record header but are not in use.

        The in-use flag (header offset 0x16) is read straight from the $MFT bytes, so only free records
        are handed to libfsntfs; if $MFT cannot be read that way, every record is asked in turn."""
        try:
            n = int(self.vol.number_of_file_entries)
            size = int(self.vol.get_mft_entry_size())
            mft = self.stat("/$MFT")
        except (OSError, NtfsError) as e:
            self.warn(f"$MFT not readable as a file ({e}); asking every record")
            yield from range(getattr(self.vol, "number_of_file_entries", 0) or 0)
            return
        if size <= 0x18:
            yield from range(n)
            return
        i = 0
        buf = b""
        for chunk in self.read_chunks(mft, skip_sparse=False):
            buf = buf + chunk if buf else chunk
            whole = len(buf) - len(buf) % size
            for off in range(0, whole, size):
                if i < n and buf[off:off + 4] == b"FILE" and not buf[off + 0x16] & 1:
                    yield i
                i += 1
            buf = buf[whole:]

    def _orphans(self) -> list[_Deleted]:
        """Deleted entries whose parent directory is gone (freed, or its record reused)."""
        if self._orphan_cache is None:
            out = [x for kids in self._deleted_index().values() for x in kids if not self._parent_ok(x)]
            out.sort(key=lambda x: (x.name.lower(), x.entry))
            self._orphan_cache = out
        return self._orphan_cache

    def _parent_ok(self, x: _Deleted) -> bool:
        pe, ps = x.parent_entry, x.parent_sequence
        if pe == x.entry:
            return False
        if pe == ROOT_ENTRY:
            return True
        pd = self._deleted_by_entry.get(pe)
        if pd is not None:
            return pd.is_dir and pd.sequence in (ps, ps + 1)
        try:
            fe = self.vol.get_file_entry(pe)
            return bool(fe.is_allocated() and split_ref(fe.file_reference)[1] == ps
                        and fe.has_directory_entries_index())
        except OSError:
            return False

    def _deleted_info(self, x: _Deleted, parent: FileInfo) -> FileInfo:
        fe = self.vol.get_file_entry(x.entry)
        info = self._info(fe, parent, deleted=x)
        info.entry, info.sequence = x.entry, x.sequence
        return info

    def _orphan_dir(self) -> FileInfo:
        return FileInfo(path="/" + ORPHAN_DIR, name=ORPHAN_DIR, entry=-1, sequence=0, parent_entry=ROOT_ENTRY,
                        parent_sequence=ROOT_ENTRY, is_dir=True, size=0, allocated=False, deleted=True,
                        parts=(ORPHAN_DIR,))

    # --- reading -------------------------------------------------------------------------------
    def _reader(self, info: FileInfo) -> Any:
        fe = info.handle
        if fe is None:
            raise NtfsError(f"{info.path}: nothing to read")
        if info.stream is not None:
            try:
                return fe.get_alternate_data_stream_by_name(info.stream)
            except OSError as e:
                raise NtfsError(f"{info.path}: stream unreadable: {e}") from None
        if info.is_dir and not fe.has_default_data_stream():
            raise NtfsError(f"{info.path}: is a directory")
        return fe

    def read_chunks(self, path: str | FileInfo, skip_sparse: bool | None = None, *, deleted: bool = False,
                    chunk: int = CHUNK) -> Iterator[bytes]:
        """The content of a file or ``path:stream`` in chunks of at most ``chunk`` bytes.

        ``skip_sparse=True`` yields only allocated extents (sparse runs are left out, not zero-filled);
        ``None`` (default) means True for ``$Extend/$UsnJrnl:$J`` and False for everything else."""
        info = path if isinstance(path, FileInfo) else self.stat(path, deleted=deleted)
        if skip_sparse is None:
            skip_sparse = is_usn_j(info.path)
        r = self._reader(info)
        total = info.size
        if skip_sparse:
            yield from self._read_allocated(r, total, info.path, chunk)
            return
        yield from self._read_range(r, 0, total, info.path, chunk)

    def _read_range(self, r: Any, pos: int, end: int, label: str, chunk: int) -> Generator[bytes, None, bool]:
        """Bytes ``pos:end`` of a stream in chunks; False (after a warning) when a read failed or came up short."""
        while pos < end:
            n = min(chunk, end - pos)
            try:
                data = r.read_buffer_at_offset(n, pos)
            except OSError as e:
                self.warn(f"{label}: read of {n} bytes at offset {pos} failed: {e}")
                return False
            if not data:
                self.warn(f"{label}: short read at offset {pos}: {end - pos} bytes missing")
                return False
            yield data
            pos += len(data)
        return True

    def _read_allocated(self, r: Any, total: int, label: str, chunk: int) -> Iterator[bytes]:
        try:
            n = r.number_of_extents
            extents = [r.get_extent(i) for i in range(n)]
        except OSError as e:
            self.warn(f"{label}: extents unreadable ({e}); reading it whole")
            n, extents = 0, []
        if n == 0:  # resident data
            extents = [(0, total, 0)]
        pos = 0
        for _off, size, flags in extents:
            end = min(pos + size, total)
            if not flags & _EXTENT_SPARSE and not (yield from self._read_range(r, pos, end, label, chunk)):
                return
            pos += size
            if pos >= total:
                break

    def sparse_head(self, path: str) -> int:
        """Bytes of leading sparse extents of a stream (the part ``skip_sparse`` leaves out at the start)."""
        r = self._reader(self.stat(path))
        head = 0
        try:
            for i in range(r.number_of_extents):
                _o, size, flags = r.get_extent(i)
                if not flags & _EXTENT_SPARSE:
                    break
                head += size
        except OSError:
            return 0
        return head


def is_usn_j(path: str) -> bool:
    return path.replace("\\", "/").strip("/").lower() == "$extend/$usnjrnl:$j"


# --- volumes ---------------------------------------------------------------------------------------
def ntfs_volumes(img: Image) -> list[Volume]:
    """Every NTFS volume of an image, in table order (``index`` as ``info`` shows it)."""
    return [v for v in list_volumes(img) if v.fs == "NTFS" and not v.container]


def open_fs(image_path: Path | str, partition: int | None = None) -> NtfsFS:
    """Open the NTFS volume ``partition`` (a volume index as ``info`` shows it) of an image, or the largest."""
    p = Path(image_path)
    if p.is_dir():
        raise NtfsError(f"{p}: is a folder, not a disk image (ls/cat/extract read E01, raw or split raw images)")
    img = open_image(p)
    try:
        vols = ntfs_volumes(img)
        if not vols:
            raise NtfsError(f"{p}: no NTFS volume found")
        primary = primary_ntfs(vols) or vols[0]
        if partition is None:
            v = primary
        else:
            cand = [v for v in vols if v.index == partition]
            if not cand:
                raise NtfsError(f"{p}: no NTFS volume with index {partition} (NTFS volumes: "
                                f"{', '.join(str(v.index) for v in vols)})")
            v = cand[0]
        info = {"index": v.index, "primary": v is primary, "name": "C" if v is primary else f"vol{v.index}"}
        return NtfsFS(img, v.offset, v.size, own_image=True, volume_info=info)
    except BaseException:
        img.close()
        raise
