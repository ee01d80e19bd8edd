"""The select tool: a box around an object -> its mask (pixels/select.py), on generated 12 MP outdoor scenes.

Each scene (tests/scenes.py: a figure, a car, a bin, a sign on a pole; a textured object on textured ground
under a textured sky, edges softened like a lens) is saved as a JPEG (quality 92) and selected from the box
a user would drag: the object's bounds widened by 5 % per side. Figures:

- IoU of the mask with the true object, and of the box itself (what the user had without the tool);
- server time: decode the JPEG + GrabCut on the shrunk crop + full-size outline + 1-bit PNG, as
  ``select.select_file`` does for the CLI, the API and the page (the best of 3 runs, and its CPU time);
- side by side, in the same run, GrabCut on the same crop at full resolution (no shrinking), for one scene.

    .venv/bin/python -m benchmarks.bench_select [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from novita_ui.pixels import imaging, select
from tests.images import encode
from tests.scenes import SHAPES, box_area, iou, scene

FULL = (4000, 3000)  # 12 MP
QUICK = (1600, 1200)
TARGET_IOU, TARGET_S = 0.95, 1.0
BOX_RANGE = (0.25, 0.65)


def _timed(work: Any, runs: int) -> tuple[float, float, Any]:
    """(best wall-clock s, its CPU s, result) over ``runs``: the best run is the one other engineers' load
    disturbed least; the CPU time is what the work itself cost (the machine is shared)."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = work()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu = wall, time.process_time() - started_cpu
    return best, cpu, result


def _full_resolution_cut(rgb: np.ndarray, box: select.Box) -> float:
    """GrabCut on the same crop as select.select, without shrinking it: the baseline for the speed."""
    saved = select.WORK_SIDE
    select.WORK_SIDE = 10**6  # no shrinking
    try:
        started = time.perf_counter()
        select.select(rgb, box)
        return time.perf_counter() - started
    finally:
        select.WORK_SIDE = saved


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The table's rows, with targets."""
    width, height = QUICK if quick else FULL
    runs = 1 if quick else 3
    details: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    baseline_s = None
    for name in SHAPES:
        made = scene(name, width, height)
        jpeg = encode(made.rgb)
        box = select.Box(*made.box)
        seconds, cpu, found = _timed(lambda: select.select_file(jpeg, box), runs)  # noqa: B023
        mask = imaging.load_mask(found.png, (width, height))
        details.append(
            {
                "scene": name,
                "iou": iou(mask, made.truth),
                "box_iou": iou(box_area(mask.shape, made.box), made.truth),
                "seconds": seconds,
                "cpu": cpu,
            }
        )
        if name == "bin" and not quick:
            baseline_s = _full_resolution_cut(made.rgb, box)
    mp = width * height / 1e6
    print(f"\nselect: {width} x {height} ({mp:.0f} MP) JPEG scenes, load average {os.getloadavg()[0]:.1f}")
    print(f"{'scene':8} {'IoU':>6} {'box IoU':>8} {'server s':>9} {'CPU s':>6}")
    for d in details:
        print(f"{d['scene']:8} {d['iou']:6.3f} {d['box_iou']:8.3f} {d['seconds']:9.2f} {d['cpu']:6.2f}")
    worst = min(details, key=lambda d: d["iou"])
    slowest = max(details, key=lambda d: d["seconds"])
    boxes = [d["box_iou"] for d in details]
    rows.append(
        {
            "figure": f"select: worst IoU with the true object, 4 scenes ({worst['scene']})",
            "value": round(worst["iou"], 3),
            "target": f">= {TARGET_IOU}",
            "baseline": f"box itself {min(boxes):.2f}-{max(boxes):.2f}",
            "ok": worst["iou"] >= TARGET_IOU and all(BOX_RANGE[0] <= b <= BOX_RANGE[1] for b in boxes),
        }
    )
    rows.append(
        {
            "figure": f"select: server time, {mp:.0f} MP JPEG, slowest scene ({slowest['scene']}) (s)",
            "value": f"{slowest['seconds']:.2f} (CPU {slowest['cpu']:.2f})",
            "target": f"<= {TARGET_S:g}",
            "baseline": "-" if baseline_s is None else f"{baseline_s:.1f} (bin, crop at full resolution)",
            "ok": slowest["seconds"] <= TARGET_S,
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1600 x 1200 scenes, one run each")
    args = parser.parse_args()
    from benchmarks.bench_client import print_table

    command = ".venv/bin/python -m benchmarks.bench_select" + (" --quick" if args.quick else "")
    print_table(run(args.quick), command)


if __name__ == "__main__":
    main()
