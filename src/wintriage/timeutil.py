"""Time conversions. Internally every timestamp is FILETIME ticks (100 ns since 1601-01-01 UTC).

- ``from_*`` turn source encodings into ticks (``None`` for 0/invalid values).
- ``fmt`` renders ticks as ``yyyy-MM-dd HH:mm:ss.fffffff`` (EZ tools' format) in any fixed offset.
- ``parse_tz`` reads ``+09:00``, ``UTC+9``, ``-0530``, ``UTC``/``Z``, ``KST``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

EPOCH_AS_FILETIME = 116444736000000000  # 1970-01-01 in FILETIME ticks
TICKS_PER_SECOND = 10_000_000
_FILETIME_MAX = 0x7FFFFFFFFFFFFFFF
_WIN_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# sanity window for "a real timestamp": 1980-01-01 .. 2100-01-01
MIN_SANE = 119600064000000000
MAX_SANE = 157766400000000000


def from_filetime(ft: int) -> int | None:
    """A FILETIME as stored on disk; 0 and out-of-range values mean 'not set'."""
    if ft <= 0 or ft > _FILETIME_MAX:
        return None
    return ft


def from_unix(seconds: float) -> int | None:
    if seconds <= 0:
        return None
    return EPOCH_AS_FILETIME + int(round(seconds * TICKS_PER_SECOND))


def from_unix_us(us: int) -> int | None:
    """Microseconds since 1970 (Firefox PRTime)."""
    if us <= 0:
        return None
    return EPOCH_AS_FILETIME + us * 10


def from_webkit(us: int) -> int | None:
    """Microseconds since 1601 (Chrome/WebKit)."""
    if us <= 0:
        return None
    return us * 10


def from_datetime(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: only aware UTC datetimes are allowed")
    delta = dt - _WIN_EPOCH
    return (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def from_iso(text: str) -> int:
    """ISO 8601 (``Z`` or offset; up to 7 fractional digits) to ticks."""
    m = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?\s*(Z|[+-]\d\d:?\d\d)?", text.strip()
    )
    if not m:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    ticks = from_datetime(dt) + (int((frac or "0").ljust(7, "0")) if frac else 0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ticks -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * TICKS_PER_SECOND
    return ticks


def to_datetime(ticks: int, tz: timezone = UTC) -> datetime:
    """Aware datetime (microsecond precision; the 7th digit is dropped)."""
    return (_WIN_EPOCH + timedelta(microseconds=ticks // 10)).astimezone(tz)


def to_unix(ticks: int) -> float:
    return (ticks - EPOCH_AS_FILETIME) / TICKS_PER_SECOND


def parse_tz(text: str | None) -> timezone:
    """``+09:00``, ``+9``, ``UTC+9``, ``-05:30``, ``UTC``, ``Z``, ``KST`` -> fixed-offset timezone."""
    if text is None or text.strip().upper() in ("", "UTC", "Z", "GMT", "+00:00", "0"):
        return UTC
    t = text.strip().upper()
    named = {"KST": 9 * 60, "JST": 9 * 60, "CST": 8 * 60, "CET": 60, "EST": -5 * 60, "PST": -8 * 60}
    if t in named:
        return timezone(timedelta(minutes=named[t]))
    t = t.removeprefix("UTC").removeprefix("GMT")
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d\d))?", t)
    if not m:
        raise ValueError(f"unknown time zone {text!r}: use an offset such as +09:00")
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes > 14 * 60:
        raise ValueError(f"time zone offset out of range: {text!r}")
    return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))


def tz_offset_ticks(tz: timezone) -> int:
    off = tz.utcoffset(None)
    return int(off.total_seconds()) * TICKS_PER_SECOND if off is not None else 0


def tz_label(tz: timezone) -> str:
    """NLT-style label: ``UTC``, ``UTC+9``, ``UTC-5:30``."""
    secs = int(tz.utcoffset(None).total_seconds()) if tz.utcoffset(None) is not None else 0
    if secs == 0:
        return "UTC"
    sign = "+" if secs > 0 else "-"
    h, m = divmod(abs(secs) // 60, 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


# Rendering is the hot path of every CSV export: integer arithmetic plus a per-day cache.
FMT_MAX = 2650467743999999999  # 9999-12-31 23:59:59.9999999
_day_cache: dict[int, str] = {}


def fmt(ticks: int | None, tz: timezone = UTC, digits: int = 7, sep: str = " ") -> str:
    """``yyyy-MM-dd HH:mm:ss.fffffff`` in ``tz``; empty string for ``None``. ``digits`` 0..7."""
    if ticks is None:
        return ""
    ticks += tz_offset_ticks(tz) if tz is not UTC else 0
    if not 0 <= ticks <= FMT_MAX:  # past 9999-12-31 (corrupt evidence): show the raw value, never fail
        return str(ticks)
    days, rem = divmod(ticks, 864_000_000_000)
    date = _day_cache.get(days)
    if date is None:
        date = (_WIN_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")
        if len(_day_cache) < 200_000:
            _day_cache[days] = date
    secs, frac = divmod(rem, TICKS_PER_SECOND)
    h, r = divmod(secs, 3600)
    mi, s = divmod(r, 60)
    out = f"{date}{sep}{h:02d}:{mi:02d}:{s:02d}"
    if digits > 0:
        out += "." + f"{frac:07d}"[:digits]
    return out


def iso(ticks: int | None, tz: timezone = UTC, digits: int = 7) -> str:
    """ISO 8601 with ``T`` and the offset (``Z`` for UTC)."""
    if ticks is None:
        return ""
    base = fmt(ticks, tz, digits, sep="T")
    off = tz.utcoffset(None)
    secs = int(off.total_seconds()) if off is not None else 0
    if secs == 0:
        return base + "Z"
    sign = "+" if secs > 0 else "-"
    h, m = divmod(abs(secs) // 60, 60)
    return f"{base}{sign}{h:02d}:{m:02d}"
