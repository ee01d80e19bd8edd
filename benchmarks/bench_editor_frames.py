"""Benchmark: what one frame, one brush stroke and an idle tab of the editor cost when WebGL runs on the CPU.

Headless Chromium here draws WebGL with SwiftShader, as a browser does on a machine without a usable GPU.
Two pages of the same app, side by side in one run: the page as shipped and Gradio's page (the switches
``window.NU_GRADIO_WEBGL`` and ``window.NU_GRADIO_FRAMES`` set before it loads). As shipped,
``SOFTWARE_WEBGL_HEAD`` (``novita_ui/ui/assets/editor_page.py``) gives PIXI's batches at most 8 texture units
and takes the drop shadow off the canvas, and ``page.EARLY_SCRIPT`` spaces out the frames an idle page asked
for (PIXI's system ticker, the status trackers' timer). Each tab has the 1600 x 1200
garden photo of the browser tests in the editor and one stroke on it. Measured: the CPU seconds Chromium's
GPU process spends on one forced redraw of the editor (median of ROUNDS x FRAMES); the CPU of the GPU
and renderer processes (stroke CPU) plus the wall time of one brush stroke (helpers.paint_stroke: mouse
down, moves, up), median of ROUNDS; and the share of a core those processes use (idle tab CPU) for IDLE_S
seconds while a freshly loaded tab sits alone and idle, median of ROUNDS. The pages take turns, so a slow
spell hits both.

2 cores, Chromium 156.0.8078.129 (SwiftShader), 2026-12-07, 1280 x 800 window, median of 3 rounds:

| page | texture units | shadow | canvas | GPU CPU per frame | stroke CPU | stroke wall | idle tab CPU |
|---|---:|---|---|---:|---:|---:|---:|
| as shipped | 8 | no | 672 x 558 | 0.073 s | 1.16 s | 0.40 s | 2.7 % of a core |
| Gradio's page | 32 | yes | 672 x 558 | 0.207 s | 1.67 s | 0.69 s | 8.3 % of a core |

    .venv/bin/python -m benchmarks.bench_editor_frames [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMAND = ".venv/bin/python -m benchmarks.bench_editor_frames"
FRAMES = 10  # forced redraws per round
# The two pages: as shipped, and with Gradio's own drawing and frames (switches set before the page loads).
PAGES = {"as shipped": None, "Gradio's page": "window.NU_GRADIO_WEBGL = window.NU_GRADIO_FRAMES = true;"}
IDLE_S = 3.0  # seconds of an idle tab measured, once Gradio's own animations of a new page have settled

# Every redraw is one PIXI render of the editor's stage, then a frame for the compositor to show it.
_REDRAW = """async (n) => {
  const app = window.editor.app;
  app.ticker.stop();
  for (let i = 0; i < n; i++) {
    app.render();
    await new Promise((r) => requestAnimationFrame(() => r()));
  }
  app.ticker.start();
}"""

def _cpu(kinds: tuple[str, ...]) -> float:
    """CPU seconds so far of this process's Chromium children whose command line names one of ``kinds``."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if any(f"--type={kind}" in line for kind in kinds):
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _frame_cost(page: Any) -> float:
    page.bring_to_front()
    before = _cpu(("gpu-process",))
    page.evaluate(_REDRAW, FRAMES)
    time.sleep(0.3)  # the last frames' work in the GPU process
    return (_cpu(("gpu-process",)) - before) / FRAMES


def _stroke_cost(page: Any, y: float) -> tuple[float, float]:
    from tests.browser import helpers

    page.bring_to_front()
    before = _cpu(("gpu-process", "renderer"))
    start = time.perf_counter()
    helpers.paint_stroke(page, (0.3, y), (0.7, y))
    wall = time.perf_counter() - start
    time.sleep(0.3)
    return _cpu(("gpu-process", "renderer")) - before, wall


def _idle_cost(context: Any, url: str, init: str | None) -> float:
    """Share of a core Chromium's GPU and renderer processes spend on a freshly loaded tab, alone and idle
    (the other tabs are closed: a headless browser does not throttle the ones behind)."""
    from tests.browser import helpers

    page = context.new_page()
    try:
        page.set_viewport_size(helpers.DESKTOP)
        if init:
            page.add_init_script(init)
        page.goto(url)
        helpers.wait_app_ready(page)
        page.wait_for_function("() => !!window.editor?.app?.ticker && !window.editor.app.ticker.started")
        time.sleep(4.0)  # a new page's own animations settle in ~3 s
        before = _cpu(("gpu-process", "renderer"))
        time.sleep(IDLE_S)
        return (_cpu(("gpu-process", "renderer")) - before) / IDLE_S
    finally:
        page.close()


@dataclass
class Drawing:
    """One page's figures (medians over the rounds)."""

    units: int
    shadow: bool
    canvas: tuple[int, int]
    frame_cpu: float
    stroke_cpu: float
    stroke_wall: float
    idle_cpu: float


def measure(rounds: int) -> dict[str, Drawing]:
    """Both pages, taking turns ``rounds`` times: name -> its figures."""
    from playwright.sync_api import sync_playwright

    from tests.browser import helpers
    from tests.browser.conftest import scene
    from tests.fake_novita import FakeNovita
    from tests.images import encode

    work = Path(tempfile.mkdtemp(prefix="nu-bench-frames-"))
    photo = work / "garden.jpg"
    photo.write_bytes(encode(scene(1600, 1200)))
    frames: dict[str, list[float]] = {name: [] for name in PAGES}
    strokes: dict[str, list[tuple[float, float]]] = {name: [] for name in PAGES}
    idle: dict[str, list[float]] = {name: [] for name in PAGES}
    drawing: dict[str, Any] = {}
    with FakeNovita() as fake:
        app = helpers.start_app(base_url=fake.url, workdir=work / "app")
        try:
            with sync_playwright() as playwright, helpers.chromium_context(playwright) as context:
                tabs = {}
                for name, init in PAGES.items():
                    page = context.new_page()
                    page.set_viewport_size(helpers.DESKTOP)
                    if init:
                        page.add_init_script(init)
                    page.goto(app.url)
                    helpers.wait_app_ready(page)
                    helpers.drop_file(page, photo)
                    helpers.wait_editor_ready(page)
                    helpers.paint_stroke(page, (0.4, 0.5), (0.6, 0.5))
                    drawing[name] = page.evaluate(helpers.EDITOR_DRAWING)
                    tabs[name] = page
                for round_ in range(rounds):
                    for name, page in tabs.items():
                        frames[name].append(_frame_cost(page))
                        strokes[name].append(_stroke_cost(page, 0.2 + 0.6 * round_ / max(1, rounds)))
                for page in tabs.values():
                    page.close()
                for _ in range(rounds):
                    for name, init in PAGES.items():
                        idle[name].append(_idle_cost(context, app.url, init))
        finally:
            helpers.stop_app(app)
    return {
        name: Drawing(
            units=drawing[name]["units"],
            shadow=drawing[name]["shadows"] > 0,
            canvas=tuple(drawing[name]["canvas"]),
            frame_cpu=statistics.median(frames[name]),
            stroke_cpu=statistics.median(c for c, _ in strokes[name]),
            stroke_wall=statistics.median(w for _, w in strokes[name]),
            idle_cpu=statistics.median(idle[name]),
        )
        for name in PAGES
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for `make bench`: a frame, a stroke and an idle tab, with Gradio's page as the baseline."""
    result = measure(1 if quick else 3)
    ours, gradio = result["as shipped"], result["Gradio's page"]
    return [
        {
            "figure": "editor without a GPU: CPU per frame (s)",
            "value": round(ours.frame_cpu, 3),
            "target": "< Gradio's",
            "baseline": f"{gradio.frame_cpu:.3f} (Gradio's page)",
            "ok": ours.frame_cpu < gradio.frame_cpu,
        },
        {
            "figure": "editor without a GPU: one brush stroke, wall (s)",
            "value": round(ours.stroke_wall, 2),
            "target": "< Gradio's",
            "baseline": f"{gradio.stroke_wall:.2f} (Gradio's page)",
            "ok": ours.stroke_wall < gradio.stroke_wall,
        },
        {
            "figure": "idle tab: Chromium CPU (% of a core)",
            "value": round(100 * ours.idle_cpu, 1),
            "target": "< half of Gradio's",
            "baseline": f"{100 * gradio.idle_cpu:.1f} (Gradio's page)",
            "ok": ours.idle_cpu < gradio.idle_cpu / 2,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.rounds)
    print(f"Editor frames without a GPU: median of {args.rounds} rounds ({FRAMES} redraws each)\n")
    print("| page | texture units | shadow | canvas | GPU CPU per frame | stroke CPU | stroke wall "
          "| idle tab CPU |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for name, d in result.items():
        print(
            f"| {name} | {d.units} | {'yes' if d.shadow else 'no'} | {d.canvas[0]} x {d.canvas[1]} "
            f"| {d.frame_cpu:.3f} s | {d.stroke_cpu:.2f} s | {d.stroke_wall:.2f} s "
            f"| {100 * d.idle_cpu:.1f} % of a core |"
        )
    shipped, gradio = (result[name].frame_cpu for name in PAGES)
    print(f"\nA frame as shipped costs {shipped / gradio:.0%} of Gradio's.\n\n    {COMMAND}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
