"""The findings report: one self-contained HTML file (inline CSS and SVG; no script, no CDN).

Every string that comes from evidence goes through ``html.escape``: a URL such as ``"><script>`` in a browser
history renders as text.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, timezone
from html import escape
from pathlib import Path
from typing import Any

from .. import __version__
from ..analyzers import answers as answers_mod
from ..timeutil import fmt, iso, tz_label
from .svg import bar_chart, hbar_chart

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans KR","Malgun Gothic",sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2a37;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:1200px}section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px 16px;margin:12px 0}
h2{font-size:16px;margin:4px 0 10px}table{border-collapse:collapse;width:100%;font-size:12px}
td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top;word-break:break-all}
th{background:#f0f2f5}.answer{font-size:14px;margin:4px 0}.k{color:#555;display:inline-block;min-width:190px}
.warn{background:#fff4e5;border-color:#f0b400}.crit{color:#b00020;font-weight:bold}.mono{font-family:ui-monospace,monospace}
.chart{width:100%;height:auto;background:#fff}.flag{font-family:ui-monospace,monospace;background:#eef;padding:2px 6px}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v))


def _table(headers: list[str], rows: list[list[Any]], limit: int = 500) -> str:
    h = "".join(f"<th>{_e(x)}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows[:limit])
    more = f"<p>{len(rows) - limit} more rows in the case database.</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>{more}"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f'<div class="answer"><span class="k">{_e(k)}</span> <span class="mono">{_e(v)}</span></div>' for k, v in pairs)


def _activity(con: sqlite3.Connection, ans: dict[str, Any], tz: timezone) -> str:
    """Two charts: events per day over the whole case, and events per minute around the incident."""
    charts = []
    off = int(tz.utcoffset(None).total_seconds()) * 10_000_000 if tz.utcoffset(None) else 0
    day = 864_000_000_000
    rows = con.execute("SELECT (ts + ?) / ?, category, COUNT(*) FROM timeline WHERE ts > 119600064000000000 "
                       "GROUP BY 1, 2 ORDER BY 1", (off, day)).fetchall()
    if rows:
        cats = [c for c, _ in Counter({r[1]: r[2] for r in rows}).most_common()]
        lo, hi = rows[0][0], rows[-1][0]
        if hi - lo > 400:  # keep the last 400 days with events
            lo = max(lo, hi - 400)
        bins: dict[int, dict[str, int]] = defaultdict(dict)
        for d, c, n in rows:
            if d >= lo:
                bins[d][c or "other"] = n
        labels = [(fmt((d * day) - off, tz, 0)[:10], bins.get(d, {})) for d in range(lo, hi + 1)]
        charts.append(bar_chart(labels, cats, title=f"Events per day ({tz_label(tz)})"))
    rw = ans.get("ransomware") or {}
    ia = ans.get("initial_access") or {}
    points: list[tuple[int, str, str]] = []
    if ia.get("found"):
        if ia.get("downloaded"):
            points.append((ia["downloaded"], "download", "#4e79a7"))
        if ia.get("executed"):
            points.append((ia["executed"], f"run {ia.get('file_name')}", "#59a14f"))
    ex = rw.get("executable") or {}
    if ex.get("exec_near_incident"):
        points.append((ex["exec_near_incident"], f"run {ex.get('name')}", "#b07aa1"))
    if rw.get("burst_start"):
        points.append((rw["burst_start"], "encryption starts", "#e15759"))
    if points:
        start = min(p[0] for p in points) - 10 * 600_000_000
        end = max([p[0] for p in points] + [rw.get("burst_end") or 0]) + 10 * 600_000_000
        minute = 600_000_000
        n_bins = (end - start) // minute + 1
        scale = max(1, n_bins // 240)
        width = minute * scale
        rows = con.execute("SELECT (ts - ?) / ?, category, COUNT(*) FROM timeline WHERE ts BETWEEN ? AND ? GROUP BY 1, 2",
                           (start, width, start, end)).fetchall()
        cats = sorted({r[1] or "other" for r in rows})
        bins2: dict[int, dict[str, int]] = defaultdict(dict)
        for b, c, n in rows:
            bins2[b][c or "other"] = n
        count = (end - start) // width + 1
        labels = [(fmt(start + i * width, tz, 0)[5:16], bins2.get(i, {})) for i in range(count)]
        marks = [((t - start) // width, label, colour) for t, label, colour in points]
        shade = None
        if rw.get("burst_start") and rw.get("burst_end"):
            shade = ((rw["burst_start"] - start) // width, (rw["burst_end"] - start) // width)
        unit = "minute" if scale == 1 else f"{scale} minutes"
        charts.append(bar_chart(labels, cats, markers=marks, shade=shade,
                                title=f"Incident window: events per {unit} ({tz_label(tz)})"))
    return "".join(charts)


def build(case_dir: Path, tz: timezone = UTC, out: Path | None = None) -> Path:
    case_dir = Path(case_dir)
    con = sqlite3.connect(f"file:{case_dir / 'case.sqlite'}?mode=ro", uri=True)
    try:
        raw = answers_mod.load(case_dir)
        ans = answers_mod.render(raw, tz)
        html = _render(con, raw, ans, tz)
    finally:
        con.close()
    out = out or case_dir / "report.html"
    out.write_text(html, encoding="utf-8")
    return out


def _t(v: int | None, tz: timezone) -> str:
    return f"{fmt(v, tz, 3)} ({tz_label(tz)})" if v else ""


def _render(con: sqlite3.Connection, raw: dict[str, Any], ans: dict[str, Any], tz: timezone) -> str:
    parts: list[str] = []
    sysinfo = ans.get("system") or {}
    parts.append("<section><h2>System</h2>" + _kv([
        ("Host name", sysinfo.get("hostname")), ("Operating system", sysinfo.get("os")),
        ("Build", sysinfo.get("os_build")), ("Time zone", sysinfo.get("timezone")),
        ("Bias (minutes)", sysinfo.get("timezone_bias_minutes")),
    ]))
    if sysinfo.get("users"):
        parts.append(_table(["User", "SID", "Profile"], [[u.get("name"), u.get("sid"), u.get("profile")] for u in sysinfo["users"]]))
    vols = sysinfo.get("volumes") or []
    if vols:
        keys = sorted({k for v in vols for k in v if not isinstance(v[k], (list, dict))})
        parts.append(_table(keys, [[v.get(k) for k in keys] for v in vols]))
    parts.append("</section>")

    rw = ans.get("ransomware") or {}
    sec = ["<section><h2>Ransomware</h2>"]
    if not rw.get("detected"):
        sec.append("<p>No encryption burst was found in the file-system journal.</p>")
    else:
        fe = rw.get("first_encrypted") or {}
        ex = rw.get("executable") or {}
        r0 = raw["ransomware"]
        sec.append(_kv([
            ("First encrypted file", fe.get("original_path")),
            ("Encrypted name", fe.get("encrypted_name")),
            ("Infection time", _t((r0.get("first_encrypted") or {}).get("time"), tz)),
            ("Encrypting executable", ex.get("path")),
            ("Its first execution", _t((r0.get("executable") or {}).get("first_exec"), tz)),
            ("Files encrypted", rw.get("encrypted_count")),
            ("New extension", f"{rw.get('new_extension')} ({rw.get('extension_style')})"),
            ("Ransom note", f"{rw.get('note_name')} in {len(rw.get('note_paths') or [])} folders"),
            ("Burst", f"{_t(r0.get('burst_start'), tz)} to {_t(r0.get('burst_end'), tz)}"),
        ]))
        sec.append("<p>Why: " + _e("; ".join(rw.get("reasons") or [])) + "</p>")
        sec.append("<h3>Executable candidates</h3>" + _table(
            ["Path", "Score", "Reasons", "Sources"],
            [[c["path"], c["score"], "; ".join(c["reasons"]), ", ".join(c["sources"])] for c in rw.get("candidates", [])]))
        ev = [[e["table"], e["id"], e["note"]] for e in rw.get("evidence", [])]
        ev += [[p["table"], p["id"], f"execution proof ({p['source']}) {p.get('time_local')}"] for p in ex.get("proofs", [])]
        ev += [[p["table"], p["id"], f"persistence: {p['text']}"] for p in ex.get("persistence", [])]
        sec.append("<h3>Evidence</h3>" + _table(["Table", "Row", "What"], ev))
        sec.append("<h3>Ransom notes</h3>" + _table(["Path"], [[p] for p in rw.get("note_paths") or []]))
    sec.append("</section>")
    parts += sec

    ia = ans.get("initial_access") or {}
    sec = ["<section><h2>Initial access</h2>"]
    if not ia.get("found"):
        sec.append("<p>No executed download from the internet was found.</p>")
    else:
        r1 = raw["initial_access"]
        sec.append(_kv([
            ("Download URL", ia.get("download_url")), ("Referrer", ia.get("referrer")), ("Tab URL", ia.get("tab_url")),
            ("Redirect chain", " → ".join(ia.get("url_chain") or [])), ("File", ia.get("file_path")),
            ("Downloaded", _t(r1.get("downloaded"), tz)), ("Executed", _t(r1.get("executed"), tz)),
            ("Zone.Identifier", f"ZoneId={ia.get('zone_id')} HostUrl={ia.get('zone_host_url')}"),
        ]))
        if ia.get("dropped"):
            sec.append("<h3>Dropped next</h3>" + _table(["Path", "Created"], [[d["path"], d.get("created_local")] for d in ia["dropped"]]))
        ev = [[e["table"], e["id"], e["note"]] for e in ia.get("evidence", [])]
        ev += [[p["table"], p["id"], f"execution proof ({p['source']}) {p.get('time_local')}"] for p in ia.get("execution_proofs", [])]
        sec.append("<h3>Evidence</h3>" + _table(["Table", "Row", "What"], ev))
    sec.append("</section>")
    parts += sec

    ctx_rows = [[theme.replace("_", " "), it.get("time_local") or "", it.get("title") or f"{it.get('program')} ran",
                 it.get("severity") or ""] for theme, items in (ans.get("context") or {}).items() for it in items]
    parts.append("<section><h2>Context: Defender, persistence, shadow copies, logs, timestamps</h2>"
                 + (_table(["Theme", "Time", "What", "Severity"], ctx_rows) if ctx_rows else "<p>Nothing found.</p>")
                 + "</section>")
    flags = ans.get("flags") or {}
    parts.append("<section><h2>Flags</h2>" + "".join(
        f'<div class="answer"><span class="k">{_e(k)}</span> <span class="flag">{_e(v or "not determined")}</span></div>'
        for k, v in flags.items()) + "</section>")

    parts.append("<section><h2>Activity</h2>" + _activity(con, raw, tz))
    src = con.execute("SELECT artifact, SUM(records) FROM sources GROUP BY artifact ORDER BY 2 DESC").fetchall()
    parts.append(hbar_chart([(a or "?", int(n or 0)) for a, n in src], title="Records per source") + "</section>")

    parts.append("<section><h2>Executed programs</h2>" + _table(
        ["Time", "Program", "Sources"],
        [[_t(r["time"], tz) if False else r.get("time_local"), r["path"], ", ".join(r["sources"])]
         for r in ans.get("executions", [])][::-1]) + "</section>")
    parts.append("<section><h2>Downloads</h2>" + _table(
        ["Downloaded", "File", "URL", "Referrer", "Executed", "Zone"],
        [[d.get("downloaded_local"), d["file_path"], d["download_url"], d["referrer"], d.get("executed_local"), d["zone_id"]]
         for d in ans.get("downloads", [])]) + "</section>")
    if "reg_runkeys" in {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}:
        rows = [list(r) for r in con.execute("SELECT * FROM reg_runkeys LIMIT 200")]
        cols = [d[1] for d in con.execute("PRAGMA table_info(reg_runkeys)")]
        parts.append("<section><h2>Persistence (Run keys)</h2>" + _table(cols, rows) + "</section>")
    fnd = con.execute("SELECT ts, severity, analyzer, title, description FROM findings ORDER BY ts").fetchall()
    parts.append("<section><h2>Findings</h2>" + _table(
        ["Time", "Severity", "Analyzer", "Title", "Details"], [[_t(r[0], tz), r[1], r[2], r[3], r[4]] for r in fnd]) + "</section>")
    warn = con.execute("SELECT artifact, COUNT(*) FROM warnings GROUP BY artifact").fetchall()
    srcs = con.execute("SELECT artifact, path, records, warnings, status, seconds FROM sources ORDER BY id").fetchall()
    parts.append("<section><h2>Sources parsed</h2>" + _table(["Artefact", "Path", "Records", "Warnings", "Status", "Seconds"],
                 [list(r) for r in srcs]) + "<p>Warnings by artefact: " + _e(", ".join(f"{a}: {n}" for a, n in warn) or "none")
                 + "</p></section>")
    head = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>wintriage report: "
            f"{_e(sysinfo.get('hostname') or 'case')}</title><meta name=\"viewport\" content=\"width=device-width\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<style>{CSS}</style></head><body><header><h1>wintriage findings report: {_e(sysinfo.get('hostname') or '')}</h1>"
            f"<div>wintriage {__version__} · times in {tz_label(tz)} · generated {iso(_now(), tz, 0)}</div></header><main>")
    warnbox = ('<section class="warn"><b>Handle with care:</b> files extracted into this case folder keep their original '
               "bytes. Extracted executables (malware included) are live: do not open them outside an isolated analysis system.</section>")
    return head + warnbox + "".join(parts) + "</main></body></html>"


def _now() -> int:
    from datetime import datetime

    from ..timeutil import from_datetime

    return from_datetime(datetime.now(UTC))
