"""Which executable did it: rank programs by their execution evidence around an incident window."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..store.case import ident
from .common import (
    DAY,
    EXEC_EXTS,
    HOUR,
    LOLBINS,
    MINUTE,
    USN_FILE_CREATE,
    Execution,
    basename,
    best_path,
    columns,
    ext_of,
    is_system_path,
    is_user_writable,
    norm_path,
    pick,
    tables,
    win_path,
)
from .execution import Run

PERSISTENCE_TABLES = ("reg_runkeys", "reg_services", "reg_scheduled_tasks", "reg_tasks")


@dataclass
class Candidate:
    key: str
    name: str
    path: str
    first_run: int | None
    window_run: int | None
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    created: int | None = None
    created_ref: tuple[str, int, str] | None = None
    persistence: list[tuple[str, int, str]] = field(default_factory=list)
    proofs: list[Execution] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": win_path(self.path),
            "name": basename(self.path) or self.name,
            "first_exec": self.first_run,
            "exec_near_incident": self.window_run,
            "created": self.created,
            "score": self.score,
            "reasons": self.reasons,
            "sources": sorted({p.source for p in self.proofs}),
        }


def mentions(con: sqlite3.Connection, table: str, needle: str) -> list[tuple[int, str]]:
    """Rows of ``table`` whose text columns mention ``needle`` (bound as a parameter)."""
    if table not in tables(con) or not needle:
        return []
    cols = [r[1] for r in con.execute(f"PRAGMA table_info({ident(table)})") if (r[2] or "").upper() in ("TEXT", "")]
    if not cols:
        return []
    where = " OR ".join(f"{ident(c)} LIKE ?" for c in cols)
    pat = f"%{needle}%"
    out = []
    for row in con.execute(f"SELECT id, * FROM {ident(table)} WHERE {where} LIMIT 20", [pat] * len(cols)):
        out.append((row[0], " ".join(str(x) for x in row[1:] if isinstance(x, str) and needle.lower() in x.lower())[:300]))
    return out


def _chunks(items: list[str], n: int = 500) -> list[list[str]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def mft_paths(con: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    """Each file's path as the $MFT spells it (original case), when the file is still there: one query for all."""
    if "mft" not in tables(con):
        return {}
    c = columns(con, "mft")
    fp, nm = pick(c, "full_path", "path"), pick(c, "name", "file_name")
    keys = [k for k in keys if k.startswith("\\")]
    if not (fp and nm and keys):
        return {}
    by_name: dict[str, list[str]] = {}
    for k in keys:
        by_name.setdefault(k.rsplit("\\", 1)[-1], []).append(k)
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(by_name)):
        q = (f"SELECT {ident(nm)}, {ident(fp)} FROM mft WHERE {ident(nm)} COLLATE NOCASE "
             f"IN ({','.join('?' * len(chunk))}) ORDER BY id")
        for name, p in con.execute(q, chunk):
            n = norm_path(p)
            for k in by_name.get((name or "").lower(), []):
                if n == k and k not in out:
                    out[k] = win_path(p)
    return out


def mft_path(con: sqlite3.Connection, key: str) -> str | None:
    """The file's path as the $MFT spells it (original case), when the file is still there."""
    return mft_paths(con, [key]).get(key)


Created = tuple[int | None, tuple[str, int, str] | None]


def created_times(con: sqlite3.Connection, paths: list[str]) -> dict[str, Created]:
    """When each file appeared: the journal's FILE_CREATE (immune to $SI backdating), else $FN created.
    One pass over the journal (and one $MFT query) for all the paths."""
    want: dict[str, list[tuple[str, str]]] = {}  # name -> [(path, key)]
    for p in paths:
        name = basename(p)
        if name:
            want.setdefault(name, []).append((p, norm_path(p)))
    out: dict[str, Created] = {}
    have = tables(con)
    if want and "usnjrnl" in have:
        c = columns(con, "usnjrnl")
        n, ts, r, pp = pick(c, "name"), pick(c, "timestamp"), pick(c, "reason_flags"), pick(c, "parent_path")
        if n and ts and r:
            for chunk in _chunks(sorted(want)):
                q = (f"SELECT id, {ident(ts)}, {ident(n)}, " + (ident(pp) if pp else "''") + f" FROM usnjrnl "
                     f"WHERE ({ident(r)} & {USN_FILE_CREATE}) != 0 AND {ident(n)} IN ({','.join('?' * len(chunk))}) "
                     f"ORDER BY {ident(ts)}, id")
                for rid, when, name, parent in con.execute(q, chunk):
                    for p, key in want.get(name, []):
                        if p not in out and (not pp or not parent or norm_path(str(parent) + "\\" + name) == key):
                            out[p] = (when, ("usnjrnl", rid, "FILE_CREATE in $J"))
    rest = {name: [(p, k) for p, k in v if p not in out] for name, v in want.items()}
    rest = {k: v for k, v in rest.items() if v}
    if rest and "mft" in have:
        c = columns(con, "mft")
        fp, fn = pick(c, "full_path", "path"), pick(c, "fn_created", "created0x30")
        nm = pick(c, "name", "file_name")
        if fp and fn and nm:
            for chunk in _chunks(sorted(rest)):
                q = (f"SELECT id, {ident(nm)}, {ident(fp)}, {ident(fn)} FROM mft "
                     f"WHERE {ident(nm)} IN ({','.join('?' * len(chunk))}) ORDER BY id")
                for rid, name, fpath, when in con.execute(q, chunk):
                    for p, key in rest.get(name, []):
                        if p not in out and when and norm_path(fpath) == key:
                            out[p] = (when, ("mft", rid, "$FILE_NAME created"))
    return out


def created_time(con: sqlite3.Connection, path: str) -> Created:
    """When the file appeared (see ``created_times``)."""
    return created_times(con, [path]).get(path, (None, None))


def rank(con: sqlite3.Connection, all_runs: list[Run], start: int, end: int) -> list[Candidate]:
    """Rank the programs that could have caused what happened in [start, end], from ``execution.runs()``."""
    runs_by_key: dict[str, list[Run]] = {}
    for r in all_runs:
        runs_by_key.setdefault(r.key, []).append(r)
    cands: list[Candidate] = []
    nearby: list[tuple[str, list[Run], Run]] = []
    for key, rs in runs_by_key.items():
        near = [r for r in rs if start - DAY <= r.ts <= end]
        if not near:
            continue
        before = [r for r in near if r.ts <= start]
        nearby.append((key, rs, before[-1] if before else near[0]))
    mft = mft_paths(con, [key for key, _rs, _w in nearby])
    paths = [mft.get(key) or best_path([(p.source, p.path) for r in rs for p in r.proofs]) or w.path or key
             for key, rs, w in nearby]
    created_at = created_times(con, paths)
    for (key, rs, w), path in zip(nearby, paths, strict=True):
        name = basename(path).lower() or w.name
        c = Candidate(key, name, path, rs[0].ts, w.ts, proofs=[p for r in rs for p in r.proofs])
        delta = start - w.ts
        if 0 <= delta <= 10 * MINUTE:
            c.score += 5
            c.reasons.append(f"ran {delta / 1e7:.0f} s before the incident began")
        elif 0 <= delta <= HOUR:
            c.score += 3
            c.reasons.append(f"ran {delta / 6e8:.0f} min before the incident began")
        elif delta > 0:
            c.score += 1
            c.reasons.append(f"ran {delta / 3.6e10:.1f} h before the incident began")
        else:
            c.score += 2
            c.reasons.append("ran during the incident")
        if name in LOLBINS or is_system_path(path):
            c.score -= 6
            c.reasons.append("a Windows/system program (a tool, not the culprit)")
        if is_user_writable(path):
            c.score += 3
            c.reasons.append("runs from a user-writable folder")
        if ext_of(name) not in EXEC_EXTS and ext_of(name):
            c.score -= 1
        if rs[0].ts < start - 7 * DAY:
            c.score -= 3
            c.reasons.append("has been running for more than a week (long-standing program)")
        created, cref = created_at.get(path, (None, None))
        c.created = created
        c.created_ref = cref
        if created and start - 7 * DAY <= created <= (c.window_run or start):
            c.score += 2
            c.reasons.append("file appeared shortly before it ran")
        for t in PERSISTENCE_TABLES:
            for rid, text in mentions(con, t, basename(path)):
                c.persistence.append((t, rid, text))
        if c.persistence:
            c.score += 3
            c.reasons.append("persistence points at it")
        cands.append(c)
    cands.sort(key=lambda c: (-c.score, abs(start - (c.window_run or start))))
    return cands
