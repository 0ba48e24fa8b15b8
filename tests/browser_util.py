"""Serve a case on a free loopback port in a background thread, and drive Debian's chromium with Playwright."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from conftest import CHROMIUM_ARGS, chromium_path
from wintriage.web.server import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(case: Path, wrap: Any = None) -> Iterator[str]:
    """``wrap``: a function of the app giving the ASGI app to serve (a test's middleware)."""
    port = free_port()
    app = create_app(case) if wrap is None else wrap(create_app(case))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        th.join(timeout=10)


@contextmanager
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            # bypass_csp: the XSS test must prove text rendering stops the payload, not only the CSP header
            ctx = b.new_context(accept_downloads=True, viewport={"width": 1500, "height": 900}, bypass_csp=True)
            yield ctx.new_page()
        finally:
            b.close()
