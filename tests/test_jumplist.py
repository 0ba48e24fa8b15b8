"""Jump lists: DestList v1/v3 facts from plaso, custom destinations, AppID table, corruption, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from wintriage.artifacts import jumplist as J
from wintriage.artifacts.base import ParseContext
from wintriage.cli import main
from wintriage.timeutil import from_iso

AUTO1 = "lnk/1b4dd67f29cb1962.automaticDestinations-ms"
AUTO3 = "lnk/9d1f905ce5044aee.automaticDestinations-ms"
CUSTOM = "lnk/5afe4de1b92fc382.customDestinations-ms"


def run(path: Path) -> tuple[list[dict], ParseContext]:
    ctx = ParseContext("jumplist", str(path))
    return [r.data for r in J.parse(path, ctx)], ctx


def test_destlist_v1(td) -> None:
    rows, ctx = run(td(AUTO1))
    assert ctx.warning_count == 0
    assert len(rows) == 7
    e = rows[0]
    assert (e["entry_number"], e["entry_offset"], e["destlist_version"]) == (7, 32, 1)
    assert e["path"] == "C:\\Users\\bperry\\Downloads"
    assert e["hostname"] == "student-pc1"
    assert e["last_modified"] == from_iso("2015-08-29T15:32:44.0343008Z")
    assert e["pin_status"] == -1 and e["pinned"] == 0
    assert e["file_droid"] == "9b1ce584-4a4c-11e5-b5c9-080027ac3d7f"
    assert e["volume_droid"] == "fb6af886-05d7-402d-9741-d1ee9e64c41f"
    assert e["mac_address"] == "08:00:27:ac:3d:7f"
    assert e["app_id"] == "1b4dd67f29cb1962" and e["app_name"] == "Windows Explorer Pinned and Recent"
    assert e["has_lnk"] == 1 and e["local_path"] == e["path"]
    lib = [r for r in rows if (r["target_path"] or "").endswith("\\Libraries\\Documents.library-ms")]
    assert len(lib) == 1 and lib[0]["file_size"] == 3541 and lib[0]["volume_serial"] == "885029E6"


def test_destlist_v3_url_entry(td) -> None:
    rows, ctx = run(td(AUTO3))
    assert ctx.warning_count == 0
    assert [r["destlist_version"] for r in rows] == [3, 3]
    e = next(r for r in rows if r["entry_number"] == 2)
    assert e["path"] == "http://support.microsoft.com/kb/3124263"
    assert e["last_modified"] == from_iso("2016-01-17T13:08:08.2475045Z")
    assert e["pin_status"] == -1 and e["interaction_count"] == 1
    assert e["file_droid"] == e["volume_droid"] == ""  # null droids
    assert e["has_lnk"] == 1 and e["shell_items"][-1]["kind"] == "URI"
    assert e["shell_items"][-1]["name"] == e["path"] == e["target_idlist_path"]


def test_custom_destinations(td) -> None:
    rows, ctx = run(td(CUSTOM))
    assert ctx.warning_count == 0
    # plaso counts 45 event_data = 9 LNKs x (link + 3 file-entry shell items + tracker)
    assert len(rows) == 9
    assert sum(1 + sum(1 for s in r["shell_items"] if s["kind"] in ("File", "Directory")) + 1 for r in rows) == 45
    disp = [r for r in rows if r["arguments"] == (
        "{DE3895CB-077B-4C38-B6E3-F3DE1E0D84FC} %systemroot%\\system32\\control.exe /name Microsoft.Display")]
    assert len(disp) == 1
    d = disp[0]
    assert d["local_path"] == "C:\\Windows\\System32\\GettingStarted.exe"
    assert d["file_size"] == 11776 and d["volume_serial"] == "885029E6"
    sys32 = next(s for s in d["shell_items"] if s.get("name") == "System32")
    assert (sys32["mft_entry"], sys32["mft_seq"]) == (2305, 1)
    assert d["mac_address"] == "00:1d:09:fa:5a:1c"


def test_appid_yaml_schema() -> None:
    from importlib import resources

    data = yaml.safe_load(resources.files("wintriage.data").joinpath("jumplist_appids.yaml").read_text())
    assert data["schema"] == 1
    ids = data["appids"]
    assert len(ids) >= 100
    for k, v in ids.items():
        assert isinstance(k, str) and all(c in "0123456789abcdef" for c in k) and 12 <= len(k) <= 16, k
        assert isinstance(v, str) and v
    assert J.app_name("5D696D521DE238C3") == "Google Chrome"
    assert J.app_name("0012dc1ea8e34b5a6"[1:]) == "Microsoft Paint"


@pytest.mark.parametrize("rel", [AUTO1, AUTO3, CUSTOM])
def test_corruption_sweep(td, tmp_path: Path, rel: str) -> None:
    raw = td(rel).read_bytes()
    name = Path(rel).name
    n = len(raw)
    blobs = [raw[:c] for c in (0, 8, 100, 512, 1024, n // 2, n - 100)]
    for off in (0, 8, 30, 48, 512, 512 + 100, 1024, n // 3, n // 2, n - 200):
        b = bytearray(raw)
        for i in range(off, min(off + 16, n)):
            b[i] ^= 0x5A
        blobs.append(bytes(b))
    warned = 0
    for i, blob in enumerate(blobs):
        d = tmp_path / str(i)
        d.mkdir()
        p = d / name
        p.write_bytes(blob)
        ctx = ParseContext("jumplist", str(p))
        recs = list(J.parse(p, ctx))
        for r in recs:
            json.dumps(r.data, default=str).encode("utf-8")
            list(J.timeline(r))
        warned += ctx.warning_count > 0
    assert warned > 0


def test_cli_csv(td, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "jumplist", str(td(AUTO1)), str(td(AUTO3)), str(td(CUSTOM)),
                                    "--csv", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["records"] == 7 + 2 + 9
    with open(out / "JLECmd_AutomaticDestinations.csv", encoding="utf-8-sig", newline="") as fh:
        auto = list(csv.DictReader(fh))
    assert auto[0]["EntryNumber"] == "7" and auto[0]["Hostname"] == "student-pc1"
    assert auto[0]["LastModified"] == "2015-08-29 15:32:44.0343008"
    assert auto[0]["AppIdDescription"] == "Windows Explorer Pinned and Recent"
    with open(out / "JLECmd_CustomDestinations.csv", encoding="utf-8-sig", newline="") as fh:
        custom = list(csv.DictReader(fh))
    assert len(custom) == 9 and custom[0]["LocalPath"] == "C:\\Windows\\System32\\GettingStarted.exe"


def test_random_mutations(td, tmp_path: Path) -> None:
    """Seeded random byte damage (found: OLE storages mistaken for streams). No exception may escape."""
    import random

    rnd = random.Random(5)
    for rel in (AUTO1, AUTO3, CUSTOM):
        raw = td(rel).read_bytes()
        for k in range(40):
            b = bytearray(raw)
            for _ in range(rnd.randint(1, 30)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            p = tmp_path / f"{Path(rel).stem}{k}" / Path(rel).name
            p.parent.mkdir()
            p.write_bytes(bytes(b))
            ctx = ParseContext("jumplist", str(p))
            for r in J.parse(p, ctx):
                list(J.timeline(r))
                json.dumps(r.data, default=str).encode("utf-8")
