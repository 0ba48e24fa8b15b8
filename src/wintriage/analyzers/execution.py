"""Execution evidence from every source, reconciled into runs.

Sources (whichever the case has): prefetch run times, UserAssist, BAM/DAM, Amcache, ShimCache, Security 4688,
Sysmon 1. The same run seen by several sources within a few seconds is one run with several proofs.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..store.case import ident
from .common import TICKS_PER_SECOND, Execution, basename, best_path, columns, norm_path, pick, tables

# sources whose timestamp is a real run time (not a "file last modified" or "first seen")
RUN_SOURCES = ("prefetch", "userassist", "bam", "evtx-4688", "sysmon-1")
RECONCILE_WINDOW = 5 * TICKS_PER_SECOND


def _table_with(con: sqlite3.Connection, names: tuple[str, ...], needed: tuple[tuple[str, ...], ...]) -> tuple[str, list[Any]] | None:
    """The first table present with the first two needed columns; the picked names (later ones may be None)."""
    have = tables(con)
    for t in names:
        if t in have:
            cols = columns(con, t)
            picked = [pick(cols, *cands) for cands in needed]
            if picked[0] is not None and picked[1] is not None:
                return t, picked
    return None


def collect(con: sqlite3.Connection) -> list[Execution]:
    out: list[Execution] = []
    # prefetch: one row per run time
    found = _table_with(
        con, ("prefetch_runs", "prefetch_timeline", "prefetch_run_times"),
        (("run_time", "runtime", "ts"), ("executable_path", "path"), ("executable_name", "name"), ("is_last_run",)),
    )
    if found:
        t, (ts, path, name, last) = found
        sql = f"SELECT id, {ident(ts)} AS ts, {ident(path)} AS p" + (f", {ident(name)} AS n" if name else ", '' AS n")
        sql += f" FROM {ident(t)}"
        for rid, when, p, n in con.execute(sql):
            nm = (basename(p) or n or "").lower()
            out.append(Execution(p or n or "", nm, when, "prefetch", "run", t, rid))
    # UserAssist
    found = _table_with(
        con, ("reg_userassist",),
        (("last_run", "last_executed", "last_run_time", "ts"), ("program_name", "program", "path", "name", "value_name"),
         ("run_count", "count"), ("user",)),
    )
    if found:
        t, (ts, path, cnt, user) = found
        sql = f"SELECT id, {ident(ts)}, {ident(path)}" + (f", {ident(cnt)}" if cnt else ", NULL") + f" FROM {ident(t)}"
        for rid, when, p, c in con.execute(sql):
            if when:
                out.append(Execution(p or "", basename(p).lower(), when, "userassist", "last_run", t, rid, c))
    # BAM / DAM
    found = _table_with(
        con, ("reg_bam",), (("last_run", "last_execution", "last_executed", "ts", "execution_time"), ("path", "program", "executable")),
    )
    if found:
        t, (ts, path) = found
        for rid, when, p in con.execute(f"SELECT id, {ident(ts)}, {ident(path)} FROM {ident(t)}"):
            if when:
                out.append(Execution(p or "", basename(p).lower(), when, "bam", "last_run", t, rid))
    # Amcache: first seen / file modified; not a run, but proof the file was there (and its SHA1)
    found = _table_with(
        con, ("reg_amcache_file", "reg_amcache"),
        (("key_last_write", "last_write", "timestamp", "ts"), ("full_path", "path", "lower_case_long_path")),
    )
    if found:
        t, (ts, path) = found
        for rid, when, p in con.execute(f"SELECT id, {ident(ts)}, {ident(path)} FROM {ident(t)}"):
            out.append(Execution(p or "", basename(p).lower(), when, "amcache", "first_seen", t, rid))
    # Security 4688 and Sysmon 1
    if "evtx" in tables(con):
        cols = columns(con, "evtx")
        ed = pick(cols, "event_data", "eventdata", "payload")
        ch = pick(cols, "channel")
        tc = pick(cols, "time_created", "timecreated", "ts")
        eid = pick(cols, "event_id", "eventid")
        if ed and ch and tc and eid:
            for rid, when, _channel, e, data in con.execute(
                f"SELECT id, {ident(tc)}, {ident(ch)}, {ident(eid)}, {ident(ed)} FROM evtx WHERE "
                f"({ident(eid)} = 4688 AND {ident(ch)} = 'Security') OR "
                f"({ident(eid)} = 1 AND {ident(ch)} LIKE '%Sysmon%')"
            ):
                try:
                    d = json.loads(data) if data else {}
                except ValueError:
                    continue
                d = _flatten(d)
                img = d.get("NewProcessName") or d.get("Image") or ""
                src = "evtx-4688" if e == 4688 else "sysmon-1"
                out.append(Execution(img, basename(img).lower(), when, src, "run", "evtx", rid,
                                     extra={"command_line": d.get("CommandLine") or d.get("ProcessCommandLine") or "",
                                            "parent": d.get("ParentProcessName") or d.get("ParentImage") or ""}))
    return out


def _flatten(d: Any) -> dict[str, Any]:
    """EventData may come as {"Data": [{"@Name":..,"#text":..}]} or as a flat dict; give a flat dict."""
    if not isinstance(d, dict):
        return {}
    flat: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v))
        elif isinstance(v, list):
            for item in v:
                if isinstance(item, dict) and "@Name" in item:
                    flat[item["@Name"]] = item.get("#text")
        else:
            flat[k] = v
    return flat


@dataclass
class Run:
    """One execution of one program, with every proof that points at it."""

    key: str
    name: str
    path: str
    ts: int
    proofs: list[Execution] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return sorted({p.source for p in self.proofs})


def by_program(evidence: list[Execution]) -> dict[str, list[Execution]]:
    """Group evidence per program. The key is the normalised path when known, else the file name; evidence
    known only by name (prefetch without a path) joins the single path with that name."""
    groups: dict[str, list[Execution]] = defaultdict(list)
    names_to_keys: dict[str, set[str]] = defaultdict(set)
    for e in evidence:
        if e.path and ("\\" in e.path or "/" in e.path):
            k = norm_path(e.path)
            groups[k].append(e)
            names_to_keys[e.name].add(k)
    for e in evidence:
        if not (e.path and ("\\" in e.path or "/" in e.path)):
            keys = names_to_keys.get(e.name)
            k = next(iter(keys)) if keys and len(keys) == 1 else e.name
            groups[k].append(e)
    return groups


def runs(evidence: list[Execution]) -> list[Run]:
    """Reconcile: run-time proofs of one program within RECONCILE_WINDOW are one run."""
    out: list[Run] = []
    for key, evs in by_program(evidence).items():
        timed = sorted((e for e in evs if e.ts and e.source in RUN_SOURCES), key=lambda e: e.ts or 0)
        cur: Run | None = None
        for e in timed:
            assert e.ts is not None
            if cur and e.ts - cur.ts <= RECONCILE_WINDOW:
                cur.proofs.append(e)
                continue
            path = best_path([(x.source, x.path) for x in evs]) or e.path
            cur = Run(key, e.name, path, e.ts, [e])
            out.append(cur)
    out.sort(key=lambda r: r.ts)
    return out
