"""App cold start: ``python app.py`` to the first HTTP 200, beside the floor of ``import gradio`` alone;
and the CPU an idle app uses (nobody on the page), beside a bare Gradio app (one button, default queue).

2026-12-07, 2 cores, 20 s idle each, the two taking turns: app.py 1.7 % of a core, the bare Gradio app 5.6 %
(its queue looks for events every 1 ms; gradio_seams.calm_idle_queue makes that 20 ms). Before that change
app.py used 5.9 % (its event loop's thread). What is left is ~80 wake-ups a second: the queue's 50, its
progress loop's 20 and uvicorn's 10.

.venv/bin/python -m benchmarks.bench_app [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python -m benchmarks.bench_app"
TARGET_S = 5.0
IDLE_TARGET_PCT = 2.0  # a third of Gradio's default (~6 %)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving(command: list[str], timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start ``command + [port]`` (no key, its own Gradio cache); yield it and the seconds until its page
    answered 200; stop it afterwards."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench_app_") as temp:
        env = {**os.environ, "GRADIO_TEMP_DIR": temp, "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("NOVITA_API_KEY", None)
        started = time.monotonic()
        proc = subprocess.Popen(
            [*command, str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{command[1]} exited during start-up")
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"{command[1]} did not answer within {timeout:.0f} s")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # a poll interval, not a wait for a result
            yield proc, time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(10)


def cold_start() -> float:
    """Seconds from spawning ``python app.py`` to its page answering 200."""
    with _serving([sys.executable, "app.py", "--port"]) as (_, seconds):
        return seconds


# Gradio's own default: the baseline for the idle CPU.
BARE_GRADIO = """
import sys, gradio as gr
with gr.Blocks() as demo:
    gr.Button("Run")
demo.queue().launch(server_port=int(sys.argv[1]))
"""


def idle_cpu(command: list[str], seconds: float) -> float:
    """Percent of one core the server started by ``command + [port]`` and its children use while idle."""
    import psutil

    with _serving(command, timeout=120) as (proc, _):
        time.sleep(3)  # the start-up's own work (worker processes importing) is not idling

        def used() -> float:
            total = 0.0
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
            return total

        before = used()
        time.sleep(seconds)  # the measurement itself: CPU used over this much idle time
        return 100 * (used() - before) / seconds


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
    seconds = 10.0 if quick else 20.0
    ours, bare = [], []
    for _ in range(1 if quick else 2):
        ours.append(idle_cpu([sys.executable, "app.py", "--port"], seconds))
        bare.append(idle_cpu([sys.executable, "-c", BARE_GRADIO], seconds))
    idle = statistics.median(ours)
    return [
        {
            "figure": "app cold start to first HTTP 200 (s)",
            "value": round(value, 2),
            "target": f"<= {TARGET_S:g}",
            "baseline": f"{statistics.median(floors):.2f} (import gradio alone)",
            "ok": value <= TARGET_S,
        },
        {
            "figure": f"idle app.py, {seconds:g} s with nobody on the page (% of one core)",
            "value": round(idle, 2),
            "target": f"<= {IDLE_TARGET_PCT:g}",
            "baseline": f"{statistics.median(bare):.2f} (a bare Gradio app, its default queue)",
            "ok": idle <= IDLE_TARGET_PCT,
        },
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
