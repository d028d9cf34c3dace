"""Reusable support for tests that need a real Jupyter server or a real browser.

- :func:`start_jupyter` starts ``jupyter server`` or ``jupyter lab`` on 127.0.0.1, on a free
  port, with a token, a private runtime folder and no user or site configuration, and
  waits until it answers. It is a context manager that stops the process it started.
- :func:`chromium_page` (and the ``browser_page`` fixture it backs) opens a page in
  Debian's headless Chromium through playwright-python.
- :func:`browser_unavailable` says why a browser test cannot run here (playwright or
  chromium missing); a test calls ``pytest.skip`` with that reason, never silently.

Nothing here downloads a browser: playwright is pointed at ``/usr/bin/chromium`` (or
``$NBMODELS_TEST_CHROMIUM``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STARTUP_TIMEOUT = 60.0
API = "/nbmodels/api"
NBMODELS_EXTENSION = "--ServerApp.jpserver_extensions=nbmodels.server=True"
CHROMIUM = os.environ.get("NBMODELS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterServer:
    """A running Jupyter server: its URL, token and a small HTTP client."""

    def __init__(self, port: int, token: str, root_dir: Path, log: Path) -> None:
        self.port = port
        self.token = token
        self.root_dir = root_dir
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def request(self, method: str, path: str, body: Any = None, *,
                token: str | bool | None = True, headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; ``token=True`` sends this server's token, a string another one,
        ``None``/``False`` none. ``path`` is sent as is (no normalisation, no quoting)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if token:
                sent["Authorization"] = f"token {self.token if token is True else token}"
            data = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any
             ) -> tuple[int, Any]:
        """A request to the extension's JSON API (``path`` after ``/nbmodels/api``):
        the status and the decoded body (``None`` when empty)."""
        status, headers, payload = self.request(method, API + path, body, **kwargs)
        if not payload:
            return status, None
        assert headers["content-type"].startswith("application/json"), (status, headers)
        return status, json.loads(payload)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@contextlib.contextmanager
def start_jupyter(base: Path, *, app: str = "server", env: dict[str, str] | None = None,
                  extra_args: list[str] | None = None, ready_path: str = "/api/status",
                  token: str | None = None, root_dir: Path | None = None,
                  unset: tuple[str, ...] = ()) -> Iterator[JupyterServer]:
    """Run ``jupyter server`` (``app="server"``), ``jupyter lab`` (``app="lab"``) or
    Notebook 7 (``app="notebook"``) in ``base`` until the block ends.

    The server listens on 127.0.0.1 only, on a free port, with ``token`` (random by
    default); its root_dir (and working folder) is ``root_dir`` or ``base/root``, its log
    ``base/{app}.log``; ``env`` is added to this process's environment, without the
    variables in ``unset``. Only the extensions given on the command line are enabled
    (``JUPYTER_NO_CONFIG``; :data:`NBMODELS_EXTENSION` enables ours), except that
    the front end's own extension is enabled for ``lab`` and ``notebook``.
    """
    token = token or secrets.token_hex(16)
    root_dir, runtime = root_dir or base / "root", base / "runtime"
    base.mkdir(parents=True, exist_ok=True)
    root_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {**{k: v for k, v in os.environ.items() if k not in unset},
                "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_NO_CONFIG": "1",
                "JUPYTER_PLATFORM_DIRS": "1", **(env or {})}
    module = {"server": "jupyter_server", "lab": "jupyterlab", "notebook": "notebook"}[app]
    cmd = [sys.executable, "-m", module, "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
           *(extra_args or [])]
    log = base / f"{app}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root_dir, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = JupyterServer(port, token, root_dir, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter {app} exited with {proc.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(OSError):
                if server.request("GET", ready_path)[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter {app} did not answer in {STARTUP_TIMEOUT:.0f} s:\n"
                            f"{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def browser_unavailable() -> str | None:
    """Why no headless browser test can run here, or ``None`` when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install playwright (the test extra)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return (f"no Chromium at {CHROMIUM}: install Debian's chromium or set "
                f"NBMODELS_TEST_CHROMIUM to a Chromium binary")
    return None


@contextlib.contextmanager
def chromium_page(*, width: int = 1280, height: int = 900,
                  color_scheme: str = "light") -> Iterator[Any]:
    """A fresh playwright page in headless Chromium (skips the test when there is none)."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          color_scheme=color_scheme)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
            context.close()
        finally:
            browser.close()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A playwright page in headless Chromium; import this fixture into a test module."""
    with chromium_page() as page:
        yield page
