"""Prefetch: every MANIFEST fact for the 8 plaso samples, the scenario image, corruption sweep, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.artifacts import prefetch as P
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.model import Record
from wintriage.timeutil import from_iso

csv.field_size_limit(1 << 30)

SAMPLES = [
    "AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf", "BYTECODEGENERATOR.EXE-C1E9BCE6.pf", "CMD.EXE-087B4001.pf",
    "NOTEPAD.EXE-D8414F97.pf", "ONEDRIVE.EXE-7E152375.pf", "PING.EXE-B29F6629.pf", "TASKHOST.EXE-3AE259FC.pf",
    "WUAUCLT.EXE-830BCC14.pf",
]


def T(s: str) -> int:
    return from_iso(s)


def run(path: Path, own: bool = False) -> tuple[dict, list[dict], list[dict], ParseContext]:
    ctx = ParseContext("prefetch", str(path), options={"prefetch_own_decoder": own})
    recs = list(P.parse(path, ctx))
    main_rows = [r.data for r in recs if r.table == "prefetch"]
    assert len(main_rows) == 1
    files = [r.data for r in recs if r.table == "prefetch_files"]
    runs = [r.data for r in recs if r.table == "prefetch_runs"]
    return main_rows[0], files, runs, ctx


def prev(r: dict) -> list[int]:
    return [r[f"previous_run{i}"] for i in range(7) if r[f"previous_run{i}"]]


# (name, version, exe, hash, run_count, last_run, previous, files, volumes[(path, serial, created)])
FACTS = {
    "CMD.EXE-087B4001.pf": (17, "CMD.EXE", "087B4001", 2, "2013-03-10T10:11:49.2812500Z", [], 33,
                            [("\\DEVICE\\HARDDISKVOLUME1", "24CB074B", "2013-03-10T10:19:46.2343750Z")]),
    "PING.EXE-B29F6629.pf": (23, "PING.EXE", "B29F6629", 14, "2012-04-06T19:00:55.9329556Z", [], 27,
                             [("\\DEVICE\\HARDDISKVOLUME1", "AC036525", "2010-11-10T17:37:26.4843750Z")]),
    "TASKHOST.EXE-3AE259FC.pf": (26, "TASKHOST.EXE", "3AE259FC", 4, "2013-10-04T15:40:09.0378333Z",
                                 ["2013-10-04T15:28:09.0103565Z", "2013-10-04T06:19:54.5960606Z",
                                  "2013-10-04T06:11:13.6429375Z"], 51,
                                 [("\\DEVICE\\HARDDISKVOLUME2", "686C4249", None)]),
    "BYTECODEGENERATOR.EXE-C1E9BCE6.pf": (30, "BYTECODEGENERATOR.EXE", "C1E9BCE6", 7, "2015-05-14T22:11:58.0911341Z",
                                          ["2015-05-14T22:11:55.3576520Z", "2015-05-14T22:11:45.5135991Z",
                                           "2015-05-14T22:11:25.8427278Z", "2015-05-14T22:11:19.8586549Z",
                                           "2015-05-14T22:11:05.9066547Z", "2015-05-14T22:10:38.2515193Z"], 1085,
                                          [("\\VOLUME{01d08edc0cbccaad-3e0d2d25}", "3E0D2D25",
                                            "2015-05-15T06:54:55.1392941Z")]),
    "NOTEPAD.EXE-D8414F97.pf": (30, "NOTEPAD.EXE", "D8414F97", 2, "2019-06-05T19:55:04.8777787Z",
                                ["2019-06-05T19:23:00.8157052Z"], 56,
                                [("\\VOLUME{01d3096ba3a46863-2ca3d1ae}", "2CA3D1AE", "2017-07-30T19:40:03.5487843Z")]),
    "ONEDRIVE.EXE-7E152375.pf": (30, "ONEDRIVE.EXE", "7E152375", 2, "2015-05-14T22:11:05.4852771Z",
                                 ["2015-05-14T22:10:28.6747101Z"], 134,
                                 [("\\VOLUME{01d08edc0cbccaad-3e0d2d25}", "3E0D2D25", None)]),
    "AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf": (31, "AM_DELTA_PATCH_1.443.990.0.EXE", "7037CF86", 1, None, [], 18,
                                                  [("\\VOLUME{01dc94cf1f08c4a4-bc1f1bfc}", "BC1F1BFC", None)]),
    "WUAUCLT.EXE-830BCC14.pf": (23, "WUAUCLT.EXE", "830BCC14", 25, "2012-03-15T21:17:39.8079963Z", [], 103,
                                [("\\DEVICE\\HARDDISKVOLUME1", "AC036525", None),
                                 ("\\DEVICE\\HARDDISKVOLUMESHADOWCOPY2", "AC036525", None),
                                 ("\\DEVICE\\HARDDISKVOLUMESHADOWCOPY4", "AC036525", None),
                                 ("\\DEVICE\\HARDDISKVOLUMESHADOWCOPY7", "AC036525", None),
                                 ("\\DEVICE\\HARDDISKVOLUMESHADOWCOPY8", "AC036525", None)]),
}


@pytest.mark.parametrize("own", [False, True], ids=["libscca", "own-decoder"])
@pytest.mark.parametrize("name", SAMPLES)
def test_manifest_facts(td, name: str, own: bool) -> None:
    version, exe, h, rc, last, previous, nfiles, vols = FACTS[name]
    r, files, runs, ctx = run(td(f"prefetch/{name}"), own)
    assert ctx.warning_count == 0
    assert r["decoder"] == ("own" if own else "libscca")
    assert r["version"] == version
    assert r["executable_name"] == exe
    assert r["hash"] == h
    assert r["run_count"] == rc
    if last:
        assert r["last_run"] == T(last)
    assert prev(r) == [T(p) for p in previous]
    assert r["file_count"] == len(files) == nfiles
    assert r["volume_count"] == len(vols)
    got = json.loads(r["volumes"])
    for (vp, serial, created), g in zip(vols, got, strict=True):
        assert g["device_path"] == vp
        assert g["serial"] == serial
        if created:
            assert g["created"] == P.fmt(T(created))
    if vols[0][2]:
        assert r["volume0_created"] == T(vols[0][2])
    assert r["volume0_serial"] == vols[0][1]
    assert len(runs) == 1 + len(previous)
    assert runs[0]["is_last_run"] == 1 and runs[0]["run_time"] == r["last_run"]


def test_path_hints_and_v31_full_name(td) -> None:
    r, files, _runs, _ = run(td("prefetch/PING.EXE-B29F6629.pf"))
    assert r["executable_path"] == "\\DEVICE\\HARDDISKVOLUME1\\WINDOWS\\SYSTEM32\\PING.EXE"
    assert P.strip_volume(r["executable_path"]) == "\\WINDOWS\\SYSTEM32\\PING.EXE"
    r, files, runs, _ = run(td("prefetch/AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf"))
    assert r["header_name"] == "AM_DELTA_PATCH_1.443.990.0.EX"
    assert r["executable_name"] == "AM_DELTA_PATCH_1.443.990.0.EXE"
    assert P.strip_volume(r["executable_path"]) == (
        "\\WINDOWS\\SOFTWAREDISTRIBUTION\\DOWNLOAD\\INSTALL\\AM_DELTA_PATCH_1.443.990.0.EXE")
    ev = list(P.timeline(Record("prefetch_runs", runs[0])))
    assert ev[0].path == r["executable_path"] and ev[0].ts_desc == "Last Run"
    r, files, _runs, _ = run(td("prefetch/TASKHOST.EXE-3AE259FC.pf"))
    assert files[0]["filename"] == "\\DEVICE\\HARDDISKVOLUME2\\WINDOWS\\SYSTEM32\\NTDLL.DLL"
    assert (files[0]["mft_entry"], files[0]["mft_sequence"]) == (281474976756955 & 0xFFFFFFFFFFFF, 1)
    assert r["directory_count"] == 10 and r["directories"].startswith("\\DEVICE\\HARDDISKVOLUME2\\")


def test_fallback_when_libscca_fails(td, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(d: bytes, ctx: ParseContext) -> P.PrefetchInfo:
        raise OSError("libscca_file_open: unsupported format version")

    monkeypatch.setattr(P, "decode_libscca", boom)
    r, files, runs, ctx = run(td("prefetch/AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf"))
    assert r["decoder"] == "own" and r["executable_name"] == "AM_DELTA_PATCH_1.443.990.0.EXE"
    assert r["run_count"] == 1 and len(files) == 18 and len(runs) == 1
    assert ctx.warning_count == 1 and ctx.skipped == 0 and "own decoder" in ctx.warnings[0].reason


# --- the scenario image ------------------------------------------------------------------------
SCEN_MAP = {"MAL": "KMSPICO_V11.2_SETUP.EXE-DE8FEE08.pf", "PAYLOAD": "WINUPDATESVC.EXE-200E270D.pf"}


def test_scenario_prefetch(td, tmp_path: Path) -> None:
    from _scenario_files import read_from_image
    image = td("scenario/public-1.E01")
    answers = json.loads(td("scenario/public-1.answers.json").read_text())
    md, rw = answers["malicious_download"], answers["ransomware"]
    vol = answers["disk"]["partitions"][1]["prefetch_volume"]
    pf_dir = "\\Windows\\Prefetch\\"
    import pyfsntfs  # noqa: F401  (listing below)

    from wintriage.evidence.image import ImageFile, open_image

    with open_image(image) as img:
        v = pyfsntfs.volume()
        v.open_file_object(ImageFile(img, 105906176))
        d = v.get_file_entry_by_path(pf_dir.rstrip("\\"))
        names = [d.get_sub_file_entry(i).name for i in range(d.number_of_sub_file_entries)]
        v.close()
    assert md["prefetch"] in names and rw["payload_prefetch"] in names
    data = read_from_image(image, [pf_dir + n for n in names])
    by_stem: dict[str, dict] = {}
    for p, b in data.items():
        ctx = ParseContext("prefetch", p)
        recs = [x.data for x in P.records_from_bytes(b, p.rsplit("\\", 1)[-1], ctx) if x.table == "prefetch"]
        assert ctx.warning_count == 0 and len(recs) == 1
        r = recs[0]
        assert r["compressed"] == 1 and r["version"] == 30
        assert r["volume0_name"] == vol and r["volume0_serial"] == "0F0220F3"
        by_stem[r["source_filename"]] = r
    mal = by_stem[md["prefetch"]]
    assert mal["executable_name"] == "KMSPICO_V11.2_SETUP.EXE"
    assert mal["run_count"] == md["exec_count"] == 1
    assert mal["last_run"] == T(md["first_exec_utc"]) == T("2024-12-12T04:33:27.412000Z")
    assert mal["executable_path"] == vol + "\\USERS\\MINJI\\DOWNLOADS\\KMSPICO_V11.2_SETUP.EXE"
    assert mal["executable_rel_path"].lower() == md["file_path"][2:].lower()
    pay = by_stem[rw["payload_prefetch"]]
    assert pay["last_run"] == T(rw["payload_first_exec_utc"]) == T("2024-12-12T06:02:14.412Z")
    assert pay["executable_path"] == vol + "\\" + rw["payload_path"][3:].upper()
    # every prefetch_runs list of the answer key: run count and the last 8 run times
    for key, times in answers["prefetch_runs"].items():
        fname = SCEN_MAP.get(key) or next(n for n in by_stem if n.startswith(key + ".EXE-"))
        r = by_stem[fname]
        assert r["run_count"] == len(times), key
        want = sorted((T(t) for t in times), reverse=True)[:8]
        assert [r["last_run"], *prev(r)] == want, key


# --- robustness --------------------------------------------------------------------------------
def _mutations(data: bytes) -> list[bytes]:
    out = []
    n = len(data)
    for cut in (0, 3, 8, 50, 84, 200, n // 3, n // 2, n - 7):
        if 0 <= cut < n:
            out.append(data[:cut])
    for off in (0, 4, 12, 84, 88, 100, 108, 112, 120, 200, 300, n // 2, n - 20):
        if 0 <= off < n:
            b = bytearray(data)
            b[off] ^= 0xFF
            b[min(off + 1, n - 1)] ^= 0x5A
            out.append(bytes(b))
    return out


@pytest.mark.parametrize("name", SAMPLES)
def test_corruption_sweep(td, name: str) -> None:
    raw = td(f"prefetch/{name}").read_bytes()
    # sweep the compressed file and also the decompressed SCCA body (so header fields are hit)
    body, _ = P.decompress(raw)
    bad = 0
    for blob in _mutations(raw) + _mutations(body):
        for own in (False, True):
            ctx = ParseContext("prefetch", name)
            recs = list(P.records_from_bytes(blob, name, ctx, force_own=own))
            if not recs:
                bad += 1
                assert ctx.warning_count > 0
                assert all(isinstance(w.reason, str) and w.reason for w in ctx.warnings)
    assert bad > 0
    ctx = ParseContext("prefetch", name)
    assert list(P.records_from_bytes(raw[:40], name, ctx)) == []
    assert ctx.warnings[0].offset is not None


def test_cli_csv(td, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "prefetch", str(td("prefetch")), "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["failed"] == 0 and len(summary["sources"]) == 8
    with open(out / "PECmd_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    head = list(rows[0])
    assert head[:10] == ["SourceFilename", "SourceCreated", "SourceModified", "SourceAccessed", "ExecutableName",
                         "Hash", "Size", "Version", "RunCount", "LastRun"]
    assert head[-3:] == ["Directories", "FilesLoaded", "ParsingError"]
    byname = {r["ExecutableName"]: r for r in rows}
    assert byname["TASKHOST.EXE"]["LastRun"] == "2013-10-04 15:40:09.0378333"
    assert byname["TASKHOST.EXE"]["PreviousRun0"] == "2013-10-04 15:28:09.0103565"
    assert byname["CMD.EXE"]["Volume0Serial"] == "24CB074B"
    assert byname["AM_DELTA_PATCH_1.443.990.0.EXE"]["RunCount"] == "1"
    with open(out / "PECmd_Output_Timeline.csv", encoding="utf-8-sig", newline="") as fh:
        tl = list(csv.DictReader(fh))
    assert list(tl[0]) == ["RunTime", "ExecutableName"]
    assert len(tl) == 1 + 1 + 1 + 2 + 2 + 1 + 4 + 7  # one row per run time
    assert {"RunTime": "2012-04-06 19:00:55.9329556",
            "ExecutableName": "\\DEVICE\\HARDDISKVOLUME1\\WINDOWS\\SYSTEM32\\PING.EXE"} in tl
