"""Analyzers: SQL + Python over the case store, producing findings with evidence and the answers.

``run_all(store)`` is called by the pipeline after parsing. Each analyzer is isolated like a parser: a
failure becomes a warning row and the others go on.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from typing import Any

from ..model import EvidenceRef, Finding, ParseWarning
from ..store.case import CaseWriter

# module, function(con) -> list[Finding]; optional modules are skipped when absent
FINDING_ANALYZERS: tuple[tuple[str, str], ...] = (
    (".sigma", "run_sigma"),
    (".suspicious", "run"),
    (".context", "run"),
)


def _load(mod: str, fn: str) -> Callable[..., Any] | None:
    try:
        f: Callable[..., Any] = getattr(importlib.import_module(mod, __name__), fn)
        return f
    except (ImportError, AttributeError):
        return None


def run_all(store: CaseWriter, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every analyzer over the store; save findings and the answers (meta 'answers')."""
    from . import answers

    store.flush()
    con = store.db
    timings: dict[str, float] = {}
    for mod, fn in FINDING_ANALYZERS:
        f = _load(mod, fn)
        if f is None:
            continue
        t0 = time.perf_counter()
        try:
            found = f(con, (options or {}).get("sigma") or None) if fn == "run_sigma" else f(con)
            for item in found or []:
                store.add_finding(item)
        except Exception as e:  # noqa: BLE001 - analyzer isolation boundary, recorded as a warning
            store.add_warnings([ParseWarning(f"analyzer{mod}", "case", None, f"{type(e).__name__}: {e}")], None)
        timings[mod.strip(".")] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    try:
        ans = answers.compute(con)
    except Exception as e:  # noqa: BLE001 - analyzer isolation boundary, recorded as a warning
        store.add_warnings([ParseWarning("analyzer.answers", "case", None, f"{type(e).__name__}: {e}")], None)
        ans = {"schema": answers.SCHEMA, "error": str(e)}
    timings["answers"] = round(time.perf_counter() - t0, 3)
    for finding in answer_findings(ans):
        store.add_finding(finding)
    store.set_meta("answers", json.dumps(ans, ensure_ascii=False, default=str))
    store.set_meta("analyzer_seconds", timings)
    return ans


def answer_findings(ans: dict[str, Any]) -> list[Finding]:
    out = []
    rw = ans.get("ransomware") or {}
    if rw.get("detected"):
        fe = rw.get("first_encrypted") or {}
        ex = rw.get("executable") or {}
        out.append(Finding(
            "ransomware", f"Ransomware: {rw.get('encrypted_count')} files encrypted to {rw.get('new_extension')}",
            "critical", rw.get("burst_start"),
            f"First encrypted: {fe.get('original_path')}; executable: {ex.get('path')}; note: {rw.get('note_name')}",
            tuple(EvidenceRef(e["table"], e["id"], e["note"]) for e in rw.get("evidence", [])),
            {"reasons": rw.get("reasons")},
        ))
    ia = ans.get("initial_access") or {}
    if ia.get("found"):
        out.append(Finding(
            "downloads", f"Executed download: {ia.get('file_name')} from {ia.get('download_url')}", "high",
            ia.get("downloaded"), f"Downloaded to {ia.get('file_path')}, executed {ia.get('executed')}",
            tuple(EvidenceRef(e["table"], e["id"], e["note"]) for e in ia.get("evidence", [])),
        ))
    return out
