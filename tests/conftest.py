"""Shared test helpers. Real samples live in ../shared/testdata (or $WINTRIAGE_TESTDATA), never in the repo.

When a sample is missing the test skips, unless WINTRIAGE_REQUIRE_TESTDATA=1, when it fails.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("WINTRIAGE_TESTDATA", REPO.parent / "shared" / "testdata")).resolve()
REQUIRE = os.environ.get("WINTRIAGE_REQUIRE_TESTDATA") == "1"
ARTIFACTS = REPO / "tests" / "_artifacts"  # screenshots and other test outputs worth keeping


def need(rel: str) -> Path:
    """Path of a test-data file; skip (or fail under WINTRIAGE_REQUIRE_TESTDATA=1) when absent."""
    p = TESTDATA / rel
    if not p.exists():
        msg = f"test data missing: {p}"
        if REQUIRE:
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def td() -> Callable[[str], Path]:
    return need


_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Decompress a shipped ``.xz``/``.gz`` sample once per session (or untar a ``.tgz``; returns the folder)."""

    def get(rel: str) -> Path:
        if rel in _CACHE:
            return _CACHE[rel]
        src = need(rel)
        d = tmp_path_factory.mktemp("unpacked")
        if rel.endswith(".tgz") or rel.endswith(".tar.gz"):
            with tarfile.open(src) as tf:
                tf.extractall(d, filter="data")
            out = d
        else:
            opener = lzma.open if rel.endswith(".xz") else gzip.open
            out = d / Path(rel).name.rsplit(".", 1)[0]
            with opener(src, "rb") as fi, open(out, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
        _CACHE[rel] = out
        return out

    return get


@pytest.fixture(scope="session")
def public1_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wintriage analyze scenario/public-1.E01`` once per test session; returns the case folder."""
    from wintriage import pipeline

    image = need("scenario/public-1.E01")
    out = tmp_path_factory.mktemp("public1") / "case"
    pipeline.analyze(image, out)
    return out


def chromium_path() -> str:
    """Debian's chromium (or $WINTRIAGE_CHROMIUM). Install: ``apt-get install -y chromium``."""
    import shutil

    p = os.environ.get("WINTRIAGE_CHROMIUM") or next(
        (x for x in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if x), None
    )
    if not p:
        msg = "chromium not found: apt-get install -y chromium (or set WINTRIAGE_CHROMIUM)"
        if REQUIRE:
            pytest.fail(msg)
        pytest.skip(msg)
    return p


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
