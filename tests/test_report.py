"""The HTML findings report: self-contained, renders in headless chromium, escapes evidence strings."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_path
from wintriage.model import Record, TimelineEvent
from wintriage.report.html import build
from wintriage.store.case import CaseWriter


def test_report_is_self_contained_and_answers(public1_case: Path) -> None:
    html = (public1_case / "report.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in html
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN, opens offline
    assert "<script" not in html
    assert "20241024_사업계획_v1.pdf" in html  # Korean names as text
    assert "WinUpdateSvc.exe" in html and "README_RESTORE_FILES.txt" in html
    assert "https://www.kmspico-official.net/download/KMSPico_v11.2_Setup.exe" in html
    assert html.count("<svg") >= 3  # daily activity, incident window, per-source
    assert "encryption starts" in html and "extracted executables" in html.lower()


def test_report_renders_in_chromium(public1_case: Path) -> None:
    exe = chromium_path()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([exe, *CHROMIUM_ARGS, "--window-size=1300,2600", f"--screenshot={shot}",
                    (public1_case / "report.html").as_uri()], check=True, timeout=120, capture_output=True)
    assert shot.stat().st_size > 20_000
    dom = subprocess.run([exe, *CHROMIUM_ARGS, "--dump-dom", (public1_case / "report.html").as_uri()],
                         check=True, timeout=120, capture_output=True, text=True).stdout
    assert "KEEPER{20241024_사업계획_v1.pdf_" in dom and "Incident window" in dom


def test_report_escapes_evidence(tmp_path: Path) -> None:
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    w = CaseWriter(tmp_path / "case.sqlite")
    w.ensure_table("browser_downloads", [("url", "TEXT"), ("target_path", "TEXT"), ("start_time", "INTEGER"),
                                         ("referrer", "TEXT"), ("url_chain", "TEXT")])
    sid = w.add_source("browser", "History")
    t = 133784000000000000
    rid = w.add(Record("browser_downloads", {"url": "https://x.example/" + evil, "target_path": "C:\\Users\\u\\Downloads\\a.exe",
                                             "start_time": t, "referrer": evil, "url_chain": json.dumps(["https://x.example/" + evil])}), sid)
    w.add_event(TimelineEvent(t, "Downloaded", evil, evil), artifact="browser", category="web", host="", ref_table="browser_downloads",
                ref_id=rid, source_id=sid)
    w.close()
    html = build(tmp_path).read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
