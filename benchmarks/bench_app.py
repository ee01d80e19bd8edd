"""App cold start: ``python app.py`` to the first HTTP 200, beside the floor of ``import gradio`` alone.

.venv/bin/python -m benchmarks.bench_app [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python -m benchmarks.bench_app"
TARGET_S = 5.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cold_start() -> float:
    """Seconds from spawning ``python app.py`` to its page answering 200."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench_app_") as temp:
        env = {**os.environ, "GRADIO_TEMP_DIR": temp, "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("NOVITA_API_KEY", None)
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.monotonic() - started < 60:
                if proc.poll() is not None:
                    raise RuntimeError("app.py exited during start-up")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # a poll interval, not a wait for a result
            raise TimeoutError("app.py did not answer within 60 s")
        finally:
            proc.terminate()
            proc.wait(10)


def import_floor() -> float:
    """Seconds for a bare ``import gradio``: no app can start faster."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True, cwd=ROOT)
    return time.monotonic() - started


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Median of 3 (1 with ``quick``) cold starts beside the import floor."""
    runs = 1 if quick else 3
    starts = [cold_start() for _ in range(runs)]
    floors = [import_floor() for _ in range(runs)]
    value = statistics.median(starts)
    return [
        {
            "figure": "app cold start to first HTTP 200 (s)",
            "value": round(value, 2),
            "target": f"<= {TARGET_S:g}",
            "baseline": f"{statistics.median(floors):.2f} (import gradio alone)",
            "ok": value <= TARGET_S,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="App cold start")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from benchmarks.bench_client import print_table

    print_table(run(args.quick), COMMAND + (" --quick" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
