"""RECmd batch files (``.reb``, YAML): load, validate, and run over an open hive.

Semantics follow RECmd's batch mode (EricZimmerman/RECmd, MIT):
- a key applies to hives whose type equals its ``HiveType`` (case-insensitive: ``NTUSER``, ``NtUser``...);
- ``KeyPath`` is relative to the root; ``*`` alone means the root; ``*``/``?`` inside segments are wildcards;
- ``ValueName`` (case-insensitive) restricts the output to that value; ``Recursive`` descends into sub keys;
- binary values print ``(Binary data)`` unless ``IncludeBinary``; ``BinaryConvert`` (FILETIME, EPOCH, IP,
  SID, SYSTEMTIME) converts them; FILETIME/EPOCH also apply to DWORD/QWORD data;
- where RECmd would call one of its plugins for the key (and ``DisablePlugin`` is not set), our plugin of
  the same artefact fills ``ValueData``/``ValueData2``/``ValueData3`` with ``ValueType`` ``(plugin)``;
- deleted keys recovered from free cells take part like live ones, with ``Deleted`` = True.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ... import yamlsafe
from ...timeutil import EPOCH_AS_FILETIME, TICKS_PER_SECOND, fmt
from .hive import (
    MAX_DEPTH,
    Hive,
    iter_subkeys,
    iter_values,
    key_name,
    key_time,
    sid_text,
    type_name,
    value_text,
)
from .recover import DeletedKey, Recovered

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "batches"
DEFAULT_BATCH = DATA_DIR / "wintriage_default.reb"

# RECmd's HiveType enum: name as printed in the CSV, keyed by the lower-cased name or description
_HIVE_ENUM = [
    ("Other", "Other"), ("NtUser", "NTUSER"), ("Sam", "SAM"), ("Security", "SECURITY"), ("Software", "SOFTWARE"),
    ("System", "SYSTEM"), ("UsrClass", "USRCLASS"), ("Components", "COMPONENTS"), ("Drivers", "DRIVERS"),
    ("Amcache", "AMCACHE"), ("Syscache", "SYSCACHE"), ("Bcd", "BCD"), ("BcdTemplate", "BCD-Template"),
    ("Elam", "ELAM"), ("userdiff", "userdiff"), ("Bbi", "BBI"), ("Vsmidk", "VSMIDK"), ("Default", "DEFAULT"),
    ("User", "User"), ("UserClasses", "UserClasses"), ("settings", "settings"),
]  # fmt: skip
_HIVE_LOOKUP = {k.lower(): name for name, desc in _HIVE_ENUM for k in (name, desc)}
# our detected hive types -> RECmd enum names
OUR_TO_RECMD = {"NTUSER": "NtUser", "SAM": "Sam", "SECURITY": "Security", "SOFTWARE": "Software",
                "SYSTEM": "System", "USRCLASS": "UsrClass", "AMCACHE": "Amcache", "BCD": "Bcd",
                "DEFAULT": "Default"}  # fmt: skip
CONVERSIONS = ("NONE", "FILETIME", "IP", "EPOCH", "SID", "SYSTEMTIME")

# Where RECmd activates one of its plugins: (RECmd plugin, key path as RECmd's plugin declares it, value name,
# our plugin NAME candidates). Paths with '*' match the end of the key path as a regex, like RECmd does.
RECMD_PLUGINS: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    ("UserAssist", r"Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist\*\Count", None, ("userassist",)),
    ("AppCompatCache", r"ControlSet00*\Control\Session Manager\AppCompatCache", "AppCompatCache",
     ("shimcache", "appcompatcache")),
    ("Bam", r"ControlSet*\Services\bam\UserSettings\*", None, ("bam",)),
    ("Bam", r"ControlSet*\Services\bam\State\UserSettings\*", None, ("bam",)),
    ("Bam", r"ControlSet*\Services\dam\UserSettings\*", None, ("bam",)),
    ("Bam", r"ControlSet*\Services\dam\State\UserSettings\*", None, ("bam",)),
    ("RecentDocs", r"Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs", None, ("recentdocs", "mru")),
    ("RunMRU", r"Software\Microsoft\Windows\CurrentVersion\Explorer\RunMRU", None, ("runmru", "mru")),
    ("TypedURLs", r"Software\Microsoft\Internet Explorer\TypedURLs", None, ("typedurls", "mru")),
    ("TypedPaths", r"Software\Microsoft\Windows\CurrentVersion\Explorer\TypedPaths", None, ("typedpaths", "mru")),
    ("WordWheelQuery", r"Software\Microsoft\Windows\CurrentVersion\Explorer\WordWheelQuery", None,
     ("wordwheelquery", "mru")),
    ("OpenSavePidlMRU", r"Software\Microsoft\Windows\CurrentVersion\Explorer\ComDlg32\OpenSavePidlMRU", None,
     ("opensavemru", "mru")),
    ("OpenSaveMRU", r"Software\Microsoft\Windows\CurrentVersion\Explorer\ComDlg32\OpenSaveMRU", None,
     ("opensavemru", "mru")),
    ("LastVisitedPidlMRU", r"Software\Microsoft\Windows\CurrentVersion\Explorer\ComDlg32\LastVisitedPidlMRU", None,
     ("lastvisitedmru", "opensavemru", "mru")),
    ("LastVisitedMRU", r"Software\Microsoft\Windows\CurrentVersion\Explorer\ComDlg32\LastVisitedMRU", None,
     ("lastvisitedmru", "opensavemru", "mru")),
    ("ShellBags", r"Local Settings\Software\Microsoft\Windows\Shell\BagMRU", None, ("shellbags",)),
    ("ShellBags", r"Software\Microsoft\Windows\Shell\BagMRU", None, ("shellbags",)),
    ("USBSTOR", r"ControlSet*\Enum\USBSTOR", None, ("usbstor", "usb")),
    ("USB", r"ControlSet*\Enum\USB", None, ("usb",)),
    ("MountedDevices", r"MountedDevices", None, ("mounteddevices", "usb")),
    ("SAM", r"SAM\Domains\Account\Users", None, ("samusers", "sam")),
    ("ProfileList", r"Microsoft\Windows NT\CurrentVersion\ProfileList", None, ("profilelist",)),
    ("Services", r"ControlSet00*\Services", None, ("services",)),
    ("TimeZoneInformation", r"ControlSet00*\Control\TimeZoneInformation", None, ("timezone", "systeminfo")),
    ("KnownNetworks", r"Microsoft\Windows NT\CurrentVersion\NetworkList", None, ("networkprofiles", "networklist")),
]  # fmt: skip


_CACHE: dict[tuple[str, int, int], Batch] = {}


def load_batch_cached(path: Path | str) -> Batch:
    """``load_batch`` once per file version (path, size, mtime) per process."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    b = _CACHE.get(key)
    if b is None:
        b = _CACHE[key] = load_batch(p)
    return b


class BatchError(ValueError):
    """A batch file that cannot be used (YAML syntax or schema), with the file and the reason."""


@dataclass(frozen=True)
class BatchKey:
    description: str
    hive_type: str  # RECmd enum name, e.g. "NtUser"
    category: str
    key_path: str
    value_name: str = ""
    recursive: bool = False
    include_binary: bool = False
    binary_convert: str = "NONE"
    disable_plugin: bool = False
    comment: str = ""


@dataclass(frozen=True)
class Batch:
    path: str
    description: str
    author: str
    version: str
    id: str
    keys: list[BatchKey] = field(default_factory=list)


def _bool(v: Any, where: str) -> bool:
    if isinstance(v, bool):
        return v
    if v is None:
        return False
    s = str(v).strip().lower()
    if s in ("true", "yes", "1"):
        return True
    if s in ("false", "no", "0", ""):
        return False
    raise BatchError(f"{where}: {v!r} is not a boolean")


def load_batch(path: Path | str) -> Batch:
    """Load and validate a ``.reb`` file (RECmd's schema: Description, Author, Version, Id, Keys[...])."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"{path}: cannot read: {e}") from None
    try:
        doc = yamlsafe.load(text)
    except yaml.YAMLError as e:
        raise BatchError(f"{path}: YAML syntax error: {e}") from None
    if not isinstance(doc, dict):
        raise BatchError(f"{path}: top level must be a mapping with Description, Author, Version, Id and Keys")
    for req in ("Description", "Author", "Version", "Id", "Keys"):
        if doc.get(req) is None:
            raise BatchError(f"{path}: missing required field {req!r}")
    raw_keys = doc["Keys"]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise BatchError(f"{path}: 'Keys' must be a non-empty list")
    keys = []
    for i, k in enumerate(raw_keys):
        where = f"{path.name}: Keys[{i}]"
        if not isinstance(k, dict):
            raise BatchError(f"{where}: must be a mapping")
        for req in ("Description", "HiveType", "Category", "KeyPath"):
            if k.get(req) is None:
                raise BatchError(f"{where}: missing required field {req!r}")
        ht = _HIVE_LOOKUP.get(str(k["HiveType"]).strip().lower())
        if ht is None:
            raise BatchError(f"{where}: unknown HiveType {k['HiveType']!r}")
        conv = str(k.get("BinaryConvert") or "NONE").strip().upper()
        if conv not in CONVERSIONS:
            raise BatchError(f"{where}: unknown BinaryConvert {k.get('BinaryConvert')!r} (known: {', '.join(CONVERSIONS)})")
        vn = k.get("ValueName")
        keys.append(
            BatchKey(
                description=str(k["Description"]),
                hive_type=ht,
                category=str(k["Category"]),
                key_path=str(k["KeyPath"]).strip(),
                value_name="" if vn is None else str(vn),
                recursive=_bool(k.get("Recursive"), f"{where}.Recursive"),
                include_binary=_bool(k.get("IncludeBinary"), f"{where}.IncludeBinary"),
                binary_convert=conv,
                disable_plugin=_bool(k.get("DisablePlugin"), f"{where}.DisablePlugin"),
                comment="" if k.get("Comment") is None else str(k["Comment"]),
            )
        )
    return Batch(str(path), str(doc["Description"]), str(doc["Author"]), str(doc["Version"]), str(doc["Id"]), keys)


# --- a key view over live (libregf) and deleted (recovered) keys ---------------------------------
class BKey:
    """A key as the batch sees it: live keys (libregf) with recovered deleted children, or deleted keys."""

    __slots__ = ("path", "name", "_live", "_deleted", "_tree", "_values", "_subkeys")

    def __init__(self, path: str, name: str, live: Any, deleted: DeletedKey | None, tree: _Tree) -> None:
        self.path = path
        self.name = name
        self._live = live
        self._deleted = deleted
        self._tree = tree
        self._values: list[tuple[str, int, bytes]] | None = None
        self._subkeys: list[BKey] | None = None

    @property
    def offset(self) -> int | None:
        if self._deleted is not None:
            return self._deleted.offset
        try:
            return int(self._live.offset)
        except (OSError, ValueError, TypeError):
            return None

    @property
    def is_deleted(self) -> bool:
        return self._deleted is not None

    @property
    def last_written(self) -> int | None:
        return self._deleted.last_written if self._deleted is not None else key_time(self._live)

    def values(self) -> list[tuple[str, int, bytes]]:
        if self._values is None:
            if self._deleted is not None:
                self._values = [(v.name, v.vtype, v.data) for v in self._deleted.values]
            else:
                self._values = list(iter_values(self._live, self._tree.ctx))
        return self._values

    def has_value(self, name: str) -> bool:
        """Whether a value of this name exists (case-insensitive), without reading any data."""
        if self._values is None and self._deleted is None:
            try:
                return self._live.get_value_by_name(name) is not None
            except (OSError, ValueError, TypeError):
                pass
        return any(n.lower() == name.lower() for n, _t, _d in self.values())

    def value(self, name: str) -> tuple[str, int, bytes] | None:
        """One value by name (case-insensitive): (name, type, data)."""
        if self._values is None and self._deleted is None:
            try:
                v = self._live.get_value_by_name(name)
                if v is None:
                    return None
                return (v.name or "", int(v.type), bytes(v.data or b""))
            except (OSError, ValueError, TypeError):
                pass  # fall back to the full list (which warns about the unreadable value)
        return next((x for x in self.values() if x[0].lower() == name.lower()), None)

    def subkeys(self) -> list[BKey]:
        if self._subkeys is None:
            self._subkeys = self._list_subkeys()
        return self._subkeys

    def _list_subkeys(self) -> list[BKey]:
        out = []
        if self._live is not None:
            for sk in iter_subkeys(self._live, self._tree.ctx):
                n = key_name(sk)
                out.append(BKey(_join(self.path, n), n, sk, None, self._tree))
        for dk in self._tree.deleted_children.get(self.path.lower(), ()):
            out.append(BKey(_join(self.path, dk.name), dk.name, None, dk, self._tree))
        return out

    def child(self, name: str) -> BKey | None:
        if self._live is not None:
            try:
                sk = self._live.get_sub_key_by_name(name)
            except (OSError, ValueError, TypeError):
                sk = None
            if sk is not None:
                n = key_name(sk)
                return BKey(_join(self.path, n), n, sk, None, self._tree)
        for dk in self._tree.deleted_children.get(self.path.lower(), ()):
            if dk.name.lower() == name.lower():
                return BKey(_join(self.path, dk.name), dk.name, None, dk, self._tree)
        return None


def _join(p: str, n: str) -> str:
    return f"{p}\\{n}" if p else n


class _Tree:
    def __init__(self, hive: Hive, deleted: Recovered | None, ctx: Any) -> None:
        self.hive = hive
        self.ctx = ctx
        self.deleted_children: dict[str, list[DeletedKey]] = {}
        if deleted is not None:
            for dk in deleted.keys:
                if dk.path:
                    parent = dk.path.rsplit("\\", 1)[0] if "\\" in dk.path else ""
                    self.deleted_children.setdefault(parent.lower(), []).append(dk)
        self.root = BKey("", hive.root_name, hive.root, None, self)
        self._expanded: dict[str, list[BKey]] = {}

    def _segments(self, path: str) -> list[str]:
        """Path segments below the root; a leading ``ROOT`` or root-key name is accepted, as RECmd does."""
        segs = [s for s in path.strip("\\").split("\\") if s]
        if segs and segs[0].lower() in ("root", self.root.name.lower()) and self.root.child(segs[0]) is None:
            segs = segs[1:]
        return segs

    def get(self, path: str) -> BKey | None:
        k: BKey | None = self.root
        for seg in self._segments(path):
            assert k is not None
            k = k.child(seg)
            if k is None:
                return None
        return k

    def expand(self, pattern: str) -> list[BKey]:
        key = pattern.strip("\\").lower()
        hit = self._expanded.get(key)
        if hit is None:
            hit = self._expanded[key] = self._expand(pattern)
        return hit

    def _expand(self, pattern: str) -> list[BKey]:
        found = [self.root]
        for seg in self._segments(pattern):
            nxt: list[BKey] = []
            if "*" in seg or "?" in seg:
                rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in seg),
                                re.IGNORECASE | re.DOTALL)
                for k in found:
                    nxt += [sk for sk in k.subkeys() if rx.fullmatch(sk.name)]
            else:
                for k in found:
                    c = k.child(seg)
                    if c is not None:
                        nxt.append(c)
            found = nxt
            if not found:
                break
        return found


# --- conversions ---------------------------------------------------------------------------------
def _ft_text(ticks: int) -> str:
    if ticks <= 0 or ticks > 0x7FFFFFFFFFFFFFFF:
        raise ValueError(f"FILETIME {ticks} out of range")
    return fmt(ticks)


def convert(conv: str, vtype: int, data: bytes) -> str:
    """Apply a BinaryConvert; raises ValueError when the data does not convert."""
    if conv == "FILETIME":
        if len(data) < 8:
            raise ValueError(f"FILETIME needs 8 bytes, value has {len(data)}")
        return _ft_text(struct.unpack_from("<Q", data)[0])
    if conv == "EPOCH":
        if len(data) < 4:
            raise ValueError(f"EPOCH needs 4 bytes, value has {len(data)}")
        return fmt(EPOCH_AS_FILETIME + struct.unpack_from("<I", data)[0] * TICKS_PER_SECOND)
    if conv == "IP":
        if len(data) < 4:
            raise ValueError(f"IP needs 4 bytes, value has {len(data)}")
        return str(ipaddress.IPv4Address(bytes(data[:4])))
    if conv == "SID":
        s = sid_text(data)
        if s is None:
            raise ValueError("not a binary SID")
        return s
    if conv == "SYSTEMTIME":
        if len(data) < 16:
            raise ValueError(f"SYSTEMTIME needs 16 bytes, value has {len(data)}")
        y, mo, _dow, d, h, mi, s, ms = struct.unpack_from("<8H", data)
        return datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "0"
    return value_text(vtype, data)


def convert_ticks(conv: str, data: bytes) -> int | None:
    """The FILETIME ticks behind a FILETIME/EPOCH/SYSTEMTIME conversion (for the timeline), else None."""
    try:
        if conv == "FILETIME" and len(data) >= 8:
            t = struct.unpack_from("<Q", data)[0]
            return t if 0 < t <= 0x7FFFFFFFFFFFFFFF else None
        if conv == "EPOCH" and len(data) >= 4:
            secs = struct.unpack_from("<I", data)[0]
            return EPOCH_AS_FILETIME + secs * TICKS_PER_SECOND if secs else None
        if conv == "SYSTEMTIME" and len(data) >= 16:
            y, mo, _dow, d, h, mi, s, ms = struct.unpack_from("<8H", data)
            dt = datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)
            return int((dt - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * TICKS_PER_SECOND + ms * 10000
    except (ValueError, OverflowError, struct.error):
        return None
    return None


# --- running -------------------------------------------------------------------------------------
PluginRows = Callable[[str, BKey, BatchKey], list[dict[str, Any]] | None]


def _plugin_for(path: str, bk: BatchKey) -> list[tuple[str, tuple[str, ...]]]:
    """RECmd plugins that would activate for this key path (see RECmd GetPluginsToActivate)."""
    out = []
    lp = path.lower()
    for name, ppath, pvalue, ours in RECMD_PLUGINS:
        if "*" in ppath:
            rx = re.escape(ppath).replace(r"\*", ".+?")
            if not re.search(rx + r"\Z", path, re.IGNORECASE):
                continue
            if pvalue is None or (bk.value_name and pvalue.lower() == bk.value_name.lower()):
                out.append((name, ours))
        elif ppath.lower() == lp:
            if pvalue is None or (bk.value_name and pvalue.lower() == bk.value_name.lower()):
                out.append((name, ours))
    return out


def run_batch(
    batch: Batch,
    hive: Hive,
    ctx: Any,
    *,
    deleted: Recovered | None = None,
    plugin_rows: PluginRows | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of RECmd's batch CSV for one hive (dicts keyed by our registry_batch column names)."""
    rtype = OUR_TO_RECMD.get(hive.hive_type, "Other")
    tree = _Tree(hive, deleted, ctx)
    seen_keys: set[str] = set()
    for bk in batch.keys:
        if bk.hive_type != rtype:
            continue
        if bk.key_path == "*":
            starts = [tree.root]
        elif "*" in bk.key_path or "?" in bk.key_path:
            starts = []
            for k in tree.expand(bk.key_path):
                if bk.value_name and not k.has_value(bk.value_name):
                    continue
                starts.append(k)
        else:
            k0 = tree.get(bk.key_path)
            starts = [k0] if k0 is not None else []
        for k in starts:
            for row in _process(k, bk, hive, ctx, plugin_rows):
                # one timeline event per key, however many batch rows show it
                kp = row["key_path"].lower()
                row["_key_event"] = kp not in seen_keys
                seen_keys.add(kp)
                yield row


def _process(key: BKey, bk: BatchKey, hive: Hive, ctx: Any, plugin_rows: PluginRows | None) -> Iterator[dict[str, Any]]:
    stack = [(key, 0)]
    seen: set[int] = set()
    while stack:
        k, depth = stack.pop()
        off = k.offset
        if off is not None:
            if off in seen:
                ctx.warn(off, f"key {_join('ROOT', k.path)[:200]!r} reached twice (cycle in the key tree); skipped",
                         skipped=False)
                continue
            seen.add(off)
        if depth > MAX_DEPTH:
            continue
        if not bk.value_name or k.has_value(bk.value_name):
            yield from _dump(k, bk, hive, ctx, plugin_rows)
        if bk.recursive:
            stack.extend((sk, depth + 1) for sk in reversed(k.subkeys()))


def _base_row(k: BKey, bk: BatchKey, hive: Hive) -> dict[str, Any]:
    return {
        "hive_path": hive.label, "hive_type": bk.hive_type, "description": bk.description,
        "category": bk.category, "key_path": _join("ROOT", k.path), "value_name": "", "value_type": "",
        "value_data": "", "value_data2": "", "value_data3": "", "comment": bk.comment,
        "recursive": bk.recursive, "deleted": k.is_deleted, "last_write": k.last_written,
        "plugin_detail_file": "",
    }  # fmt: skip


def _dump(k: BKey, bk: BatchKey, hive: Hive, ctx: Any, plugin_rows: PluginRows | None) -> Iterator[dict[str, Any]]:
    if not bk.disable_plugin and plugin_rows is not None:
        plugs = _plugin_for(k.path, bk)
        produced = False
        for _recmd_name, ours in plugs:
            for our in ours:
                rows = plugin_rows(our, k, bk)
                if rows is None:
                    continue  # we have no such plugin: try the next candidate
                produced = True
                for r in rows:
                    row = _base_row(k, bk, hive)
                    row.update(r)
                    row["value_type"] = "(plugin)"
                    yield row
                break
        if produced:
            return
    if bk.value_name:
        v = k.value(bk.value_name)
        if v is not None:
            yield _value_row(k, bk, hive, ctx, *v)
        return
    vals = k.values()
    if not vals:
        yield _base_row(k, bk, hive)
    for n, t, d in vals:
        yield _value_row(k, bk, hive, ctx, n, t, d)


def _value_row(k: BKey, bk: BatchKey, hive: Hive, ctx: Any, name: str, vtype: int, data: bytes) -> dict[str, Any]:
    row = _base_row(k, bk, hive)
    row["value_name"] = name
    row["value_type"] = type_name(vtype)
    conv = bk.binary_convert
    if vtype == 3:
        text = "(Binary data)"
        if bk.include_binary:
            try:
                text = convert(conv, vtype, data) if conv != "NONE" else value_text(vtype, data)
                row["_value_ts"] = convert_ticks(conv, data)
            except (ValueError, struct.error, OverflowError) as e:
                ctx.warn(None, f"{_join('ROOT', k.path)}\\{name}: {conv} conversion failed ({e}); bytes kept",
                         skipped=False)
                text = value_text(vtype, data)
        row["value_data"] = text
    else:
        text = value_text(vtype, data)
        if conv in ("EPOCH", "FILETIME"):
            try:
                text = convert(conv, vtype, data)
                row["_value_ts"] = convert_ticks(conv, data)
            except (ValueError, struct.error, OverflowError) as e:
                ctx.warn(None, f"{_join('ROOT', k.path)}\\{name}: {conv} conversion failed ({e}); value kept",
                         skipped=False)
        row["value_data"] = text
    return row


def batch_rows_from_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Generic (plugin) rows for plugins without ``batch_row``: a name, a summary and a time."""
    out = []
    for d in records:
        name = next((str(d[k]) for k in ("value_name", "name", "path", "program", "entry", "device", "serial")
                     if d.get(k) not in (None, "")), "")
        skip = {"key_path", "hive_path", "hive_type", "user", "sid", "value_name", "name"}
        parts = [f"{k}: {v}" for k, v in d.items() if k not in skip and v not in (None, "", b"")
                 and not isinstance(v, bytes)][:4]
        times = [v for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool)
                 and ("time" in k or k.endswith("_ts") or "last" in k) and 119600064000000000 <= v <= 157766400000000000]
        out.append({"value_name": name, "value_data": " | ".join(parts), "value_data2": fmt(times[0]) if times else "",
                    "value_data3": fmt(times[1]) if len(times) > 1 else ""})
    return out
