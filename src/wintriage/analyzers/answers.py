"""The incident questions, answered from the case store with the evidence behind each answer.

``compute(con)`` works on any case (times in FILETIME ticks, evidence as (table, row id, note));
``answer_case(case_dir, tz)`` renders it with UTC and local times, and the CTF-style flags.
The JSON schema is documented in docs/answers.md (``schema: wintriage.answers/1``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from ..store.case import ident
from ..timeutil import iso
from . import attribution, downloads, execution, ransomware
from .common import (
    DAY,
    EXEC_EXTS,
    MINUTE,
    USN_FILE_CREATE,
    basename,
    columns,
    ext_of,
    is_user_writable,
    pick,
    tables,
    win_path,
)

SCHEMA = "wintriage.answers/1"


def _first(con: sqlite3.Connection, table: str, cands: tuple[str, ...], order: str | None = None) -> Any:
    if table not in tables(con):
        return None
    c = pick(columns(con, table), *cands)
    if not c:
        return None
    # plugins emit the current control set first, so the lowest id is the live configuration
    row = con.execute(f"SELECT {ident(c)} FROM {ident(table)} WHERE {ident(c)} IS NOT NULL AND {ident(c)} != '' "
                      + (f"ORDER BY {ident(order)} DESC" if order and order in columns(con, table) else "ORDER BY id")
                      + " LIMIT 1").fetchone()
    return row[0] if row else None


def system_overview(con: sqlite3.Connection) -> dict[str, Any]:
    users = []
    if "reg_profilelist" in tables(con):
        c = columns(con, "reg_profilelist")
        sid = pick(c, "profile_sid", "sid")
        user = pick(c, "user_name", "username", "user")
        path = pick(c, "profile_path", "profile_image_path", "path")
        if sid:
            for row in con.execute(f"SELECT {ident(sid)}, " + (ident(user) if user else "NULL") + ", "
                                   + (ident(path) if path else "NULL") + " FROM reg_profilelist"):
                if row[0] and row[0].startswith("S-1-5-21-"):
                    users.append({"sid": row[0], "name": row[1] or basename(row[2] or ""), "profile": row[2] or ""})
    meta = {}
    for k, v in con.execute("SELECT key, value FROM meta"):
        try:
            meta[k] = json.loads(v)
        except (ValueError, TypeError):
            meta[k] = v
    return {
        "hostname": _first(con, "reg_computername", ("computer_name", "name", "hostname")),
        "os": _first(con, "reg_osinfo", ("product_name", "productname")),
        "os_build": _first(con, "reg_osinfo", ("current_build", "build")),
        "timezone": _first(con, "reg_timezone", ("time_zone_key_name", "timezone_key_name", "standard_name", "name")),
        "timezone_bias_minutes": _first(con, "reg_timezone", ("bias",)),
        "users": users,
        "volumes": meta.get("volumes", []),
    }


def _runs_of(all_runs: list[execution.Run], key: str) -> list[execution.Run]:
    return [r for r in all_runs if r.key == key]


def _proofs(run: execution.Run | None) -> list[dict[str, Any]]:
    if run is None:
        return []
    return [{"table": p.ref_table, "id": p.ref_id, "source": p.source, "time": p.ts, "path": p.path} for p in run.proofs]


def dropped_after(con: sqlite3.Connection, t0: int, window: int = 30 * MINUTE) -> list[dict[str, Any]]:
    """Executables that appeared in user-writable folders soon after ``t0`` (what a dropper dropped)."""
    if "usnjrnl" not in tables(con):
        return []
    c = columns(con, "usnjrnl")
    n, ts, r, pp = pick(c, "name"), pick(c, "timestamp"), pick(c, "reason_flags"), pick(c, "parent_path")
    if not (n and ts and r):
        return []
    out = []
    q = (f"SELECT id, {ident(n)}, {ident(ts)}, " + (ident(pp) if pp else "''") + f" FROM usnjrnl WHERE {ident(ts)} BETWEEN ? AND ? "
         f"AND ({ident(r)} & {USN_FILE_CREATE}) != 0 ORDER BY {ident(ts)}")
    seen = set()
    for rid, name, when, parent in con.execute(q, (t0, t0 + window)):
        path = win_path(ransomware.join(parent, name))
        if ext_of(name) in EXEC_EXTS and is_user_writable(path) and path.lower() not in seen:
            seen.add(path.lower())
            out.append({"path": path, "name": name, "created": when, "ref": ("usnjrnl", rid)})
    return out


def compute(con: sqlite3.Connection) -> dict[str, Any]:
    evidence = execution.collect(con)
    all_runs = execution.runs(evidence)
    dls = downloads.collect(con)
    downloads.attach_runs(dls, all_runs)
    bursts = ransomware.find_bursts(con)
    rw = next((b for b in bursts if b.verdict == "ransomware"), None)
    out: dict[str, Any] = {"schema": SCHEMA, "system": system_overview(con)}

    # --- ransomware ---------------------------------------------------------------------------
    rans: dict[str, Any] = {"detected": rw is not None}
    payload: attribution.Candidate | None = None
    if rw is not None:
        cands = attribution.rank(con, all_runs, rw.start, rw.end)
        payload = cands[0] if cands else None
        suffixes = {t.suffix for t in rw.items if t.suffix}
        rans.update({
            "first_encrypted": rw.first,
            "encrypted_count": len({(t.entry, t.seq) for t in rw.items}),
            "new_extension": suffixes.pop() if len(suffixes) == 1 else rw.new_ext,
            "extension_style": rw.style,
            "note_name": rw.notes.get("name"),
            "note_paths": rw.notes.get("paths", []),
            "burst_start": rw.start,
            "burst_end": rw.end,
            "features": rw.features,
            "reasons": rw.reasons,
            "executable": None,
            "candidates": [c.as_dict() for c in cands[:5]],
            "evidence": [],
        })
        if rw.first:
            rans["evidence"].append({"table": "usnjrnl", "id": rw.first["row_id"], "note": "first journal record of the first encrypted file"})
            rans["evidence"].append({"table": "usnjrnl", "id": rw.first["rename_row_id"], "note": "its rename to the new extension"})
        for rid in rw.notes.get("row_ids", [])[:3]:
            rans["evidence"].append({"table": "usnjrnl", "id": rid, "note": "ransom note created"})
        if payload is not None:
            first_runs = _runs_of(all_runs, payload.key)
            rans["executable"] = {
                **payload.as_dict(),
                "first_exec": first_runs[0].ts if first_runs else payload.first_run,
                "proofs": _proofs(first_runs[0] if first_runs else None),
                "persistence": [{"table": t, "id": i, "text": x} for t, i, x in payload.persistence],
            }
    out["ransomware"] = rans
    out["bulk_activity"] = [
        {"new_extension": b.new_ext, "files": b.features.get("files"), "start": b.start, "end": b.end, "verdict": b.verdict,
         "score": b.score, "reasons": b.reasons}
        for b in bursts
    ]

    # --- initial access -----------------------------------------------------------------------
    executed = [d for d in dls if d.runs and downloads.is_executable(d)]
    chosen: downloads.Download | None = None
    payload_created = payload.created if payload else None
    if payload is not None:
        anchor = payload_created or payload.first_run or (rw.start if rw else None)
        # the payload itself came from the internet?
        chosen = next((d for d in dls if d.key == payload.key and d.url), None)
        if chosen is None and anchor:
            before = [d for d in executed if d.first_exec and d.first_exec <= anchor + MINUTE and anchor - d.first_exec <= 2 * DAY]
            if before:
                chosen = max(before, key=lambda d: d.first_exec or 0)
    if chosen is None and executed and rw is None:
        # no incident to anchor on: the newest executed program download from a non-trusted zone
        risky = [d for d in executed if ext_of(d.file_name) in EXEC_EXTS and (d.zone_id in ("3", "4", ""))]
        chosen = max(risky, key=lambda d: d.first_exec or 0) if risky else None
    ia: dict[str, Any] = {"found": chosen is not None}
    if chosen is not None:
        first_run = chosen.runs[0] if chosen.runs else None
        ia.update(chosen.as_dict())
        ia["executed"] = first_run.ts if first_run else None
        ia["execution_proofs"] = _proofs(first_run)
        ia["evidence"] = [{"table": t, "id": i, "note": n} for t, i, n in chosen.refs]
        ia["dropped"] = dropped_after(con, first_run.ts) if first_run else []
    out["initial_access"] = ia
    out["downloads"] = [d.as_dict() for d in sorted(dls, key=lambda d: d.start or 0)]
    out["executions"] = [
        {"path": win_path(r.path) if ("\\" in r.path or "/" in r.path) else r.path, "name": r.name, "time": r.ts, "sources": r.sources}
        for r in all_runs
    ]
    from .context import summary as context_summary

    out["context"] = context_summary(con, all_runs)
    out["findings"] = [
        {"id": fid, "analyzer": a, "title": t, "severity": s, "time": ts}
        for fid, a, t, s, ts in con.execute("SELECT id, analyzer, title, severity, ts FROM findings ORDER BY ts")
    ] if "findings" in tables(con) else []
    return out


# --- rendering -------------------------------------------------------------------------------
TIME_KEYS = {"time", "first_exec", "exec_near_incident", "created", "burst_start", "burst_end", "downloaded",
             "download_end", "executed", "start", "end"}


def _render_times(obj: Any, tz: timezone) -> Any:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k in TIME_KEYS and (isinstance(v, int) or v is None) and not isinstance(v, bool):
                out[f"{k}_utc"] = iso(v, UTC, 6) if v else None
                out[f"{k}_local"] = iso(v, tz, 6) if v else None
            else:
                out[k] = _render_times(v, tz)
        return out
    if isinstance(obj, list):
        return [_render_times(x, tz) for x in obj]
    return obj


def _flag_part(s: str) -> str:
    return s.lower().replace(" ", "_")


def _flag_time(ticks: int | None, tz: timezone) -> str:
    return iso(ticks, tz, 0)[:19] if ticks else "?"


def flags(ans: dict[str, Any], tz: timezone) -> dict[str, str | None]:
    rw = ans.get("ransomware", {})
    ia = ans.get("initial_access", {})
    ir1 = ir2 = None
    fe, ex = rw.get("first_encrypted"), rw.get("executable")
    if rw.get("detected") and fe and ex:
        ir1 = f"KEEPER{{{_flag_part(fe['original_name'])}_{_flag_time(fe['time'], tz)}_{_flag_part(ex['name'])}}}"
    if ia.get("found") and ia.get("download_url") and ia.get("executed"):
        ir2 = f"KEEPER{{{ia['download_url']}_{_flag_part(ia['file_name'])}_{_flag_time(ia['executed'], tz)}}}"
    return {"IR1": ir1, "IR2": ir2}


def render(ans: dict[str, Any], tz: timezone) -> dict[str, Any]:
    out = _render_times(ans, tz)
    out["timezone"] = iso(0, tz)[-6:] if tz.utcoffset(None) else "UTC"
    out["flags"] = flags(ans, tz)
    return out


def load(case_dir: Path) -> dict[str, Any]:
    db = Path(case_dir) / "case.sqlite" if Path(case_dir).is_dir() else Path(case_dir)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'answers'").fetchone()
        return json.loads(row[0]) if row else compute(con)
    finally:
        con.close()


def answer_case(case_dir: Path, tz: timezone = UTC) -> dict[str, Any]:
    return render(load(case_dir), tz)


def print_answers(res: dict[str, Any], tz: timezone) -> None:
    from rich.console import Console
    from rich.text import Text

    con = Console()

    def line(s: str, style: str = "") -> None:
        con.print(Text(s), style=style)

    def evidence(refs: list[dict[str, Any]], proofs: list[dict[str, Any]]) -> None:
        for e in refs:
            line(f"  evidence {e['table']}#{e['id']}: {e['note']}")
        for p in proofs:
            line(f"  execution proof {p['source']} {p['table']}#{p['id']} at {p.get('time_local')}")

    rw = res.get("ransomware", {})
    line("== Ransomware", "bold")
    if not rw.get("detected"):
        line("No encryption burst found: no ransomware activity in the file-system journal.")
    else:
        fe = rw.get("first_encrypted") or {}
        ex = rw.get("executable") or {}
        line(f"First encrypted file : {fe.get('original_path')} -> {fe.get('encrypted_name')}")
        line(f"Infection time       : {fe.get('time_local')} ({fe.get('time_utc')} UTC)")
        line(f"Encrypting executable: {ex.get('path')} (first run {ex.get('first_exec_local')})")
        line(f"Encrypted files      : {rw.get('encrypted_count')}  new extension {rw.get('new_extension')} ({rw.get('extension_style')})")
        line(f"Ransom note          : {rw.get('note_name')} in {len(rw.get('note_paths') or [])} folders")
        line("Why: " + "; ".join(rw.get("reasons", [])))
        for c in rw.get("candidates", [])[:3]:
            line(f"  candidate {c['path']} score {c['score']}: {'; '.join(c['reasons'])}")
        evidence(rw.get("evidence", []), ex.get("proofs", []))
    ia = res.get("initial_access", {})
    line("== Initial access", "bold")
    if not ia.get("found"):
        line("No executed download from the internet was found.")
    else:
        line(f"Download URL : {ia.get('download_url')}")
        line(f"Referrer     : {ia.get('referrer')}   tab: {ia.get('tab_url')}")
        line(f"URL chain    : {' -> '.join(ia.get('url_chain') or [])}")
        line(f"File         : {ia.get('file_path')}")
        line(f"Downloaded   : {ia.get('downloaded_local')}   executed: {ia.get('executed_local')}")
        for d in ia.get("dropped", []):
            line(f"  then dropped {d['path']} at {d.get('created_local')}")
        evidence(ia.get("evidence", []), ia.get("execution_proofs", []))
    line("== Context", "bold")
    for theme, items in (res.get("context") or {}).items():
        for it in items:
            what = it.get("title") or f"{it.get('program')} ran"
            line(f"{theme:22} {it.get('time_local') or '':32} {what}")
    fl = res.get("flags", {})
    line("== Flags", "bold")
    for k, v in fl.items():
        line(f"{k}: {v or 'not determined'}")
