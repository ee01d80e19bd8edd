"""Benchmark of the offline engine (novita_ui.pixels.local): time, peak memory and fill quality, 12 MP scene.

The scene is a 4 x 3 mosaic of 1000 x 1000 tiles made from the photos and textures that ship inside the
scikit-image wheel (nothing is downloaded). Masks of 0.5 %, 2 % and 10 % of the area are ellipses and
thick strokes; the input has the masked pixels painted magenta, so nothing of the truth can leak through.

Each case runs in a fresh subprocess: the peak memory is its RSS high-water mark (VmHWM, reset once the
inputs are loaded) minus its RSS at that point, so it counts the output frame and every OpenCV and
patchmatch allocation that tracemalloc cannot see. Linux only.
Quality is the PSNR of the masked pixels against the known truth. The baseline fills each blob flat with
the mean colour of the 8 px around it.

    .venv/bin/python -m benchmarks.bench_local [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = (0.005, 0.02, 0.10)
TILE = 1000
MAGENTA = (255, 0, 255)
# Bundled with the scikit-image wheel (skimage/data/*.png|jpg); functions that fetch via pooch are not used.
PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket")
TEXTURES = (
    ("brick", (1.0, 0.55, 0.4)),
    ("grass", (0.5, 0.9, 0.35)),
    ("gravel", (0.9, 0.85, 0.75)),
    ("camera", (1.0, 1.0, 1.0)),
    ("moon", (0.95, 0.9, 0.8)),
)


def _cover(image: np.ndarray, size: int) -> np.ndarray:
    """Scale image to cover a size x size square (cubic), then centre-crop it."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    resized = cv2.resize(
        image,
        (max(size, round(w * scale)), max(size, round(h * scale))),
        interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA,
    )
    y, x = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return resized[y : y + size, x : x + size]


def _tiles() -> list[np.ndarray]:
    """Twelve distinct RGB tiles: photos and tinted grey textures, each scaled to cover a tile.

    Tiling a texture instead would repeat it exactly, and patchmatch would find perfect copies that no
    real photo offers.
    """
    from skimage import data  # dev dependency; imported here so importing this module costs nothing

    tiles = [_cover(getattr(data, name)()[..., :3], TILE) for name in PHOTOS]
    for name, tint in TEXTURES:
        grey = _cover(getattr(data, name)(), TILE).astype(np.float32)
        tiles.append(np.clip(grey[..., None] * np.array(tint, np.float32), 0, 255).astype(np.uint8))
    return tiles


def scene(height: int, width: int) -> np.ndarray:
    """A photo-like RGB uint8 mosaic of height x width; no two tiles are alike up to 4000 x 3000."""
    tiles = _tiles()
    rows, cols = math.ceil(height / TILE), math.ceil(width / TILE)
    grid = [
        np.concatenate([tiles[(r * cols + c) % len(tiles)] for c in range(cols)], axis=1) for r in range(rows)
    ]
    return np.ascontiguousarray(np.concatenate(grid, axis=0)[:height, :width])


def _draw(height: int, width: int, size: float, rng_seed: int) -> np.ndarray:
    """Six ellipses and three strokes whose scale is size px."""
    rng = np.random.default_rng(rng_seed)
    mask = np.zeros((height, width), np.uint8)
    for _ in range(6):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (max(1, int(size * rng.uniform(0.6, 1.4))), max(1, int(size * rng.uniform(0.6, 1.4))))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    for _ in range(3):
        points = np.cumsum(rng.normal(0, size * 1.5, (4, 2)), axis=0) + rng.uniform((0, 0), (width, height))
        cv2.polylines(mask, [points.astype(np.int32)], False, 255, max(2, int(size / 5)))
    return mask


def blob_mask(height: int, width: int, fraction: float, seed: int = 7) -> np.ndarray:
    """Ellipses and strokes covering about fraction of the area."""
    size = math.sqrt(fraction * height * width / 9 / math.pi)
    for _ in range(8):  # converge the scale on the target coverage
        mask = _draw(height, width, size, seed)
        covered = cv2.countNonZero(mask) / mask.size
        if abs(covered / fraction - 1) < 0.03:
            break
        size *= math.sqrt(fraction / covered)
    return mask


def mean_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Baseline: each blob filled flat with the mean colour of the known pixels within 8 px of it."""
    out = image.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    pad = 8
    for label in range(1, count):
        x, y, w, h = stats[label, :4]
        y0, x0 = max(0, y - pad), max(0, x - pad)
        y1, x1 = min(mask.shape[0], y + h + pad), min(mask.shape[1], x + w + pad)
        blob = (labels[y0:y1, x0:x1] == label).astype(np.uint8)
        band = cv2.dilate(blob, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) & (mask[y0:y1, x0:x1] == 0)
        if band.any():
            out[y0:y1, x0:x1][blob != 0] = image[y0:y1, x0:x1][band != 0].mean(axis=0).round()
    return out


def psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of the masked pixels."""
    where = mask != 0
    error = result[where].astype(np.float32) - truth[where].astype(np.float32)
    mse = float(np.mean(error * error))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is missing from /proc/self/status")


def _child(folder: str, method: str, strategy: str, tag: str, runs: int, workers: int | None = None) -> None:
    """Run one case in this (fresh) process and print its figures as JSON."""
    from novita_ui.pixels import local

    base = Path(folder)
    image, mask = np.load(base / "input.npy"), np.load(base / f"mask_{tag}.npy")
    # ru_maxrss would carry the parent's RSS across fork+exec; VmHWM is this process's own high-water
    # mark, and writing 5 to clear_refs resets it to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")
    rss = _status_kib("VmRSS")
    times, out = [], None
    for _ in range(runs):
        out = None  # do not count the previous result in the next run's peak
        start = time.perf_counter()
        out = local.inpaint(
            image,
            mask,
            method,  # type: ignore[arg-type]  # from argv
            strategy=strategy,  # type: ignore[arg-type]  # from argv
            downscale=strategy == "crop",
            workers=workers,
        )
        times.append(time.perf_counter() - start)
    peak_mb = (_status_kib("VmHWM") - rss) / 1024
    assert out is not None and np.array_equal(out[mask == 0], image[mask == 0]), "unmasked pixels changed"
    quality = psnr(out, np.load(base / "truth.npy"), mask)
    print(json.dumps({"seconds": statistics.median(times), "peak_mb": peak_mb, "psnr_db": quality}))


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every method x strategy x mask size; one dict per case."""
    from novita_ui.pixels import local

    height, width = (1500, 2000) if quick else (3000, 4000)
    truth = scene(height, width)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_local_") as folder:
        np.save(Path(folder) / "truth.npy", truth)
        masks = {f"{f:g}": blob_mask(height, width, f) for f in FRACTIONS}
        for tag, mask in masks.items():
            np.save(Path(folder) / f"mask_{tag}.npy", mask)
        for tag, mask in masks.items():
            case_input = truth.copy()
            case_input[mask != 0] = MAGENTA
            np.save(Path(folder) / "input.npy", case_input)
            baseline = psnr(mean_fill(case_input, mask), truth, mask)
            for method in local.METHODS:
                # "crop, 1 core" (smallest mask only) shows how much of crop's lead is the parallel windows.
                cases = (
                    [("crop", None), ("crop", 1), ("whole", None)]
                    if tag == f"{FRACTIONS[0]:g}"
                    else [("crop", None), ("whole", None)]
                )
                for strategy, workers in cases:
                    runs = 1 if quick or (method == "patchmatch" and strategy == "whole") else 3
                    code = (
                        f"from benchmarks.bench_local import _child; _child({folder!r}, {method!r}, "
                        f"{strategy!r}, {tag!r}, {runs}, {workers!r})"
                    )
                    done = subprocess.run(
                        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
                    )
                    figures = json.loads(done.stdout.strip().splitlines()[-1])
                    rows.append(
                        {
                            "method": method,
                            "strategy": strategy if workers is None else f"{strategy}, {workers} core",
                            "megapixels": height * width / 1e6,
                            "mask_pct": float(tag) * 100,
                            "runs": runs,
                            **figures,
                            "mean_fill_psnr_db": baseline,
                        }
                    )
                    print(
                        f"  {method:10} {strategy:5} {workers or 'all'!s:>3} {tag:>5}"
                        f"  {figures['seconds']:6.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, with crop's speed-up over the whole frame."""
    whole = {(r["method"], r["mask_pct"]): r["seconds"] for r in rows if r["strategy"] == "whole"}
    lines = [
        "| method | strategy | mask | runs | median time | peak memory | PSNR in hole | mean-fill PSNR "
        "| crop speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = whole[r["method"], r["mask_pct"]] / r["seconds"]
        speedup = f"{ratio:.1f}x" if r["strategy"].startswith("crop") else ""
        lines.append(
            f"| {r['method']} | {r['strategy']} | {r['mask_pct']:g} % | {r['runs']} "
            f"| {r['seconds']:.2f} s | {r['peak_mb']:.0f} MB | {r['psnr_db']:.2f} dB "
            f"| {r['mean_fill_psnr_db']:.2f} dB | {speedup} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """The figures against the targets: default <= 2 s at 2 %, crop >= 5x at 0.5 %, beating mean fill."""
    from novita_ui.pixels import local

    def pick(method: str, strategy: str, pct: float) -> dict[str, Any]:
        return next(r for r in rows if (r["method"], r["strategy"], r["mask_pct"]) == (method, strategy, pct))

    default = pick(local.DEFAULT_METHOD, "crop", 2.0)
    speedups = ", ".join(
        f"{m} {pick(m, 'whole', 0.5)['seconds'] / pick(m, 'crop', 0.5)['seconds']:.1f}x"
        for m in local.METHODS
    )
    losers = [
        f"{r['method']}/{r['strategy']} at {r['mask_pct']:g} %"
        for r in rows
        if r["psnr_db"] <= r["mean_fill_psnr_db"]
    ]
    return "\n".join(
        [
            f"- default ({local.DEFAULT_METHOD}, crop), 2 % mask: {default['seconds']:.2f} s (target <= 2 s)",
            f"- crop speed-up over whole frame, 0.5 % mask: {speedups} (target >= 5x)",
            f"- PSNR at or below the flat mean fill: {', '.join(losers) or 'none'}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Print the table for a 12 MP scene (3 MP and one run each with --quick)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 MP scene and one run per case")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    megapixels = rows[0]["megapixels"]
    print(
        f"\nnovita_ui.local on a {megapixels:g} MP scene, {os.cpu_count()} CPUs.\n"
        "whole = the method once on the full frame at full resolution (patchmatch: 1 run, ~30-60 s);\n"
        "crop = the HD strategy, each window downscaled past the method's limits, windows filled on\n"
        "every core at once (crop, 1 core: the same, one window at a time).\n"
        "Peak memory = RSS high-water mark above the loaded inputs; PSNR over the masked pixels.\n"
    )
    print(table(rows))
    print()
    print(summary(rows))
    print(f"\nReproduce: cd {ROOT} && .venv/bin/python -m benchmarks.bench_local{' --quick' * args.quick}")


if __name__ == "__main__":
    main()
