"""Hive access: regipy/plaso facts, type detection from content, REGA names, bad checksums, the
registry artefact end to end (registry_hives), CLI, corruption sweep."""

from __future__ import annotations

import collections
import csv
import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.artifacts import registry
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.registry.hive import (
    HiveInfo,
    iter_values,
    key_time,
    open_hive,
    user_for,
    value_text,
)
from wintriage.cli import main

R = "registry/regipy/"


def hives_rows(path: Path, **opts: object) -> tuple[list, ParseContext]:  # type: ignore[type-arg]
    ctx = ParseContext("registry", str(path), options=dict(opts))
    recs = list(registry.parse(path, ctx))
    return recs, ctx


def the_hive_row(recs: list) -> dict:  # type: ignore[type-arg]
    rows = [r.data for r in recs if r.table == "registry_hives"]
    assert len(rows) == 1
    return rows[0]


def test_regipy_ntuser_facts(unpacked: Callable[[str], Path]) -> None:
    p = unpacked(R + "NTUSER.DAT.xz")
    ctx = ParseContext("registry", str(p))
    h = open_hive(p, ctx)
    assert h is not None and ctx.warnings == []
    b = h.base
    assert (b.primary_seq, b.secondary_seq, b.major, b.minor, b.root_cell, b.hbins_size) == (749, 749, 1, 3, 32, 733184)
    assert b.last_written == 129782982453388850 and b.checksum == 476614345
    assert b.file_name == "?\\C:\\Users\\vibranium\\ntuser.dat"
    assert h.root_name == "CMI-CreateHive{6A1C4018-979D-4291-A7DC-7AED1C75B67C}"
    assert h.root.number_of_sub_keys == 11 and key_time(h.root) == 129780243434537497
    assert h.hive_type == "NTUSER"
    run = h.get_key(r"\Software\Microsoft\Windows\CurrentVersion\Run")
    assert key_time(run) == 129779615948377168
    first = next(iter_values(run))
    assert first[:2] == ("Sidebar", 2)  # REG_EXPAND_SZ
    assert value_text(first[1], first[2]) == "%ProgramFiles%\\Windows Sidebar\\Sidebar.exe /autoRun"
    sec = h.security_info(run)
    assert (sec["owner"], sec["group"]) == ("S-1-5-18", "S-1-5-18")
    assert [s for _t, _m, s in sec["dacl"]] == [
        "S-1-5-21-2036804247-3058324640-2116585241-1673", "S-1-5-18", "S-1-5-32-544", "S-1-5-12"]
    nkeys = 0
    types: collections.Counter[int] = collections.Counter()
    for _p, k in h.walk():
        nkeys += 1
        types.update(t for _n, t, _d in iter_values(k, ctx))
    assert nkeys == 1812 and sum(types.values()) == 4094
    assert dict(types) == {3: 531, 4: 1336, 2: 93, 7: 303, 0: 141, 11: 54, 1: 1636}
    assert ctx.warnings == []


def test_registry_hives_row(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = hives_rows(unpacked(R + "NTUSER.DAT.xz"))
    row = the_hive_row(recs)
    assert (row["hive_type"], row["keys"], row["values"]) == ("NTUSER", 1812, 4094)
    assert (row["primary_seq"], row["secondary_seq"], row["version"], row["dirty"]) == (749, 749, "1.3", False)
    assert row["batch"] == "wintriage_default.reb" and row["batch_rows"] > 100
    assert ctx.warnings == []


def test_emoji_key_names(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    for n in ("transactions_NTUSER.DAT", "transactions_ntuser.dat.log1", "transactions_ntuser.dat.log2"):
        shutil.copy(unpacked(R + n + ".xz"), tmp_path / n)
    ctx = ParseContext("registry", "t")
    h = open_hive(tmp_path / "transactions_NTUSER.DAT", ctx)  # logs found case-insensitively, replayed
    assert h is not None and h.replay is not None and h.replay.final_seq == 588
    k = h.get_key(r"Control Panel\International")
    assert [s.name for s in k.sub_keys] == ["Geo", "User Profile", "User Profile System Backup", "🌎🌏🌍"]


@pytest.mark.parametrize(
    "rel,expected",
    [
        (R + "NTUSER.DAT.xz", "NTUSER"), (R + "SYSTEM.xz", "SYSTEM"), (R + "SAM.xz", "SAM"),
        (R + "SECURITY.xz", "SECURITY"), (R + "amcache.hve.xz", "AMCACHE"), (R + "UsrClass.dat.xz", "USRCLASS"),
        ("registry/plaso/NTUSER.DAT", "NTUSER"), ("registry/plaso/win10-Amcache.hve", "AMCACHE"),
    ],
)  # fmt: skip
def test_type_from_content_not_name(unpacked: Callable[[str], Path], td: Callable[[str], Path], tmp_path: Path,
                                    rel: str, expected: str) -> None:
    src = unpacked(rel) if rel.endswith(".xz") else td(rel)
    q = tmp_path / "evidence.bin"  # a name that says nothing
    shutil.copy(src, q)
    ctx = ParseContext("registry", str(q))
    h = open_hive(q, ctx, logs=[])
    assert h is not None and h.hive_type == expected


def test_usrclass_sid_and_user_names() -> None:
    assert user_for("C:/x/alice.NTUSER.DAT", "NTUSER") == "alice"
    assert user_for("triage/bob.UsrClass.dat", "USRCLASS") == "bob"
    assert user_for("C/Users/carol/NTUSER.DAT", "NTUSER") == "carol"
    assert user_for("/mnt/Documents and Settings/dave/NTUSER.DAT", "NTUSER") == "dave"
    assert user_for("Windows/System32/config/SYSTEM", "SYSTEM") == ""
    info = HiveInfo("p", "SYSTEM")
    assert info.control_sets == [] and info.sid == ""


def test_rega_name_and_profile_sid(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    q = tmp_path / "vibranium.NTUSER.DAT"
    shutil.copy(unpacked(R + "NTUSER.DAT.xz"), q)
    ctx = ParseContext("registry", str(q), resources={"registry_profile_sids": {"vibranium": "S-1-5-21-1-2-3-1001"}})
    recs = list(registry.parse(q, ctx))
    row = the_hive_row(recs)
    assert (row["user"], row["sid"]) == ("vibranium", "S-1-5-21-1-2-3-1001")
    u = unpacked(R + "UsrClass.dat.xz")
    h = open_hive(u, ParseContext("registry", str(u)), logs=[])
    assert h is not None and h.info.sid == "S-1-5-21-2734969515-1644526556-1039763013-1001"


def test_system_control_sets(unpacked: Callable[[str], Path]) -> None:
    p = unpacked(R + "SYSTEM.xz")
    h = open_hive(p, ParseContext("registry", str(p)))
    assert h is not None
    assert (h.info.control_sets, h.info.current_control_set) == (["ControlSet001", "ControlSet002"], "ControlSet001")


def test_bad_checksum_opens_with_warning(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    raw = bytearray(unpacked(R + "NTUSER.DAT.xz").read_bytes())
    raw[508] ^= 0xFF
    q = tmp_path / "NTUSER.DAT"
    q.write_bytes(bytes(raw))
    recs, ctx = hives_rows(q)
    row = the_hive_row(recs)
    assert row["keys"] == 1812 and row["values"] == 4094 and row["checksum_ok"] is False
    assert any(w.offset == 508 and "checksum" in w.reason for w in ctx.warnings)


def test_dirty_without_logs_is_reported(unpacked: Callable[[str], Path]) -> None:
    recs, ctx = hives_rows(unpacked(R + "SECURITY.xz"))
    row = the_hive_row(recs)
    assert row["dirty"] is True and row["replayed"] is False
    assert (row["primary_seq"], row["secondary_seq"]) == (107, 106)
    assert [w.reason for w in ctx.warnings] == ["hive is dirty (sequence 107/106) but no transaction logs"]


def test_replayed_hive_row_and_replay_out(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for n in ("UsrClass.dat", "UsrClass.dat.LOG1", "UsrClass.dat.LOG2"):
        shutil.copy(unpacked(R + n + ".xz"), d / n)
    out = tmp_path / "clean"
    recs, ctx = hives_rows(d / "UsrClass.dat", replay_out=out)
    row = the_hive_row(recs)
    assert (row["replayed"], row["log_entries"], row["pages"], row["final_seq"]) == (True, 14, 158, 300)
    assert (row["keys"], row["values"]) == (6238, 12531)
    assert row["logs_applied"] == "UsrClass.dat.LOG1,UsrClass.dat.LOG2"
    assert hashlib.md5((out / "UsrClass.dat").read_bytes()).hexdigest() == "05b2a9cb929a8ebac88c0271bbb4759a"
    assert row["deleted_keys"] == 5  # nk records in free cells of the recovered hive
    # the input is never modified
    assert hashlib.md5((d / "UsrClass.dat").read_bytes()).digest() == hashlib.md5(
        unpacked(R + "UsrClass.dat.xz").read_bytes()).digest()
    # logs handed to the parser on their own produce nothing
    assert list(registry.parse(d / "UsrClass.dat.LOG1", ParseContext("registry", "log"))) == []


def test_cli_parse_registry(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    d = tmp_path / "hives"
    d.mkdir()
    for n in ("NTUSER.DAT", "SAM", "UsrClass.dat", "UsrClass.dat.LOG1", "UsrClass.dat.LOG2"):
        shutil.copy(unpacked(R + n + ".xz"), d / n)
    out = tmp_path / "csv"
    rep = tmp_path / "replayed"
    res = CliRunner().invoke(main, ["parse", "registry", str(d), "--csv", str(out), "--replay-out", str(rep), "--json"])
    assert res.exit_code == 0, res.output
    with open(out / "RECmd_Batch_Output.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["HivePath", "HiveType", "Description", "Category", "KeyPath", "ValueName", "ValueType",
                       "ValueData", "ValueData2", "ValueData3", "Comment", "Recursive", "Deleted",
                       "LastWriteTimestamp", "PluginDetailFile"]
    assert {r[1] for r in rows[1:]} >= {"NtUser", "Sam", "UsrClass"}
    assert (rep / "UsrClass.dat").exists() and not (rep / "NTUSER.DAT").exists()
    with open(out / "registry_hives.csv", encoding="utf-8-sig", newline="") as fh:
        hv = {r["hive_type"]: r for r in csv.DictReader(fh)}
    assert hv["NTUSER"]["keys"] == "1812" and hv["USRCLASS"]["pages"] == "158"


def test_corruption_sweep_hive(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    raw = unpacked(R + "NTUSER.DAT.xz").read_bytes()
    q = tmp_path / "NTUSER.DAT"
    t0 = time.monotonic()
    warned = 0
    cases: list[bytes] = [raw[:n] for n in (0, 10, 4096, 4100, 4128, 8192, 100000, 400000)]
    for off in (0, 4, 28, 36, 40, 508, 4096, 4100, 4132, 4200, 6000, 50000, 108340, 108548, 300000, 700000):
        b = bytearray(raw)
        b[off:off + 4] = b"\xff\xff\xff\x7f"
        cases.append(bytes(b))
    for data in cases:
        q.write_bytes(data)
        ctx = ParseContext("registry", str(q))
        list(registry.parse(q, ctx))  # must not raise
        warned += bool(ctx.warnings)
        assert all(w.offset is None or w.offset >= 0 for w in ctx.warnings)
    assert warned >= 8
    assert time.monotonic() - t0 < 25


def test_plugin_isolation(unpacked: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from wintriage.model import Record

    class Boom:
        NAME = "boom"
        HIVE_TYPES = {"NTUSER"}
        TABLES = {"boom_rows": [("key_path", "TEXT"), ("n", "INTEGER")]}

        @staticmethod
        def run(root: object, hive: HiveInfo, ctx: ParseContext):  # type: ignore[no-untyped-def]
            yield Record("boom_rows", {"key_path": "", "n": 1})
            raise RuntimeError("plugin bug")

    monkeypatch.setattr(registry, "PLUGINS", [Boom])
    monkeypatch.setitem(registry.TABLES, "boom_rows", Boom.TABLES["boom_rows"])
    recs, ctx = hives_rows(unpacked(R + "NTUSER.DAT.xz"))
    assert [r.data["n"] for r in recs if r.table == "boom_rows"] == [1]
    assert any("plugin boom stopped after 1 records: RuntimeError: plugin bug" in w.reason for w in ctx.warnings)
    assert the_hive_row(recs)["keys"] == 1812



def test_key_tree_cycle_does_not_hang(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    raw = bytearray(unpacked(R + "NTUSER.DAT.xz").read_bytes())
    root_rec = 4096 + 32 + 4
    lst = 4096 + int.from_bytes(raw[root_rec + 28:root_rec + 32], "little") + 4
    assert raw[lst:lst + 2] == b"lf"
    raw[lst + 4:lst + 8] = (32).to_bytes(4, "little")  # the root's first sub key is now the root itself
    q = tmp_path / "NTUSER.DAT"
    q.write_bytes(bytes(raw))
    t0 = time.monotonic()
    recs, ctx = hives_rows(q)
    assert time.monotonic() - t0 < 20
    assert any(w.offset == root_rec and "reached twice" in w.reason for w in ctx.warnings)
    assert the_hive_row(recs)["keys"] < 1812


@pytest.mark.parametrize("name", ["SAM", "SECURITY", "amcache.hve", "UsrClass.dat"])
def test_corruption_sweep_other_hives(unpacked: Callable[[str], Path], tmp_path: Path, name: str) -> None:
    import random

    raw = unpacked(R + name + ".xz").read_bytes()
    rnd = random.Random(name)
    q = tmp_path / name
    t0 = time.monotonic()
    for i in range(12 if len(raw) < 1_000_000 else 5):
        b = bytearray(raw[: len(raw) if i % 4 else rnd.randrange(4096, len(raw))])
        for _ in range(1 + 10 * (i % 3)):
            o = rnd.randrange(4096, len(b) - 4)
            b[o:o + 4] = rnd.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00", b"\x20\x00\x00\x00"])
        q.write_bytes(bytes(b))
        ctx = ParseContext("registry", str(q))
        list(registry.parse(q, ctx))  # never raises
        assert all(w.offset is None or 0 <= w.offset <= len(raw) for w in ctx.warnings)
    assert time.monotonic() - t0 < 25


def test_cli_all_dumps_every_value(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    d = tmp_path / "h"
    d.mkdir()
    shutil.copy(unpacked(R + "NTUSER.DAT.xz"), d / "NTUSER.DAT")
    out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "registry", str(d), "--all", "--csv", str(out)])
    assert res.exit_code == 0, res.output
    with open(out / "registry_keys.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(1 for r in rows if r["value_type"]) == 4094
    assert len({r["key_path"] for r in rows}) == 1812
    run = [r for r in rows if r["key_path"] == r"ROOT\Software\Microsoft\Windows\CurrentVersion\Run"]
    assert (run[0]["value_name"], run[0]["value_type"], run[0]["owner_sid"]) == ("Sidebar", "RegExpandSz", "S-1-5-18")


def test_scenario_user_hives_get_profilelist_sids(td: Callable[[str], Path], tmp_path: Path) -> None:
    """A triage folder of the scenario image: NTUSER/UsrClass of jiwoo and minji get their SIDs from the
    SOFTWARE hive's ProfileList whatever order the files are parsed in (answers.json)."""
    img = td("scenario/public-1.E01")
    out = tmp_path / "x"
    res = CliRunner().invoke(main, ["extract", str(img), "--triage", "-o", str(out), "--json"])
    if res.exit_code != 0:
        pytest.skip(f"triage extraction unavailable: {res.output[-200:]}")
    users = next(out.rglob("Users"), None)
    assert users is not None
    csv_out = tmp_path / "csv"
    res = CliRunner().invoke(main, ["parse", "registry", str(users), "--csv", str(csv_out), "--json"])
    assert res.exit_code == 0, res.output
    with open(csv_out / "registry_hives.csv", encoding="utf-8-sig", newline="") as fh:
        got = {(r["user"], r["hive_type"]): r["sid"] for r in csv.DictReader(fh)}
    assert got[("minji", "NTUSER")] == "S-1-5-21-1760460187-1592185332-161725925-1001"
    assert got[("jiwoo", "NTUSER")] == "S-1-5-21-1760460187-1592185332-161725925-1002"
    assert got[("jiwoo", "USRCLASS")] == "S-1-5-21-1760460187-1592185332-161725925-1002"
    config = next(p for p in out.rglob("config") if p.parent.name.lower() == "system32")
    csv2 = tmp_path / "csv2"
    res = CliRunner().invoke(main, ["parse", "registry", str(config), "--csv", str(csv2), "--json"])
    assert res.exit_code == 0, res.output
    with open(csv2 / "registry_hives.csv", encoding="utf-8-sig", newline="") as fh:
        types = {Path(r["path"]).name: r["hive_type"] for r in csv.DictReader(fh)}
    assert types == {"DEFAULT": "DEFAULT", "SAM": "SAM", "SECURITY": "SECURITY", "SOFTWARE": "SOFTWARE",
                     "SYSTEM": "SYSTEM"}
