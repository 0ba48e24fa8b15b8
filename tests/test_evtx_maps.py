"""EvtxECmd maps: all 468 real maps load, our bundled maps follow their schema, XPath subset, Refine, Lookups,
override order, and mapped output on real logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from wintriage.artifacts import evtx
from wintriage.artifacts.base import ParseContext
from wintriage.artifacts.evtx_maps import (
    BUNDLED,
    PROPERTIES,
    MapError,
    MapSet,
    compile_xpath,
    load_maps,
    parse_map,
)

TD = Callable[[str], Path]
MAPS = "config/evtxecmd_maps"

EVENT: dict[str, Any] = {
    "Event": {
        "System": {
            "Provider_attributes": {"Name": "P"},
            "EventID": 7,
            "Channel": "C",
            "Correlation_attributes": {"ActivityID": "{A}"},
        },
        "EventData": {"TargetUserName": "bob", "TargetDomainName": "CORP", "LogonType": 3, "Msg": "IPv4 address: 10.1.2.3 x"},
    }
}


def test_all_real_maps_load(td: TD) -> None:
    folder = td(MAPS)
    files = sorted(folder.glob("*.map"))
    assert len(files) == 468
    ms = load_maps([folder], bundled=False)
    assert ms.errors == []
    assert ms.files == 468
    assert len(ms) == 468  # one map per Channel/Provider/EventId
    # four Refine patterns use .NET-only syntax: the maps load, the value is used unrefined
    assert len(ms.notes) == 4


def _check_schema(doc: Any, schema: dict[str, Any], where: str) -> None:
    """The JSON-schema subset schema.json uses: type, required, additionalProperties, properties, items."""
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int}
    if "oneOf" in schema:
        errs = 0
        for s in schema["oneOf"]:
            try:
                _check_schema(doc, s, where)
            except AssertionError:
                errs += 1
        assert errs == len(schema["oneOf"]) - 1, f"{where}: matches none/several of oneOf"
        return
    if t:
        assert isinstance(doc, types[t]), f"{where}: expected {t}, got {type(doc).__name__}"
    if t == "object":
        for k in schema.get("required", []):
            assert k in doc, f"{where}: missing {k}"
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties", True)
        for k, v in doc.items():
            if k in props:
                _check_schema(v, props[k], f"{where}.{k}")
            elif addl is False:
                raise AssertionError(f"{where}: unknown key {k}")
            elif isinstance(addl, dict):
                _check_schema(v, addl, f"{where}.{k}")
    if t == "array" and "items" in schema:
        for i, v in enumerate(doc):
            _check_schema(v, schema["items"], f"{where}[{i}]")


def test_bundled_maps_schema_and_load() -> None:
    schema = json.loads((BUNDLED / "schema.json").read_text())
    files = sorted(BUNDLED.glob("*.yaml"))
    assert len(files) == 8
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            _check_schema(doc, schema, f.name)
    ms = load_maps()
    assert ms.errors == [] and ms.notes == []
    want = {
        "security": [4624, 4625, 4634, 4647, 4648, 4672, 4688, 4697, 4698, 4699, 4702, 4720, 4722, 4724, 4726,
                     4732, 4738, 1102],
        "system": [104, 7045, 7036, 7040, 6005, 6006],
        "microsoft-windows-windows defender/operational": [1116, 1117, 5001, 5007, 5010, 5012],
        "microsoft-windows-sysmon/operational": [1, 3, 11, 13, 22],
        "microsoft-windows-powershell/operational": [4103, 4104],
        "windows powershell": [400, 403, 600],
        "microsoft-windows-terminalservices-localsessionmanager/operational": [21, 22, 24, 25],
        "microsoft-windows-terminalservices-remoteconnectionmanager/operational": [1149],
        "microsoft-windows-taskscheduler/operational": [106, 140, 141, 200, 201],
        "microsoft-windows-bits-client/operational": [59, 60],
    }
    for ch, ids in want.items():
        for i in ids:
            assert (ch, i) in ms.by_key, (ch, i)
    assert len(ms) == sum(len(v) for v in want.values())


def test_xpath_subset() -> None:
    assert compile_xpath('/Event/EventData/Data[@Name="TargetUserName"]')(EVENT) == "bob"
    assert compile_xpath("/Event/EventData/Data")(EVENT) == "bob"
    assert compile_xpath("/Event/EventData/Data[3]")(EVENT) == 3
    assert compile_xpath("/Event/System/Channel")(EVENT) == "C"
    assert compile_xpath("/Event/System/Correlation/@ActivityID")(EVENT) == "{A}"
    assert compile_xpath("/Event/System/Provider/@Name")(EVENT) == "P"
    assert compile_xpath("/Event/UserData/X/Y")(EVENT) is None
    with pytest.raises(MapError):
        compile_xpath("//Data")


def test_refine_lookup_template_and_override(tmp_path: Path) -> None:
    doc = {
        "Description": "d1", "EventId": 7, "Channel": "C", "Provider": "P",
        "Maps": [
            {"Property": "UserName", "PropertyValue": "%dom%\\%user%", "Values": [
                {"Name": "dom", "Value": '/Event/EventData/Data[@Name="TargetDomainName"]'},
                {"Name": "user", "Value": '/Event/EventData/Data[@Name="TargetUserName"]'}]},
            {"Property": "PayloadData1", "PropertyValue": "%ip% assigned", "Values": [
                {"Name": "ip", "Value": '/Event/EventData/Data[@Name="Msg"]', "Refine": r"\d+\.\d+\.\d+\.\d+"}]},
            {"Property": "PayloadData2", "PropertyValue": "Type %LogonType%", "Values": [
                {"Name": "LogonType", "Value": '/Event/EventData/Data[@Name="LogonType"]'}]},
        ],
        "Lookups": [{"Name": "LogonType", "Default": "Unknown", "Values": {2: "Interactive", 3: "Network"}}],
    }
    out = parse_map(doc, "t").apply(EVENT)
    assert out == {"map_description": "d1", "user_name": "CORP\\bob", "payload1": "10.1.2.3 assigned",
                   "payload2": "Type Network"}
    # later files win (alphabetical), user folders after ours
    (tmp_path / "a.map").write_text(yaml.safe_dump(doc))
    (tmp_path / "b.map").write_text(yaml.safe_dump({**doc, "Description": "d2"}))
    ms = MapSet()
    ms.load_dir(tmp_path)
    assert ms.apply("c", "p", 7, EVENT)["map_description"] == "d2"
    assert ms.apply("C", "other", 7, EVENT) is None
    bad = MapSet()
    bad.load_text("Description: x\nEventId: nope\nChannel: C\n", "bad")
    assert len(bad) == 0 and "EventId must be an integer" in bad.errors[0]


def _payload_props(ms: MapSet, channel: str, provider: str, eid: int) -> bool:
    em = ms.find(channel, provider, eid)
    return em is not None and any(p.column.startswith("payload") for p in em.props)


@pytest.mark.parametrize("sample", ["evtx/python-evtx/security.evtx", "evtx/evtx-rs/sysmon.evtx"])
@pytest.mark.parametrize("with_ez", [False, True])
def test_mapped_rows_fill_payload(td: TD, sample: str, with_ez: bool) -> None:
    maps = [td(MAPS)] if with_ez else []
    path = td(sample)
    ctx = ParseContext("evtx", str(path), options={"maps": maps})
    rows = [r.data for r in evtx.parse(path, ctx)]
    ms = load_maps(maps)
    mapped = [r for r in rows if _payload_props(ms, r["channel"], r["provider"], r["event_id"])
              and r["event_data"] not in ("", "{}")]  # an event without data has nothing to show
    assert mapped
    for r in mapped:
        assert r["map_description"]
        assert any(r.get(f"payload{i}") for i in range(1, 7)), (r["event_id"], r["record_number"])
    if "sysmon" in sample:
        assert len(mapped) == (358 if with_ez else 287)
    else:
        assert len(mapped) == (1278 if with_ez else 1155)
    assert set(PROPERTIES) >= {"UserName", "PayloadData6"}


def test_generated_values_equal_apply_on_every_map(td: Callable[[str], Path]) -> None:
    """Every map (ours and EvtxECmd's 468): the generated function equals ``apply`` on synthetic events whose
    ``Data`` values are lookup codes, text with braces and percent signs, numbers, lists, dicts and None."""
    import random

    from wintriage.artifacts.evtx_maps import MAP_COLUMNS

    rnd = random.Random(11)
    maps = [em for ms in (load_maps(()), load_maps([td("config/evtxecmd_maps")]))
            for by_provider in ms.by_key.values() for em in by_provider.values()]
    assert len(maps) > 500
    checked = 0
    for em in maps:
        if not em._plan and em.props:
            em.compile()
        names = [getattr(get, "data_name", None) for _c, _f, steps in em._plan for get, *_r in steps]
        codes = [k for table, _d in em.lookups.values() for k in table]
        for _ in range(4):
            pool: list[Any] = ["{0}", "a}b{", "%x%", "", "C:\\Windows\\x.exe", 7, 0x10, None, ["a", 1], {"#text": "t"},
                               {"k": 1}, True, 1.5, *codes, *(c.upper() for c in codes)]
            data = {n: rnd.choice(pool) for n in names if n is not None}
            ev = {"Event": {"System": {}, "EventData": data}}
            assert em.values(ev) == tuple(em.apply(ev).get(c) for c in MAP_COLUMNS), em.source
            checked += 1
    assert checked == 4 * len(maps)
