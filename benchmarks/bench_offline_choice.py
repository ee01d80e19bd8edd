"""Which offline method for which mask: Telea ("Fast") or PatchMatch ("Texture"), thin strokes vs wide areas.

The scene is bench_local's photo mosaic (1600 x 1200). Masks are drawn at the scale a user paints them:
thin strokes (wires, scratches) 8 and 16 px wide, brush strokes 36 px wide (the editor's default brush on
this photo), and wide areas (ellipses 120-300 px across). For each, both methods run on the same input and
the table shows the time, the PSNR of the masked pixels against the truth, and how much texture the fill
keeps: the high-frequency energy (std of the Laplacian) inside the hole, as a share of the truth's. A smooth
smear scores near 0 %, a fill as detailed as the photo near 100 %. The last column is what
``local.choose_method`` (the "Auto" quality) picks for that mask.

``--before REV`` also runs the engine as committed at REV (benchmarks/revision.py), in the same process right
before today's, so each row has its "before" beside it, measured under the same load. Each figure is one
fill of one mask: a change that makes patchmatch draw different patches moves a row by tenths of a dB
either way (bench_texture averages 12 of them).

    .venv/bin/python -m benchmarks.bench_offline_choice [--before REV]
"""

from __future__ import annotations

import argparse
import time
from types import ModuleType

import cv2
import numpy as np

from benchmarks.bench_local import psnr, scene
from benchmarks.revision import module_at
from novita_ui.pixels import local

WIDTH, HEIGHT = 1600, 1200


def strokes(width: int, seed: int) -> np.ndarray:
    """Five wandering strokes of the given width."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for _ in range(5):
        start = rng.uniform((100, 100), (WIDTH - 100, HEIGHT - 100))
        points = np.cumsum(rng.normal(0, 60, (6, 2)), axis=0) + start
        cv2.polylines(mask, [points.astype(np.int32)], False, 255, width)
    return mask


def areas(across: int, seed: int) -> np.ndarray:
    """Four ellipses about ``across`` px wide."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for _ in range(4):
        centre = (int(rng.integers(200, WIDTH - 200)), int(rng.integers(200, HEIGHT - 200)))
        axes = (int(across / 2 * rng.uniform(0.8, 1.2)), int(across / 2 * rng.uniform(0.8, 1.2)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return mask


def texture_kept(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """High-frequency energy in the hole, result over truth (1.0 = as detailed as the photo)."""
    where = mask != 0

    def energy(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(cv2.Laplacian(grey, cv2.CV_32F)[where].std())

    return energy(result) / max(energy(truth), 1e-6)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also run the engine as committed at this git revision")
    args = parser.parse_args(argv)
    engines: dict[str, ModuleType] = {"": local}
    if args.before:
        before = module_at(args.before, "novita_ui/pixels/local.py")
        engines = {f"before ({args.before})": before, "after": local}
    truth = scene(HEIGHT, WIDTH)
    cases = [
        ("thin stroke 8 px", strokes(8, 1)),
        ("thin stroke 16 px", strokes(16, 2)),
        ("brush stroke 36 px", strokes(36, 3)),
        ("area 120 px", areas(120, 4)),
        ("area 200 px", areas(200, 5)),
        ("area 300 px", areas(300, 6)),
    ]
    version = max(len(name) for name in engines) + 1
    print(f"{'mask':<20} {'method':<11} {'':<{version}}{'time s':>7} {'PSNR dB':>8} {'texture':>8}  auto")
    for name, mask in cases:
        image = truth.copy()
        image[mask != 0] = (255, 0, 255)  # nothing of the truth leaks into the fill
        for method in local.METHODS:
            for tag, engine in engines.items():
                started = time.perf_counter()
                out = engine.inpaint(image, mask, method)
                seconds = time.perf_counter() - started
                print(
                    f"{name:<20} {method:<11} {tag:<{version}}{seconds:7.2f} {psnr(out, truth, mask):8.1f} "
                    f"{texture_kept(out, truth, mask):8.0%}  {local.choose_method(mask)}",
                    flush=True,
                )
    flags = f" --before {args.before}" if args.before else ""
    print(f"\nreproduce: .venv/bin/python -m benchmarks.bench_offline_choice{flags}")


if __name__ == "__main__":
    main()
