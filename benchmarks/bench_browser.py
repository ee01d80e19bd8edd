"""Benchmark: Remove click -> result shown, for a 12 MP photo in headless Chromium, phase by phase.

Measured inside the page: from the click on Remove to the moment the result image has loaded on screen, with
the server's own stamps in between (result-info's "phases"). The app runs as ``python app.py`` (a subprocess)
against the fake Novita server with zero latency; the photo is a photo-like 4000 x 3000 JPEG (~6 MB) dropped
on the editor, with one brush stroke across it (~1 % of the photo), or a 400 px box mask file (the Texture
case: Auto picks PatchMatch). The Eraser's fake task lasts TASK_S seconds however often it is polled (as the
real one does); its figure is what the click costs beyond that and beyond the stand-in's own work (painting
and encoding the result, which the real service does inside the task's time).

The baseline is the naive editor path the notes measured at 8-14 s: the photo goes into a plain
``gr.ImageEditor`` at full size and the editor is the input of the Remove event, so the browser exports and
uploads the background, the layer and the composite as full-size PNGs before the engine even starts.

Median of 3 clicks per case (1 with --quick), 2 cores, Chromium (SwiftShader), quiet machine (load ~2),
2026-12-07, two runs of this script on 006e219 with one on ed5eddd (before issue 24: the same script and test
helpers copied into a checkout of it) in between; drop -> paintable from two later runs (9b57fbd, timed in
the page; the machine was ~15 % slower then: clicks 1.06 / 1.63 / 1.97 s, Eraser 1.50-1.66 s beyond):

| path | click -> result shown | ed5eddd | drop -> paintable | uploaded after click |
|---|---:|---:|---:|---:|
| Offline, JPEG | 0.89 / 0.96 s | 1.86 s | 0.77 / 0.78 s | 0 (3.9 MB before) |
| Offline, PNG | 1.48 / 1.61 s | 3.15 s | 0.78 / 0.78 s | 0 |
| Offline Texture, JPEG | 1.72 / 1.71 s | 3.62 s | 0.88 / 0.87 s | 0 |
| Eraser, JPEG (3 s task) | 1.33 / 1.42 s beyond task + stand-in | 2.13 s | 0.93 / 0.85 s | 0 |

    .venv/bin/python -m benchmarks.bench_browser [--quick] [--no-naive]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COMMAND = ".venv/bin/python -m benchmarks.bench_browser"
# Click -> result shown (the Eraser: beyond the time Novita holds the task), idle 2-core machine (issue 24).
TARGETS = {
    "Offline, JPEG": 1.2,
    "Offline, PNG": 2.0,
    "Offline Texture, JPEG": 3.0,
    "Novita Eraser, JPEG": 1.5,
}
LOAD_TARGET_S = 1.0  # drop -> paintable
SIZE = (4000, 3000)

PHASES = ("gather", "upload", "queue", "checks", "mask", "transfer", "engine", "finish", "preview", "shown")
TASK_S = 3.0  # the fake Novita task lasts this long, however often it is polled (as the real one does)

# Drop -> paintable, timed in the page: from the drop event (as the user lets go, not from the test staging
# the file) to the editor's last zoom change once the photo is in its background layer, watched on every
# animation frame until wait_editor_ready has confirmed it settled (that confirmation is not the user's wait).
_WATCH_LOAD_JS = """() => {
  const stamp = () => { window.__nuDropAt = performance.now(); };
  window.addEventListener('drop', stamp, {capture: true, once: true});
  let zoom = document.querySelector('#editor .zoom-number span')?.textContent;
  const watch = () => {
    const now = document.querySelector('#editor .zoom-number span')?.textContent;
    const photo = window.__nuDropAt !== undefined && %(photo_in_editor)s;
    if (photo && (now !== zoom || window.__nuPaintableAt === undefined)) {
      window.__nuPaintableAt = performance.now();
    }
    zoom = now;
    if (!window.__nuLoadWatched) requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
}"""

# Remove-click -> shown, timed in the page: a capture listener stamps the click; the first file upload
# after it (the page has exported the editor's layers), the job's queue/join (the uploads are done), and the
# result image's load are stamped too. Epoch milliseconds, comparable with the server's stamps (one machine).
_ARM_JS = """(button) => {
  const now = () => performance.timeOrigin + performance.now();
  window.__nuClick = null; window.__nuShown = null; window.__nuUpload = null; window.__nuJoin = null;
  if (!window.__nuTimedFetch) {
    window.__nuTimedFetch = true;
    const original = window.fetch;
    window.fetch = function (input, init) {
      const url = typeof input === 'string' ? input : (input && input.url) || '';
      if (window.__nuClick && !window.__nuUpload && url.includes('/upload')) window.__nuUpload = now();
      const body = init && init.body;
      const job = typeof body === 'string' && body.includes('"after"');  // the job's event (GATHER_JS)
      if (window.__nuClick && url.includes('queue/join') && job) {
        window.__nuJoin = now();
      }
      return original.apply(this, arguments);
    };
  }
  const el = document.querySelector(button);
  el.addEventListener('click', () => { window.__nuClick = now(); }, {capture: true, once: true});
}"""
_SHOWN_JS = """([img, before]) => {
  const el = document.querySelector(img);
  if (!el || el.src === before || !el.complete || !el.naturalWidth) return false;
  window.__nuShown = window.__nuShown || performance.timeOrigin + performance.now();
  return true;
}"""
_STAMPS_JS = "() => [window.__nuClick, window.__nuUpload, window.__nuJoin, window.__nuShown]"


def make_photo(folder: Path) -> Path:
    """A photo-like 12 MP JPEG of about 6 MB (smooth colour fields plus sensor-like grain)."""
    from tests.images import encode, photo_like

    pixels = photo_like(*SIZE, seed=11).astype(np.int16)
    grain = np.random.default_rng(12).normal(0, 9, pixels.shape)
    path = folder / "photo-12mp.jpg"
    path.write_bytes(encode(np.clip(pixels + grain, 0, 255).astype(np.uint8), quality=92))
    return path


def make_box_mask(folder: Path, side: int = 400) -> Path:
    """A mask file for the photo: a ``side`` px square (the Texture case: Auto picks PatchMatch)."""
    from PIL import Image

    mask = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    x, y = SIZE[0] // 2 - side // 2, SIZE[1] // 2 - side // 2
    mask[y : y + side, x : x + side] = 255
    path = folder / "box-mask.png"
    Image.fromarray(mask).save(path)
    return path


def _timed_remove(page: Any, button: str, after_img: str) -> dict[str, float]:
    """Click Remove; the page's stamps (epoch s): click, first upload, job sent, result on screen."""
    before = page.evaluate(f"() => document.querySelector('{after_img}')?.src || ''")
    page.evaluate(_ARM_JS, button)
    page.click(button)
    page.wait_for_function(_SHOWN_JS, arg=[after_img, before], polling="raf", timeout=180_000)
    click, upload, join, shown = (float(v or 0) / 1000 for v in page.evaluate(_STAMPS_JS))
    return {"click": click, "upload": upload or join, "join": join, "shown": shown}


def phases(page_stamps: dict[str, float], server: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of one click, from the page's stamps and the server's (result-info "phases")."""
    if not server:  # an app from before the phases were reported (a baseline checkout): the total only
        return {"total": page_stamps["shown"] - page_stamps["click"]}
    steps = server.get("steps", {})
    spent = {
        "gather": page_stamps["upload"] - page_stamps["click"],
        "upload": page_stamps["join"] - page_stamps["upload"],
        "queue": server["received"] - page_stamps["join"],
        "checks": server["checks_s"],
        "mask": server["mask_s"],
        # The memory budget's admission and the job's way to the worker process and back (Offline).
        "transfer": steps.get("admit_s", 0.0) + steps.get("transfer_s", 0.0),
        "engine": steps.get("prepare_s", 0.0) + steps.get("engine_s", 0.0),
        "finish": steps.get("finish_s", 0.0),
        "preview": server["write_s"],
        "shown": page_stamps["shown"] - server["answered"],
    }
    spent["total"] = page_stamps["shown"] - page_stamps["click"]
    spent["other"] = spent["total"] - sum(spent[name] for name in PHASES)
    return spent


@dataclass(frozen=True)
class Case:
    """One way of removing: the engine's label, the output format, and a mask file instead of a stroke."""

    name: str
    engine: str
    fmt: str = "jpeg"
    mask_file: Path | None = None
    held_s: float = 0.0  # how long Novita holds the task (overhead = total - held_s)


def _measure_app(
    context: Any, url: str, photo: Path, case: Case, runs: int, fake: Any = None
) -> dict[str, Any]:
    from tests.browser import helpers as h

    clicks, loads, uploads = [], [], []
    for _ in range(runs):
        page = context.new_page()
        try:
            h.track_uploads(page)
            page.goto(url)
            h.wait_app_ready(page)
            h.choose_engine(page, case.engine)
            h.choose_format(page, case.fmt)
            page.evaluate(_WATCH_LOAD_JS % {"photo_in_editor": h.PHOTO_IN_EDITOR})
            h.drop_file(page, photo)
            h.wait_editor_ready(page)
            page.evaluate("() => { window.__nuLoadWatched = true; }")
            loads.append(page.evaluate("() => (window.__nuPaintableAt - window.__nuDropAt) / 1000"))
            if case.mask_file is not None:
                h.upload_mask(page, case.mask_file)
                page.wait_for_function(
                    "() => JSON.parse(document.querySelector('#photo-info textarea').value).mask"
                )
            else:
                h.paint_stroke(page, (0.35, 0.5), (0.65, 0.5))
            before, asked = len(h.uploaded(page)), len(fake.requests) if fake is not None else 0
            stamps = _timed_remove(page, "#remove", "#result-slider img.fixed")
            spent = phases(stamps, h.result_info(page).get("phases", {}))
            # The stand-in's own work (it paints and encodes the result while the submit waits; the real
            # service does that inside the task's time): not the app's overhead.
            done = fake.requests[asked:] if fake is not None else []
            spent["stand_in"] = sum(r.extras.get("fake_s", 0.0) for r in done)
            clicks.append(spent)
            uploads.append(sum(h.uploaded(page)[before:]) / 2**20)
        finally:
            page.close()
    return _row(case, clicks, loads, uploads)


def _row(
    case: Case, clicks: list[dict[str, float]], loads: list[float], uploads: list[float]
) -> dict[str, Any]:
    """The median click (by total) with its phases, the median load and upload."""
    median = sorted(clicks, key=lambda c: c["total"])[len(clicks) // 2]
    target = TARGETS.get(case.name)
    figure = median["total"] - case.held_s - (median.get("stand_in", 0.0) if case.held_s else 0.0)
    return {
        "path": case.name,
        "runs": len(clicks),
        "remove_to_result_s": round(median["total"], 2),
        "figure_s": round(figure, 2),  # beyond the time Novita held the task, for the Eraser
        "all_runs_s": [round(c["total"], 2) for c in clicks],
        "phases": {name: round(median[name], 2) for name in (*PHASES, "other") if name in median},
        "stand_in_s": round(median.get("stand_in", 0.0), 2),
        "drop_to_paintable_s": round(statistics.median(loads), 2),
        "uploaded_after_click_mb": round(statistics.median(uploads), 1),
        "target": "-" if target is None else ("met" if figure <= target else "MISSED"),
    }


def _naive_app() -> Any:
    """The straightforward app: the editor holds the full photo and is the Remove event's input."""
    import gradio as gr

    from novita_ui.config import Settings
    from novita_ui.pixels import imaging, results
    from novita_ui.service import RemoveRequest, Service

    service = Service(Settings.load(env={}))

    async def remove(value: dict[str, Any]) -> str:
        background = np.asarray(value["background"])[..., :3]
        mask = imaging.mask_from_layers(value["layers"], (background.shape[1], background.shape[0]))
        data = results.encode_output(np.ascontiguousarray(background), "png")
        result = await service.remove(
            RemoveRequest(engine="local", image=data, mask=mask, output_format="jpeg")
        )
        path = Path(tempfile.mkdtemp()) / "result.jpg"
        path.write_bytes(result.data)
        return str(path)

    with gr.Blocks() as demo:
        editor = gr.ImageEditor(
            elem_id="editor",
            type="numpy",
            sources=["upload"],
            layers=False,
            brush=gr.Brush(default_size=40, colors=["#ff3b30"], color_mode="fixed"),
        )
        button = gr.Button("Remove", elem_id="remove")
        out = gr.Image(elem_id="out", type="filepath", format="jpeg")
        button.click(remove, editor, out)
    return demo


class _NoClientDisconnect(logging.Filter):
    """Drops the server's traceback when a tab closes mid-upload: the naive editor re-uploads its PNGs after
    each result, and closing its tab then is expected here, not an error of the benchmark."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if type(error).__name__ == "ClientDisconnect":
                return False
            error = error.__cause__ or error.__context__
        return True


def _measure_naive(context: Any, photo: Path, runs: int) -> dict[str, Any]:

    quiet = _NoClientDisconnect()
    logging.getLogger("uvicorn.error").addFilter(quiet)  # the naive app runs in this process
    try:
        return _measure_naive_app(context, photo, runs)
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)


def _measure_naive_app(context: Any, photo: Path, runs: int) -> dict[str, Any]:
    from tests.browser import helpers as h

    demo = _naive_app()
    port = h.free_port()
    demo.queue().launch(
        server_port=port, prevent_thread_lock=True, quiet=True, run_history=False, ssr_mode=False
    )
    timings, loads, uploads = [], [], []
    try:
        for _ in range(runs):
            page = context.new_page()
            try:
                h.track_uploads(page)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector(h.EDITOR_CANVAS)
                started = time.perf_counter()
                h.drop_file(page, photo)
                page.wait_for_selector(h.EDITOR_PLACEHOLDER, state="detached", timeout=60_000)
                page.wait_for_function(
                    """() => { const z = document.querySelector('#editor .zoom-number span')?.textContent;
                        const now = performance.now();
                        if (window.__z !== z) { window.__z = z; window.__zt = now; return false; }
                        return now - window.__zt > 400; }""",
                    polling=100,
                    timeout=60_000,
                )
                loads.append(time.perf_counter() - started)
                box = page.locator(h.EDITOR_CANVAS).bounding_box(timeout=60_000)  # 30 s failed at load 10
                y = box["y"] + box["height"] / 2
                page.mouse.move(box["x"] + box["width"] * 0.35, y)
                page.mouse.down()
                for i in range(1, 6):
                    page.mouse.move(box["x"] + box["width"] * (0.35 + 0.06 * i), y)
                page.mouse.up()
                h.settle(page)
                before = len(h.uploaded(page))
                stamps = _timed_remove(page, "#remove", "#out img")
                timings.append(stamps["shown"] - stamps["click"])
                uploads.append(sum(h.uploaded(page)[before:]) / 2**20)
            finally:
                page.close()
    finally:
        demo.close()
    return {
        "path": "naive editor path (baseline)",
        "runs": len(timings),
        "remove_to_result_s": round(statistics.median(timings), 2),
        "figure_s": round(statistics.median(timings), 2),
        "all_runs_s": [round(t, 2) for t in timings],
        "phases": {},
        "drop_to_paintable_s": round(statistics.median(loads), 2),
        "uploaded_after_click_mb": round(statistics.median(uploads), 1),
        "target": "baseline",
    }


def run(quick: bool, naive: bool = True) -> list[dict[str, Any]]:
    """One row per case: Offline JPEG and PNG, the Texture case, the Eraser with a task that lasts TASK_S,
    and the naive editor path as the baseline."""
    from playwright.sync_api import sync_playwright

    from tests.browser import helpers as h
    from tests.fake_novita import TEST_KEY, FakeNovita, TaskPlan

    missing = h.chromium_missing_message()
    if missing:
        raise SystemExit(missing)
    runs = 1 if quick else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_browser_") as tmp, FakeNovita() as fake:
        folder = Path(tmp)
        photo = make_photo(folder)
        cases = [
            Case("Offline, JPEG", "Offline"),
            Case("Offline, PNG", "Offline", "png"),
            Case("Offline Texture, JPEG", "Offline", mask_file=make_box_mask(folder)),
            Case("Novita Eraser, JPEG", "Novita Eraser", held_s=TASK_S),
        ]
        fake.task_plan = TaskPlan(duration=TASK_S)
        app = h.start_app(base_url=fake.url, workdir=folder / "app", server_key=TEST_KEY)
        try:
            with sync_playwright() as playwright, h.chromium_context(playwright) as context:
                _measure_app(context, app.url, photo, cases[0], 1)  # warm-up: imports, caches, first JIT
                for case in cases:
                    rows.append(_measure_app(context, app.url, photo, case, runs, fake))
                    print(f"  {rows[-1]['path']}: {rows[-1]['all_runs_s']}", file=sys.stderr, flush=True)
                if naive:
                    rows.append(_measure_naive(context, photo, runs))
                    print(f"  {rows[-1]['path']}: {rows[-1]['all_runs_s']}", file=sys.stderr, flush=True)
        finally:
            h.stop_app(app)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table: the figure against its target, then each phase of the median click."""
    lines = [
        "| path | click -> result shown (median) | runs | figure vs target | drop -> paintable | "
        "uploaded after click | " + " | ".join(PHASES) + " | other | stand-in's work |",
        "|---|---:|---|---|---:|---:|" + "---:|" * (len(PHASES) + 2),
    ]
    for r in rows:
        runs = ", ".join(f"{t:.2f}" for t in r["all_runs_s"])
        target = TARGETS.get(r["path"])
        versus = r["target"] if target is None else f"{r['figure_s']:.2f} s <= {target:.1f} s: {r['target']}"
        spent = " | ".join(f"{r['phases'][n]:.2f}" if n in r["phases"] else "-" for n in (*PHASES, "other"))
        lines.append(
            f"| {r['path']} | {r['remove_to_result_s']:.2f} s | {runs} | {versus} "
            f"| {r['drop_to_paintable_s']:.2f} s | {r['uploaded_after_click_mb']:.1f} MB | {spent} "
            f"| {r.get('stand_in_s', 0.0):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run and print the table and the command that reproduces it."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_browser", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1 run per case instead of 3")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline (~25 s a run)")
    args = parser.parse_args(argv)
    rows = run(args.quick, naive=not args.no_naive)
    print(table(rows))
    print(
        f"\n12 MP ({SIZE[0]} x {SIZE[1]}) JPEG, headless Chromium (SwiftShader WebGL); the Eraser's fake "
        f"task lasts {TASK_S:.0f} s (its figure: beyond that); drop -> paintable target "
        f"{LOAD_TARGET_S:.1f} s; "
        f"load {os.getloadavg()[0]:.1f}. Reproduce: {COMMAND}{' --quick' if args.quick else ''}"
    )


if __name__ == "__main__":
    main()
