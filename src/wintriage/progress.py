"""Progress display (rich) for long work; silent when output is machine-readable or not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def byte_progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("[bold]" + label, BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True) as p:
        task = p.add_task(label, total=None)

        def cb(done: int, total: int) -> None:
            p.update(task, completed=done, total=total)

        yield cb


@contextmanager
def stage_progress(enabled: bool = True) -> Iterator[Callable[[str, str], None]]:
    if not enabled or not sys.stderr.isatty():
        yield lambda stage, detail: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as p:
        task = p.add_task("starting")

        from rich.markup import escape

        def cb(stage: str, detail: str) -> None:  # details carry evidence names: never read them as markup
            p.update(task, description=f"[bold]{escape(stage)}[/] {escape(detail[:100])}")

        yield cb
