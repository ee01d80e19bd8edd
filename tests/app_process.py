"""``python app.py`` in a subprocess, as a user starts it: for browser tests, the README's commands, MCP and
security tests, and benchmarks.

    app = start_app(base_url=fake.url, workdir=tmp_path)   # returns once the app answers HTTP
    ... httpx / gradio_client / Chromium against app.url ...
    stop_app(app)                                           # Ctrl+C (SIGINT), as the README says

In-process apps (``demo.launch(prevent_thread_lock=True)``) are in ``tests/apps.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the app in a subprocess -------------------------------------------------------------------------------


@dataclass
class AppServer:
    """``python app.py`` running in a subprocess, talking to the fake Novita server."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    temp_dir: Path  # GRADIO_TEMP_DIR: uploads, previews, results
    server_key: str | None
    output_dir: Path | None = None
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        """What the app printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")


def start_app(
    *,
    base_url: str,
    workdir: Path,
    server_key: str | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 420.0,  # a loaded CI machine can take a minute just to import gradio
) -> AppServer:
    """Start ``python app.py --port N [args]`` with NOVITA_BASE_URL=base_url; returns once it answers HTTP.

    A port free a moment ago can be taken meanwhile (pytest-xdist workers and other test runs launch apps
    too): then app.py cannot bind it and exits, and it is started again on another port."""
    for _attempt in range(3):
        server = _start_app_once(base_url, workdir, server_key, args, env, timeout)
        if server is not None:
            return server
    raise RuntimeError("app.py found its port taken three times in a row")


def _start_app_once(
    base_url: str,
    workdir: Path,
    server_key: str | None,
    args: Sequence[str],
    env: dict[str, str] | None,
    timeout: float,
) -> AppServer | None:
    """One start; None when the port was taken by another process before app.py could listen on it."""
    port = free_port()
    temp_dir = workdir / "gradio-tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NOVITA_", "GRADIO_"))}
    clean.update(
        NOVITA_BASE_URL=base_url,
        GRADIO_TEMP_DIR=str(temp_dir),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    if server_key:
        clean["NOVITA_API_KEY"] = server_key
    clean.update(env or {})
    log_path = workdir / "app.log"
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port), *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=clean, stdout=log, stderr=subprocess.STDOUT, preexec_fn=interruptible
        )
    url = f"http://127.0.0.1:{port}/"
    output_dir = None
    if "--output-dir" in args:
        output_dir = Path(args[list(args).index("--output-dir") + 1])
    server = AppServer(url, process, log_path, temp_dir, server_key, output_dir, list(args))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "Cannot find empty port" in server.log():
                return None
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{server.log()[-3000:]}")
        # Only an answer from our own process counts: another server may hold the port for a while.
        if _listens(process.pid, port):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "config", timeout=2).status_code in (200, 401):
                    return server
        time.sleep(0.2)  # polling the server's startup, not pacing the test
    stop_app(server)
    raise TimeoutError(f"app.py did not answer within {timeout:.0f} s:\n{server.log()[-3000:]}")


def interruptible() -> None:
    """In a child before it runs: Ctrl+C (SIGINT) handled as a terminal would deliver it.

    A shell that runs a command in the background without job control (``make test &``, CI runners, nohup)
    starts it with SIGINT ignored, and Python then never turns SIGINT into KeyboardInterrupt: ``stop_app``
    would wait for a Ctrl+C that cannot arrive (10 s, then SIGKILL, and no clean shutdown to check)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` has a listening TCP socket on ``port``."""
    import psutil

    with contextlib.suppress(psutil.Error):
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return True
    return False


def stop_app(server: AppServer) -> None:
    """Stop the app process we started (by its pid only)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
