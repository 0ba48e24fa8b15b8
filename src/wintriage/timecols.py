"""Time columns as text in bulk: FILETIME ticks to ``yyyy-MM-dd HH:mm:ss.fffffff`` for whole arrays at once.

``ticks_matrix`` builds the text of every time as rows of an ASCII byte matrix (the civil date by integer
arithmetic, two bytes at a time from tables); ``fmt_many`` is ``timeutil.fmt`` for a list. CSV renderers of
millions of rows ($MFT, $J, EVTX) use them instead of a ``strftime`` per distinct second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, timezone

import numpy as np

from .timeutil import FMT_MAX, fmt, tz_offset_ticks


def fmt_many(ticks: Sequence[int | None], tz: timezone = UTC, digits: int = 7) -> list[str]:
    """``[fmt(t, tz, digits) for t in ticks]`` for a whole CSV column: the text of every time built at once as a
    byte matrix (``ticks_matrix``); only ``None`` and out-of-range values go through ``fmt``."""
    n = len(ticks)
    if not n:
        return []
    off = tz_offset_ticks(tz)
    nones: list[int] = []
    try:
        a = np.array(ticks, dtype=np.int64)
    except OverflowError:  # a value past 64 bits (corrupt evidence): one by one
        return [fmt(t, tz, digits) for t in ticks]
    except TypeError:  # None among them
        nones = [i for i, t in enumerate(ticks) if t is None]
        try:
            a = np.fromiter((0 if t is None else t for t in ticks), np.int64, n)
        except OverflowError:
            return [fmt(t, tz, digits) for t in ticks]
    odd = (a < -off) | (a > FMT_MAX - off)  # fmt() shows these raw; checked before the shift can overflow
    mat = ticks_matrix(np.where(odd, 0, a + off))
    w = 19 if digits <= 0 else 20 + min(digits, 7)
    cells = np.zeros((n, w + 1), dtype=np.uint8)  # the last column: a separator to split on
    cells[:, :w] = mat[:, :w]
    out = cells.tobytes()[:-1].decode("ascii").split("\x00")
    for i in np.flatnonzero(odd).tolist() + nones:
        out[i] = fmt(ticks[i], tz, digits)
    return out


# --- times as byte matrices -----------------------------------------------------------------------------------
def _pairs(first: Callable[[int], int], second: Callable[[int], int]) -> np.ndarray:
    """100 two-byte cells (as little-endian uint16) for the values 0..99."""
    return np.array([first(i) | second(i) << 8 for i in range(100)], dtype="<u2")


# the text of a time, two bytes at a time: "yy" "yy" "-M" "M-" "dd" " H" "H:" "mm" ":s" "s." "ff" "ff" "ff" "f"
_T2 = _pairs(lambda i: 48 + i // 10, lambda i: 48 + i % 10)
_T2_DASH_T = _pairs(lambda i: 45, lambda i: 48 + i // 10)
_T2_O_DASH = _pairs(lambda i: 48 + i % 10, lambda i: 45)
_T2_SP_T = _pairs(lambda i: 32, lambda i: 48 + i // 10)
_T2_O_COLON = _pairs(lambda i: 48 + i % 10, lambda i: 58)
_T2_COLON_T = _pairs(lambda i: 58, lambda i: 48 + i // 10)
_T2_O_DOT = _pairs(lambda i: 48 + i % 10, lambda i: 46)
_T2_O_NUL = _pairs(lambda i: 48 + i % 10, lambda i: 0)


def ticks_matrix(t: np.ndarray) -> np.ndarray:
    """``yyyy-MM-dd HH:mm:ss.fffffff`` of FILETIME ticks already in the display zone, all in 0..FMT_MAX, as an
    n x 27 byte matrix: the civil date by integer arithmetic (days to y/m/d as in ``datetime``)."""
    n = t.size
    days, rem = np.divmod(t, 864_000_000_000)
    secs, frac = np.divmod(rem, 10_000_000)
    z = days + 584694  # days since 0000-03-01 (proleptic Gregorian)
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp_ = (5 * doy + 2) // 153
    d = doy - (153 * mp_ + 2) // 5 + 1
    m = np.where(mp_ < 10, mp_ + 3, mp_ - 9)
    y = yoe + era * 400 + (m <= 2)
    o = np.empty((n, 14), dtype="<u2")  # two bytes at a time: 28 bytes a row, the last one spare
    o[:, 0] = _T2[y // 100]
    o[:, 1] = _T2[y % 100]
    o[:, 2] = _T2_DASH_T[m]
    o[:, 3] = _T2_O_DASH[m]
    o[:, 4] = _T2[d]
    h = secs // 3600
    o[:, 5] = _T2_SP_T[h]
    o[:, 6] = _T2_O_COLON[h]
    o[:, 7] = _T2[(secs // 60) % 60]
    sec = secs % 60
    o[:, 8] = _T2_COLON_T[sec]
    o[:, 9] = _T2_O_DOT[sec]
    f = frac.astype(np.int32)
    o[:, 10] = _T2[f // 100000]
    o[:, 11] = _T2[(f // 1000) % 100]
    o[:, 12] = _T2[(f // 10) % 100]
    o[:, 13] = _T2_O_NUL[f % 10]
    out = o.view(np.uint8)[:, :27]
    return out


