"""Human-readable terminal output (rich). Evidence strings are printed as text, never as markup."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .timeutil import fmt, tz_label

console = Console()


def _t(v: Any) -> Text:
    return Text("" if v is None else str(v))


def print_verify(res: dict[str, Any]) -> None:
    console.print(_t(f"image: {res.get('path')}  format: {res.get('format')}  media: {res.get('media_size')} bytes"))
    for k in ("md5", "sha1"):
        s = (res.get("stored") or {}).get(k)
        c = (res.get("computed") or {}).get(k)
        state = "no stored hash" if not s else ("match" if s == c else "MISMATCH")
        console.print(_t(f"{k.upper():5} stored {s or '-':40} computed {c or '-':40} {state}"))
    for b in res.get("bad_chunks", []):
        console.print(_t(f"bad chunk {b.get('chunk')} at offset {b.get('offset')}: {b.get('reason')}"), style="red")
    for e in res.get("errors", []):
        console.print(_t(f"error: {e}"), style="red")
    rate = res.get("mb_per_s")
    console.print(_t(f"verify: {'SUCCESS' if res.get('ok') else 'FAILURE'} ({res.get('seconds', 0):.2f} s"
                     + (f", {rate:.0f} MB/s)" if rate else ")")))


def print_info(res: dict[str, Any]) -> None:
    for k, v in res.get("image", {}).items():
        console.print(_t(f"{k}: {v}"))
    t = Table("idx", "start", "length", "offset", "type", "description", "fs", "label")
    for v in res.get("volumes", []):
        t.add_row(*[_t(v.get(k)) for k in ("index", "start_sector", "sectors", "offset", "type", "description", "fs", "label")])
    console.print(t)


def print_listing(entries: list[Any], tz: timezone) -> None:
    t = Table("entry", "type", "size", f"SI modified ({tz_label(tz)})", f"SI created ({tz_label(tz)})", "name")
    for e in entries:
        d = e.as_dict()
        kind = "d" if d.get("is_dir") else ("s" if d.get("stream") else "r")
        if d.get("deleted"):
            kind += "*"
        t.add_row(_t(f"{d.get('entry')}-{d.get('sequence')}"), _t(kind), _t(d.get("size")),
                  _t(fmt(d.get("si_modified"), tz, 0)), _t(fmt(d.get("si_created"), tz, 0)), _t(d.get("path")))
    console.print(t)


def print_parse_summary(res: dict[str, Any]) -> None:
    t = Table("source", "records", "warnings", "skipped", "seconds", "status")
    for s in res["sources"]:
        t.add_row(_t(s["path"]), _t(s["records"]), _t(s["warnings"]), _t(s["skipped"]), _t(f"{s['seconds']:.3f}"),
                  _t(s["status"] + (f" ({s['error']})" if s.get("error") else "")))
    console.print(t)
    console.print(_t(f"{res['artifact']}: {res['records']} records, {res['warnings']} warnings in {res['seconds']} s"
                     + (f"; CSV in {res['csv_dir']}" if res.get("csv_dir") else "")))


def run_summary_dict(summary: Any) -> dict[str, Any]:
    return {
        "case_db": summary.case_db,
        "seconds": round(summary.seconds, 3),
        "volumes": summary.volumes,
        "artifacts": summary.by_artifact(),
        "sources": [s.__dict__ for s in summary.sources],
    }


def print_run_summary(summary: Any) -> None:
    t = Table("artefact", "files", "records", "warnings", "skipped", "failed", "seconds")
    for a, s in summary.by_artifact().items():
        t.add_row(_t(a), _t(s["files"]), _t(s["records"]), _t(s["warnings"]), _t(s["skipped"]), _t(s["failed"]),
                  _t(f"{s['seconds']:.2f}"))
    console.print(t)
    for s in summary.sources:
        if s.status == "failed":
            console.print(_t(f"failed: {s.path}: {s.error}"), style="red")
    console.print(_t(f"case: {summary.case_db}  ({summary.seconds:.2f} s)"))
