"""Web API: keyset paging stability, filter validation, injection attempts, tags sidecar, export."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from wintriage.model import Record, TimelineEvent
from wintriage.store.case import CaseWriter
from wintriage.web.server import create_app

T0 = 133784000000000000


def make_case(path: Path, n: int) -> Path:
    rnd = random.Random(7)
    w = CaseWriter(path / "case.sqlite")
    w.ensure_table("things", [("name", "TEXT"), ("ts", "INTEGER")])
    sid = w.add_source("things", "synthetic")
    arts = ["mft", "usnjrnl", "evtx", "prefetch", "browser"]
    for i in range(n):
        name = f"file_{i}.{rnd.choice(['pdf', 'docx', 'kraken'])}"
        if i == 5:
            name = "O'Brien\"; DROP TABLE timeline;--.txt"
        if i == 6:
            name = "<img src=x onerror=alert(1)>"
        rid = w.add(Record("things", {"name": name, "ts": T0 + rnd.randrange(0, 10**10)}), sid)
        ts = T0 + rnd.randrange(0, 10**9) // 1000 * 1000  # many equal timestamps: ties must page correctly
        w.add_event(TimelineEvent(ts, "Created", f"C:\\Users\\u\\{name}", f"summary {name}"), artifact=arts[i % 5],
                    category="file", host="h", ref_table="things", ref_id=rid, source_id=sid)
    w.close()
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    case = make_case(tmp_path_factory.mktemp("webcase"), 100_000)
    return TestClient(create_app(case))


def _page_all(client: TestClient, **params: str) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        q = dict(params, limit="1000")
        if after:
            q["after"] = after
        r = client.get("/api/rows", params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [row["id"] for row in body["rows"]]
        after = body["next"]
        if not after:
            return seen


@pytest.mark.parametrize(("sort", "direction"), [("ts", "asc"), ("ts", "desc"), ("artifact", "asc"), ("path", "desc")])
def test_keyset_paging_sees_every_row_once(client: TestClient, sort: str, direction: str) -> None:
    ids = _page_all(client, table="timeline", sort=sort, dir=direction)
    assert len(ids) == 100_000 and len(set(ids)) == 100_000


def test_paging_with_filter_matches_count(client: TestClient) -> None:
    flt = json.dumps([{"col": "path", "op": "contains", "value": ".kraken"}])
    ids = _page_all(client, table="timeline", sort="ts", filters=flt)
    n = client.get("/api/count", params={"table": "timeline", "filters": flt}).json()["count"]
    assert len(ids) == len(set(ids)) == n and 30_000 < n < 37_000


def test_unknown_column_and_operator_are_400(client: TestClient) -> None:
    bad = [
        {"table": "timeline", "sort": "ts; DROP TABLE timeline"},
        {"table": "timeline", "filters": json.dumps([{"col": "nope", "op": "equals", "value": 1}])},
        {"table": "timeline", "filters": json.dumps([{"col": "path", "op": "LIKE 1=1 --", "value": 1}])},
        {"table": "sqlite_master"},
        {"table": "timeline", "filters": "not json"},
        {"table": "timeline", "filters": json.dumps([{"col": "path", "op": "regex", "value": "("}])},
        {"table": "timeline", "after": "!!!"},
    ]
    for p in bad:
        r = client.get("/api/rows", params=p)
        assert r.status_code == 400, p
        assert "error" in r.json()
    assert client.get("/api/group", params={"table": "timeline", "column": "x) FROM t; --"}).status_code == 400


def test_hostile_values_are_data(client: TestClient) -> None:
    for value, expect in [("O'Brien\"; DROP TABLE timeline;--", 1), ("'; --", 0), ("%", 0), ("_", 99_998)]:
        flt = json.dumps([{"col": "path", "op": "contains", "value": value}])
        r = client.get("/api/count", params={"table": "timeline", "filters": flt})
        assert r.status_code == 200
        assert r.json()["count"] == expect, value
    # FTS syntax in the search box is quoted, not interpreted
    for q in ['" OR 1=1 --', "NEAR(a b)", "kraken*", "a:b"]:
        assert client.get("/api/rows", params={"table": "timeline", "q": q}).status_code in (200, 400)
    assert client.get("/api/count", params={"table": "timeline"}).json()["count"] == 100_000  # nothing dropped


def test_regex_and_time_range(client: TestClient) -> None:
    flt = json.dumps([{"col": "path", "op": "regex", "value": r"file_9999\d\.pdf$"}])
    rows = client.get("/api/rows", params={"table": "timeline", "filters": flt}).json()["rows"]
    assert rows and all(r["path"].endswith(".pdf") for r in rows)
    flt = json.dumps([{"col": "ts", "op": "between", "value": [T0, T0 + 10**8]}])
    n = client.get("/api/count", params={"table": "timeline", "filters": flt}).json()["count"]
    assert 0 < n < 100_000


def test_group_histogram_detail(client: TestClient) -> None:
    g = client.get("/api/group", params={"table": "timeline", "column": "artifact"}).json()["groups"]
    assert {x["value"]: x["count"] for x in g} == {a: 20_000 for a in ["mft", "usnjrnl", "evtx", "prefetch", "browser"]}
    h = client.get("/api/histogram", params={"table": "timeline", "bins": 50}).json()
    assert sum(h["bins"]) == 100_000 and len(h["bins"]) == 50
    d = client.get("/api/row", params={"table": "timeline", "id": 7}).json()
    assert d["ref"]["table"] == "things" and d["ref"]["row"]["name"] == "<img src=x onerror=alert(1)>"
    assert any(r["label"] == "same path" for r in d["related"])
    assert client.get("/api/row", params={"table": "timeline", "id": 10**9}).status_code == 404
    assert client.get("/api/row", params={"table": "timeline", "id": "1 OR 1"}).status_code == 400


def test_tags_go_to_sidecar_and_export(client: TestClient) -> None:
    case = client.app.state.case  # type: ignore[attr-defined]
    before = case.db_path.read_bytes()
    r = client.post("/api/tags", json={"table": "timeline", "id": 42, "tag": "evil", "note": "<b>n</b>"})
    assert r.status_code == 200
    assert case.db_path.read_bytes() == before  # the case database is never written
    rows = client.get("/api/rows", params={"table": "timeline", "tagged": "1"}).json()["rows"]
    assert [x["id"] for x in rows] == [42] and rows[0]["_tags"] == ["evil"]
    out = client.get("/api/export.csv", params={"table": "timeline", "tagged": "1", "tz": "+09:00"})
    assert out.status_code == 200 and out.text.startswith("\ufeff")
    got = list(csv.reader(io.StringIO(out.text.lstrip("\ufeff"))))
    assert got[0][0] == "Time(UTC+9)" and len(got) == 2 and got[1][-1] == "evil"


def test_static_cannot_escape(client: TestClient) -> None:
    for p in ["/static/../server.py", "/static/..%2f..%2fstore%2fcase.py", "/static/%2e%2e/__init__.py"]:
        r = client.get(p)
        assert r.status_code == 404, p
    r = client.get("/")
    assert r.status_code == 200 and "Content-Security-Policy" in r.headers
