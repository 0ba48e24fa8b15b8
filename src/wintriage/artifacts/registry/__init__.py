"""Registry hives: transaction-log replay, RECmd batch files, deleted cells and artefact plugins.

``parse(path, ctx)`` for one hive file:
1. detect the hive type from content, find ``.LOG1``/``.LOG2``/``.LOG`` next to it, replay them in memory
   when the hive is dirty (``replay.py``), repair a bad checksum, open it with libregf (``hive.py``);
   ``--replay-out DIR`` (``ctx.options["replay_out"]``) writes the clean hive;
2. walk every key (counts) and recover deleted keys/values from free cells (``recover.py``);
3. run every plugin whose ``HIVE_TYPES`` match (``plugins/``), each isolated;
4. run the batch (``--batch FILE.reb`` or our default, Kroll_Batch coverage) -> ``registry_batch``
   (RECmd's CSV), calling our plugins where RECmd would call its own;
5. one ``registry_hives`` row with what was found and replayed.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from ...model import Record, TimelineEvent
from ...timeutil import fmt
from ..base import CsvColumn, CsvShape, ParseContext, bool_str, col, tcol
from .batch import (
    DEFAULT_BATCH,
    Batch,
    BatchError,
    BatchKey,
    BKey,
    batch_rows_from_records,
    load_batch,
    load_batch_cached,
    run_batch,
)
from .hive import (
    LIBREGF_ERRORS,
    Hive,
    HiveInfo,
    iter_subkeys,
    iter_values,
    key_name,
    key_time,
    open_hive,
    scan_key_tree,
    type_name,
    utf16_text,
    value_text,
)
from .recover import Recovered, recover_deleted

NAME = "registry"
CATEGORY = "registry"

__all__ = ["NAME", "CATEGORY", "TABLES", "CSV", "parse", "timeline", "HiveInfo", "PLUGINS"]

TABLES: dict[str, list[tuple[str, str]]] = {
    "registry_batch": [
        ("hive_path", "TEXT"), ("hive_type", "TEXT"), ("description", "TEXT"), ("category", "TEXT"),
        ("key_path", "TEXT"), ("value_name", "TEXT"), ("value_type", "TEXT"), ("value_data", "TEXT"),
        ("value_data2", "TEXT"), ("value_data3", "TEXT"), ("comment", "TEXT"), ("recursive", "INTEGER"),
        ("deleted", "INTEGER"), ("last_write", "INTEGER"), ("plugin_detail_file", "TEXT"),
    ],
    "registry_hives": [
        ("path", "TEXT"), ("hive_type", "TEXT"), ("user", "TEXT"), ("sid", "TEXT"), ("root_name", "TEXT"),
        ("file_name", "TEXT"), ("version", "TEXT"), ("last_written", "INTEGER"), ("primary_seq", "INTEGER"),
        ("secondary_seq", "INTEGER"), ("checksum_ok", "INTEGER"), ("dirty", "INTEGER"), ("replayed", "INTEGER"),
        ("replay_format", "TEXT"), ("logs_applied", "TEXT"), ("log_entries", "INTEGER"), ("pages", "INTEGER"),
        ("final_seq", "INTEGER"), ("replay_notes", "TEXT"), ("keys", "INTEGER"), ("values", "INTEGER"),
        ("deleted_keys", "INTEGER"), ("deleted_values", "INTEGER"), ("batch", "TEXT"), ("batch_rows", "INTEGER"),
        ("plugin_records", "INTEGER"), ("replay_out", "TEXT"),
    ],
    "registry_keys": [  # only with `parse registry --all` (ctx.options["all"]): every key and value
        ("hive_path", "TEXT"), ("hive_type", "TEXT"), ("key_path", "TEXT"), ("last_write", "INTEGER"),
        ("class_name", "TEXT"), ("owner_sid", "TEXT"), ("value_name", "TEXT"), ("value_type", "TEXT"),
        ("value_data", "TEXT"), ("data_size", "INTEGER"),
    ],
    "registry_deleted": [
        ("hive_path", "TEXT"), ("hive_type", "TEXT"), ("kind", "TEXT"), ("key_path", "TEXT"),
        ("value_name", "TEXT"), ("value_type", "TEXT"), ("value_data", "TEXT"), ("data_recovered", "INTEGER"),
        ("last_write", "INTEGER"), ("offset", "INTEGER"), ("user", "TEXT"),
    ],
}  # fmt: skip

def _bool_col(header: str, key: str) -> CsvColumn:
    """RECmd writes .NET booleans: True/False."""
    return CsvColumn(header, lambda d, _tz: bool_str(d.get(key)))


CSV: dict[str, CsvShape] = {
    "registry_batch": CsvShape(
        "RECmd_Batch_Output.csv",
        [
            col("HivePath", "hive_path"), col("HiveType", "hive_type"), col("Description", "description"),
            col("Category", "category"), col("KeyPath", "key_path"), col("ValueName", "value_name"),
            col("ValueType", "value_type"), col("ValueData", "value_data"), col("ValueData2", "value_data2"),
            col("ValueData3", "value_data3"), col("Comment", "comment"),
            _bool_col("Recursive", "recursive"), _bool_col("Deleted", "deleted"),
            tcol("LastWriteTimestamp", "last_write"), col("PluginDetailFile", "plugin_detail_file"),
        ],
    ),
}  # fmt: skip

# --- plugins (written separately; discovered through registry/plugins/__init__.py) -----------------
PLUGINS: list[ModuleType] = []
PLUGIN_LOAD_ERRORS: list[str] = []
_TABLE_PLUGIN: dict[str, ModuleType] = {}


def _load_plugins() -> None:
    try:
        from . import plugins as _pk
    except ImportError as e:
        if "plugins" not in str(e):
            PLUGIN_LOAD_ERRORS.append(f"registry plugins unavailable: {e}")
        return
    except Exception as e:  # noqa: BLE001 - a broken plugin package must not take the hive parser down
        PLUGIN_LOAD_ERRORS.append(f"registry plugins failed to load: {type(e).__name__}: {e}")
        return
    for m in getattr(_pk, "PLUGINS", []) or []:
        tables = getattr(m, "TABLES", None)
        if not isinstance(tables, dict) or not hasattr(m, "run"):
            PLUGIN_LOAD_ERRORS.append(f"registry plugin {getattr(m, '__name__', m)!r} lacks TABLES/run; skipped")
            continue
        PLUGINS.append(m)
        for t, cols in tables.items():
            if t in TABLES and t not in _TABLE_PLUGIN:
                PLUGIN_LOAD_ERRORS.append(f"registry plugin {m.__name__}: table {t!r} already defined; skipped")
                continue
            TABLES[t] = cols
            _TABLE_PLUGIN[t] = m
        for t, shape in (getattr(m, "CSV", None) or {}).items():
            CSV[t] = shape


_load_plugins()


# --- helpers ------------------------------------------------------------------------------------
def _profile_sids(hive: Hive) -> dict[str, str]:
    """SOFTWARE ProfileList: profile folder name (lower case) -> SID."""
    out: dict[str, str] = {}
    pl = hive.get_key(r"Microsoft\Windows NT\CurrentVersion\ProfileList")
    if pl is None:
        return out
    for sk in iter_subkeys(pl):
        sid = key_name(sk)
        for n, t, d in iter_values(sk):
            if n.lower() == "profileimagepath" and t in (1, 2):
                prof = utf16_text(d).replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1]
                if prof:
                    out.setdefault(prof.lower(), sid)
    return out


def _ci_child(d: Path, name: str) -> Path | None:
    try:
        for c in d.iterdir():
            if c.name.lower() == name.lower():
                return c
    except OSError:
        return None
    return None


def _nearby_profile_sids(path: Path) -> dict[str, str]:
    """ProfileList of the SOFTWARE hive next to a user hive (a REGA folder) or at ``Windows/System32/config``
    of the same volume tree, so user hives get their SID whatever order the files come in."""
    cands = [path.parent]
    cands += list(path.parents)[1:6]
    for i, d in enumerate(cands):
        found: Path | None = _ci_child(d, "SOFTWARE") if i == 0 else d
        if i > 0:
            for seg in ("Windows", "System32", "config", "SOFTWARE"):
                found = _ci_child(found, seg) if found is not None else None
        if found is not None and found.is_file():
            h = open_hive(found, ParseContext(NAME, str(found)))
            if h is not None:
                try:
                    if h.hive_type == "SOFTWARE":
                        return _profile_sids(h)
                finally:
                    h.close()
    return {}


def _safe_name(label: str) -> str:
    base = label.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "hive"
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(". ") or "hive"
    return base[:120]


def _write_replayed(hive: Hive, ctx: ParseContext) -> str:
    out = ctx.options.get("replay_out")
    if not out:
        return ""
    d = Path(out)
    try:
        d.mkdir(parents=True, exist_ok=True)
        name = _safe_name(hive.label)
        target = d / name
        n = 1
        while target.exists():
            n += 1
            target = d / f"{name}.{n}"
        target.write_bytes(bytes(hive.data))
    except OSError as e:
        ctx.warn(None, f"cannot write the replayed hive to {out}: {e}", skipped=False)
        return ""
    return str(target)


def warm(options: dict[str, Any]) -> None:
    """Load the batch file before parallel lanes fork (each would load it; a load error is reported by parse)."""
    try:
        load_batch_cached(Path(options.get("batch") or DEFAULT_BATCH))
    except (BatchError, OSError):
        pass


def _batch(ctx: ParseContext) -> Batch | None:
    wanted = ctx.options.get("batch") or DEFAULT_BATCH
    cache = ctx.resources.setdefault("registry_batches", {})
    key = str(wanted)
    if key not in cache:
        try:
            cache[key] = load_batch_cached(Path(wanted))
        except (BatchError, OSError) as e:
            cache[key] = None
            ctx.warn(None, f"batch file not usable: {e}", skipped=False)
    if cache[key] is None:
        ctx.warn(None, f"no batch output: {wanted} could not be loaded", skipped=False)
    return cache[key]


def _norm_keypath(p: str, root_name: str) -> str:
    p = p.replace("/", "\\").strip("\\")
    first, _, rest = p.partition("\\")
    if first.lower() in ("root", root_name.lower()):
        return rest
    return p


def _run_plugins(hive: Hive, ctx: ParseContext) -> dict[str, list[Record]]:
    """Run each matching plugin, isolated: {plugin NAME: records}."""
    out: dict[str, list[Record]] = {}
    if not hive.hive_type:
        return out
    for m in PLUGINS:
        types = {str(t).upper() for t in getattr(m, "HIVE_TYPES", ())}
        if hive.hive_type not in types:
            continue
        name = str(getattr(m, "NAME", m.__name__))
        recs: list[Record] = []
        try:
            for r in m.run(hive.root, hive.info, ctx):
                recs.append(r)
        except Exception as e:  # noqa: BLE001 - per-plugin isolation boundary: recorded as a warning
            ctx.warn(None, f"plugin {name} stopped after {len(recs)} records: {type(e).__name__}: {e}")
        out[name] = recs
    return out


class _PluginBatch:
    """Feeds run_batch's '(plugin)' rows from the records our plugins produced for this hive."""

    def __init__(self, hive: Hive, results: dict[str, list[Record]]) -> None:
        self.hive = hive
        self.results = results
        self.by_name = {str(getattr(m, "NAME", "")).lower(): m for m in PLUGINS}
        self.seen: set[tuple[int, str, int]] = set()

    def __call__(self, our: str, key: BKey, bk: BatchKey) -> list[dict[str, Any]] | None:
        m = self.by_name.get(our.lower())
        if m is None or str(getattr(m, "NAME", "")) not in self.results:
            return None
        recs = self.results[str(m.NAME)]
        kp = key.path.lower()
        picked = []
        for r in recs:
            rk = r.data.get("key_path")
            if isinstance(rk, str) and rk:
                p = _norm_keypath(rk, self.hive.root_name).lower()
                if not (p == kp or p.startswith(kp + "\\")):
                    continue
            tag = (id(bk), r.table, id(r))
            if tag in self.seen:
                continue
            self.seen.add(tag)
            picked.append(r)
        rows = []
        fn = getattr(m, "batch_row", None)
        generic = batch_rows_from_records([r.data for r in picked]) if fn is None else []
        for i, r in enumerate(picked):
            if fn is not None:
                try:
                    vn, d1, d2, d3 = fn(r)
                except (ValueError, TypeError, KeyError) as e:
                    vn, d1, d2, d3 = "", f"(batch_row failed: {e})", "", ""
                row = {"value_name": vn, "value_data": d1, "value_data2": d2, "value_data3": d3}
            else:
                row = dict(generic[i])
            shape = CSV.get(r.table)
            row["plugin_detail_file"] = shape.filename if shape else f"{r.table}.csv"
            rows.append(row)
        return rows


def _walk(hive: Hive, ctx: ParseContext) -> tuple[int, int, dict[int, str]]:
    """Keys, values and the path of every live key record (for deleted-cell recovery), read from the bins."""

    def warn(off: int | None, reason: str) -> None:
        ctx.warn(off, reason, skipped=False)

    return scan_key_tree(hive.data, hive.base.root_cell, warn)


def _all_keys(hive: Hive, ctx: ParseContext) -> Iterator[Record]:
    """Every key and value (``--all``), RECmd-style value text."""
    for p, k in hive.walk(ctx):
        try:
            cls = k.class_name or ""
        except LIBREGF_ERRORS:
            cls = ""
        base = {"hive_path": hive.label, "hive_type": hive.hive_type, "key_path": "ROOT\\" + p if p else "ROOT",
                "last_write": key_time(k), "class_name": cls, "owner_sid": hive.owner_sid(k)}
        any_value = False
        for n, t, d in iter_values(k, ctx):
            any_value = True
            text = value_text(t, d)
            if len(text) > 32000:  # Excel's cell limit is 32767 characters; data_size keeps the real size
                text = text[:32000] + f"...(truncated; {len(d)} bytes)"
            yield Record("registry_keys", {**base, "value_name": n, "value_type": type_name(t),
                                           "value_data": text, "data_size": len(d)})
        if not any_value:
            yield Record("registry_keys", {**base, "value_name": "", "value_type": "", "value_data": "",
                                           "data_size": None})


def _deleted_records(hive: Hive, rec: Recovered) -> Iterator[Record]:
    base = {"hive_path": hive.label, "hive_type": hive.hive_type, "user": hive.info.user}
    for k in rec.keys:
        kp = "ROOT\\" + k.path if k.path else f"(orphan)\\{k.name}"
        yield Record("registry_deleted", {**base, "kind": "key", "key_path": kp, "value_name": "", "value_type": "",
                                          "value_data": "", "data_recovered": None, "last_write": k.last_written,
                                          "offset": k.offset})
        for v in k.values:
            yield Record("registry_deleted", {**base, "kind": "value", "key_path": kp, "value_name": v.name,
                                              "value_type": type_name(v.vtype),
                                              "value_data": value_text(v.vtype, v.data)[:4096],
                                              "data_recovered": v.data_ok, "last_write": k.last_written,
                                              "offset": v.offset})
    for v in rec.values:
        yield Record("registry_deleted", {**base, "kind": "value", "key_path": "", "value_name": v.name,
                                          "value_type": type_name(v.vtype),
                                          "value_data": value_text(v.vtype, v.data)[:4096],
                                          "data_recovered": v.data_ok, "last_write": None, "offset": v.offset})


# --- the artefact --------------------------------------------------------------------------------
_HIVE_NAME = re.compile(
    r"(^|\.)(system|software|sam|security|default|bcd|components|drivers|elam)$|\.(dat|hve|hiv)$|^ntuser|^usrclass",
    re.IGNORECASE,
)


def parse(path: Path, ctx: ParseContext) -> Iterator[Record]:
    name = Path(path).name.lower()
    if re.search(r"\.(log|log1|log2)$", name):
        return  # transaction logs are read with their hive
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        ctx.warn(None, f"cannot read hive: {e}")
        return
    if head != b"regf" and not _HIVE_NAME.search(name):
        return  # not a hive and not named like one (e.g. other files in a folder given to `parse registry`)
    for msg in PLUGIN_LOAD_ERRORS:
        ctx.warn(None, msg, skipped=False)
    sids = ctx.resources.setdefault("registry_profile_sids", {})
    if not sids and re.search(r"ntuser|usrclass", name) and not ctx.resources.get("registry_software_looked_up"):
        ctx.resources["registry_software_looked_up"] = True
        sids.update(_nearby_profile_sids(Path(path)))
    hive = open_hive(Path(path), ctx, label=ctx.source, do_replay=not ctx.options.get("no_replay"),
                     sid_for_user=sids)
    if hive is None:
        return
    try:
        yield from _parse_hive(hive, ctx)
    finally:
        hive.close()


def _parse_hive(hive: Hive, ctx: ParseContext) -> Iterator[Record]:
    if not hive.hive_type:
        ctx.warn(None, f"hive type not recognised (root {hive.root_name!r}, base-block name "
                       f"{hive.base.file_name!r}); only the generic facts are reported", skipped=False)
    if hive.hive_type == "SOFTWARE":
        ctx.resources.setdefault("registry_profile_sids", {}).update(_profile_sids(hive))
    rep = hive.replay
    out_path = _write_replayed(hive, ctx) if (rep is not None and rep.replayed) or hive.checksum_fixed else ""
    nkeys, nvals, live = _walk(hive, ctx)

    def warn(off: int | None, reason: str) -> None:
        ctx.warn(off, reason, skipped=False)

    deleted = recover_deleted(hive.data, live, warn)
    results = _run_plugins(hive, ctx)
    batch = _batch(ctx)
    nbatch = 0
    if batch is not None:
        feeder = _PluginBatch(hive, results)
        for row in run_batch(batch, hive, ctx, deleted=deleted, plugin_rows=feeder):
            nbatch += 1
            yield Record("registry_batch", row)
    nplug = 0
    for recs in results.values():
        for r in recs:
            nplug += 1
            yield r
    yield from _deleted_records(hive, deleted)
    if ctx.options.get("all"):
        yield from _all_keys(hive, ctx)
    b0 = hive.original_base or hive.base
    yield Record("registry_hives", {
        "path": hive.label, "hive_type": hive.hive_type, "user": hive.info.user, "sid": hive.info.sid,
        "root_name": hive.root_name, "file_name": b0.file_name, "version": f"{b0.major}.{b0.minor}",
        "last_written": b0.last_written or None, "primary_seq": b0.primary_seq, "secondary_seq": b0.secondary_seq,
        "checksum_ok": b0.checksum_ok, "dirty": b0.dirty, "replayed": bool(rep and rep.replayed),
        "replay_format": rep.fmt if rep else "", "logs_applied": ",".join(rep.logs_applied) if rep else "",
        "log_entries": rep.entries if rep else 0, "pages": rep.pages if rep else 0,
        "final_seq": (rep.final_seq if rep and rep.replayed else struct.unpack_from("<I", hive.data, 4)[0]),
        "replay_notes": "; ".join(rep.notes) if rep else "", "keys": nkeys, "values": nvals,
        "deleted_keys": len(deleted.keys), "deleted_values": deleted.value_count,
        "batch": Path(batch.path).name if batch else "", "batch_rows": nbatch, "plugin_records": nplug,
        "replay_out": out_path,
    })  # fmt: skip


def timeline(rec: Record) -> Iterable[TimelineEvent]:
    d = rec.data
    if rec.table == "registry_batch":
        if d.get("value_type") == "(plugin)":
            return ()  # the plugin's own records carry the timeline
        out = []
        what = f"{d.get('category', '')}/{d.get('description', '')}"
        kp = d.get("key_path", "")
        vts = d.get("_value_ts")
        if vts:
            out.append(TimelineEvent(vts, d.get("description") or "Value Time", kp,
                                     f"{what}: {kp}\\{d.get('value_name', '')} = {d.get('value_data', '')}"))
        t = d.get("last_write")
        if t and d.get("_key_event", True):
            val = f" {d['value_name']}={str(d.get('value_data', ''))[:120]}" if d.get("value_name") else ""
            deleted = " (deleted key)" if d.get("deleted") else ""
            out.append(TimelineEvent(t, "Key Last Write", kp, f"{what}: {kp}{val}{deleted}"))
        return out
    if rec.table == "registry_deleted":
        t = d.get("last_write")
        if not t or d.get("kind") != "key":
            return ()
        return (TimelineEvent(t, "Deleted Key Last Write", d.get("key_path", ""),
                              f"deleted key recovered: {d.get('key_path', '')}", d.get("user", "")),)
    if rec.table == "registry_hives":
        t = d.get("last_written")
        if not t:
            return ()
        extra = f", replayed {d.get('log_entries')} log entries" if d.get("replayed") else ""
        return (TimelineEvent(t, "Hive Last Written", d.get("path", ""),
                              f"{d.get('hive_type') or 'hive'} last written ({d.get('keys')} keys{extra})",
                              d.get("user", "")),)
    m = _TABLE_PLUGIN.get(rec.table)
    fn = getattr(m, "timeline", None) if m is not None else None
    return fn(rec) if fn is not None else ()


# re-exported for tests and tools
__all__ += ["open_hive", "load_batch", "run_batch", "key_time", "fmt"]
