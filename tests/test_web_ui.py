"""The timeline explorer in a real browser (Playwright + Debian chromium), on the public-1 case."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from browser_util import browser_page, serving
from conftest import ARTIFACTS
from wintriage.model import Record, TimelineEvent
from wintriage.store.case import CaseWriter


def test_explorer_flow_on_public1(public1_case: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving(public1_case) as url, browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#grid-rows .row")
        # 1. filter to the ransomware burst by extension
        page.fill('#grid-head input[data-col="path"]', ".kraken")
        page.press('#grid-head input[data-col="path"]', "Enter")
        page.wait_for_function("document.querySelector('#filters-bar').textContent.includes('.kraken')")
        page.wait_for_function("document.querySelectorAll('#grid-rows .row').length > 0 && "
                               "[...document.querySelectorAll('#grid-rows .row')].every(r => r.textContent.includes('.kraken'))")
        page.wait_for_function("/^\\d+ rows$/.test(document.querySelector('#status').textContent)")
        n = int(page.text_content("#status").split()[0])
        assert n >= 647  # at least one timeline row per encrypted file
        page.screenshot(path=str(ARTIFACTS / "ui_1_filtered.png"))
        # 2. group by artefact
        page.select_option("#groupby", "artifact")
        page.wait_for_selector("#groups-list li")
        groups = page.eval_on_selector_all("#groups-list li", "els => els.map(e => e.dataset.value)")
        assert "usnjrnl" in groups and "mft" in groups
        page.screenshot(path=str(ARTIFACTS / "ui_2_grouped.png"))
        # 3. open a row's detail
        page.click("#grid-rows .row >> nth=0")
        page.wait_for_selector("#detail:not([hidden]) #detail-table tr")
        detail = page.text_content("#detail-table")
        assert ".kraken" in detail and "Source record" in detail
        page.screenshot(path=str(ARTIFACTS / "ui_3_detail.png"))
        # 4. tag it
        page.fill("#tag-name", "encrypted")
        page.click("#tag-add")
        page.wait_for_function("document.querySelector('#tag-list').textContent.includes('encrypted')")
        page.check("#tagged")
        page.wait_for_function("document.querySelector('#status').textContent === '1 rows'")
        page.screenshot(path=str(ARTIFACTS / "ui_4_tagged.png"))
        # 5. export the tagged view
        with page.expect_download() as dl:
            page.click("#export")
        text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:3] == ["Time(UTC)", "TimeDesc", "Artifact"] and len(rows) == 2 and rows[1][-1] == "encrypted"
        # the findings panel shows the answers
        page.click("#findings-btn")
        page.wait_for_selector("#findings:not([hidden]) .answer")
        assert "README_RESTORE_FILES.txt" in page.text_content("#findings-body")
        page.screenshot(path=str(ARTIFACTS / "ui_5_findings.png"))
        assert not errors, errors


def test_status_shows_the_count_whichever_answer_comes_last(public1_case: Path) -> None:
    """A filter asks for the rows and for their count at once: when the rows come back after the count, the
    status still ends on the count ("N rows"), not on the rows loaded so far."""
    import asyncio

    late = {"on": False}

    def wrap(app: Any) -> Any:
        async def slow_rows(scope: Any, receive: Any, send: Any) -> None:
            if late["on"] and scope["type"] == "http" and scope["path"] == "/api/rows":
                await asyncio.sleep(1.0)  # the count answers first
            await app(scope, receive, send)
        return slow_rows

    with serving(public1_case, wrap) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#grid-rows .row")
        late["on"] = True
        page.fill('#grid-head input[data-col="path"]', ".kraken")
        page.press('#grid-head input[data-col="path"]', "Enter")
        page.wait_for_function("document.querySelectorAll('#grid-rows .row').length > 0 && "
                               "[...document.querySelectorAll('#grid-rows .row')].every(r => r.textContent.includes('.kraken'))")
        page.wait_for_function("/^\\d+ rows$/.test(document.querySelector('#status').textContent)", timeout=10000)
        assert int(page.text_content("#status").split()[0]) >= 647


def test_xss_in_history_renders_as_text(tmp_path: Path) -> None:
    payload = '<img src=x onerror="window.__xss=1">'
    w = CaseWriter(tmp_path / "case.sqlite")
    w.ensure_table("browser_visits", [("url", "TEXT"), ("title", "TEXT"), ("visit_time", "INTEGER")])
    sid = w.add_source("browser", "History")
    t = 133784000000000000
    rid = w.add(Record("browser_visits", {"url": f"https://evil.example/{payload}", "title": payload, "visit_time": t}), sid)
    w.add_event(TimelineEvent(t, "Visited", f"https://evil.example/{payload}", f"Visited {payload}"), artifact="browser",
                category="web", host="h", ref_table="browser_visits", ref_id=rid, source_id=sid)
    w.close()
    with serving(tmp_path) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#grid-rows .row")
        assert payload in page.text_content("#grid-rows")
        page.click("#grid-rows .row >> nth=0")
        page.wait_for_selector("#detail:not([hidden]) #detail-table tr")
        assert payload in page.text_content("#detail-table")
        page.select_option("#groupby", "summary")
        page.wait_for_selector("#groups-list li")
        assert page.evaluate("window.__xss") is None
        assert page.query_selector("#grid-rows img, #detail img, #groups img") is None
        page.screenshot(path=str(ARTIFACTS / "ui_xss.png"))
