"""Suspicious behaviour in the NTFS journals, NTFS Log Tracker style, driven by YAML rules.

Categories (NLT's five, and two more): system time changes, installation of suspicious programs, execution of
suspicious programs, traces of anti-forensic / wiping tools, mass deletion of documents, $SI/$FN time
reversal (timestomping), mass renames to a new extension (ransomware).

``run(con)`` reads whatever of these tables exist (``usnjrnl``, ``logfile_events``, ``logfile_usn``, ``mft``,
``prefetch``, ``evtx``) and returns ``Finding``s whose evidence points at the rows. Rules live in
``data/rules/nlt_suspicious.yaml`` (``validate`` checks their schema); ``load_rules(path)`` reads user files.
"""

from __future__ import annotations

import bisect
import contextlib
import fnmatch
import functools
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import yamlsafe
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
        doc = yamlsafe.load(text)
    except yaml.YAMLError as e:
        raise RuleError(f"{path or 'nlt_suspicious.yaml'}: not YAML: {e}") from None
    errs = validate(doc)
    if errs:
        raise RuleError(f"{path or 'nlt_suspicious.yaml'}: " + "; ".join(errs))
    return list(doc["rules"])


# --- file-system events from whatever tables exist ------------------------------------------------------
# Every detector asks SQLite for just the records it can use (reason bits, names and extensions are filtered in
# SQL; bursts are found by window functions), and reads the answer as a stream: nothing kept in Python grows with
# the number of journal records. Sources: ``usnjrnl`` and ``logfile_usn`` (USN records: one row, one or more
# reason bits) and ``logfile_events`` (NLT-style events decoded from $LogFile).
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


_USN_BITS = {"create": 0x100, "delete": 0x200, "rename_old": 0x1000, "rename_new": 0x2000, "write": 0x3}
_LF_KIND = {"File Creation": "create", "File Deletion": "delete", "File Renaming": "rename_new",
            "File Moving": "rename_new", "Resident Data Write": "write", "Non-resident Data Write": "write"}
# the columns every source query yields, in this order
_COLS = "tbl, id, ts, entry, name, parent, full, kc, seq, old"


@dataclass(frozen=True)
class _Src:
    """One source table and the SQL expressions that give the common columns."""

    table: str
    ts: str
    name: str
    entry: str
    parent: str
    full: str
    kc: str  # usn: the reason flags; logfile_events: the event text
    seq: str
    old: str
    usn: bool

    def kinds(self, kinds: Iterable[str]) -> str:
        """SQL condition: the row is one of ``kinds``."""
        if self.usn:
            mask = 0
            for k in kinds:
                mask |= _USN_BITS[k]
            return f"({self.kc} & {mask}) != 0"
        evs = [ev for ev, k in _LF_KIND.items() if k in kinds]
        return f"{self.kc} IN ({', '.join(repr(e) for e in evs)})" if evs else "0"

    def select(self, kinds: Iterable[str], where: str = "") -> str:
        """``SELECT`` of the common columns for the rows of ``kinds`` (and ``where``, over those columns' names)."""
        sql = (f"SELECT '{self.table}' AS tbl, id, {self.ts} AS ts, {self.entry} AS entry, {self.name} AS name, "
               f"{self.parent} AS parent, {self.full} AS full, {self.kc} AS kc, {self.seq} AS seq, {self.old} AS old "
               f"FROM {ident(self.table)} WHERE {self.kinds(kinds)} AND {self.name} IS NOT NULL")
        return f"SELECT * FROM ({sql}) WHERE {where}" if where else sql


def sources(con: sqlite3.Connection) -> list[_Src]:
    """The file-event sources present, with the columns they have (missing ones give no source)."""
    have = tables(con)
    out = []
    for t in ("usnjrnl", "logfile_usn"):
        if t not in have:
            continue
        cols = columns(con, t)
        rc, nm = pick(cols, "reason_flags", "reasons"), pick(cols, "name")
        if rc is None or nm is None:
            continue
        ts, ent, pp, usn = pick(cols, "timestamp"), pick(cols, "entry"), pick(cols, "parent_path"), pick(cols, "usn")
        out.append(_Src(t, ident(ts) if ts else "NULL", ident(nm), ident(ent) if ent else "NULL",
                        ident(pp) if pp else "NULL", "NULL", ident(rc), ident(usn) if usn else "0", "NULL", True))
    if "logfile_events" in have:
        cols = columns(con, "logfile_events")
        if {"event", "name"} <= set(cols):
            def c(n: str, dflt: str = "NULL") -> str:
                return ident(n) if n in cols else dflt
            out.append(_Src("logfile_events", c("event_time"), ident("name"), c("mft_entry"), "NULL", c("full_path"),
                            ident("event"), c("lsn", "0"), c("old_name"), False))
    return out


def _join(parent: str | None, name: str) -> str:
    p = (parent or "").replace("/", "\\").rstrip("\\")
    return f"{p}\\{name}" if p else name


def _event(row: tuple[Any, ...], kinds: Iterable[str] = KINDS) -> FsEvent:
    """A row of the common columns as an event (the first of ``kinds`` it is)."""
    tbl, rid, ts, entry, name, parent, full, kc, seq, old = row
    if isinstance(kc, int):
        kind = next((k for k in kinds if kc & _USN_BITS[k]), "record")
    else:
        kind = _LF_KIND.get(kc or "", "record")
    return FsEvent(ts, kind, name or "", full or _join(parent, name or ""), entry, tbl, rid, old or "", seq or 0)


def _union(selects: list[str]) -> str:
    return " UNION ALL ".join(selects)


def _sql_func(con: sqlite3.Connection, fn: Callable[..., Any], name: str) -> str:
    """Register ``fn`` on the connection as ``name`` (deterministic, so SQLite may cache it). A detector registers
    its functions, then runs its queries to the end: the next detector may reuse the names."""
    con.create_function(name, 1, fn, deterministic=True)
    return name


def _ext_func(con: sqlite3.Connection) -> str:
    return _sql_func(con, lambda n: ext_of(n or ""), "wt_sus_ext")


def _matcher(con: sqlite3.Connection, match: Callable[[str], bool]) -> str:
    """``match`` as an SQL function over a name (one call per row is cheaper than a chain of LIKEs)."""
    return _sql_func(con, lambda n: n is not None and match(n), "wt_sus_match")


def _prefix_filter(globs: list[str]) -> str:
    """A cheap SQL test every name matching one of ``globs`` passes: its first characters, lower-cased, are one of
    the globs' literal prefixes (so the Python test runs on few rows); ``1`` when a glob starts with a wildcard.
    SQLite folds ASCII only; a glob with a non-ASCII prefix disables the filter. A prefetch file name starts with
    its program's name: the same test serves globs over program names."""
    prefixes = []
    for g in globs:
        lit = re.split(r"[*?\[]", g, maxsplit=1)[0].lower()
        if not lit or not lit.isascii():
            return "1"
        prefixes.append(lit)
    n = min(3, *(len(x) for x in prefixes))
    keys = sorted({x[:n] for x in prefixes})
    # NOCASE folds ASCII letters as lower() does, without building a lower-cased copy of every name
    return f"substr(name, 1, {n}) COLLATE NOCASE IN ({', '.join(chr(39) + k.replace(chr(39), chr(39) * 2) + chr(39) for k in keys)})"


# A journal repeats each name in several records (create, writes, close, rename...): the detectors that test names
# in Python test each distinct name once. Within a session (``run``, or one detector called alone) every source's
# distinct names are gathered once into a temporary table (SQLite's, on its temporary storage: nothing in Python
# grows with the journal), dropped when the session ends; a detector then reads only the records whose name passed.
_SESSIONS: dict[int, dict[str, str]] = {}  # id(connection) -> {source table: its temporary table of names}


@contextlib.contextmanager
def _names_session(con: sqlite3.Connection) -> Iterator[None]:
    if id(con) in _SESSIONS:  # inside ``run``: the tables live until it ends
        yield
        return
    made: dict[str, str] = {}
    _SESSIONS[id(con)] = made
    try:
        yield
    finally:
        del _SESSIONS[id(con)]
        for t in made.values():
            con.execute(f"DROP TABLE IF EXISTS temp.{t}")


def _name_test(con: sqlite3.Connection, s: _Src, test: str) -> str | None:
    """SQL condition over the common column ``name``: the name is one of the source's distinct names that pass
    ``test`` (an SQL condition over ``name``, typically a Python function); ``None`` when no name passes (the
    source has nothing for the detector). Call within :func:`_names_session`."""
    made = _SESSIONS[id(con)]
    t = made.get(s.table)
    if t is None:
        t = f"wt_sus_names_{len(made)}"
        con.execute(f"DROP TABLE IF EXISTS temp.{t}")
        con.execute(f"CREATE TEMP TABLE {t} AS SELECT DISTINCT {s.name} AS name FROM {ident(s.table)} "
                    f"WHERE {s.name} IS NOT NULL")
        made[s.table] = t
    sub = f"SELECT name FROM temp.{t} WHERE {test}"
    if not con.execute(f"SELECT EXISTS ({sub})").fetchone()[0]:
        return None
    return f"+name IN ({sub})"  # a membership test during the scan (``+``: never a look-up by name)


_Detector = Callable[[sqlite3.Connection, dict[str, Any]], list[Finding]]


def _in_session(f: _Detector) -> _Detector:
    """A detector that tests names: called alone, it gathers the distinct names for itself."""
    @functools.wraps(f)
    def run_in_session(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
        with _names_session(con):
            return f(con, rule)
    return run_in_session


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


class _Traces:
    """Count, first and last time, and the earliest ``MAX_EVIDENCE`` events of one thing (bounded memory)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None
        self.events: list[tuple[int, int, FsEvent]] = []  # (ts, order, event), sorted, at most MAX_EVIDENCE

    def add(self, e: FsEvent) -> None:
        self.count += 1
        t = e.ts or 0
        self.first = t if self.first is None else min(self.first, t)
        self.last = t if self.last is None else max(self.last, t)
        if len(self.events) < MAX_EVIDENCE or t < self.events[-1][0]:
            bisect.insort(self.events, (t, self.count, e))
            del self.events[MAX_EVIDENCE:]

    @property
    def head(self) -> FsEvent:
        return self.events[0][2]

    def refs(self) -> list[EvidenceRef]:
        return [_ref(e) for _t, _n, e in self.events]


def _file_key(e: FsEvent, fold: bool) -> tuple[Any, str]:
    return (e.entry, e.name.lower() if fold else e.name)


def _bursts(con: sqlite3.Connection, inner: str, window: int, min_files: int, fold: bool) -> list[tuple[Any, ...]]:
    """Bursts of the events ``inner`` yields (common columns plus ``grp``): per ``grp``, time-sorted events split
    where a gap exceeds ``window`` ticks; those touching at least ``min_files`` distinct files (MFT entry + name).
    Rows (grp, first ts, last ts, files), all computed by SQLite (window functions), oldest first."""
    key = "lower(name)" if fold else "name"
    sql = (
        f"WITH ev AS ({inner}), "
        f"o AS (SELECT grp, tbl, id, ts, entry, name, LAG(ts) OVER (PARTITION BY grp ORDER BY ts, tbl, id) AS pts "
        f"FROM ev WHERE ts IS NOT NULL AND ts != 0), "
        f"b AS (SELECT *, SUM(CASE WHEN ts - pts > {int(window)} THEN 1 ELSE 0 END) OVER (PARTITION BY grp "
        f"ORDER BY ts, tbl, id ROWS UNBOUNDED PRECEDING) AS burst FROM o) "
        f"SELECT grp, MIN(ts), MAX(ts), COUNT(DISTINCT IFNULL(entry, '') || '|' || {key}) AS files "
        f"FROM b GROUP BY grp, burst HAVING files >= ? ORDER BY MIN(ts), grp"
    )
    return con.execute(sql, (min_files,)).fetchall()


@contextlib.contextmanager
def _materialized(con: sqlite3.Connection, inner: str) -> Iterator[str]:
    """``inner``'s rows (common columns plus ``grp``) in a temporary table for the queries that follow (the bursts,
    each burst's events): the journal is read once. The columns have no type, so every value is kept as it is."""
    t = "temp.wt_sus_events"
    con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute(f"CREATE TABLE {t} ({_COLS}, grp)")
    try:
        con.execute(f"INSERT INTO {t} SELECT {_COLS}, grp FROM ({inner})")
        yield f"SELECT * FROM {t}"
    finally:
        con.execute(f"DROP TABLE IF EXISTS {t}")


def _burst_events(con: sqlite3.Connection, inner: str, grp: Any, lo: int, hi: int, fold: bool) -> list[FsEvent]:
    """The first event of each distinct file in a burst, in time order, at most ``MAX_EVIDENCE``."""
    out: list[FsEvent] = []
    seen: set[tuple[Any, str]] = set()
    sql = f"SELECT {_COLS} FROM ({inner}) WHERE grp IS ? AND ts BETWEEN ? AND ? ORDER BY ts, tbl, id"
    for row in con.execute(sql, (grp, lo, hi)):
        e = _event(row)
        k = _file_key(e, fold)
        if k not in seen:
            seen.add(k)
            out.append(e)
            if len(out) >= MAX_EVIDENCE:
                break
    return out


def _rollbacks(con: sqlite3.Connection, table: str, u: str, t: str, gap: int) -> list[tuple[int, int, int, int]]:
    """(previous id, previous USN, previous time, id) of every record stamped more than ``gap`` ticks before the
    record just before it in USN order. Rows are stored in journal order, so one pass in row order with a
    single previous record does it (a function SQLite calls on each row of its scan: no row is handed to Python);
    if the USNs ever go down in row order, SQLite sorts by USN instead."""
    out: list[tuple[int, int, int, int]] = []
    prev: list[Any] = [None, None, None]  # id, USN, time of the last record with a time
    unordered = False

    def step(rid: int, usn: Any, ts: Any) -> int:
        nonlocal unordered
        if unordered:
            return 0
        if prev[0] is not None and usn < prev[1]:
            unordered = True  # not in USN order
            return 0
        if not ts:
            return 0
        if prev[0] is not None and prev[2] - ts > gap and usn > prev[1]:
            out.append((prev[0], prev[1], prev[2], rid))
        prev[:] = rid, usn, ts
        return 0

    con.create_function("wt_sus_step", 3, step)  # not deterministic: it keeps the previous record
    con.execute(f"SELECT COUNT(*) FROM {ident(table)} WHERE {u} IS NOT NULL AND wt_sus_step(id, {u}, {t})").fetchone()
    if not unordered:
        return out
    sql = (f"SELECT pid, pusn, pts, id FROM (SELECT id, {u} AS u, {t} AS ts, LAG(id) OVER w AS pid, "
           f"LAG({u}) OVER w AS pusn, LAG({t}) OVER w AS pts FROM {ident(table)} "
           f"WHERE {t} IS NOT NULL AND {t} != 0 AND {u} IS NOT NULL WINDOW w AS (ORDER BY {u}, id)) "
           f"WHERE pts - ts > ? AND u > pusn")
    return con.execute(sql, (gap,)).fetchall()


def d_time_rollback(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """A journal record stamped well before the record written just before it: the clock was set back.
    One streamed pass over the journal (see ``_rollbacks``), so nothing is held in memory."""
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
        for pid, pusn, pts, rid in _rollbacks(con, table, ident(usn), ident(ts), gap):
            (pname,), (bseq, bts, bname) = (
                con.execute(f"SELECT name FROM {ident(table)} WHERE id = ?", (pid,)).fetchone(),
                con.execute(f"SELECT {ident(usn)}, {ident(ts)}, name FROM {ident(table)} WHERE id = ?",
                            (rid,)).fetchone())
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


def d_event_id(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
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
        for rid, ts, raw in con.execute(sel, args):
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


@_in_session
def d_file_name(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """Files whose name matches: one finding per name, traces = distinct (source, MFT entry, name) in the
    journals (the first record of each), plus the $MFT entry when no journal saw the name."""
    p = rule["params"]
    match = _glob(p["names"])
    kinds = [k for k in KINDS if k in set(p.get("kinds") or ("create", "rename_new"))]
    excl = [x.lower() for x in p.get("exclude_paths") or []]
    where = f"{_prefix_filter(p['names'])} AND {_matcher(con, match)}(name)"
    hits: dict[str, _Traces] = defaultdict(_Traces)
    for s in sources(con):
        cond = _name_test(con, s, where)
        if cond is None:
            continue
        sql = f"SELECT tbl, MIN(id), ts, entry, name, parent, full, kc, seq, old FROM ({s.select(kinds, cond)}) " \
              f"GROUP BY entry, name"
        for row in con.execute(sql):
            e = _event(row, kinds)
            if e.name and not _PF.match(e.name) and match(e.name) \
                    and not any(x in norm_path(e.path) for x in excl):  # prefetch files are the `prefetch` detector's
                hits[e.name.lower()].add(e)
    journal = set(hits)
    if "mft" in tables(con):
        cols = columns(con, "mft")
        if pick(cols, "name") and pick(cols, "full_path"):
            si, ent = pick(cols, "si_created"), pick(cols, "entry")
            sql = (f"SELECT id, name, full_path, {ident(si) if si else 'NULL'}, {ident(ent) if ent else 'NULL'} "
                   f"FROM mft WHERE name IS NOT NULL AND {where}")
            for rid, name, path, ts, entry in con.execute(sql):
                if name and not _PF.match(name) and match(name) and not any(x in norm_path(path) for x in excl) \
                        and name.lower() not in journal:
                    hits[name.lower()].add(FsEvent(ts, "create", name, path or "", entry, "mft", rid))
    out = []
    for _name, tr in sorted(hits.items()):
        first = tr.head
        out.append(_finding(rule, tr.first, f"{first.path or first.name}: {tr.count} trace(s), first {fmt(tr.first)} UTC",
                            tr.refs(), title=f"{rule['title']}: {first.name}", name=first.name))
    return out


@_in_session
def d_prefetch(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """Prefetch files of the named programs written (each journal record is a trace), and ``prefetch`` rows."""
    names = rule["params"]["names"]
    match = _glob(names)
    kinds = ["write", "rename_new", "create"]  # a record that creates and writes is labelled a write
    fn = _matcher(con, lambda n: bool((m := _PF.match(n)) and match(m.group(1))))
    # the LIKE and the program-name prefixes (in C) leave few rows for the Python test
    where = f"name LIKE '%.pf' AND {_prefix_filter(names)} AND {fn}(name)"
    hits: dict[str, _Traces] = defaultdict(_Traces)
    for s in sources(con):
        cond = _name_test(con, s, where)
        if cond is None:
            continue
        for row in con.execute(f"{s.select(kinds, cond)} ORDER BY ts"):
            e = _event(row, kinds)
            m = _PF.match(e.name)
            if m and match(m.group(1)):
                hits[m.group(1).upper()].add(e)
    if "prefetch" in tables(con):
        cols = columns(con, "prefetch")
        exe = pick(cols, "executable_name", "executable", "exe_name")
        last = pick(cols, "last_run", "last_run_time", "run_time_0")
        if exe:
            for rid, name, ts in con.execute(f"SELECT id, {ident(exe)}, {ident(last) if last else 'NULL'} "
                                             f"FROM prefetch WHERE {ident(exe)} IS NOT NULL"):
                if name and match(name):
                    hits[name.upper()].add(FsEvent(ts, "write", name, name, None, "prefetch", rid))
    out = []
    for exe, tr in sorted(hits.items()):
        out.append(_finding(rule, tr.first, f"{exe} ran: prefetch {tr.count} trace(s), first {fmt(tr.first)} UTC, "
                            f"last {fmt(tr.last)} UTC", tr.refs(), title=f"{rule['title']}: {exe}", executable=exe))
    return out


def _burst_source(con: sqlite3.Connection, kinds: list[str], test: str, grp: str = "''") -> str:
    """The events of every source for ``kinds`` whose name passes ``test`` (see :func:`_name_test`), plus a ``grp``
    column, as one query; empty when no source has such a name."""
    selects = []
    for s in sources(con):
        cond = _name_test(con, s, test)
        if cond is not None:
            selects.append(f"SELECT {_COLS}, {grp} AS grp FROM ({s.select(kinds, cond)})")
    return _union(selects)


@_in_session
def d_rename_pattern(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """Wiper-style names (created or renamed to) in bursts: one finding per burst, counted in distinct files."""
    p = rule["params"]
    rxs = [re.compile(x) for x in p["patterns"]]

    def hit(n: str) -> bool:
        for r in rxs:
            if r.match(n):
                return True
        return False

    fn = _matcher(con, hit)
    inner = _burst_source(con, ["create", "rename_new"], f"{fn}(name)")
    if not inner:
        return []
    out = []
    with _materialized(con, inner) as inner:
        for grp, lo, hi, files in _bursts(con, inner, p["window_seconds"] * TICKS, p["min_count"], fold=False):
            evs = _burst_events(con, inner, grp, lo, hi, fold=False)
            names = [r[0] for r in con.execute(f"SELECT DISTINCT name FROM ({inner}) WHERE ts BETWEEN ? AND ? "
                                               f"ORDER BY name LIMIT 10", (lo, hi))]
            out.append(_finding(rule, lo, f"{files} wiper-style names between {fmt(lo)} and {fmt(hi)} UTC: "
                                f"{', '.join(names)}", [_ref(e) for e in evs], count=files))
    return out


@_in_session
def d_mass_delete(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """Documents deleted in bursts: one finding per burst, counted in distinct files (MFT entry + name)."""
    p = rule["params"]
    exts = {"." + x.lower().lstrip(".") for x in p["extensions"]}
    fn = _matcher(con, lambda n: ext_of(n) in exts)
    inner = _burst_source(con, ["delete"], f"{fn}(name)")
    if not inner:
        return []
    ext = _ext_func(con)
    out = []
    with _materialized(con, inner) as inner:
        for grp, lo, hi, files in _bursts(con, inner, p["window_seconds"] * TICKS, p["min_files"], fold=True):
            evs = _burst_events(con, inner, grp, lo, hi, fold=True)
            by_ext = con.execute(f"SELECT {ext}(name) AS x, COUNT(DISTINCT IFNULL(entry, '') || '|' || lower(name)) "
                                 f"FROM ({inner}) WHERE ts BETWEEN ? AND ? GROUP BY x ORDER BY x", (lo, hi)).fetchall()
            out.append(_finding(rule, lo, f"{files} documents deleted between {fmt(lo)} and {fmt(hi)} UTC "
                                f"({', '.join(f'{k}: {v}' for k, v in by_ext)})", [_ref(e) for e in evs], count=files))
    return out


def d_si_fn_reversal(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    if "mft" not in tables(con):
        return []
    cols = columns(con, "mft")
    need = ("si_created", "fn_created", "full_path")
    if not all(c in cols for c in need):
        return []
    gap = int(rule["params"]["min_seconds"] * TICKS)
    excl = [x.lower() for x in rule["params"].get("exclude_paths") or []]
    out = []
    for rid, si, fn, path in con.execute(
            "SELECT id, si_created, fn_created, full_path FROM mft WHERE si_created IS NOT NULL AND "
            "fn_created IS NOT NULL AND fn_created - si_created >= ?", (gap,)):
        if any(x in norm_path(path) for x in excl):
            continue
        out.append(_finding(rule, fn, f"{path}: $SI created {fmt(si)} UTC is {(fn - si) / TICKS:,.0f} s before "
                            f"$FN created {fmt(fn)} UTC", [EvidenceRef("mft", rid, "SI created < FN created")],
                            title=f"{rule['title']}: {path}", path=path))
    return out


def d_si_time_reversal(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """$SI times rewritten to earlier values, from ``logfile_events`` (``old_*`` columns = the values before)."""
    if "logfile_events" not in tables(con):
        return []
    cols = set(columns(con, "logfile_events"))
    fields = [f for f in rule["params"]["fields"] if f in cols and f"old_{f}" in cols]
    if not fields:
        return []
    gap = int(rule["params"]["min_seconds"] * TICKS)
    sel = ", ".join(f"{ident(f)}, {ident('old_' + f)}" for f in fields)
    records = "logfile_records" in tables(con)
    out = []
    rows = con.execute(f"SELECT id, lsn, full_path, name, {sel} FROM logfile_events WHERE event = 'Time Change'")
    for row in rows.fetchall():  # few rows; the look-ups below need the connection
        eid, lsn, path, name = row[:4]
        vals = row[4:]
        back = {f: (vals[2 * i + 1], vals[2 * i]) for i, f in enumerate(fields)
                if vals[2 * i] and vals[2 * i + 1] and vals[2 * i + 1] - vals[2 * i] >= gap}
        if not back:
            continue
        refs = [EvidenceRef("logfile_events", eid, "time change")]
        if records:
            rec = con.execute("SELECT id FROM logfile_records WHERE lsn = ?", (lsn,)).fetchone()
            if rec:
                refs.append(EvidenceRef("logfile_records", rec[0], "UpdateResidentValue of $SI"))
        txt = "; ".join(f"{k}: {fmt(o)} -> {fmt(n)}" for k, (o, n) in back.items())
        ts = max(n for _o, n in back.values())
        out.append(_finding(rule, ts, f"{path or name} (LSN {lsn}): {txt} UTC", refs,
                            title=f"{rule['title']}: {path or name}", path=path))
    return out


def _renames(con: sqlite3.Connection, s: _Src) -> str:
    """Rename-new events of one source with the name before (``old``). USN journals: the name of the latest
    RENAME_OLD_NAME record of the same MFT entry before it in journal order (a running count of those records
    numbers the renames; FIRST_VALUE takes the old name of each)."""
    if not s.usn:
        return s.select(["rename_new"])
    inner = s.select(["rename_old", "rename_new"])
    return (
        f"SELECT tbl, id, ts, entry, name, parent, full, kc, seq, "
        f"FIRST_VALUE(CASE WHEN (kc & {_USN_BITS['rename_old']}) != 0 THEN name END) OVER "
        f"(PARTITION BY entry, g ORDER BY seq, id) AS old FROM ("
        f"SELECT *, SUM(CASE WHEN (kc & {_USN_BITS['rename_old']}) != 0 THEN 1 ELSE 0 END) OVER "
        f"(PARTITION BY entry ORDER BY seq, id ROWS UNBOUNDED PRECEDING) AS g FROM ({inner}))"
    )


def d_mass_rename_ext(con: sqlite3.Connection, rule: dict[str, Any]) -> list[Finding]:
    """Files renamed to a new extension, in bursts per extension: one finding per burst, in distinct files."""
    p = rule["params"]
    srcs = sources(con)
    if not srcs:
        return []
    ext = _ext_func(con)
    inner = _union([
        f"SELECT {_COLS}, {ext}(name) AS grp FROM ({_renames(con, s)}) WHERE (kc & {_USN_BITS['rename_new']}) != 0"
        if s.usn else f"SELECT {_COLS}, {ext}(name) AS grp FROM ({_renames(con, s)})"
        for s in srcs
    ])
    inner = f"SELECT * FROM ({inner}) WHERE old IS NOT NULL AND old != '' AND grp != '' AND {ext}(old) != grp"
    out = []
    with _materialized(con, inner) as inner:
        for grp, lo, hi, files in _bursts(con, inner, p["window_seconds"] * TICKS, p["min_files"], fold=True):
            evs = _burst_events(con, inner, grp, lo, hi, fold=True)
            out.append(_finding(rule, lo, f"{files} files renamed to *{grp} between {fmt(lo)} and {fmt(hi)} UTC",
                                [_ref(e) for e in evs], title=f"{rule['title']}: *{grp}", extension=grp, count=files))
    out.sort(key=lambda f: (f.details["extension"], f.ts or 0))
    return out


DETECTORS: dict[str, Callable[[sqlite3.Connection, dict[str, Any]], list[Finding]]] = {
    "time_rollback": d_time_rollback, "event_id": d_event_id, "file_name": d_file_name, "prefetch": d_prefetch,
    "rename_pattern": d_rename_pattern, "mass_delete": d_mass_delete, "si_fn_reversal": d_si_fn_reversal,
    "si_time_reversal": d_si_time_reversal, "mass_rename_ext": d_mass_rename_ext,
}


def run(con: sqlite3.Connection, rules: list[dict[str, Any]] | None = None) -> list[Finding]:
    """Every rule over the tables present; missing tables or columns simply give no findings."""
    rules = load_rules() if rules is None else rules
    out: list[Finding] = []
    with _names_session(con):
        for rule in rules:
            try:
                out += DETECTORS[rule["detector"]](con, rule)
            except sqlite3.Error:  # a table with an unexpected shape: that rule yields nothing
                continue
    return out
