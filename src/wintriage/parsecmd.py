"""``wintriage parse``: one artefact from loose files, to CSV and/or a case database."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from . import artifacts
from .artifacts.base import user_from_path
from .pipeline import SourceResult, parse_folder, run_file
from .sinks import CsvSink, MultiSink, StoreSink
from .store.case import CaseWriter

NTFS_SET = {"mft", "usnjrnl", "logfile"}


def _files(inputs: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file())
        else:
            out.append(p)
    return out


def run_parse(
    artifact: str,
    inputs: list[Path],
    *,
    csv_dir: Path | None,
    db: Path | None,
    options: dict[str, Any],
    tz: timezone = UTC,
    encoding: str = "utf-8-sig",
    quiet: bool = False,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    sinks: list[Any] = []
    csv_sink = CsvSink(csv_dir, tz, encoding) if csv_dir else None
    store = CaseWriter(db) if db else None
    if csv_sink:
        sinks.append(csv_sink)
    if store:
        sinks.append(StoreSink(store))
    ntfs_csv = artifact == "ntfs" and csv_dir is not None  # NLT_UsnJrnl.csv is exported from the store
    if not store and (not sinks or options.get("sigma") or ntfs_csv):  # throwaway store: counts, Sigma, NLT
        tmp = Path(tempfile.mkdtemp(prefix="wintriage-")) / "case.sqlite"
        store = CaseWriter(tmp)
        sinks.append(StoreSink(store))
    sink = sinks[0] if len(sinks) == 1 else MultiSink(*sinks)
    results: list[SourceResult] = []
    resources: dict[str, Any] = {}

    if artifact == "ntfs":
        # NLT's "Parse" button: $MFT, $J and $LogFile of one volume, from a folder
        for d in inputs:
            results += parse_folder(d, sink, only=NTFS_SET, options=options)
    else:
        module = artifacts.load(artifact)
        mft = options.get("mft")
        if mft and artifact != "mft":
            from .artifacts import mft as mft_mod

            resources["mft"] = mft_mod.build_resolver(Path(mft))
        usn = options.get("usn")
        if usn and artifact == "logfile":
            resources["usn_path"] = Path(usn)
        files = _files(inputs)
        if artifact in ("mft", "usnjrnl") and csv_sink is not None and store is None:  # CSV only: halves on 2 cores
            options = {**options, "csv_workers": os.cpu_count() or 1, "csv_tz": tz}
        if artifact == "evtx" and csv_sink is None and store is not None and len(files) > 1:
            # a folder of logs: a worker process per core, merged in file order (the same rows and ids)
            from .artifacts.evtx import parse_into

            results = parse_into(store, files, workers=os.cpu_count() or 1, options=options,
                                 labels=[(str(f), user_from_path(str(f))) for f in files])
        for f in files if not results else ():
            results.append(
                run_file(module, f, sink, label=str(f), user=user_from_path(str(f)), options=options,
                         resources=resources, hash_input=store is not None)  # a CSV keeps no input hash
            )
    if csv_sink:
        csv_sink.close()
    if store:
        store.close()
    if store and ntfs_csv and csv_dir is not None:  # extra tool shapes over other modules' tables (NLT $J)
        from .outputs import write_extra_csvs
        from .store.case import CaseReader

        case = CaseReader(store.path)
        try:
            write_extra_csvs(case, csv_dir, tz, encoding)
        finally:
            case.close()
    sigma = None
    if store and options.get("sigma") and artifact == "evtx":  # Sigma rules run over the parsed events
        from .analyzers.sigma import sigma_into_case

        sigma = sigma_into_case(store.path, list(options["sigma"]), echo=not quiet)
    return {
        "sigma": sigma,
        "artifact": artifact,
        "records": sum(r.records for r in results),
        "warnings": sum(r.warnings for r in results),
        "skipped": sum(r.skipped for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "seconds": round(time.perf_counter() - t0, 3),
        "csv_dir": str(csv_dir) if csv_dir else None,
        "db": str(db) if db else None,
        "sources": [r.__dict__ for r in results],
    }
