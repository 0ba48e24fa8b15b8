"""Context around an incident: Defender tampering, persistence, shadow-copy deletion, log clearing, timestomping.

Findings from the registry and execution evidence (the event-log side is covered by the Sigma rules and the
file-system side by ``suspicious``); ``summary(con)`` gathers all of it for the answers' ``context`` section.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..model import EvidenceRef, Finding
from ..store.case import ident
from . import execution
from .common import basename, columns, is_user_writable, pick, tables, win_path

# Programs whose only purpose is to switch Windows Defender off (lower-case file names)
DEFENDER_TOOLS = {
    "dcontrol.exe": "Defender Control (sordum.org)",
    "defendercontrol.exe": "Defender Control",
    "configuredefender.exe": "ConfigureDefender",
    "defender_remover.exe": "Windows Defender Remover",
    "defenderremover.exe": "Windows Defender Remover",
    "disable-defender.exe": "Disable-Defender",
    "windefdisable.exe": "WinDefDisable",
}
# Applications that normally install per user and start from AppData (an autorun of theirs is expected)
PER_USER_APPS = {"onedrive.exe", "teams.exe", "ms-teams.exe", "slack.exe", "discord.exe", "spotify.exe", "zoom.exe",
                 "dropbox.exe", "update.exe", "whatsapp.exe", "telegram.exe", "googledrivefs.exe", "kakaotalk.exe"}
SHADOW_TOOLS = {"vssadmin.exe", "wbadmin.exe", "wmic.exe", "diskshadow.exe", "vssvc.exe"}
LOG_CLEAR_WORDS = ("log clear", "cleared", "1102", "wevtutil")
TIMESTOMP_WORDS = ("timestomp", "$si", "time reversal", "si<fn", "set back")
SHADOW_WORDS = ("shadow",)


def run(con: sqlite3.Connection) -> list[Finding]:
    out: list[Finding] = []
    have = tables(con)
    if "reg_defender" in have:
        c = columns(con, "reg_defender")
        weak, name, val, lw = pick(c, "weakens_protection"), pick(c, "name"), pick(c, "value"), pick(c, "last_write")
        if weak and name:
            rows = con.execute(f"SELECT id, {ident(name)}, {ident(val) if val else 'NULL'}, {ident(lw) if lw else 'NULL'} "
                               f"FROM reg_defender WHERE {ident(weak)} = 1 ORDER BY id").fetchall()
            if rows:
                names = sorted({f"{r[1]}={r[2]}" for r in rows})
                out.append(Finding(
                    "context", "Windows Defender protection switched off in the registry", "high",
                    max((r[3] for r in rows if r[3]), default=None),
                    "Settings that disable or weaken Defender: " + ", ".join(names),
                    tuple(EvidenceRef("reg_defender", r[0], f"{r[1]}={r[2]}") for r in rows[:50]),
                    {"kind": "defender", "settings": names},
                ))
    evidence = execution.collect(con)
    by_tool: dict[str, list[execution.Run]] = {}
    for r in execution.runs(evidence):
        if r.name in DEFENDER_TOOLS:
            by_tool.setdefault(r.key, []).append(r)
    for rs in by_tool.values():
        tool = DEFENDER_TOOLS[rs[0].name]
        shown = _shown(rs[0].path)
        out.append(Finding(
            "context", f"Defender tampering tool executed: {basename(shown)} ({tool})", "high", rs[0].ts,
            f"{shown} ran {len(rs)} time(s) on evidence from {', '.join(sorted({s for r in rs for s in r.sources}))}",
            tuple(EvidenceRef(p.ref_table, p.ref_id, p.source) for r in rs for p in r.proofs)[:50],
            {"kind": "defender", "tool": tool, "path": shown, "runs": [r.ts for r in rs]},
        ))
    if "reg_runkeys" in have:
        c = columns(con, "reg_runkeys")
        cmd, vn = pick(c, "command"), pick(c, "value_name")
        if cmd:
            for rid, command, name, kp, lw in con.execute(
                f"SELECT id, {ident(cmd)}, {ident(vn) if vn else 'NULL'}, key_path, last_write FROM reg_runkeys"
            ):
                target = _command_path(command or "")
                if target and is_user_writable(target):
                    known = basename(target).lower() in PER_USER_APPS
                    out.append(Finding(
                        "context", f"Autorun from a user-writable folder: {name}", "info" if known else "high", lw,
                        f"{kp}\\{name} = {command}", (EvidenceRef("reg_runkeys", rid, "Run key value"),),
                        {"kind": "persistence", "path": target},
                    ))
    if "reg_services" in have and "user_writable_path" in columns(con, "reg_services"):
        for rid, name, image, lw in con.execute(
            "SELECT id, name, image_path, last_write FROM reg_services WHERE user_writable_path = 1"
        ):
            out.append(Finding(
                "context", f"Service runs from a user-writable folder: {name}", "high", lw, f"ImagePath = {image}",
                (EvidenceRef("reg_services", rid, "service key"),), {"kind": "persistence", "path": image},
            ))
    return out


def _shown(path: str) -> str:
    """``C:\\...`` for a full path, the bare name otherwise."""
    return win_path(path) if ("\\" in path or "/" in path) else path


def _command_path(command: str) -> str:
    """The program a command line starts: the quoted part, or up to the first '.exe'."""
    c = command.strip()
    if c.startswith('"'):
        return c[1:].split('"', 1)[0]
    low = c.lower()
    i = low.find(".exe")
    return c[: i + 4] if i >= 0 else c.split(" ", 1)[0]


def summary(con: sqlite3.Connection, runs: list[execution.Run]) -> dict[str, Any]:
    """The answers' ``context`` section: findings grouped by theme, plus shadow-copy tool runs."""
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in ("defender", "persistence", "shadow_copy_deletion",
                                                               "log_clearing", "timestomp")}
    if "findings" in tables(con):
        for fid, analyzer, title, severity, ts in con.execute("SELECT id, analyzer, title, severity, ts FROM findings ORDER BY ts"):
            low = (title or "").lower()
            item = {"finding": fid, "analyzer": analyzer, "title": title, "severity": severity, "time": ts}
            if "defender" in low:
                groups["defender"].append(item)
            elif any(w in low for w in ("autorun", "service", "scheduled task", "persistence", "run key")):
                groups["persistence"].append(item)
            elif any(w in low for w in SHADOW_WORDS):
                groups["shadow_copy_deletion"].append(item)
            elif any(w in low for w in LOG_CLEAR_WORDS):
                groups["log_clearing"].append(item)
            elif any(w in low for w in TIMESTOMP_WORDS):
                groups["timestomp"].append(item)
    for r in runs:
        if r.name in SHADOW_TOOLS:
            groups["shadow_copy_deletion"].append(
                {"program": _shown(r.path), "time": r.ts, "sources": r.sources,
                 "note": "a shadow-copy tool ran (its command line is only known from 4688/Sysmon events)"})
    return groups
