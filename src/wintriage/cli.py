"""Command line: a thin layer over the library. No forensic logic lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timezone
from pathlib import Path
from typing import Any

import click

from . import __version__
from .timeutil import parse_tz

EXIT_NOTHING = 2  # nothing could be analysed / unreadable input


class Fail(click.ClickException):
    exit_code = EXIT_NOTHING


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def tz_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--tz", "tz", default="UTC", show_default=True, help="Display zone, e.g. +09:00, UTC+9, KST.")(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")(f)


def _tz(text: str) -> timezone:
    try:
        return parse_tz(text)
    except ValueError as e:
        raise Fail(str(e)) from None


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One-line errors for unreadable input; tracebacks only with --debug."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        try:
            return fn(*a, **kw)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as e:  # noqa: BLE001 - CLI boundary: turn any failure into a one-line error
            if click.get_current_context().find_root().params.get("debug"):
                raise
            raise Fail(f"{type(e).__name__}: {e}") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wintriage")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(debug: bool) -> None:
    """Windows incident response: from a disk image to a case database, a timeline and answers."""


# --- evidence ----------------------------------------------------------------------------------
@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@guarded
def verify(image: Path, as_json: bool) -> None:
    """Recompute MD5/SHA1 of the media and compare with the hashes stored in the EWF; report bad chunks."""
    from .evidence.image import verify_image
    from .progress import byte_progress

    with byte_progress("verify", enabled=not as_json) as cb:
        res = verify_image(image, progress=cb)
    if as_json:
        emit_json(res)
    else:
        from .render import print_verify

        print_verify(res)
    if not res.get("ok"):
        sys.exit(1)


@main.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@json_option
@guarded
def info(image: Path, as_json: bool) -> None:
    """Image metadata (EWF header: case, examiner, notes, dates) and the partition table (like mmls)."""
    from .evidence.image import open_image
    from .evidence.volumes import list_volumes

    with open_image(image) as img:
        res = {"image": img.info(), "volumes": [v.as_dict() for v in list_volumes(img)]}
    if as_json:
        emit_json(res)
    else:
        from .render import print_info

        print_info(res)


@main.command("ls")
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.argument("path", default="/")
@click.option("--partition", "-p", type=int, default=None, help="Volume index (see `info`); default: largest NTFS.")
@click.option("--deleted", "-d", is_flag=True, help="Include deleted entries.")
@click.option("--recursive", "-r", is_flag=True, help="Recurse into directories.")
@tz_option
@json_option
@guarded
def ls_cmd(image: Path, path: str, partition: int | None, deleted: bool, recursive: bool, tz: str, as_json: bool) -> None:
    """List a directory: names, streams, sizes, $SI and $FN times."""
    from .evidence.ntfs import open_fs

    with open_fs(image, partition) as fs:
        entries = list(fs.walk(path, deleted=deleted) if recursive else fs.listdir(path, deleted=deleted))
        if as_json:
            emit_json([e.as_dict() for e in entries])
        else:
            from .render import print_listing

            print_listing(entries, _tz(tz))


@main.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.argument("path")
@click.option("--partition", "-p", type=int, default=None)
@guarded
def cat(image: Path, path: str, partition: int | None) -> None:
    """Write a file or alternate data stream (``file:stream``) to stdout, e.g. '/$Extend/$UsnJrnl:$J'.

    For $UsnJrnl:$J only the allocated tail is written: its sparse head (records Windows already dropped) is
    skipped, not emitted as zeros, so byte 0 of the output is USN <size of the sparse head>."""
    from .evidence.ntfs import open_fs

    with open_fs(image, partition) as fs:
        out = sys.stdout.buffer
        for chunk in fs.read_chunks(path):
            out.write(chunk)
        out.flush()


@main.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.argument("paths", nargs=-1)
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--partition", "-p", type=int, default=None)
@click.option("--triage", is_flag=True, help="Collect the standard incident-response set (KAPE-like tree).")
@click.option("--deleted", is_flag=True, help="Also extract deleted entries whose data is still readable.")
@json_option
@guarded
def extract(image: Path, paths: tuple[str, ...], out: Path, partition: int | None, triage: bool, deleted: bool, as_json: bool) -> None:
    """Export files, directories and streams; a sidecar CSV keeps their original times and hashes."""
    from .evidence.collect import extract_paths, extract_triage
    from .evidence.ntfs import open_fs

    if not paths and not triage:
        raise click.UsageError("give PATH arguments or --triage")
    with open_fs(image, partition) as fs:
        res = extract_triage(fs, out) if triage else extract_paths(fs, list(paths), out, deleted=deleted)
    if as_json:
        emit_json(res)
    else:
        click.echo(f"extracted {res['files']} files ({res['bytes']} bytes) to {out}; manifest {res['manifest']}")
        for w in res.get("warnings", [])[:20]:
            click.echo(f"warning: {w}", err=True)


# --- parsing -----------------------------------------------------------------------------------
@main.command()
@click.argument("artifact")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--csv", "csv_dir", type=click.Path(path_type=Path), help="Write CSVs (tool-shaped) into this folder.")
@click.option("--db", "db", type=click.Path(path_type=Path), help="Also write a case database.")
@click.option("--mft", "mft", type=click.Path(exists=True, path_type=Path), help="$MFT for path resolution.")
@click.option("--usn", "usn", type=click.Path(exists=True, path_type=Path), help="$J to correlate ($LogFile).")
@click.option("--carve", is_flag=True, help="Carve records from slack/unallocated areas too.")
@click.option("--batch", "batch", type=click.Path(exists=True, path_type=Path), help="RECmd .reb batch file.")
@click.option("--replay-out", "replay_out", type=click.Path(path_type=Path), help="Write replayed (clean) hives here.")
@click.option("--all", "dump_all", is_flag=True, help="registry: also write every key and value (registry_keys).")
@click.option("--maps", "maps", type=click.Path(exists=True, path_type=Path), multiple=True, help="EvtxECmd map folder.")
@click.option("--sigma", "sigma", type=click.Path(exists=True, path_type=Path), multiple=True, help="Sigma rules folder.")
@click.option("--encoding", default="utf-8-sig", show_default=True, help="CSV encoding (cp949 for NLT-style).")
@tz_option
@json_option
@guarded
def parse(artifact: str, inputs: tuple[Path, ...], csv_dir: Path | None, db: Path | None, mft: Path | None,
          usn: Path | None, carve: bool, batch: Path | None, replay_out: Path | None, dump_all: bool,
          maps: tuple[Path, ...], sigma: tuple[Path, ...], encoding: str, tz: str, as_json: bool) -> None:
    """Parse one artefact from loose files: mft, usnjrnl, logfile, registry, evtx, prefetch, lnk, jumplist,
    recyclebin, browser; or ``ntfs DIR`` ($MFT + $J + $LogFile together, like NTFS Log Tracker)."""
    from .parsecmd import run_parse

    options = {"carve": carve, "batch": batch, "replay_out": replay_out, "maps": list(maps), "sigma": list(sigma),
               "mft": mft, "usn": usn, "all": dump_all}
    res = run_parse(artifact, list(inputs), csv_dir=csv_dir, db=db, options=options, tz=_tz(tz), encoding=encoding,
                    quiet=as_json)
    if as_json:
        emit_json(res)
    else:
        from .render import print_parse_summary

        print_parse_summary(res)
    if res["records"] == 0 and res["failed"] == len(res["sources"]):
        sys.exit(EXIT_NOTHING)


@main.command()
@click.argument("evidence", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None, help="Case folder (default: <image>.case).")
@click.option("--encoding", default="utf-8-sig", show_default=True, help="CSV encoding (cp949 for NLT-style).")
@click.option("--jsonl", is_flag=True, help="Also write timeline.jsonl (Timesketch import format).")
@tz_option
@json_option
@guarded
def analyze(evidence: Path, out: Path | None, encoding: str, jsonl: bool, tz: str, as_json: bool) -> None:
    """Evidence (E01, raw, split raw, or a folder of extracted files) -> case.sqlite, csv/, report.html."""
    from . import pipeline
    from .progress import stage_progress

    out = out or evidence.with_name(evidence.name + ".case")
    with stage_progress(enabled=not as_json) as cb:
        summary = pipeline.analyze(evidence, out, tz=_tz(tz), progress=cb, encoding=encoding, jsonl=jsonl)
    from .render import print_run_summary, run_summary_dict

    if as_json:
        emit_json(run_summary_dict(summary))
    else:
        print_run_summary(summary)
    if not summary.sources or all(s.status == "failed" for s in summary.sources):
        sys.exit(EXIT_NOTHING)


@main.command()
@click.argument("case", type=click.Path(exists=True, path_type=Path))
@click.option("--flag-format", type=click.Choice(["none", "keeper"]), default="none")
@tz_option
@json_option
@guarded
def answer(case: Path, flag_format: str, tz: str, as_json: bool) -> None:
    """Answer the incident questions from a case, with the evidence behind each answer."""
    from .analyzers.answers import answer_case, print_answers

    res = answer_case(case, tz=_tz(tz))
    if flag_format == "keeper":
        for k in ("IR1", "IR2"):
            v = res.get("flags", {}).get(k)
            click.echo(v if v else f"{k}: not determined")
        return
    if as_json:
        emit_json(res)
    else:
        print_answers(res, _tz(tz))


@main.command()
@click.argument("case", type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@guarded
def serve(case: Path, host: str, port: int) -> None:
    """Local web timeline explorer over a case (read-only; tags go to a sidecar database)."""
    from .web.server import run

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: binding to {host}: the case will be reachable from other machines", err=True)
    run(case, host=host, port=port)


def entry() -> None:
    """The ``wintriage`` command: ``main`` as a program, which ends without tearing the interpreter down.

    Once the command is done (its files written and closed, its output printed), the exit handlers run and
    the output streams are flushed; then the process ends at once. Freeing every module and object one by one
    (numpy's among them) costs ~0.1 s per run, which a command on a small input would spend mostly there. Under
    a profiler or tracer (cProfile, coverage) the interpreter ends as usual, so they can write their data."""
    import atexit
    import os

    try:
        main()
        code: Any = 0
    except SystemExit as e:
        code = e.code
    if sys.getprofile() is not None or sys.gettrace() is not None:  # a profiler or tracer writes its data at exit
        sys.exit(code)
    atexit._run_exitfuncs()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, a closed stream
            pass
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    entry()
