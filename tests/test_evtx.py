"""EVTX parser: exact facts from MANIFEST (plaso, python-evtx, evtx-rs test suites), recovery, CSV, CLI,
and a corruption sweep."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evtx_synth import big_log
from wintriage.artifacts import evtx
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.timeutil import from_iso

TD = Callable[[str], Path]


def run(path: Path, **options: Any) -> tuple[list[dict[str, Any]], ParseContext]:
    ctx = ParseContext("evtx", str(path), options=options)
    rows = [r.data for r in evtx.parse(path, ctx)]
    return rows, ctx


def parser_errors(ctx: ParseContext) -> list[str]:
    return [w.reason for w in ctx.warnings if w.reason.startswith("parser error")]


def allocated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["recovered"]]


# --- plaso ---------------------------------------------------------------------------------------------
def test_plaso_system(td: TD) -> None:
    rows, ctx = run(td("evtx/plaso/System.evtx"))
    assert len(rows) == 5009
    assert ctx.skipped == 0 and not parser_errors(ctx)
    r = rows[0]
    assert r["record_number"] == 1 and r["event_record_id"] == 1
    assert r["event_id"] == 7036
    assert r["provider"] == "Service Control Manager"
    assert r["provider_guid"].lower().strip("{}") == "555908d1-a6d7-4695-8e1e-26931d2012f4"
    assert r["level"] == 4
    assert r["keywords"] == "0x8080000000000000"
    assert r["time_created"] == from_iso("2010-11-21T03:55:59.6264271Z")
    assert (r["process_id"], r["thread_id"]) == (492, 1188)
    assert r["channel"] == "System" and r["computer"] == "37L4247F27-26"
    data = json.loads(r["event_data"])
    assert data["param1"] == "Windows Event Log" and data["param2"] == "stopped"
    assert data["Binary"] == "6500760065006E0074006C006F0067002F0031000000"
    assert r["chunk"] == 0 and r["recovered"] == 0
    # bundled map: 7036
    assert r["map_description"] == "Service state changed"
    assert r["payload1"] == "Windows Event Log entered the stopped state"


def test_plaso_system2_truncated(td: TD) -> None:
    rows, ctx = run(td("evtx/plaso/System2.evtx"))
    alloc = allocated(rows)
    assert len(alloc) == 194  # MANIFEST: plaso 194 event_data
    r = alloc[178]
    assert r["event_id"] == 4624 and r["record_number"] == 179
    assert r["time_created"] == from_iso("2015-08-09T09:15:48.4341250Z")
    # the truncated third chunk (header: records 195-284) is re-read padded: 90 records flagged recovered
    rec = [x for x in rows if x["recovered"]]
    assert len(rec) == 90
    assert {x["chunk"] for x in rec} == {2}
    assert [x["record_number"] for x in rec] == list(range(195, 285))
    assert any("chunk 2: truncated to 64832 of 65536 bytes" in w.reason for w in ctx.warnings)


# --- python-evtx -----------------------------------------------------------------------------------------
def test_python_evtx_system_header_and_chunks(td: TD) -> None:
    lay = evtx.scan_layout(td("evtx/python-evtx/system.evtx"))
    assert lay.header_ok and lay.header_crc_ok
    assert lay.version == "3.1"
    assert lay.flags == 0x1 and lay.dirty and not lay.flags & evtx.FLAG_FULL
    assert lay.chunk_count == 9 and lay.next_record == 0x34D8
    ok = [c for c in lay.chunks if c.status == "ok"]
    assert len(ok) == 9
    assert all(c.header_crc_ok and c.data_crc_ok for c in ok)
    assert [(c.first_id, c.last_id) for c in ok] == [
        (12049, 12201), (12202, 12384), (12385, 12574), (12575, 12756), (12757, 12930),
        (12931, 13107), (13108, 13289), (13290, 13472), (13473, 13649),
    ]
    assert all(c.status == "zero" for c in lay.chunks[9:])


def test_python_evtx_system_first_record(td: TD) -> None:
    path = td("evtx/python-evtx/system.evtx")
    rows, ctx = run(path)
    assert len(rows) == 1601 and ctx.skipped == 0
    r = rows[0]
    assert r["provider"] == "Microsoft-Windows-Eventlog"
    assert r["provider_guid"].lower().strip("{}") == "fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148"
    assert (r["event_id"], r["level"], r["task"]) == (105, 4, 105)
    assert r["keywords"] == "0x8000000000000000"
    assert abs(r["time_created"] - from_iso("2012-03-14T04:17:43.354563Z")) < 10  # python-evtx rounds to µs
    assert r["event_record_id"] == 12049
    assert (r["process_id"], r["thread_id"]) == (820, 2868)
    assert r["channel"] == "System" and r["computer"] == "WKS-WIN764BITB.shieldbase.local"
    backup = r"C:\Windows\System32\Winevt\Logs\Archive-System-2012-03-14-04-17-39-932.evtx"
    assert json.loads(r["event_data"])["AutoBackup"]["BackupPath"] == backup
    xml = evtx.record_xml(path, 12049)
    assert xml is not None
    assert "<EventID>105</EventID>" in xml and f"<BackupPath>{backup}</BackupPath>" in xml
    assert "WKS-WIN764BITB.shieldbase.local" in xml


def test_python_evtx_security_header(td: TD) -> None:
    lay = evtx.scan_layout(td("evtx/python-evtx/security.evtx"))
    assert lay.version == "3.1" and lay.flags == 0x1
    assert lay.chunk_count == 0x1A and lay.next_record == 0x8B2
    ok = [c for c in lay.chunks if c.status == "ok"]
    assert len(ok) == 26
    assert [(c.first_id, c.last_id) for c in ok[:3]] == [(1, 91), (92, 177), (178, 260)]


def test_python_evtx_malformed_and_hex64(td: TD) -> None:
    rows, ctx = run(td("evtx/python-evtx/dns_log_malformed.evtx"))
    assert len(rows) == 5 and ctx.skipped == 0  # python-evtx renders 1 of 5; we keep going and render all
    rows, _ = run(td("evtx/python-evtx/issue_38.evtx"))
    assert int(json.loads(rows[0]["event_data"])["SubjectLogonId"], 16) == 0x19D3AF


# --- evtx-rs damaged samples: OK and error counts of tests/test_full_samples.rs --------------------------------
@pytest.mark.parametrize(
    ("name", "ok", "errors"),
    [
        ("sample_with_a_bad_chunk_magic.evtx", 270, 2),
        ("2-vss_7-System.evtx", 1160, 0),
        ("Application_no_crc32.evtx", 17, 0),
        ("post-Security.evtx", 126, 0),
        ("Microsoft-Windows-HelloForBusiness%4Operational.evtx", 6, 0),
        ("sample-with-irregular-bool-values.evtx", 3028, 0),
    ],
)
def test_evtx_rs_samples(td: TD, name: str, ok: int, errors: int) -> None:
    rows, ctx = run(td(f"evtx/evtx-rs/{name}"))
    assert len(allocated(rows)) == ok
    errs = [w for w in ctx.warnings if w.reason.startswith("parser error")]
    assert len(errs) == errors
    assert all(w.offset is not None for w in errs)


def test_bad_chunk_magic_keeps_going(td: TD) -> None:
    rows, ctx = run(td("evtx/evtx-rs/sample_with_a_bad_chunk_magic.evtx"))
    errs = [w for w in ctx.warnings if w.reason.startswith("parser error")]
    assert [w.offset for w in errs] == [4096 + 6 * 65536, 4096 + 10 * 65536]
    chunks = {r["chunk"] for r in allocated(rows)}
    assert chunks == {0, 7, 8, 9}  # records after the bad chunk 6 are parsed
    # silently dropped records are reported per chunk, with the chunk number and offset
    reasons = [w.reason for w in ctx.warnings]
    assert any(r.startswith("chunk 0 at offset 4096: header lists records 46728-46857 (130)") for r in reasons)
    assert any(r.startswith("chunk 7 at offset 462848: 31 of 43 records (ids 47675..47705) were not decoded")
               for r in reasons)
    # recovered: 31 by the second pass over damaged chunk 7, 50 more from libevtx's slack records
    rec = [r for r in rows if r["recovered"]]
    assert len(rec) == 81
    assert sum(1 for r in rec if r["chunk"] == 7 and 47675 <= r["record_number"] <= 47705) == 31
    assert len({(r["record_number"], r["time_created"]) for r in rows}) == len(rows)  # no duplicates


def test_dirty_and_checksum_warnings(td: TD) -> None:
    _rows, ctx = run(td("evtx/evtx-rs/Application_no_crc32.evtx"))
    reasons = [w.reason for w in ctx.warnings]
    assert any("file header CRC32 does not match" in r for r in reasons)
    assert any("chunk 0: event records CRC32 mismatch" in r for r in reasons)
    _rows, ctx = run(td("evtx/evtx-rs/2-vss_7-System.evtx"))
    assert any(w.reason.startswith("dirty log") for w in ctx.warnings)


def test_sysmon_counts_and_maps(td: TD) -> None:
    rows, ctx = run(td("evtx/evtx-rs/sysmon.evtx"))
    assert len(allocated(rows)) == 358  # libevtx: 358
    p1 = [r for r in rows if r["event_id"] == 1]
    assert len(p1) == 227
    assert all(r["map_description"] == "Process creation" and r["payload1"].startswith("ProcessID: ") for r in p1)
    assert p1[0]["executable_info"] == "ping  -n 6 127.0.0.1 "
    assert p1[0]["user_name"] == "NT AUTHORITY\\SYSTEM"


# --- CSV and timeline ------------------------------------------------------------------------------------------
EVTXECMD_COLUMNS = [
    "RecordNumber", "EventRecordId", "TimeCreated", "EventId", "Level", "Provider", "Channel", "ProcessId",
    "ThreadId", "Computer", "ChunkNumber", "UserId", "MapDescription", "UserName", "RemoteHost", "PayloadData1",
    "PayloadData2", "PayloadData3", "PayloadData4", "PayloadData5", "PayloadData6", "ExecutableInfo",
    "HiddenRecord", "SourceFile", "Keywords", "ExtraDataOffset", "Payload",
]


def test_csv_and_cli(td: TD, tmp_path: Path) -> None:
    src = td("evtx/evtx-rs/new-user-security.evtx")
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "evtx", str(src), "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["records"] == 4
    with open(out / "EvtxECmd_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == EVTXECMD_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 4
    created = [r for r in body if r["EventId"] == "4720"]
    assert created and created[0]["MapDescription"] == "User account created"
    assert created[0]["PayloadData1"] == "Target: IE8Win7\\IEUser (S-1-5-21-3463664321-2923530833-3546627382-1000)"
    assert created[0]["HiddenRecord"] == "False" and created[0]["Level"] == "LogAlways"  # Security audit events have Level 0
    assert len(created[0]["TimeCreated"]) == 27


def test_timeline_summary(td: TD) -> None:
    rows, _ = run(td("evtx/evtx-rs/new-user-security.evtx"))
    from wintriage.model import Record

    ev = list(evtx.timeline(Record("evtx", next(r for r in rows if r["event_id"] == 4720))))
    assert len(ev) == 1
    assert ev[0].ts_desc == "Event 4720 Security"
    assert ev[0].summary.startswith("User account created: Target: IE8Win7\\IEUser")


def test_cli_dir_db_and_sigma(td: TD, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    shutil.copy(td("evtx/evtx-rs/sysmon.evtx"), d / "sysmon.evtx")
    shutil.copy(td("evtx/evtx-rs/new-user-security.evtx"), d / "sec.evtx")
    db = tmp_path / "case.sqlite"
    res = CliRunner().invoke(main, ["parse", "evtx", str(d), "--db", str(db), "--sigma",
                                    str(Path(evtx.__file__).parent.parent / "data" / "sigma"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[res.output.index("{"):])
    assert data["records"] == 362
    titles = {f["title"]: f for f in data["sigma"]["findings"]}
    assert titles["Process Created (Sysmon)"]["matches"] == 227
    import sqlite3

    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM findings WHERE analyzer='sigma'").fetchone()[0] == len(titles)
    assert con.execute("SELECT COUNT(*) FROM timeline WHERE artifact='evtx'").fetchone()[0] == 362
    con.close()


# --- corruption sweep ----------------------------------------------------------------------------------------------
def test_corruption_sweep(td: TD, tmp_path: Path) -> None:
    raw = td("evtx/python-evtx/system.evtx").read_bytes()[: 4096 + 3 * 65536]
    cases: list[bytes] = []
    for cut in (0, 10, 200, 4096, 4096 + 300, 4096 + 40000, 4096 + 65536 + 700, len(raw) - 1):
        cases.append(raw[:cut])
    for off in (0, 8, 120, 4096, 4096 + 8, 4096 + 124, 4096 + 600, 4096 + 5000, 4096 + 65536 + 512, 4096 + 2 * 65536 + 30000):
        b = bytearray(raw)
        for i in range(off, min(off + 16, len(b))):
            b[i] ^= 0xA5
        cases.append(bytes(b))
    for i, data in enumerate(cases):
        p = tmp_path / f"c{i}.evtx"
        p.write_bytes(data)
        rows, ctx = run(p)
        assert len(rows) <= 600, i
        assert all(w.offset is None or w.offset >= 0 for w in ctx.warnings)
        if 0 < len(data) < len(raw) and len(data) > 4096:
            assert ctx.warnings, f"case {i}: damage without a warning"


def test_parse_many_merges_parts(td: TD, tmp_path: Path) -> None:
    import sqlite3

    files = []
    for i, name in enumerate(["sysmon.evtx", "new-user-security.evtx", "Application_no_crc32.evtx"]):
        p = tmp_path / f"{i}-{name}"
        p.symlink_to(td(f"evtx/evtx-rs/{name}"))
        files.append(p)
    db = tmp_path / "case.sqlite"
    res = evtx.parse_many(files, db, workers=2)
    assert res["records"] == 358 + 4 + 17 and res["workers"] == 2
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM evtx").fetchone() == (379, 379)
    # every timeline row points at its evtx row and both at the right source
    assert con.execute(
        "SELECT COUNT(*) FROM timeline t JOIN evtx e ON e.id = t.ref_id AND e.source_id = t.source_id"
    ).fetchone()[0] == 379
    assert sorted(con.execute("SELECT s.records, COUNT(e.id) FROM sources s JOIN evtx e ON e.source_id = s.id "
                              "GROUP BY s.id").fetchall()) == [(4, 4), (17, 17), (358, 358)]
    assert con.execute("SELECT COUNT(*) FROM warnings w JOIN sources s ON s.id = w.source_id").fetchone()[0] > 0
    con.close()


# --- bulk path: RowBatch, TIMELINE_SQL, CSV batch renderer, generated maps -------------------------------------------
BULK_SAMPLES = ["plaso/System2.evtx", "evtx-rs/sample_with_a_bad_chunk_magic.evtx", "evtx-rs/sysmon.evtx",
                "python-evtx/security.evtx", "evtx-rs/new-user-security.evtx"]


@pytest.mark.parametrize("sample", BULK_SAMPLES)
def test_timeline_sql_equals_python_timeline(td: TD, tmp_path: Path, sample: str) -> None:
    """TIMELINE_SQL gives exactly the events ``timeline()`` gives for the same rows (recovered, unmapped and
    mapped events included), with --csv and --db together as well (no duplicate rows)."""
    import sqlite3

    from wintriage.model import Record
    from wintriage.pipeline import run_file
    from wintriage.sinks import CsvSink, MultiSink, StoreSink
    from wintriage.store.case import CaseWriter

    src = td(f"evtx/{sample}")
    rows, _ctx = run(src)
    want = [(ev.ts, ev.ts_desc, ev.user, ev.path, ev.summary, i)
            for i, r in enumerate(rows, 1) for ev in evtx.timeline(Record("evtx", r))]
    assert want and any(r["recovered"] for r in rows) == (sample in BULK_SAMPLES[:2])
    for multi in (False, True):
        w = CaseWriter(tmp_path / f"c{multi}.sqlite")
        sink: Any = StoreSink(w)
        if multi:
            sink = MultiSink(CsvSink(tmp_path / "csv"), sink)
        run_file(evtx, src, sink)
        w.close()
        con = sqlite3.connect(tmp_path / f"c{multi}.sqlite")
        got = con.execute("SELECT ts, ts_desc, user, path, summary, ref_id FROM timeline ORDER BY id").fetchall()
        # the rows as parse() gives them, NULL where the value is None (all-None and mixed columns alike)
        table = con.execute(f"SELECT {', '.join(evtx.COLUMNS)} FROM evtx ORDER BY id").fetchall()
        con.close()
        assert got == want
        assert table == [tuple(r[c] for c in evtx.COLUMNS) for r in rows]


def test_csv_batch_equals_rows(td: TD) -> None:
    """The batch CSV renderer gives the cells ``CsvShape.row`` gives, in any zone."""
    from wintriage.timeutil import parse_tz

    shape = evtx.CSV["evtx"]
    for sample in BULK_SAMPLES[:3]:
        rows, _ = run(td(f"evtx/{sample}"))
        cols = {c: [r[c] for r in rows] for c in rows[0]}
        for tz in (parse_tz("UTC"), parse_tz("+09:00")):
            want = [["" if v is None else str(v) for v in shape.row(r, tz)] for r in rows]
            got = [list(x) for x in zip(*shape.batch(cols, tz), strict=True)]  # type: ignore[misc]
            assert got == want


def test_generated_map_values_equal_apply(td: TD) -> None:
    """Each map's generated function returns what ``EventMap.apply`` returns, on every event of the samples and
    with EvtxECmd's 468 maps loaded over ours."""
    import orjson

    from wintriage.artifacts.evtx_maps import MAP_COLUMNS, load_maps

    ms = load_maps([td("config/evtxecmd_maps")])
    n = 0
    for sample in ("evtx-rs/sysmon.evtx", "python-evtx/security.evtx", "plaso/System.evtx",
                   "evtx-rs/post-Security.evtx"):
        for r in evtx._iter_wheel(str(td(f"evtx/{sample}")), ParseContext("evtx", "x"), 1, set()):
            ev = orjson.loads(r["data"])
            s = ev["Event"]["System"]
            em = ms.find(s.get("Channel") or "", s["Provider_attributes"].get("Name") or "", s["EventID"])
            if em is None:
                continue
            d = em.apply(ev)
            assert em.values(ev) == tuple(d.get(c) for c in MAP_COLUMNS)
            n += 1
    assert n > 5000


def test_chunk_split_equals_one_pass(td: TD, tmp_path: Path) -> None:
    """A large clean log parsed by worker processes over chunk ranges gives the rows and warnings of one pass;
    a damaged log is never split."""
    big = tmp_path / "big.evtx"
    assert big_log(td("evtx/plaso/System.evtx"), big, 3) == 81
    lay = evtx.scan_layout(big)
    assert len(evtx._split_plan(lay, ParseContext("evtx", "x", options={"evtx_workers": 2}))) == 11
    for src in (big, td("evtx/python-evtx/security.evtx"), td("evtx/evtx-rs/sysmon.evtx")):
        one, c1 = run(src, evtx_workers=1)
        split, c2 = run(src, evtx_workers=2, evtx_split_min=1)
        assert split == one and c1.warnings == c2.warnings and c1.skipped == c2.skipped
    rows, _ = run(big, evtx_workers=2)
    assert len(rows) == 3 * 5009 and [r["record_number"] for r in rows] == list(range(1, 3 * 5009 + 1))
    # both views of a chunk range give the wheel's records of those chunks (shifted: as chunks 0..; exact: in place)
    full = [r["data"] for r in evtx._iter_wheel(str(big), ParseContext("evtx", "x"), 1, set())]
    for shifted in (True, False):
        got = []
        for lo in range(0, 81, 30):
            win = evtx._ChunkWindow(str(big), lo, lo + 30, shifted=shifted)
            got += [r["data"] for r in evtx._iter_wheel(win, ParseContext("evtx", "x"), 1, set())]
            win.close()
        assert got == full
    bad = evtx.scan_layout(td("evtx/evtx-rs/sample_with_a_bad_chunk_magic.evtx"))
    assert evtx._split_plan(bad, ParseContext("evtx", "x", options={"evtx_workers": 2, "evtx_split_min": 1})) == []


def test_ts_many_equals_ts_ticks(td: TD) -> None:
    """The batch timestamp converter gives ``ts_ticks``' value for every shape: the wheel's (fractions with
    trailing zeros left out, or none), invalid dates and damaged text (which go through ``ts_ticks``)."""
    import random
    import warnings

    import evtx as wheel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        real = [r["timestamp"] for name in ("plaso/System.evtx", "python-evtx/security.evtx")
                for r in wheel.PyEvtxParser(str(td(f"evtx/{name}")), skip_errors=True).records_json()]
    assert {len(s) for s in real} >= {24, 28, 31, 32}
    rnd = random.Random(7)
    odd = [f"{y:04d}-{m:02d}-{d:02d}T23:59:59.9999999Z UTC" for y in (0, 1, 1600, 1900, 2000, 2100, 9999)
           for m in range(14) for d in (0, 1, 28, 29, 30, 31, 32)]
    for _ in range(6000):
        s = list(rnd.choice(real))
        for _k in range(rnd.randint(1, 3)):
            s[rnd.randrange(len(s))] = rnd.choice("0123456789x :.-ZTU\u0663\x00")
        odd.append("".join(s))
        t = rnd.choice(real)
        k = rnd.randrange(len(t))
        odd.append(t[:k] + t[k + 1:] if k % 2 else t[:k] + rnd.choice("0Z. 9") + t[k:])
    for k in range(0, len(real + odd), 1000):
        part = (real + odd)[k:k + 1000]
        assert evtx.ts_many(part) == [evtx.ts_ticks(s) for s in part]
    assert evtx.ts_many(["2010-11-21T03:55:59.6264271Z UTC", "2015-09-18T07:58:45Z UTC", "x", "\u00e9" * 32]) == [
        129347853596264271, 130870367250000000, None, None]
