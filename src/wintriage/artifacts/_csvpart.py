"""CSV-only runs on two cores: a forked worker renders part of a large input as CSV text while this process
parses the rest (``parse mft --csv``, ``parse usnjrnl --csv``).

A parser hands ``Forked`` a module-level function and the state the worker needs (inherited through fork, never
pickled); the worker writes its text to a temporary file and returns what it rendered per batch, with its warnings
in order (``LogContext``). Back here, ``text_batches`` turns the text into ``RowBatch``es whose columns carry the
rendered lines (``TextColumns``): only a CSV sink can take them, which is why only CSV-only runs split.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import timezone
from typing import Any

from ..model import RowBatch
from .base import ParseContext

_STATE: Any = None  # what the forked worker inherits (set only around the fork)

Log = list[tuple[int | None, str, bool]]  # the worker's warnings: (offset, reason, skipped)


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(_STATE, *args)


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


class Forked:
    """``fn(state, *args)`` in a forked worker process; ``result()`` is None when there was no worker or it died
    (the caller then does that part itself)."""

    def __init__(self, fn: Callable[..., Any], state: Any, *args: Any) -> None:
        global _STATE
        self.ex: ProcessPoolExecutor | None = None
        self.fut: Future[Any] | None = None
        fd, self.tmp = tempfile.mkstemp(prefix="wintriage-part-", suffix=".csv")
        os.close(fd)
        _STATE = state
        try:
            self.ex = ProcessPoolExecutor(1, mp_context=mp.get_context("fork"))
            self.fut = self.ex.submit(_call, fn, (*args, self.tmp))
        except (OSError, RuntimeError):
            self.fut = None
        finally:
            _STATE = None

    def result(self) -> Any:
        if self.fut is None:
            return None
        try:
            return self.fut.result()
        except (OSError, RuntimeError, EOFError, pickle.PickleError):  # BrokenProcessPool is a RuntimeError
            return None

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown(wait=True)
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class LogContext(ParseContext):
    """The worker's context: warnings are kept in order, with their ``skipped`` flag, for the parent."""

    def __init__(self, artifact: str, source: str, options: dict[str, Any],
                 resources: dict[str, Any] | None = None) -> None:
        super().__init__(artifact, source, options=options, resources=resources)
        self.log: Log = []

    def warn(self, offset: int | None, reason: str, *, skipped: bool = True) -> None:
        self.log.append((offset, reason, skipped))


def replay_warnings(ctx: ParseContext, log: Log) -> None:
    for off, reason, skipped in log:
        ctx.warn(off, reason, skipped=skipped)


class FileRange:
    """Rendered UTF-8 lines that a worker wrote to a file: ``size`` bytes at ``offset`` of the open file ``fd``.
    A CSV sink copies them into its file in the kernel (``copy_to``) instead of reading and writing them."""

    __slots__ = ("fd", "offset", "size")

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd, self.offset, self.size = fd, offset, size

    def read(self) -> bytes:
        return os.pread(self.fd, self.size, self.offset)

    def copy_to(self, fd: int) -> None:
        """Append the bytes at ``fd``'s position (flushed by the caller)."""
        off, left = self.offset, self.size
        copy = getattr(os, "copy_file_range", None)
        while left and copy is not None:
            try:
                n = copy(self.fd, fd, left, off)
            except OSError:  # not between these files (other file systems, old kernels): the plain way
                break
            if n <= 0:
                break
            off += n
            left -= n
        while left:
            data = os.pread(self.fd, min(left, 1 << 24), off)
            if not data:
                raise OSError(f"worker output ended {left} bytes early")
            os.write(fd, data)
            off += len(data)
            left -= len(data)


class TextColumns(dict[str, list[Any]]):
    """A batch already rendered as CSV text: ``text`` = (zone, lines as str, or as UTF-8 bytes); one placeholder
    column gives its length."""

    text: tuple[timezone, str | bytes | FileRange]
    pos: int  # where the batch's first record starts in its input (set by parsers whose worker output may join)


def rendered(columns: Any, tz: timezone) -> str | bytes | FileRange | None:
    """The rendered text of a ``TextColumns`` batch as it was made (checked against the zone asked for), else
    None."""
    text = getattr(columns, "text", None)
    if text is None:
        return None
    if text[0] != tz:
        raise ValueError(f"CSV rendered for {text[0]}, not {tz}")
    return text[1]


def text_of(columns: Any, tz: timezone) -> str | None:
    """``rendered`` as a str."""
    text = rendered(columns, tz)
    if isinstance(text, FileRange):
        text = text.read()
    return text.decode("utf-8") if isinstance(text, bytes) else text


def text_batches(tmp: str, parts: list[tuple[int, int]], tz: timezone, table: str, column: str,
                 binary: bool = False, skip: int = 0) -> Iterator[RowBatch]:
    """The worker's text back as batches: ``parts`` = (rows, characters) of each rendered batch, in order;
    ``binary``: the worker wrote UTF-8 bytes and ``parts`` counts bytes (the batches carry them as they are);
    ``skip``: bytes at the start of a binary file that are not wanted."""
    with open(tmp, "rb") if binary else open(tmp, encoding="utf-8", errors="surrogatepass", newline="") as fh:
        if skip:
            fh.seek(skip)
        for rows, chars in parts:
            cols = TextColumns({column: [None] * rows})
            cols.text = (tz, fh.read(chars))
            yield RowBatch(table, cols)
