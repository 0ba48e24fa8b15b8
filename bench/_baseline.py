"""Load a past version of an artefact module from git (``git show REV:path``) for before/after benches."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(rev: str, name: str) -> types.ModuleType:
    """``wintriage.artifacts.<name>`` as it was at ``rev``, importable as ``baseline_<name>``."""
    mod_name = f"baseline_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/wintriage/artifacts/{name}.py"],
                         check=True, capture_output=True, text=True).stdout
    src = re.sub(r"^from \.\.(\w+)", r"from wintriage.\1", src, flags=re.M)
    src = re.sub(r"^from \.(mft) import", r"from baseline_\1 import", src, flags=re.M)
    src = re.sub(r"^from \.(\w+)", r"from wintriage.artifacts.\1", src, flags=re.M)
    src = re.sub(r"^from \. import", "from wintriage.artifacts import", src, flags=re.M)
    if name != "mft" and "baseline_mft" in src:
        load(rev, "mft")
    mod = types.ModuleType(mod_name)
    mod.__file__ = f"<{rev}:{name}.py>"
    sys.modules[mod_name] = mod
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def artifact(name: str, which: str, rev: str) -> types.ModuleType:
    """The artefact module to measure: as it was at ``rev`` (``which == "base"``) or as it is now."""
    if which == "base":
        return load(rev, name)
    import importlib

    return importlib.import_module(f"wintriage.artifacts.{name}")


def cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (forked workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    """The larger of this process's and its largest finished child's peak RSS."""
    import resource

    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run a command to its end, timed from outside: (wall s, CPU s of it and its finished children, peak RSS MB
    of the largest, stdout)."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, after.ru_maxrss / 1024, out)


def one_child(script: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """A bench's ``--one`` measurement run in its own child process: the JSON of its last output line."""
    import json

    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True, env=env).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def git_src(rev: str, into: Path) -> Path:
    """The ``src`` folder of the checkout at ``rev`` (``git archive``), extracted below ``into``; it and this
    checkout's ``src`` byte-compiled, as pip installs a package (with PYTHONDONTWRITEBYTECODE set, a run would
    otherwise compile every module it imports)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    src = Path(into) / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src), str(ROOT / "src")], check=True)
    return src
