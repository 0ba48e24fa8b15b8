"""Evidence layer: our EWF reader (vs stored hashes, vs libewf), damaged and incomplete segment sets, raw and
split raw, and the ``verify`` / ``info`` commands."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from wintriage.cli import main
from wintriage.evidence.ewf import EwfImage, UnsupportedEwf
from wintriage.evidence.image import (
    EvidenceError,
    PyEwfImage,
    RawImage,
    ewf_segments,
    open_image,
    verify_image,
)

TD = Callable[[str], Path]

MD5 = {
    "ewf/test.ntfs.dd.E01": "8b4382280340597b7930b4b34742afba",
    "ewf/image-split.E01": "38ea5af8a80e16e46c095c9110242fc0",
    "ewf/derived/ntfs-ptrn.E01": "1d6c19d45647cc01930b95f432fa9b03",
    "ewf/image.E01": "d73c51f10c7ee6a681b7b619ccc6f1c4",
}
ALL_E01 = [*MD5, "scenario/public-1.E01"]


def _copy_set(first: Path, dst: Path, names: dict[str, str] | None = None) -> Path:
    """Copy a segment set into ``dst`` (optionally renaming/omitting: names maps source name -> new name or '')."""
    out = None
    for p in ewf_segments(first):
        new = (names or {}).get(p.name, p.name)
        if not new:
            continue
        q = dst / new
        shutil.copyfile(p, q)
        q.chmod(0o644)
        out = out or q
    assert out is not None
    return dst / first.name if (dst / first.name).exists() else out


# --- stored hashes -----------------------------------------------------------------------------
@pytest.mark.parametrize("rel", list(MD5))
def test_verify_matches_stored_md5(td: TD, rel: str) -> None:
    res = verify_image(td(rel))
    assert res["ok"] is True
    assert res["format"] == "EWF-E01"
    assert res["stored"]["md5"] == MD5[rel]
    assert res["computed"]["md5"] == MD5[rel]
    assert res["bad_chunks"] == [] and res["errors"] == []


def test_verify_segments_found_automatically(td: TD) -> None:
    with open_image(td("ewf/derived/ntfs-ptrn.E01")) as img:
        info = img.info()
    assert [Path(s).name for s in info["segments"]] == ["ntfs-ptrn.E01", "ntfs-ptrn.E02", "ntfs-ptrn.E03"]
    assert info["media_size"] == 1073741824
    res = verify_image(td("ewf/image-split.E01"))
    assert [Path(s).name for s in res["segments"]] == ["image-split.E01", "image-split.E02"]
    assert res["media_size"] == 1474560


def test_verify_public1_md5_and_sha1(td: TD) -> None:
    res = verify_image(td("scenario/public-1.E01"))
    assert res["ok"] is True
    assert res["computed"]["md5"] == "b07425b60d6fbc256eae015f2646a0ad"
    assert res["stored"] == {"md5": "b07425b60d6fbc256eae015f2646a0ad",
                             "sha1": "7d85e4478f5e92194027e26197b2566a2476b431"}
    assert res["computed"]["sha1"] == "7d85e4478f5e92194027e26197b2566a2476b431"
    assert res["media_size"] == 1 << 30


# --- header metadata ---------------------------------------------------------------------------
def test_header_test_ntfs(td: TD) -> None:
    with open_image(td("ewf/test.ntfs.dd.E01")) as img:
        assert isinstance(img, EwfImage)
        h = img.info()["header"]
        assert img.size == 10485760 and img.info()["chunk_size"] == 32768
    assert h["case_number"] == "12"
    assert h["examiner_name"] == "foobar"
    assert h["description"] == "Sample EWF file"
    assert h["evidence_number"] == "1"
    assert h["notes"].strip() == "sample test"
    assert h["acquiry_date"] == "2023-12-20T05:42:47+00:00"  # header2 'm' = 1703050967 (POSIX, UTC)
    assert h["acquiry_operating_system"] == "Linux"


def test_header_image_e01_and_ptrn(td: TD) -> None:
    with open_image(td("ewf/image.E01")) as img:
        h = img.info()["header"]
    assert (h["case_number"], h["description"], h["examiner_name"]) == ("PyVFS", "Test image for PyVFS", "John Doe")
    with open_image(td("ewf/derived/ntfs-ptrn.E01")) as img:
        info = img.info()
    assert info["header"]["case_number"] == "test-case" and info["header"]["examiner_name"] == "steering"
    assert info["header"]["notes"] == "derived test image"
    assert info["stored_hashes"] == {"md5": "1d6c19d45647cc01930b95f432fa9b03"}
    assert info["sectors"] == 2097152 and info["bytes_per_sector"] == 512


def test_header_matches_libewf(td: TD) -> None:
    for rel in ALL_E01:
        with open_image(td(rel)) as ours, PyEwfImage(ewf_segments(td(rel))) as lib:
            lh = lib.info()["header"]
            oh = ours.info()["header"]
            for k in ("case_number", "description", "examiner_name", "evidence_number", "notes"):
                assert oh.get(k) == lh.get(k), (rel, k)


# --- our bytes == libewf's bytes -----------------------------------------------------------------
@pytest.mark.parametrize("rel", ALL_E01)
def test_bytes_equal_libewf(td: TD, rel: str) -> None:
    rng = random.Random(rel)
    with open_image(td(rel)) as ours, PyEwfImage(ewf_segments(td(rel))) as lib:
        assert isinstance(ours, EwfImage)
        assert ours.size == lib.size
        cs = ours.chunk_size
        offs = [(0, 4096), (cs - 7, 20), (ours.size - 100, 100), (max(0, ours.size - cs - 3), cs + 3), (ours.size - 10, 50)]
        offs += [(rng.randrange(0, ours.size), rng.choice([1, 512, 4096, 3 * cs + 11])) for _ in range(40)]
        offs += [(rng.randrange(0, max(1, ours.size - 20 * cs)), 20 * cs + 5)]  # parallel path
        for off, n in offs:
            n = min(n, ours.size - off)
            assert ours.read(off, n) == lib.read(off, n), (rel, off, n)
        assert ours.read(ours.size, 10) == b""
        assert ours.bad == {}


# --- damaged chunks ------------------------------------------------------------------------------
def test_flipped_byte_in_compressed_chunk(td: TD, tmp_path: Path) -> None:
    src = td("ewf/test.ntfs.dd.E01")
    with open_image(src) as img:
        assert isinstance(img, EwfImage)
        c = next(c for c in range(img.n_chunks) if (lc := img._locate(c)) and lc[3] and lc[2] > 2000)
        loc = img._locate(c)
        assert loc is not None
        _t, foff, size, comp = loc
    dst = tmp_path / "flip.E01"
    data = bytearray(src.read_bytes())
    data[foff + size // 2] ^= 0x5A
    dst.write_bytes(bytes(data))
    res = verify_image(dst)
    assert res["ok"] is False
    assert [(b["chunk"], b["offset"]) for b in res["bad_chunks"]] == [(c, c * 32768)]
    b = res["bad_chunks"][0]
    assert "inflate error" in b["reason"] or "inflated to" in b["reason"]
    assert b["segment"] == "flip.E01" and b["file_offset"] == foff
    assert res["computed"]["md5"] != MD5["ewf/test.ntfs.dd.E01"]
    with open_image(dst) as img:  # reads of the bad chunk give zeros, the rest is intact
        assert img.read(c * 32768, 32768) == bytes(32768)
        assert c in img.bad
        with open_image(src) as good:
            assert good.read(c * 32768, 32768) != bytes(32768)
            assert img.read((c + 1) * 32768, 32768) == good.read((c + 1) * 32768, 32768)


def test_flipped_byte_in_uncompressed_chunk_adler(td: TD, tmp_path: Path) -> None:
    src = td("ewf/image-split.E01")
    with open_image(src) as img:
        assert isinstance(img, EwfImage)
        loc = img._locate(0)
        assert loc is not None and loc[3] is False  # image-split stores chunk 0 uncompressed (+ Adler-32)
        foff = loc[1]
    d = _copy_set(src, tmp_path)
    data = bytearray(d.read_bytes())
    data[foff + 1000] ^= 0xFF
    d.chmod(0o644)
    d.write_bytes(bytes(data))
    res = verify_image(d)
    assert res["ok"] is False
    assert [(b["chunk"], b["offset"]) for b in res["bad_chunks"]] == [(0, 0)]
    assert res["bad_chunks"][0]["reason"].startswith("Adler-32 mismatch")


# --- incomplete or shuffled segment sets ---------------------------------------------------------
def test_missing_segment_is_an_error(td: TD, tmp_path: Path) -> None:
    first = _copy_set(td("ewf/derived/ntfs-ptrn.E01"), tmp_path, {"ntfs-ptrn.E02": ""})
    with pytest.raises(EvidenceError, match=r"segment 2 .*missing"):
        open_image(first)
    with pytest.raises(EvidenceError, match="segment 2"):
        verify_image(first)


def test_missing_last_segment_is_an_error(td: TD, tmp_path: Path) -> None:
    first = _copy_set(td("ewf/image-split.E01"), tmp_path, {"image-split.E02": ""})
    with pytest.raises(EvidenceError, match=r"image-split.E02"):
        open_image(first)


def test_out_of_order_segments_detected(td: TD, tmp_path: Path) -> None:
    first = _copy_set(td("ewf/derived/ntfs-ptrn.E01"), tmp_path,
                      {"ntfs-ptrn.E02": "ntfs-ptrn.E03", "ntfs-ptrn.E03": "ntfs-ptrn.E02"})
    with pytest.raises(EvidenceError, match=r"ntfs-ptrn.E02: its file header says segment 3"):
        open_image(first)


def test_segment_from_another_image(td: TD, tmp_path: Path) -> None:
    """image-split.E01 followed by an E02 of another set (ntfs-ptrn's segment 2): not silently mixed."""
    shutil.copyfile(td("ewf/image-split.E01"), tmp_path / "mix.E01")
    shutil.copyfile(td("ewf/derived/ntfs-ptrn.E02"), tmp_path / "mix.E02")
    with pytest.raises(EvidenceError, match=r"mix.E02: belongs to another image"):
        open_image(tmp_path / "mix.E01")


def test_truncated_middle_segment(td: TD, tmp_path: Path) -> None:
    """ntfs-ptrn.E02 cut in half: E01's chunks verify, everything after reads as zeros and is reported missing."""
    first = _copy_set(td("ewf/derived/ntfs-ptrn.E01"), tmp_path)
    e02 = tmp_path / "ntfs-ptrn.E02"
    e02.write_bytes(e02.read_bytes()[:500_000])
    with open_image(first) as img:
        assert isinstance(img, EwfImage)
        assert any("ntfs-ptrn.E02" in w and "truncated" in w for w in img.warnings)
        assert any("chunks 12841..32767" in w for w in img.warnings)
        with open_image(td("ewf/derived/ntfs-ptrn.E01")) as good:
            assert img.read(0, 1 << 20) == good.read(0, 1 << 20)
        assert img.read(12841 * 32768, 100) == bytes(100)
    # the same on the small two-segment image (full verify): E01 cut inside its table2 mirror
    d2 = tmp_path / "split"
    d2.mkdir()
    first2 = _copy_set(td("ewf/image-split.E01"), d2)
    first2.write_bytes(first2.read_bytes()[:1018216 + 50])
    res = verify_image(first2)
    assert res["ok"] is False
    assert res["bad_chunks"] == [{"chunk": 31, "offset": 31 * 32768, "count": 45 - 31, "segment": "",
                                  "file_offset": None,
                                  "reason": "no table entry (segment missing or truncated)"}]
    assert res["errors"][-1] == f"{45 - 31} bad chunk(s); their sectors were hashed as zeros"


def test_table_count_damaged_in_both_copies(td: TD, tmp_path: Path) -> None:
    """Entry count of image-split.E01's table and table2 both changed: E02's chunks must not be misplaced."""
    first = _copy_set(td("ewf/image-split.E01"), tmp_path)
    b = bytearray(first.read_bytes())
    for sec in (1017988, 1018216):  # 'table' and 'table2' sections (31 entries each)
        assert b[sec + 76] == 31
        b[sec + 76] = 30
    first.write_bytes(bytes(b))
    with open_image(first) as img:
        assert isinstance(img, EwfImage)
        assert any("cannot be placed" in w for w in img.warnings)
    with open_image(td("ewf/image-split.E01")) as good_img:
        _never_wrong(first, good_img.read(0, good_img.size))
    res = verify_image(first)
    assert res["ok"] is False and res["bad_chunks"][0]["chunk"] == 30


def test_first_segment_not_first(td: TD, tmp_path: Path) -> None:
    shutil.copyfile(td("ewf/image-split.E02"), tmp_path / "x.E01")
    with pytest.raises(EvidenceError, match="says segment 2"):
        open_image(tmp_path / "x.E01")


def test_libewf_engine_and_fallback(td: TD, monkeypatch: pytest.MonkeyPatch) -> None:
    src = td("ewf/test.ntfs.dd.E01")
    with open_image(src, engine="libewf") as img:
        assert isinstance(img, PyEwfImage)
        assert verify_image(src)["computed"]["md5"] == MD5["ewf/test.ntfs.dd.E01"]

    def unsupported(*a: object, **k: object) -> None:
        raise UnsupportedEwf("pretend EWF2")

    import wintriage.evidence.ewf as ewf_mod

    monkeypatch.setattr(ewf_mod.EwfImage, "__init__", unsupported)
    with open_image(src) as img:
        assert isinstance(img, PyEwfImage)
    res = verify_image(src)  # generic path over libewf
    assert res["ok"] is True and res["computed"]["md5"] == MD5["ewf/test.ntfs.dd.E01"]


# --- corruption sweep ----------------------------------------------------------------------------
def _check_damaged(path: Path) -> str:
    t0 = time.perf_counter()
    try:
        res = verify_image(path)
    except EvidenceError as e:
        assert str(e)
        return "error"
    finally:
        assert time.perf_counter() - t0 < 20, f"{path}: took too long"
    if res["ok"] and not res["warnings"]:
        # unnoticed only when the flip changed nothing (e.g. a don't-care bit of a deflate stream)
        assert res["computed"]["md5"] == res["stored"]["md5"], f"{path}: damage went unnoticed"
        return "harmless"
    msgs = [b["reason"] for b in res["bad_chunks"]] + res["warnings"] + res["errors"]
    assert any(ch.isdigit() for m in msgs for ch in m)  # messages say where
    for b in res["bad_chunks"]:
        assert b["offset"] == b["chunk"] * 32768
    return "flagged"


def _never_wrong(path: Path, good: bytes) -> None:
    """Every chunk of a damaged image reads as the original bytes, or is reported bad (and reads as zeros)."""
    with open_image(path) as img:
        assert isinstance(img, EwfImage)
        if img.size != len(good):
            assert img.warnings
            return
        cs = img.chunk_size
        for c in range(img.n_chunks):
            data = img.chunk(c)
            if data != good[c * cs:(c + 1) * cs]:
                assert c in img.bad and data == bytes(len(data)), f"{path}: chunk {c} silently wrong"


@pytest.mark.parametrize("rel", ["ewf/test.ntfs.dd.E01", "ewf/image.E01"])
def test_corruption_sweep_truncate(td: TD, tmp_path: Path, rel: str) -> None:
    data = td(rel).read_bytes()
    with open_image(td(rel)) as img:
        good = img.read(0, img.size)
    outcomes = []
    for cut in (0, 5, 13, 50, 300, 800, 1900, 2100, len(data) // 2, len(data) - 4000, len(data) - 200,
                len(data) - 50, len(data) - 1):
        cut = max(0, min(cut, len(data) - 1))
        p = tmp_path / f"t{cut}.E01"
        p.write_bytes(data[:cut])
        if cut < 8:  # too short for the EWF signature: it is only a (tiny) raw image
            assert verify_image(p)["format"] == "raw"
            continue
        outcome = _check_damaged(p)
        if outcome != "error":
            _never_wrong(p, good)
        outcomes.append(outcome)
    assert "flagged" in outcomes


@pytest.mark.parametrize("rel", ["ewf/test.ntfs.dd.E01", "ewf/image-split.E01"])
def test_corruption_sweep_flip(td: TD, tmp_path: Path, rel: str) -> None:
    src = td(rel)
    with open_image(src) as img:
        assert isinstance(img, EwfImage)
        seg = img.segments[0]
        starts = list(seg.section_starts)
    data = src.read_bytes()
    with open_image(src) as img:
        good = img.read(0, img.size)
    targets = set()
    for s in starts:  # every section header, some of each section's data
        targets.update({s, s + 20, s + 75, s + 80})
    targets.update(range(2000, len(data), max(1, len(data) // 13)))
    rng = random.Random(7)
    n = 0
    for off in sorted(t for t in targets if 13 <= t < len(data)):
        d = tmp_path / f"f{off}"
        d.mkdir()
        first = _copy_set(src, d)
        b = bytearray(data)
        b[off] ^= 1 << rng.randrange(8)
        first.write_bytes(bytes(b))
        if _check_damaged(first) != "error":
            _never_wrong(first, good)
        shutil.rmtree(d)
        n += 1
    assert n > 30


# --- raw and split raw ---------------------------------------------------------------------------
def test_raw_and_split_raw(td: TD, tmp_path: Path) -> None:
    with open_image(td("ewf/test.ntfs.dd.E01")) as img:
        raw = img.read(0, img.size)
    (tmp_path / "disk.dd").write_bytes(raw)
    res = verify_image(tmp_path / "disk.dd")
    assert res["computed"]["md5"] == MD5["ewf/test.ntfs.dd.E01"] and res["format"] == "raw"
    assert res["ok"] is True and res["stored"] == {"md5": None, "sha1": None}
    piece = 3_000_000
    for i in range(0, len(raw), piece):
        (tmp_path / f"disk.{i // piece + 1:03d}").write_bytes(raw[i:i + piece])
        a, b = divmod(i // piece, 26)
        (tmp_path / f"disk.{chr(97 + a)}{chr(97 + b)}").write_bytes(raw[i:i + piece])
    for first in ("disk.001", "disk.aa"):
        with open_image(tmp_path / first) as img:
            assert isinstance(img, RawImage)
            assert len(img.segments) == 4 and img.size == len(raw)
            assert img.info()["format"] == "split raw"
            for off, n in ((0, 10), (piece - 5, 10), (2 * piece - 1, piece + 2), (len(raw) - 3, 10)):
                assert img.read(off, n) == raw[off:off + n]
        assert verify_image(tmp_path / first)["computed"]["md5"] == MD5["ewf/test.ntfs.dd.E01"]


# --- CLI ------------------------------------------------------------------------------------------
def test_cli_verify_json(td: TD, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["verify", str(td("ewf/test.ntfs.dd.E01")), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ok"] is True and res["computed"]["md5"] == MD5["ewf/test.ntfs.dd.E01"]
    assert res["header"]["case_number"] == "12"
    data = bytearray(td("ewf/test.ntfs.dd.E01").read_bytes())
    with open_image(td("ewf/test.ntfs.dd.E01")) as img:
        assert isinstance(img, EwfImage)
        loc = img._locate(3)
        assert loc is not None
    data[loc[1] + 10] ^= 0x01
    (tmp_path / "bad.E01").write_bytes(bytes(data))
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "bad.E01"), "--json"])
    assert r.exit_code == 1
    res = json.loads(r.stdout)
    assert res["ok"] is False and res["bad_chunks"][0]["chunk"] == 3 and res["bad_chunks"][0]["offset"] == 98304
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "bad.E01")])
    assert r.exit_code == 1 and "bad chunk 3 at offset 98304" in r.output and "FAILURE" in r.output


def test_cli_verify_missing_segment(td: TD, tmp_path: Path) -> None:
    first = _copy_set(td("ewf/derived/ntfs-ptrn.E01"), tmp_path, {"ntfs-ptrn.E02": ""})
    r = CliRunner().invoke(main, ["verify", str(first), "--json"])
    assert r.exit_code == 2 and "segment 2" in r.output and "Traceback" not in r.output


def test_cli_info_json(td: TD) -> None:
    r = CliRunner().invoke(main, ["info", str(td("ewf/test.ntfs.dd.E01")), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["image"]["header"]["examiner_name"] == "foobar"
    assert res["image"]["stored_hashes"]["md5"] == MD5["ewf/test.ntfs.dd.E01"]
    assert [(v["index"], v["start_sector"], v["fs"], v["label"]) for v in res["volumes"]] == \
        [(1, 0, "NTFS", "Test Volume")]
    r = CliRunner().invoke(main, ["info", str(td("ewf/image-split.E01"))])
    assert r.exit_code == 0 and "Linux (0x83)" in r.output and "DOS Extended (0x05)" in r.output


def test_header_text_variants() -> None:
    from wintriage.evidence.ewf import parse_header_text

    ftk = "1\nmain\nc\tn\ta\te\tt\tav\tov\tm\tu\tp\tr\n7\tE1\tdisk\tme\tnote\t2.9\tWin\t2002 3 4 10 19 59\t" \
          "2002 3 4 10 19 59\t0\tf\n\n"
    h = parse_header_text(ftk, False)
    assert (h["case_number"], h["evidence_number"], h["description"], h["examiner_name"], h["notes"]) == \
        ("7", "E1", "disk", "me", "note")
    assert h["acquiry_date"] == "2002-03-04T10:19:59 (acquisition machine local time)"
    assert h["compression_level"] == "f"
    h2 = parse_header_text("3\nmain\na\tc\tm\n\tX\t1142163845\n\nsrce\n", True)
    assert h2 == {"description": "", "case_number": "X", "acquiry_date": "2006-03-12T11:44:05+00:00"}
    assert parse_header_text("garbage\x00\nno main here", False) == {}
