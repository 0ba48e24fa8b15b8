"""Suspicious behaviour in the NTFS journals, NTFS Log Tracker style, driven by YAML rules.

Categories (NLT's five, and two more): system time changes, installation of suspicious programs, execution of
suspicious programs, traces of anti-forensic / wiping tools, mass deletion of documents, $SI/$FN time
reversal (timestomping), mass renames to a new extension (ransomware).

``run(con)`` reads whatever of these tables exist (``usnjrnl``, ``logfile_events``, ``logfile_usn``, ``mft``,
``prefetch``, ``evtx``) and returns ``Finding``s whose evidence points at the rows. Rules live in
``data/rules/nlt_suspicious.yaml`` (``validate`` checks their schema); ``load_rules(path)`` reads user files.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..model import EvidenceRef, Finding
from ..store.case import ident
from ..timeutil import fmt, from_iso
from .common import columns, ext_of, norm_path, pick, tables

ANALYZER = "suspicious"
TICKS = 10_000_000
CATEGORIES = ("system_time_change", "suspicious_install", "suspicious_execution", "anti_forensics",
              "mass_deletion", "timestomping", "ransomware")
SEVERITIES = ("info", "low", "medium", "high", "critical")
MAX_EVIDENCE = 50

# detector -> {param: (type(s), required)}
_PARAMS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "time_rollback": {"min_seconds": ((int, float), True)},
    "event_id": {"events": ((list,), True), "min_seconds": ((int, float), False),
                 "ignore_processes": ((list,), False)},
    "file_name": {"names": ((list,), True), "kinds": ((list,), False), "exclude_paths": ((list,), False)},
    "prefetch": {"names": ((list,), True)},
    "rename_pattern": {"patterns": ((list,), True), "min_count": ((int,), True), "window_seconds": ((int,), True)},
    "mass_delete": {"extensions": ((list,), True), "min_files": ((int,), True), "window_seconds": ((int,), True)},
    "si_fn_reversal": {"min_seconds": ((int, float), True), "exclude_paths": ((list,), False)},
    "si_time_reversal": {"fields": ((list,), True), "min_seconds": ((int, float), True)},
    "mass_rename_ext": {"min_files": ((int,), True), "window_seconds": ((int,), True)},
}
KINDS = ("create", "delete", "rename_old", "rename_new", "write")
_PF = re.compile(r"^(.+?)-[0-9A-F]{8}\.pf$", re.IGNORECASE)


class RuleError(ValueError):
    """A rule file does not follow the schema."""


def validate(doc: Any) -> list[str]:
    """Schema check of a rules document; returns the problems (empty when valid)."""
    errs: list[str] = []
    if not isinstance(doc, dict):
        return ["top level must be a mapping with 'version' and 'rules'"]
    if doc.get("version") != 1:
        errs.append("version must be 1")
    rules = doc.get("rules")
    if not isinstance(rules, list) or not rules:
        return errs + ["'rules' must be a non-empty list"]
    seen: set[str] = set()
    for i, r in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            errs.append(f"{where}: must be a mapping")
            continue
        rid = r.get("id")
        if not isinstance(rid, str) or not re.fullmatch(r"[a-z0-9_]+", rid):
            errs.append(f"{where}: id must match [a-z0-9_]+")
        elif rid in seen:
            errs.append(f"{where}: duplicate id {rid!r}")
        else:
            seen.add(rid)
            where = f"rule {rid}"
        extra = set(r) - {"id", "category", "title", "severity", "detector", "description", "params"}
        if extra:
            errs.append(f"{where}: unknown keys {sorted(extra)}")
        if r.get("category") not in CATEGORIES:
            errs.append(f"{where}: category must be one of {CATEGORIES}")
        if not isinstance(r.get("title"), str) or not r.get("title"):
            errs.append(f"{where}: title must be a non-empty string")
        if r.get("severity") not in SEVERITIES:
            errs.append(f"{where}: severity must be one of {SEVERITIES}")
        if "description" in r and not isinstance(r["description"], str):
            errs.append(f"{where}: description must be a string")
        det = r.get("detector")
        if det not in _PARAMS:
            errs.append(f"{where}: detector must be one of {sorted(_PARAMS)}")
            continue
        params = r.get("params") or {}
        if not isinstance(params, dict):
            errs.append(f"{where}: params must be a mapping")
            continue
        spec = _PARAMS[det]
        for k in set(params) - set(spec):
            errs.append(f"{where}: unknown param {k!r} for detector {det}")
        for k, (types, required) in spec.items():
            if k not in params:
                if required:
                    errs.append(f"{where}: param {k!r} is required for detector {det}")
                continue
            v = params[k]
            if not isinstance(v, types) or isinstance(v, bool):
                errs.append(f"{where}: param {k!r} must be {'/'.join(t.__name__ for t in types)}")
            elif isinstance(v, list):
                if not v:
                    errs.append(f"{where}: param {k!r} must not be empty")
                if k == "events":
                    for e in v:
                        if not isinstance(e, dict) or not isinstance(e.get("event_id"), int):
                            errs.append(f"{where}: each event needs an integer event_id")
                elif not all(isinstance(x, str) for x in v):
                    errs.append(f"{where}: param {k!r} must be a list of strings")
                if k == "kinds" and not set(v) <= set(KINDS):
                    errs.append(f"{where}: kinds must be among {KINDS}")
                if k == "patterns":
                    for p in v:
                        try:
                            re.compile(p)
                        except re.error as e:
                            errs.append(f"{where}: bad regex {p!r}: {e}")
                if k == "fields" and not set(v) <= {"created", "modified", "mft_modified", "accessed"}:
                    errs.append(f"{where}: fields must be among created, modified, mft_modified, accessed")
            elif isinstance(v, (int, float)) and v <= 0:
                errs.append(f"{where}: param {k!r} must be > 0")
    return errs


def load_rules(path: Path | None = None) -> list[dict[str, Any]]:
    """The bundled rules (or a user file); raises :class:`RuleError` listing every schema problem."""
    if path is None:
        text = resources.files("wintriage.data").joinpath("rules/nlt_suspicious.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RuleError(f"{path or 'nlt_suspicious.yaml'}: not YAML: {e}") from None
    errs = validate(doc)
    if errs:
        raise RuleError(f"{path or 'nlt_suspicious.yaml'}: " + "; ".join(errs))
    return list(doc["rules"])


# --- file-system events from whatever tables exist ------------------------------------------------------
@dataclass(slots=True)
class FsEvent:
    ts: int | None
    kind: str  # create | delete | rename_old | rename_new | write
    name: str
    path: str
    entry: int | None
    table: str
    row_id: int
    old_name: str = ""
    seq: int = 0  # USN or LSN: the journal order


def _rows(con: sqlite3.Connection, table: str, cols: Iterable[str | None], where: str = "") -> list[tuple[Any, ...]]:
    names = ", ".join(ident(c) if c else "NULL" for c in cols)
    sql = f"SELECT id, {names} FROM {ident(table)}" + (f" WHERE {where}" if where else "")
    return con.execute(sql).fetchall()


def _join(parent: str | None, name: str) -> str:
    p = (parent or "").replace("/", "\\").rstrip("\\")
    return f"{p}\\{name}" if p else name


def _usn_events(con: sqlite3.Connection, table: str) -> list[FsEvent]:
    cols = columns(con, table)
    rc = pick(cols, "reason_flags", "reasons")
    if rc is None or pick(cols, "name") is None:
        return []
    sel = [pick(cols, "timestamp"), "name", pick(cols, "parent_path"), pick(cols, "entry"), rc, pick(cols, "usn")]
    out: list[FsEvent] = []
    seen: set[tuple[Any, ...]] = set()
    # Only the records a detector can use are read, and the cursor is streamed: creations, deletions and renames,
    # and writes to prefetch files. A journal's bulk (data writes, closes, security changes) never reaches Python.
    where = (f"({ident(rc)} & {0x100 | 0x200 | 0x1000 | 0x2000}) != 0 OR "
             f"(({ident(rc)} & 3) != 0 AND lower(name) LIKE '%.pf')") if rc == "reason_flags" else ""
    names = ", ".join(ident(c) if c else "NULL" for c in sel)
    cur = con.execute(f"SELECT id, {names} FROM {ident(table)}" + (f" WHERE {where}" if where else ""))
    for rid, ts, name, parent, entry, reasons, usn in cur:
        if not isinstance(reasons, int):
            continue
        for bit, kind in ((0x100, "create"), (0x200, "delete"), (0x1000, "rename_old"), (0x2000, "rename_new"),
                          (0x3, "write")):
            if reasons & bit:
                key = (entry, kind, name)
                if key in seen and kind != "write":
                    continue
                seen.add(key)
                out.append(FsEvent(ts, kind, name or "", _join(parent, name or ""), entry, table, rid,
                                   seq=usn or 0))
    return out


_LF_KIND = {"File Creation": "create", "File Deletion": "delete", "File Renaming": "rename_new",
            "File Moving": "rename_new", "Resident Data Write": "write", "Non-resident Data Write": "write"}


def _logfile_events(con: sqlite3.Connection) -> list[FsEvent]:
    out = []
    for rid, ts, ev, name, path, entry, old, lsn in _rows(
        con, "logfile_events", ["event_time", "event", "name", "full_path", "mft_entry", "old_name", "lsn"]
    ):
        kind = _LF_KIND.get(ev)
        if kind:
            out.append(FsEvent(ts, kind, name or "", path or "", entry, "logfile_events", rid, old or "", lsn or 0))
    return out


def file_events(con: sqlite3.Connection) -> list[FsEvent]:
    have = tables(con)
    out: list[FsEvent] = []
    for t in ("usnjrnl", "logfile_usn"):
        if t in have:
            out += _usn_events(con, t)
    if "logfile_events" in have:
        out += _logfile_events(con)
    return out


# --- detectors ------------------------------------------------------------------------------------------
def _ref(e: FsEvent, note: str = "") -> EvidenceRef:
    return EvidenceRef(e.table, e.row_id, note or f"{e.kind} {e.path or e.name}")


def _finding(rule: dict[str, Any], ts: int | None, desc: str, refs: list[EvidenceRef], title: str = "",
             **details: Any) -> Finding:
    return Finding(ANALYZER, title or rule["title"], rule["severity"], ts, desc, tuple(refs[:MAX_EVIDENCE]),
                   {"category": rule["category"], "rule": rule["id"], **details})


def _glob(patterns: list[str]) -> Callable[[str], bool]:
    rx = re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns))
    return lambda name: rx.match(name.lower()) is not None


def _clusters(items: list[FsEvent], window: int) -> list[list[FsEvent]]:
    """Split time-sorted events where a gap exceeds ``window`` ticks."""
    out: list[list[FsEvent]] = []
    cur: list[FsEvent] = []
    for e in items:
        if cur and e.ts is not None and cur[-1].ts is not None and e.ts - cur[-1].ts > window:
            out.append(cur)
            cur = []
        cur.append(e)
    if cur:
        out.append(cur)
    return out


def d_time_rollback(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    """A journal record stamped well before the record written just before it: the clock was set back.
    Evaluated by SQLite over every record in journal order (a window function), so nothing is held in memory."""
    gap = int(rule["params"]["min_seconds"] * TICKS)
    out = []
    have = tables(con)
    for table in ("usnjrnl", "logfile_usn"):
        if table not in have:
            continue
        cols = columns(con, table)
        ts, usn = pick(cols, "timestamp"), pick(cols, "usn")
        if not (ts and usn and "name" in cols):
            continue
        t, u = ident(ts), ident(usn)
        sql = (
            f"SELECT pid, pusn, pts, pname, id, {u}, {t}, name FROM ("
            f"SELECT id, {u}, {t}, name, LAG(id) OVER w AS pid, LAG({u}) OVER w AS pusn, LAG({t}) OVER w AS pts, "
            f"LAG(name) OVER w AS pname FROM {ident(table)} WHERE {t} IS NOT NULL AND {t} != 0 "
            f"WINDOW w AS (ORDER BY {u}, id)) WHERE pts - {t} > ? AND {u} > pusn"
        )
        for pid, pusn, pts, pname, rid, bseq, bts, bname in con.execute(sql, (gap,)):
            a = FsEvent(pts, "record", pname or "", "", None, table, pid, seq=pusn)
            b = FsEvent(bts, "record", bname or "", "", None, table, rid, seq=bseq)
            back = (pts - bts) / TICKS
            out.append(_finding(rule, bts, f"{table}: record {bseq} ({bname}) is stamped {fmt(bts)} UTC, "
                                f"{back:,.0f} s before the previous record {pusn} ({fmt(pts)} UTC)",
                                [_ref(a, "before the change"), _ref(b, "after the change")], seconds_back=back))
    return out


def _iso_ticks(v: Any) -> int | None:
    """``2016-07-08T18:16:31.108103Z`` (up to 9 fractional digits, as EVTX renders them) -> ticks."""
    if not isinstance(v, str) or not v:
        return None
    try:
        return from_iso(re.sub(r"(\.\d{7})\d+", r"\1", v.strip()))
    except ValueError:
        return None


def d_event_id(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    """Clock-change events; with ``min_seconds`` only changes at least that large (when the event says how
    large), ``ignore_processes`` drops changes made by those programs (e.g. the time service's small steps)."""
    if "evtx" not in tables(con):
        return []
    cols = columns(con, "evtx")
    if not {"event_id", "channel", "time_created"} <= set(cols):
        return []
    p = rule["params"]
    gap = float(p.get("min_seconds") or 0)
    ignore = {x.lower() for x in p.get("ignore_processes") or []}
    data_col = "event_data" if "event_data" in cols else None
    out = []
    for spec in p["events"]:
        where = "event_id = ?"
        args: list[Any] = [spec["event_id"]]
        if spec.get("channel"):
            where += " AND channel = ?"
            args.append(spec["channel"])
        if spec.get("provider") and "provider" in cols:
            where += " AND provider = ?"
            args.append(spec["provider"])
        sel = f"SELECT id, time_created, {data_col or 'NULL'} FROM evtx WHERE {where} ORDER BY time_created"
        for rid, ts, raw in con.execute(sel, args).fetchall():
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            data = data if isinstance(data, dict) else {}
            proc = str(data.get("ProcessName") or "")
            if proc and proc.replace("/", "\\").rsplit("\\", 1)[-1].lower() in ignore:
                continue
            old = _iso_ticks(data.get("PreviousTime") or data.get("OldTime"))
            new = _iso_ticks(data.get("NewTime"))
            delta = (new - old) / TICKS if old and new else None
            if gap and delta is not None and abs(delta) < gap:
                continue
            what = f"from {fmt(old)} to {fmt(new)} UTC ({delta:+,.0f} s)" if delta is not None else "changed"
            by = f" by {proc}" if proc else ""
            out.append(_finding(rule, ts, f"{spec.get('channel', '')} event {spec['event_id']} at {fmt(ts)} UTC: "
                                f"clock set {what}{by}", [EvidenceRef("evtx", rid, f"event {spec['event_id']}")],
                                seconds=delta, process=proc))
    return out


def d_file_name(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    p = rule["params"]
    match = _glob(p["names"])
    kinds = set(p.get("kinds") or ("create", "rename_new"))
    excl = [x.lower() for x in p.get("exclude_paths") or []]
    hits: dict[str, list[FsEvent]] = defaultdict(list)
    for e in fs:
        if e.kind in kinds and e.name and not _PF.match(e.name) and match(e.name) \
                and not any(x in norm_path(e.path) for x in excl):  # prefetch files are the `prefetch` detector's
            hits[e.name.lower()].append(e)
    if "mft" in tables(con):
        cols = columns(con, "mft")
        if pick(cols, "name") and pick(cols, "full_path"):
            sel = ["name", "full_path", pick(cols, "si_created"), pick(cols, "entry")]
            for rid, name, path, ts, entry in _rows(con, "mft", sel):
                if name and not _PF.match(name) and match(name) and not any(x in norm_path(path) for x in excl) \
                        and name.lower() not in hits:
                    hits[name.lower()].append(FsEvent(ts, "create", name, path or "", entry, "mft", rid))
    out = []
    for _name, evs in sorted(hits.items()):
        evs.sort(key=lambda e: e.ts or 0)
        first = evs[0]
        out.append(_finding(rule, first.ts, f"{first.path or first.name}: {len(evs)} trace(s), first {fmt(first.ts)} UTC",
                            [_ref(e) for e in evs], title=f"{rule['title']}: {first.name}", name=first.name))
    return out


def d_prefetch(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    match = _glob(rule["params"]["names"])
    hits: dict[str, list[FsEvent]] = defaultdict(list)
    for e in fs:
        m = _PF.match(e.name)
        if m and e.kind in ("create", "write", "rename_new") and match(m.group(1)):
            hits[m.group(1).upper()].append(e)
    if "prefetch" in tables(con):
        cols = columns(con, "prefetch")
        exe = pick(cols, "executable_name", "executable", "exe_name")
        last = pick(cols, "last_run", "last_run_time", "run_time_0")
        if exe:
            for rid, name, ts in _rows(con, "prefetch", [exe, last]):
                if name and match(name):
                    hits[name.upper()].append(FsEvent(ts, "write", name, name, None, "prefetch", rid))
    out = []
    for exe, evs in sorted(hits.items()):
        evs.sort(key=lambda e: e.ts or 0)
        out.append(_finding(rule, evs[0].ts, f"{exe} ran: prefetch {len(evs)} trace(s), first {fmt(evs[0].ts)} UTC, "
                            f"last {fmt(evs[-1].ts)} UTC", [_ref(e) for e in evs],
                            title=f"{rule['title']}: {exe}", executable=exe))
    return out


def d_rename_pattern(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    p = rule["params"]
    rxs = [re.compile(x) for x in p["patterns"]]
    hits = sorted((e for e in fs if e.kind in ("rename_new", "create") and e.ts and any(r.match(e.name) for r in rxs)),
                  key=lambda e: e.ts or 0)
    out = []
    for c in _clusters(hits, p["window_seconds"] * TICKS):
        if len({(e.entry, e.name) for e in c}) >= p["min_count"]:
            names = sorted({e.name for e in c})
            out.append(_finding(rule, c[0].ts, f"{len(c)} wiper-style names between {fmt(c[0].ts)} and "
                                f"{fmt(c[-1].ts)} UTC: {', '.join(names[:10])}", [_ref(e) for e in c],
                                count=len(c)))
    return out


def d_mass_delete(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    p = rule["params"]
    exts = {"." + x.lower().lstrip(".") for x in p["extensions"]}
    dels = sorted((e for e in fs if e.kind == "delete" and e.ts and ext_of(e.name) in exts), key=lambda e: e.ts or 0)
    out = []
    for c in _clusters(dels, p["window_seconds"] * TICKS):
        files = {(e.entry, e.name.lower()) for e in c}
        if len(files) >= p["min_files"]:
            by_ext: dict[str, int] = defaultdict(int)
            for _e, n in files:
                by_ext[ext_of(n)] += 1
            out.append(_finding(rule, c[0].ts, f"{len(files)} documents deleted between {fmt(c[0].ts)} and "
                                f"{fmt(c[-1].ts)} UTC ({', '.join(f'{k}: {v}' for k, v in sorted(by_ext.items()))})",
                                [_ref(e) for e in c], count=len(files)))
    return out


def d_si_fn_reversal(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    if "mft" not in tables(con):
        return []
    cols = columns(con, "mft")
    need = ("si_created", "fn_created", "full_path")
    if not all(c in cols for c in need):
        return []
    gap = int(rule["params"]["min_seconds"] * TICKS)
    excl = [x.lower() for x in rule["params"].get("exclude_paths") or []]
    out = []
    for rid, si, fn, path in _rows(con, "mft", ["si_created", "fn_created", "full_path"],
                                   "si_created IS NOT NULL AND fn_created IS NOT NULL AND si_created < fn_created"):
        if fn - si < gap or any(x in norm_path(path) for x in excl):
            continue
        out.append(_finding(rule, fn, f"{path}: $SI created {fmt(si)} UTC is {(fn - si) / TICKS:,.0f} s before "
                            f"$FN created {fmt(fn)} UTC", [EvidenceRef("mft", rid, "SI created < FN created")],
                            title=f"{rule['title']}: {path}", path=path))
    return out


def d_si_time_reversal(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    """$SI times rewritten to earlier values, from ``logfile_events`` (``old_*`` columns = the values before)."""
    if "logfile_events" not in tables(con):
        return []
    cols = set(columns(con, "logfile_events"))
    fields = [f for f in rule["params"]["fields"] if f in cols and f"old_{f}" in cols]
    if not fields:
        return []
    gap = int(rule["params"]["min_seconds"] * TICKS)
    sel = ", ".join(f"{ident(f)}, {ident('old_' + f)}" for f in fields)
    out = []
    rows = con.execute(f"SELECT id, lsn, full_path, name, {sel} FROM logfile_events WHERE event = 'Time Change'")
    for row in rows.fetchall():
        eid, lsn, path, name = row[:4]
        vals = row[4:]
        back = {f: (vals[2 * i + 1], vals[2 * i]) for i, f in enumerate(fields)
                if vals[2 * i] and vals[2 * i + 1] and vals[2 * i + 1] - vals[2 * i] >= gap}
        if not back:
            continue
        refs = [EvidenceRef("logfile_events", eid, "time change")]
        if "logfile_records" in tables(con):
            rec = con.execute("SELECT id FROM logfile_records WHERE lsn = ?", (lsn,)).fetchone()
            if rec:
                refs.append(EvidenceRef("logfile_records", rec[0], "UpdateResidentValue of $SI"))
        txt = "; ".join(f"{k}: {fmt(o)} -> {fmt(n)}" for k, (o, n) in back.items())
        ts = max(n for _o, n in back.values())
        out.append(_finding(rule, ts, f"{path or name} (LSN {lsn}): {txt} UTC", refs,
                            title=f"{rule['title']}: {path or name}", path=path))
    return out


def d_mass_rename_ext(con: sqlite3.Connection, rule: dict[str, Any], fs: list[FsEvent]) -> list[Finding]:
    p = rule["params"]
    old_names: dict[Any, str] = {}
    for e in fs:
        if e.kind == "rename_old":
            old_names[(e.table, e.entry)] = e.name
    changed: dict[str, list[FsEvent]] = defaultdict(list)
    for e in fs:
        if e.kind != "rename_new" or not e.ts:
            continue
        old = e.old_name or old_names.get((e.table, e.entry), "")
        new_ext = ext_of(e.name)
        if old and new_ext and ext_of(old) != new_ext:
            changed[new_ext].append(e)
    out = []
    for ext, evs in sorted(changed.items()):
        evs.sort(key=lambda e: e.ts or 0)
        for c in _clusters(evs, p["window_seconds"] * TICKS):
            files = {(e.entry, e.name.lower()) for e in c}
            if len(files) >= p["min_files"]:
                out.append(_finding(rule, c[0].ts, f"{len(files)} files renamed to *{ext} between {fmt(c[0].ts)} and "
                                    f"{fmt(c[-1].ts)} UTC", [_ref(e) for e in c],
                                    title=f"{rule['title']}: *{ext}", extension=ext, count=len(files)))
    return out


DETECTORS: dict[str, Callable[[sqlite3.Connection, dict[str, Any], list[FsEvent]], list[Finding]]] = {
    "time_rollback": d_time_rollback, "event_id": d_event_id, "file_name": d_file_name, "prefetch": d_prefetch,
    "rename_pattern": d_rename_pattern, "mass_delete": d_mass_delete, "si_fn_reversal": d_si_fn_reversal,
    "si_time_reversal": d_si_time_reversal, "mass_rename_ext": d_mass_rename_ext,
}


def run(con: sqlite3.Connection, rules: list[dict[str, Any]] | None = None) -> list[Finding]:
    """Every rule over the tables present; missing tables or columns simply give no findings."""
    rules = load_rules() if rules is None else rules
    fs = file_events(con)
    out: list[Finding] = []
    for rule in rules:
        try:
            out += DETECTORS[rule["detector"]](con, rule, fs)
        except sqlite3.Error:  # a table with an unexpected shape: that rule yields nothing
            continue
    return out
