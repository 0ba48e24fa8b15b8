"""Disk images: EWF (E01 and segments), raw/dd and split raw. Read-only.

``open_image(path)`` picks the format by name and magic. Every image offers ``size``, ``read(offset, n)``,
``info()`` and ``close()``; ``ImageFile`` is a file-like view of a byte range (for libfsntfs & co).
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

EVF_MAGIC = b"EVF\x09\x0d\x0a\xff\x00"
LVF_MAGIC = b"LVF\x09\x0d\x0a\xff\x00"
EVF2_MAGIC = b"EVF2\x0d\x0a\x81\x00"


class EvidenceError(Exception):
    """The evidence cannot be read as asked (missing segment, unknown format, read past the end...)."""


class Image(ABC):
    path: Path
    size: int

    @abstractmethod
    def read(self, offset: int, n: int) -> bytes: ...

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": type(self).__name__, "media_size": self.size}

    def close(self) -> None:
        return None

    def __enter__(self) -> Image:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class RawImage(Image):
    """A raw image, possibly split (``.001/.002...``, ``.aa/.ab...``, ``.raw.000``)."""

    def __init__(self, segments: list[Path]) -> None:
        self.path = segments[0]
        self.segments = segments
        self._fhs = [open(p, "rb") for p in segments]  # noqa: SIM115 - closed in close()
        self._starts: list[int] = []
        total = 0
        for p in segments:
            self._starts.append(total)
            total += p.stat().st_size
        self.size = total

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise EvidenceError(f"bad read: offset {offset} size {n}")
        out = bytearray()
        end = min(offset + n, self.size)
        pos = offset
        i = 0
        while pos < end:
            while i + 1 < len(self._starts) and self._starts[i + 1] <= pos:
                i += 1
            fh = self._fhs[i]
            seg_end = self._starts[i + 1] if i + 1 < len(self._starts) else self.size
            fh.seek(pos - self._starts[i])
            chunk = fh.read(min(end, seg_end) - pos)
            if not chunk:
                raise EvidenceError(f"{self.segments[i]}: short read at {pos - self._starts[i]}")
            out += chunk
            pos += len(chunk)
        return bytes(out)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update(format="raw" if len(self.segments) == 1 else "split raw", segments=[str(p) for p in self.segments])
        return d

    def close(self) -> None:
        for fh in self._fhs:
            fh.close()


class PyEwfImage(Image):
    """EWF through libewf-python (the fallback and test oracle for our own reader)."""

    def __init__(self, segments: list[Path]) -> None:
        import pyewf

        self.path = segments[0]
        self.segments = segments
        self._h = pyewf.handle()
        try:
            self._h.open([str(p) for p in segments])
        except OSError as e:
            raise EvidenceError(f"{self.path}: libewf cannot open it: {e}") from None
        self.size = int(self._h.get_media_size())

    def read(self, offset: int, n: int) -> bytes:
        self._h.seek(offset)
        return bytes(self._h.read(n))

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["format"] = "EWF (libewf)"
        d["segments"] = [str(p) for p in self.segments]
        try:
            d["header"] = {k: v for k, v in self._h.get_header_values().items() if v}
            d["stored_hashes"] = {k.lower(): v for k, v in self._h.get_hash_values().items() if v}
        except (OSError, AttributeError):
            pass
        return d

    def close(self) -> None:
        self._h.close()


def ewf_segments(first: Path) -> list[Path]:
    """E01, E02, ... E99, EAA, EAB ... (and the .Ex01 / .L01 families) in order, found from the first."""
    m = re.match(r"^(.*\.)([EeLl])(x?)01$", first.name)
    if not m:
        return [first]
    stem, letter, x = m.groups()
    out = [first]
    n = 2
    while True:
        if n <= 99:
            suffix = f"{n:02d}"
        else:  # E99 -> EAA: two letters after the first
            k = n - 100
            hi, lo = divmod(k, 26)
            if hi >= 26:
                break
            suffix = chr(ord("A") + hi) + chr(ord("A") + lo)
            if letter.islower():
                suffix = suffix.lower()
        cand = first.with_name(f"{stem}{letter}{x}{suffix}")
        if not cand.exists():
            break
        out.append(cand)
        n += 1
    return out


def raw_segments(first: Path) -> list[Path]:
    m = re.match(r"^(.*\.)(\d{3})$", first.name)
    if m:
        stem = m.group(1)
        width = 3
        start = int(m.group(2))
        out = []
        i = start
        while (p := first.with_name(f"{stem}{i:0{width}d}")).exists():
            out.append(p)
            i += 1
        return out
    m = re.match(r"^(.*\.)aa$", first.name)
    if m:
        out = []
        for a in "abcdefghijklmnopqrstuvwxyz":
            for b in "abcdefghijklmnopqrstuvwxyz":
                p = first.with_name(f"{m.group(1)}{a}{b}")
                if not p.exists():
                    return out
                out.append(p)
    return [first]


def open_image(path: Path, engine: str = "auto") -> Image:
    """Open an image by magic: EWF (our reader; libewf for EWF2/Ex01, L01 or ``engine="libewf"``) or raw.

    A missing, out-of-order or renamed EWF segment is an :class:`EvidenceError`, never a silent fallback.
    """
    path = Path(path)
    if not path.is_file():
        raise EvidenceError(f"{path}: not a file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head in (EVF_MAGIC, LVF_MAGIC) or head.startswith(b"EVF2"):
        segs = ewf_segments(path)
        if engine == "libewf" or head != EVF_MAGIC:
            return PyEwfImage(segs)
        from .ewf import EwfImage, UnsupportedEwf

        try:
            return EwfImage(segs)
        except UnsupportedEwf:
            return PyEwfImage(segs)
    return RawImage(raw_segments(path))


def hash_image(img: Image, progress: Callable[[int, int], None] | None = None,
               block: int = 4 << 20) -> dict[str, str]:
    """MD5 and SHA1 of the whole media, read sequentially (SHA1 in a helper thread)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    md5, sha1 = hashlib.md5(), hashlib.sha1()
    pending: Future[None] | None = None
    with ThreadPoolExecutor(1) as ex:
        pos = 0
        while pos < img.size:
            buf = img.read(pos, min(block, img.size - pos))
            if not buf:
                raise EvidenceError(f"{img.path}: read returned nothing at media offset {pos}")
            if pending is not None:
                pending.result()
            pending = ex.submit(sha1.update, buf)
            md5.update(buf)
            pos += len(buf)
            if progress:
                progress(pos, img.size)
        if pending is not None:
            pending.result()
    return {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()}


def verify_image(path: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Recompute MD5/SHA1 of the media and compare with the hashes the image stores (EWF); list bad chunks.

    Keys: path, format, media_size, segments, header, stored{md5,sha1}, computed{md5,sha1}, ok, bad_chunks
    [{chunk, offset, reason, ...}], errors, warnings, seconds, mb_per_s. Raw images have no stored hash: ok
    then means only that every byte could be read.
    """
    from .ewf import EwfImage

    with open_image(Path(path)) as img:
        if isinstance(img, EwfImage):
            return img.verify(progress)
        t0 = time.perf_counter()
        computed = hash_image(img, progress)
        secs = time.perf_counter() - t0
        info = img.info()
        stored: dict[str, str | None] = {"md5": None, "sha1": None}
        stored.update({k: v for k, v in info.get("stored_hashes", {}).items() if k in ("md5", "sha1")})
        errors = [f"{k.upper()} mismatch: stored {stored[k]}, computed {computed[k]}"
                  for k in ("md5", "sha1") if stored.get(k) and stored[k] != computed[k]]
        return {
            "path": str(img.path), "format": info.get("format"), "media_size": img.size,
            "segments": info.get("segments", [str(img.path)]), "header": info.get("header", {}),
            "stored": stored, "computed": computed, "ok": not errors, "bad_chunks": [], "errors": errors,
            "warnings": [] if any(stored.values()) else ["no stored hash in this image: hashes computed only"],
            "seconds": round(secs, 3), "mb_per_s": round(img.size / secs / 1e6, 1) if secs > 0 else None,
        }


class ImageFile(io.RawIOBase):
    """A read-only, seekable file object over ``[offset, offset + size)`` of an image."""

    def __init__(self, img: Image, offset: int = 0, size: int | None = None) -> None:
        super().__init__()
        self.img = img
        self.base = offset
        self.length = (img.size - offset) if size is None else size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = pos
        elif whence == 1:
            self.pos += pos
        else:
            self.pos = self.length + pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def get_size(self) -> int:
        return self.length

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.length - self.pos
        n = max(0, min(n, self.length - self.pos))
        if n == 0:
            return b""
        data = self.img.read(self.base + self.pos, n)
        self.pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
